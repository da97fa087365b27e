# The battery level on the shared LiPo curve (cloudpin.battery, which the
# energy model imports too), the low-battery warning's hysteresis, and a pin
# whose cell discharges along that curve: the level it reports follows the
# charge left, a low battery flashes the LED red and goes out on bus.BATTERY.
import json

from cloudpin import board as board_layer
from cloudpin import boardspec
from cloudpin import bus as topics
from cloudpin.app import App
from cloudpin.battery import CURVE_MV, LOW_PCT, LowBattery, curve_mv, curve_percent, percent
from cloudpin.log import Logger
from cpsim.lis3dh import LIS3DH
from cpsim.recording import Rest
from cpsim.world import World

_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
    "led": {"type": "rgb", "pins": [25, 26, 27], "active_low": True},
    "battery": {"type": "adc", "adc_pin": 35, "divider": 2.0, "full_mv": 4200, "empty_mv": 3300},
}


def test_the_curve_is_monotonic_and_its_inverse_agrees():
    assert all(CURVE_MV[i] > CURVE_MV[i + 1] for i in range(len(CURVE_MV) - 1))
    assert curve_percent(CURVE_MV[0]) == 100 and curve_percent(CURVE_MV[-1]) == 0
    for pct in range(0, 101):
        back = curve_percent(curve_mv(pct))
        assert pct - 1 <= back <= pct, (pct, curve_mv(pct), back)
    # flat in the middle: where half the charge is left a linear 3.3-4.2 V map says well over half
    half = curve_mv(50)
    assert curve_percent(half) == 50 and (half - 3300) * 100 // 900 > 55


def test_board_levels_clip_the_curve():
    assert percent(3300, 3300, 4200) == 0 and percent(3250, 3300, 4200) == 0
    assert percent(4200, 3300, 4200) == 100 and percent(4300, 3300, 4200) == 100
    assert percent(3950, 3300, 4200) == curve_percent(3950) and 0 < curve_percent(3950) < 100


def test_low_battery_warns_below_the_line_and_clears_above_a_margin():
    lb = LowBattery()
    assert not lb.update(40) and not lb.low
    assert lb.update(LOW_PCT - 1) and lb.low
    assert not lb.update(LOW_PCT + 2) and lb.low  # not yet: no flicker at the line
    assert lb.update(25) and not lb.low


def test_a_discharging_pin_reports_the_curve_and_warns_when_low():
    # The cell loses 4 % a second of simulated time (a day in 25 s), its
    # voltage on the curve; the ADC sees half of it (the board's divider).
    w = World()
    dev = w.device("p")
    dev.attach_i2c(0, LIS3DH(Rest(), int1=34, int2=39))

    def left(t_ms):
        p = 100 - 4 * t_ms // 1000
        return 0 if p < 0 else p

    dev.adc_values[35] = lambda t_ms: curve_mv(left(t_ms)) * 1000 // 2
    dev.led_pins = {25: True, 26: True, 27: True}  # as cpsim.boardfit wires the board's LED
    lines, box, events, colours = [], [None], [], []

    async def firmware():
        log = Logger("app", sink=lines.append)
        hw = board_layer.build(_BOARD, log.child("board"), wdt_timeout_ms=0, with_ble=False)
        app = box[0] = App(hw, log, status_every_ms=1000)
        app.bus.subscribe(topics.BATTERY, lambda pct, low: events.append((w.clock.now_ms(), pct, low)))
        led_set = hw.led.set
        hw.led.set = lambda c: (colours.append((w.clock.now_ms(), c)), led_set(c))
        await app.main()

    w.start(dev, firmware())
    w.run_for(24500)
    assert len(events) == 25, events  # one reading a second, from 0
    for t, pct, low in events:
        assert left(t) - 1 <= pct <= left(t), (t, pct, left(t))  # ADC steps: at most 1 % under
        assert low == (pct < LOW_PCT or (low and pct <= 20)), (t, pct, low)
    lows = [t for t, pct, low in events if low]
    assert lows and lows[0] == 22000, events  # 100 - 4 x 22 = 12 % < 15
    # boot: green for 2 s then off; while low, a 100 ms red flash per reading
    assert colours[:2] == [(0, "green"), (2000, "off")], colours
    flashes = [(t, c) for t, c in colours if t >= 22000]
    assert flashes == [(22000, "red"), (22100, "off"), (23000, "red"), (23100, "off"),
                       (24000, "red"), (24100, "off")], flashes
    assert [ln.split()[1] for ln in lines if "battery low at" in ln] == ["22000"], [ln for ln in lines if ln[0] == "W"]
    # the emulator accounts the lit time: 2 s at boot and 3 flashes of 100 ms
    assert dev.acct.snapshot()["time_us"].get("led.on") == 2300000, dev.acct.snapshot()["time_us"]


def _reading(board, cell_mv):
    """What the pin built from `board` reports with its cell at cell_mv (the
    ADC behind the board's divider)."""
    w = World()
    dev = w.device("p")
    bat = board["battery"]
    dev.adc_values[bat["adc_pin"]] = cell_mv * 1000 // int(bat["divider"])
    hw = board_layer.build(board, Logger("board", sink=lambda line: None), wdt_timeout_ms=0, with_ble=False)
    return hw.battery.percent()


_LEVELS = (100, 95, 90, 75, 60, 50, 40, 25, 15, 10, 5, 1)


def test_a_board_files_cell_curve_is_the_one_the_pin_reads():
    # a cell whose curve is not the default one: the pin reads its own
    own = [4180 - 45 * i for i in range(21)]
    board = dict(_BOARD, battery=dict(_BOARD["battery"], curve_mv=own, empty_mv=3200, full_mv=4180))
    for pct in _LEVELS:
        got = _reading(board, curve_mv(pct, own))
        assert pct - 1 <= got <= pct, (pct, got)  # ADC steps: at most 1 % under
    assert _reading(board, curve_mv(50, own)) != curve_percent(curve_mv(50, own))  # (not the default curve)


def test_the_reference_pin_reports_its_cells_curve_within_one_percent():
    # boards/cloudpin_ref.json: the cell the energy model's figures are for
    # (host_tools/power/batteries.cell reads the same file). The pin reads
    # its cell with the CPU awake: the terminal sags below the curve (taken
    # at curve_ma) by (read_ma - curve_ma) x internal_mohm, 39 mV
    # (tests/fw/test_power_battery_load.py has the emulated cell and the radio)
    with open(__file__.rsplit("/", 3)[0] + "/boards/cloudpin_ref.json") as f:
        board = boardspec.validate(json.load(f))
    bat = board["battery"]
    curve = tuple(bat["curve_mv"])
    assert bat["cell"]
    sag = int((bat["read_ma"] - bat["curve_ma"]) * bat["internal_mohm"]) // 1000
    assert 30 <= sag <= 50, sag
    for pct in _LEVELS:
        got = _reading(board, curve_mv(pct, curve) - sag)
        assert pct - 1 <= got <= pct, (pct, got)
        assert curve_percent(curve_mv(pct, curve) - sag, curve) < pct - 1 or pct in (100, 1)  # (uncorrected: low)
    assert _reading(board, curve[0] - sag) == 100 and _reading(board, curve[-1] - sag) == 0

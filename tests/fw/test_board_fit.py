# Every board in boards/ fitted on an emulated pin by cpsim.boardfit (the
# virtual badge's own path), built by the board layer and run by the motion
# service: the accelerometer each board carries counts steps and finds taps,
# and the M5StickC Plus's AXP192 and ST7789 come up and show the status screen.
import gc
import json
import sys

from cloudpin import board as board_layer
from cloudpin import boardspec
from cloudpin.battery import curve_percent
from cloudpin.log import Logger
from cloudpin.motion import MotionService
from cpsim import boardfit
from cpsim.world import World
from test_motion import Walk

_MP = sys.implementation.name == "micropython"


def _boards():
    root = __file__.rsplit("/", 3)[0] + "/boards/"
    out = []
    for name in ("cloudpin_ref", "devkitc_mpu6050", "m5stickc_plus"):
        with open(root + name + ".json") as f:
            out.append(boardspec.validate(json.load(f)))
    return out


def _fit(board, source=None):
    world = World()
    dev = world.device(board["name"])
    # In the VM the display's memory lives in a file: 63 KB of frame would
    # otherwise come out of the pin's heap, where the glass costs nothing.
    parts = boardfit.fit(dev, board, display_path="lcd.bin" if _MP else None, source=source)
    lines = []
    hw = board_layer.build(board, Logger("board", sink=lines.append), wdt_timeout_ms=0, with_ble=False)
    return world, dev, parts, hw, lines


def _counts_steps_and_taps(board):
    walk = Walk(cadence=2.0, walk_from_ms=0, walk_to_ms=12000, taps=(13000,))
    world, dev, parts, hw, lines = _fit(board, walk)
    # The display comes up on both runtimes (its screen needs no framebuf;
    # only the status screen's drawing does, cloudpin.statusscreen).
    assert hw.faults == [] and hw.accel is not None, (board["name"], hw.faults, lines)
    assert (hw.display is not None) == bool(board.get("display")), board["name"]
    assert hw.accel_rate == boardspec.motion_rate(board["accel"]), (board["name"], hw.accel_rate)
    taps = []
    svc = MotionService(hw, Logger("m", sink=lines.append), lambda t, mg: taps.append(t), world.clock.now_ms)
    svc.setup()
    for _ in range(14000 // 50):
        world.advance(50)
        svc.drain()
    assert 18 <= svc.steps.steps <= 26, (board["name"], svc.steps.steps)
    assert len(taps) == 1 and abs(taps[0] - 13000) <= 20, (board["name"], taps)


# One pin per test: each runs in a fresh world in the pin-sized heap.
def test_cloudpin_ref_counts_steps_and_taps_on_its_lis3dh():
    _counts_steps_and_taps(_boards()[0])


def test_devkitc_mpu6050_counts_steps_and_taps_on_its_mpu6050():
    _counts_steps_and_taps(_boards()[1])


def test_m5stickc_plus_counts_steps_and_taps_on_its_mpu6886():
    _counts_steps_and_taps(_boards()[2])


def test_m5stickc_plus_power_chip_reads_the_battery_and_powers_the_lcd():
    board = _boards()[2]
    world, dev, parts, hw, lines = _fit(board)
    axp = parts["power"]
    assert hw.power is not None and hw.battery._adc is hw.power
    # the emulated cell is at 3.9 V on its curve, read under the pin's load
    # (cpsim.boardfit.Cell: the CPU awake, the screen lit from boot)
    cell = parts["cell"]
    assert abs(hw.battery.millivolts() - cell.mv()) <= 2  # 1.1 mV steps
    assert cell.mv() < boardfit.BATTERY_MV if _MP else True  # the lit screen's load (no display on CPython)
    # on the LiPo curve (cloudpin.battery) 3.9 V is 60-65 % left; a linear 3.3-4.2 V map said 66
    assert 60 <= curve_percent(boardfit.BATTERY_MV) <= 65
    assert 58 <= hw.battery.percent() <= 65, hw.battery.percent()
    axp.battery_mv = 3000
    assert hw.battery.percent() == 0
    if _MP:  # the display needs framebuf
        assert axp.backlight and axp.ldo_mv(3) == 3000 and parts["display"].lit()
        hw.power.backlight(False)
        assert not parts["display"].lit()


def test_mp_status_screen_draws_and_allocates_nothing():
    board = _boards()[2]
    world, dev, parts, hw, lines = _fit(board)
    from cloudpin.statusscreen import StatusDisplay

    lcd = parts["display"]
    assert hw.display is not None and lcd.lit() and lcd.colmod & 7 == 5, lines
    screen = StatusDisplay(hw.display.lcd)
    screen.clear()
    badge = ("0000c10d", "0000002a")
    screen.show(badge, 1234, 5)
    w = lcd.width

    def rows(y0, y1):  # from the model's file: the whole frame would not fit this heap
        with open("lcd.bin", "rb") as f:
            f.seek(4 + y0 * w * 2)
            return f.read((y1 - y0) * w * 2)

    # Text is drawn: lit pixels in the steps line (line 6 of 12 pixels), none below the last line.
    lit = [b for b in rows(72, 84) if b]
    assert len(lit) > 80, len(lit)
    assert not [b for b in rows(100, 110) if b]
    # The firmware's share: the emulator's Pin.value(*args) and the model's
    # file writes allocate (on the chip both are C and glass), so the pads
    # are driven as the chip's GPIO matrix would be and the model unplugged.
    for name in ("cs", "dc"):
        setattr(screen.lcd, name, _Pad(dev, getattr(screen.lcd, name)))
    dev.spi_models = {}
    screen.show(badge, 1, 1)
    gc.collect()
    before = gc.mem_alloc()
    n = 0
    while n < 20:  # (a range() would be an object)
        screen.show(badge, 1234 + n, 5)
        n += 1
    assert gc.mem_alloc() - before == 0, gc.mem_alloc() - before


class _Pad:
    """An output pad driven without allocating (as a Pin is in C)."""

    def __init__(self, dev, pin):
        from cpsim import gpio

        self.st = gpio.state(dev, pin._st.num)

    def value(self, v):
        self.st.out = v
        self.st.update()

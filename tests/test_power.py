"""The energy model (host_tools/power): arithmetic on state times, the
planned radio windows, the day file's validation and `cloudpin power`."""
import json
import subprocess
import sys

import pytest

from host_tools import boards
from host_tools.power import batteries, day, model, probe
from host_tools.power import currents as C

REF = {"name": "cloudpin_ref", "accel": {"type": "lis3dh", "odr": 50, "tap_odr": 400},
       "led": {"type": "rgb"}, "battery": {"type": "adc"}, "display": None, "power": None}
PLAN = {"adv_interval_ms": 100, "adv_len": 31, "conn_interval_ms": 30, "phone_sync_s": 20,
        "cancel_after_s": 0.17}
DAY = {"worn_h": 16, "steps": 8000, "taps": 30, "new_friends": 25, "phone_syncs": 10,
       "friends_nearby_fraction": 0.8}
NO_RADIO = {"on_s": 0.0, "tx_s": 0.0, "rx_s": 0.0, "starts": 0}


def _w(on, tx, rx):
    return {"on_s": on, "tx_s": tx, "rx_s": rx, "starts": 1.0}


# window costs as probe.measure reports them (figures of its order)
WINDOWS = {"tap (a friend made)": _w(1.3, 0.03, 0.6), "clock window after a new friend": _w(8.25, 0.02, 7.9),
           "update (friends near)": _w(2.25, 0.02, 1.9), "update (nobody near)": _w(2.25, 0.02, 1.9),
           "update (alone, in step with nobody)": _w(2.25, 0.02, 0.5),
           "false tap (ends alone)": _w(0.65, 0.01, 0.43), "cancelled radio start": _w(0.25, 0.0, 0.0),
           "phone window": _w(60.0, 0.3, 0.66), "reconciliation window": _w(4.85, 0.06, 4.7),
           "boot (once a day)": dict(NO_RADIO)}
FW = {"period_s": 300, "lost_s": 1800.0, "search_every": 12, "search_margin_s": 6.0,
      "recon": {"windows": 11, "on_s": 77.25}, "phone": {"window_s": 60.0, "linger_s": 5.0}}


def _radio(day=DAY, windows=WINDOWS, fw=FW, plan=PLAN):
    return model.radio_windows(windows, fw, plan, day)


def test_average_is_the_time_weighted_sum_of_the_table():
    cpu = {"cpu.active": model.DAY_S / 4, "cpu.lightsleep": model.DAY_S * 3 / 4}
    avg, states = model.average(cpu, NO_RADIO, model.board_loads(REF, {}))
    want = C.ESP32["cpu.active"] / 4 + C.ESP32["cpu.lightsleep"] * 3 / 4 + C.LIS3DH_NORMAL[400] + C.LDO_QUIESCENT
    assert avg == pytest.approx(want)
    assert states["sensor.lis3dh@400Hz"]["ma"] == C.LIS3DH_NORMAL[400]
    assert model.life(avg, 150) == pytest.approx(150 / want)
    assert model.life(avg, None) is None


def test_accel_rate_between_rows_costs_the_row_above():
    assert C.accel_ma("lis3dh", 50) == C.LIS3DH_NORMAL[50]
    assert C.accel_ma("lis3dh", 60) == C.LIS3DH_NORMAL[100]
    assert C.accel_ma("mpu6050", 500) == C.MPU6050_ACCEL_ONLY


def _figures():
    """Every figure currents.py prices with: its upper-case numbers and
    tables, an ESP32 key as ESP32[key]."""
    out = set()
    for name, v in vars(C).items():
        if name.startswith("_") or not name.isupper() or name in ("SOURCES", "KINDS"):
            continue
        if name == "ESP32":
            out.update("ESP32[%s]" % k for k in v)
        elif isinstance(v, (int, float)) or (isinstance(v, dict) and all(
                isinstance(x, (int, float)) for x in v.values())):
            out.add(name)
    return out


def test_every_current_figure_has_its_source():
    figures = _figures()
    assert "MPU6886_ACCEL_ONLY" in figures and "ESP32[radio.idle]" in figures  # (the walk finds them)
    assert figures - set(C.SOURCES) == set(), "figures without a source"
    assert set(C.SOURCES) - figures == set(), "sources of no figure"
    for name, (kind, where) in C.SOURCES.items():
        assert kind in C.KINDS and len(where) > 20, name
        if kind == "ESTIMATE":  # an estimate says what was looked through
            assert "searched" in where, name
    # the derived ones are their sums
    assert C.AXP192_QUIESCENT == pytest.approx(C.AXP192_DCDC1_IQ + C.AXP192_LDO_IQ)
    # NimBLE between events: Espressif's measured 23 mA at 80 MHz, less the
    # idle CPU at 80 MHz and the advertising's air as the model prices it
    # (one empty ADV_IND event a second on the emulated radio's timings)
    tx, rx = model.adv_air(1.0, 1000, 0)
    air = tx * (C.ESP32["air.tx"] - C.ESP32["cpu.idle"]) + rx * (C.ESP32["air.rx"] - C.ESP32["cpu.idle"])
    assert C.ESPAT_ADV_AIR_MA == pytest.approx(air)
    assert C.ESP32["radio.idle"] == pytest.approx(C.ESPAT_BLE_ADV_1S_80MHZ - C.CPU_IDLE_80MHZ - air)
    assert 0 < C.ESP32["radio.idle"] < C.ESP32["cpu.idle"]


def test_the_stack_idles_only_off_the_air():
    # radio-on time on air is priced by the whole-chip RF figures; the
    # stack's own current only for the rest, never for a radio that listens
    # all the time (the naive policy scans continuously)
    radio = {"on_s": 100.0, "tx_s": 10.0, "rx_s": 60.0, "starts": 1}
    _, states = model.average({}, radio, {})
    assert states["radio.off_air"]["s"] == pytest.approx(30.0)
    assert states["radio.off_air"]["ma"] == C.ESP32["radio.idle"]
    _, naive = model.average({}, model.naive_radio(PLAN), {})
    assert naive["radio.off_air"]["s"] == 0.0 and naive["air.rx"]["s"] == model.DAY_S


def test_each_board_lights_its_own_led():
    on = {"led.on": 10.0}
    ref = model.board_loads(REF, on)
    m5 = model.board_loads(dict(REF, name="m5stickc_plus", accel={"type": "mpu6886", "odr": 500}), on)
    assert ref["led.on"] == (10.0, C.LED_ON) and m5["led.on"] == (10.0, C.LED_ON_M5)
    assert C.LED_ON_M5 > C.LED_ON  # the M5's measured red LED draws more than the reference pin's design
    assert m5["sensor.mpu6886@500Hz"][1] == C.MPU6886_ACCEL_ONLY < C.MPU6050_ACCEL_ONLY


def test_the_fallback_cadence_is_the_oxford_walks_median():
    # day.FALLBACK_CADENCE cites the shared Oxford validation walks: their
    # labelled steps over each recording's length, median of the 12
    import csv
    import statistics
    from pathlib import Path

    d = Path(__file__).resolve().parents[2] / "shared" / "data" / "steps" / "oxford-validation"
    if not (d / "labels.csv").exists():
        pytest.skip("../shared/data/steps not here")
    rates = []
    with open(d / "labels.csv") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "walk":
                with open(d / row["file"]) as g:
                    t = [float(r[0]) for r in csv.reader(g) if r and r[0][:1].isdigit()]
                rates.append(int(row["steps"]) / ((t[-1] - t[0]) / 1000.0))
    assert len(rates) >= 10 and day.FALLBACK_CADENCE == pytest.approx(statistics.median(rates), abs=0.005)


def test_radio_windows_keep_the_cpu_out_of_light_sleep():
    cpu = {"cpu.active": 100.0, "cpu.idle": 900.0, "cpu.lightsleep": 85400.0}
    radio = _radio()
    after = model.apply_radio(cpu, radio, 0.25)
    assert sum(after.values()) == pytest.approx(sum(cpu.values()))
    assert after["cpu.lightsleep"] == pytest.approx(85400.0 - radio["on_s"])
    assert after["cpu.active"] == pytest.approx(100.0 + 0.25 * radio["starts"])
    assert model.never_sleep(cpu) == {"cpu.active": 100.0, "cpu.idle": 86300.0}


def _window(radio, name):
    return [w for w in radio["windows"] if w["window"].startswith(name)][0]


def test_each_window_is_its_measured_cost_times_how_often_the_day_opens_it():
    base = _radio()
    busy = _radio(dict(DAY, taps=300, phone_syncs=100))
    assert busy["rx_s"] > base["rx_s"] and busy["tx_s"] > base["tx_s"] and busy["on_s"] > base["on_s"]
    tap = _window(base, "tap")
    assert tap["count"] == 30 and tap["on_s"] == pytest.approx(30 * 1.3) and tap["rx_s"] == pytest.approx(30 * 0.6)
    clock = _window(base, "clock window after a new friend")
    assert clock["count"] == 25 and clock["rx_s"] == pytest.approx(25 * 7.9)
    # a phone sync: the beacon (the measured window's duty) until the phone
    # connects (plan: 5 s) and LINGER_S after it, the connection's 20 s between
    phone = _window(base, "phone sync")
    ctx, crx = model.conn_air(20, 30)
    assert phone["on_s"] == pytest.approx(10 * (5 + 20 + 5))
    assert phone["rx_s"] == pytest.approx(10 * (0.66 * 10 / 60 + crx))
    assert phone["tx_s"] == pytest.approx(10 * (0.3 * 10 / 60 + ctx))
    # a session that runs past the window's end: no linger (the window is over when it ends)
    long = _window(_radio(plan=dict(PLAN, phone_sync_s=58)), "phone sync")
    assert long["on_s"] == pytest.approx(10 * (5 + 58))
    assert base["starts"] == pytest.approx(sum(w["count"] for w in base["windows"]
                                               if not w["window"].startswith(("clock search", "boot"))))


def test_update_windows_run_all_day_and_friends_are_near_only_while_worn():
    # social/updates.py opens them on the UTC clock: a pin on the table still does
    worn, table = _radio(), _radio(dict(DAY, worn_h=0))
    assert _window(table, "friend update (friends near)")["count"] == 0
    assert _window(table, "friend update (nobody near, in step")["count"] == pytest.approx(1800 / 300)
    assert _window(table, "friend update (nobody near, lost")["count"] == pytest.approx((model.DAY_S - 1800) / 300)
    near = _window(worn, "friend update (friends near)")
    assert near["count"] == pytest.approx(DAY["worn_h"] * 3600 / 300 * DAY["friends_nearby_fraction"])
    # worn with no friend near, strangers keep the air busy: the whole window, as near
    busy = _window(worn, "friend update (worn, no friend near")
    assert busy["count"] == pytest.approx(DAY["worn_h"] * 3600 / 300 * (1 - DAY["friends_nearby_fraction"]))
    assert busy["rx_s"] == pytest.approx(busy["count"] * 1.9)
    # on the table, in step with its friends for LOST_MS: whole windows; then lost, on an empty
    # air: the window that stops scanning early
    step = _window(worn, "friend update (nobody near, in step")
    assert step["count"] == pytest.approx(1800 / 300) and step["rx_s"] == pytest.approx(step["count"] * 1.9)
    empty = _window(worn, "friend update (nobody near, lost")
    assert empty["count"] == pytest.approx(((24 - DAY["worn_h"]) * 3600 - 1800) / 300)
    assert empty["rx_s"] == pytest.approx(empty["count"] * 0.5)
    # alone for over LOST_MS (not worn) one window in 12 scans the whole margin on each side
    search = _window(worn, "clock search margin")
    assert search["count"] == pytest.approx((8 * 3600 - 1800) / 300 / 12)
    assert search["rx_s"] == search["on_s"] == pytest.approx(search["count"] * 6.0) and search["tx_s"] == 0
    assert _window(table, "clock search margin")["count"] == pytest.approx((model.DAY_S - 1800) / 300 / 12)


def test_suspicions_and_unsettled_friendships_cost_their_measured_windows():
    quiet = dict(DAY, taps=0, new_friends=0, phone_syncs=0)
    base = _radio(quiet)
    bag = _radio(dict(quiet, cancelled_starts=100, false_taps=10, unsettled=2))
    c = _window(bag, "cancelled radio start")
    assert c["count"] == 100 and c["on_s"] == pytest.approx(25.0) and c["tx_s"] == c["rx_s"] == 0
    f = _window(bag, "false tap")
    assert f["on_s"] == pytest.approx(6.5) and f["rx_s"] == pytest.approx(4.3)
    # an unsettled friendship: its 11 windows (77.25 s of radio) at the measured window's duty
    r = _window(bag, "reconciliation")
    assert r["on_s"] == pytest.approx(2 * 77.25) and r["starts"] == 22
    assert r["rx_s"] == pytest.approx(2 * 77.25 * 4.7 / 4.85)
    assert bag["starts"] == pytest.approx(base["starts"] + 100 + 10 + 22)
    # priced: each cancelled start is 0.25 s of CPU active instead of light
    # sleep, with the stack up (nothing on the air)
    only = _radio(dict(quiet, cancelled_starts=100))
    cpu = {"cpu.active": 100.0, "cpu.idle": 900.0, "cpu.lightsleep": model.DAY_S - 1000.0}
    a0, _ = model.average(model.apply_radio(cpu, base, 0.25), base, {})
    a1, _ = model.average(model.apply_radio(cpu, only, 0.25), only, {})
    assert (a1 - a0) * model.DAY_S / 100 == pytest.approx(
        0.25 * (C.ESP32["cpu.active"] - C.ESP32["cpu.lightsleep"] + C.ESP32["radio.idle"]))


@pytest.fixture(scope="module")
def probed():
    return probe.measure("cloudpin_ref")


def test_the_probe_measures_each_window_as_the_firmware_opens_it(probed):
    # what the firmware's own constants say each window is: the probe must
    # find the radio on that long (plus the emulator's ble.active start)
    import sys

    from host_tools import FIRMWARE_DIR
    sys.path.insert(0, str(FIRMWARE_DIR))
    from cloudpin.phone import role
    from cloudpin.social import clocksync, meet, recon, updates

    start = probe.start_s()
    m = probed
    assert set(m) == set(probe.KINDS)
    upd = m["update (friends near)"]
    assert upd["on_s"] == pytest.approx(start + updates.WINDOW_MS / 1000, abs=0.05)
    assert upd["rx_s"] > 0.85 * updates.WINDOW_MS / 1000  # it scans all the time (SCAN_WINDOW_US = interval)
    # nobody near, in step with its friends: the whole window (a friend may be TOLERANCE_MS off)
    assert m["update (nobody near)"]["on_s"] == pytest.approx(upd["on_s"], abs=0.05)
    assert m["update (nobody near)"]["rx_s"] > 0.85 * updates.WINDOW_MS / 1000
    # in step with nobody, an empty air: the scan stops after QUIET_MS; the burst goes on to its end
    alone = m["update (alone, in step with nobody)"]
    assert alone["on_s"] == pytest.approx(upd["on_s"], abs=0.05)
    assert alone["rx_s"] < (updates.QUIET_MS + 100) / 1000 < upd["rx_s"] / 3
    clock = m["clock window after a new friend"]
    # its burst MET_AFTER_MS after the touch; a first friend's clock module
    # loads MET_DELAY_MS after the commit, later than MET_PRE_MS before that
    # burst: it scans less before it (the burst itself is on time)
    full = start + (clocksync.MET_PRE_MS + updates.WINDOW_MS + clocksync.MET_POST_MS) / 1000
    assert full - clocksync.MET_PRE_MS / 1000 - 0.05 <= clock["on_s"] <= full + 0.05, clock
    assert m["false tap (ends alone)"]["on_s"] == pytest.approx(start + meet.COLLECT_MS / 1000, abs=0.05)
    assert m["false tap (ends alone)"]["rx_s"] > 0.9 * meet.COLLECT_MS / 1000  # scanning all the tap window
    assert m["cancelled radio start"] == {"on_s": start, "tx_s": 0.0, "rx_s": 0.0, "starts": 1.0, "n": 1,
                                          "led_s": 0.0, "flash_writes": 0.0, "flash_bytes": 0.0,
                                          "display_s": 0.0, "backlight_s": 0.0}
    assert m["phone window"]["on_s"] == pytest.approx(role.WINDOW_S, abs=0.3)
    first, second = recon.window(0)[1], recon.window(34)[1]  # the r pin's two windows (at 30 s and 60 s)
    assert m["reconciliation window"]["on_s"] == pytest.approx(start + (first + second) / 2000, abs=0.1)
    tap = m["tap (a friend made)"]
    assert m["false tap (ends alone)"]["on_s"] < tap["on_s"] < start + 3.0  # the handshake's window
    assert all(w["n"] >= 1 and w["starts"] == 1 for k, w in m.items() if k != "boot (once a day)")
    assert m["boot (once a day)"]["starts"] == 0  # (the screen's spell: no radio)
    assert all(w["display_s"] == w["backlight_s"] == 0 for w in m.values())  # no display on this board
    # what else a window does, as the emulator accounted it: a tap that makes a
    # friend writes the friend store (and more) and flashes the LED; a
    # cancelled start writes nothing and lights nothing
    assert tap["flash_writes"] >= 2 and tap["flash_bytes"] > 1000 and 0 < tap["led_s"] < 1
    assert m["update (friends near)"]["flash_writes"] >= 1  # the friends' update records, the clock


def test_the_m5s_screen_is_lit_by_its_boot_and_the_wearers_events_and_priced_per_event():
    # cloudpin.display's policy on the M5StickC Plus, as the probe measures it:
    # the boot's spell, a tap's (then its friend's: it lights it again), a
    # false tap's; an update window or a suspicion lights nothing
    import sys

    from host_tools import FIRMWARE_DIR
    sys.path.insert(0, str(FIRMWARE_DIR))
    from cloudpin.display import LIT_MS

    lit = LIT_MS / 1000
    m = probe.measure("m5stickc_plus")
    for k in ("display_s", "backlight_s"):
        assert lit <= m["boot (once a day)"][k] <= lit + 1.1, (k, m["boot (once a day)"])
        assert lit < m["tap (a friend made)"][k] <= lit + 4.0, (k, m["tap (a friend made)"])
        assert lit - 0.1 <= m["false tap (ends alone)"][k] <= lit + 1.1, (k, m["false tap (ends alone)"])
        for kind in ("update (friends near)", "update (alone, in step with nobody)", "cancelled radio start",
                     "phone window", "clock window after a new friend"):
            assert m[kind][k] == 0.0, (kind, m[kind])
    # the day: the boot once, each tap's and false tap's spell, LIT_MS a phone sync (the phone connecting)
    fw = dict(FW, screen_lit_s=lit)
    radio = model.radio_windows(m, fw, PLAN, dict(DAY, false_taps=2))
    want = m["boot (once a day)"]["display_s"] + 30 * m["tap (a friend made)"]["display_s"] \
        + 2 * m["false tap (ends alone)"]["display_s"] + 10 * lit
    assert radio["display_s"] == pytest.approx(want)


def test_flash_writes_are_priced_as_erased_sectors_and_programmed_pages():
    st = model.flash_states(10, 2560)
    over = C.ESP32["cpu.active"] - C.ESP32["cpu.lightsleep"]  # the CPU spins, awake, meanwhile
    assert st["flash.erase"] == (pytest.approx(10 * C.FLASH_T_SECTOR_S), C.FLASH_ERASE + over)
    # each session programs the 4 KB block it copies (16 pages) and its own bytes
    assert st["flash.program"][0] == pytest.approx((10 * 16 + 10) * C.FLASH_T_PAGE_S)
    assert model.flash_states(0, 0)["flash.erase"][0] == 0


def _seg_pin(cpu_s, **extra):
    t = {"cpu.active": 0, "cpu.lightsleep": int(cpu_s * 1e6)}
    counts = {}
    for k, v in extra.items():
        (counts if k.startswith("flash") else t)[k.replace("_", ".", 1)] = v
    return {"time_us": t, "counts": counts}


def test_switched_parts_and_writes_come_from_the_accounting():
    seg = 60.0
    # the segment's pins: lit 10 s from boot (the probe's boot spell), the
    # walker's controller 20 s more, the still pin's all the rest
    walker = _seg_pin(seg, display_awake=30e6, backlight_on=10e6, led_on=2e6)
    still = _seg_pin(seg, display_awake=60e6, backlight_on=10e6, led_on=2e6, flash_writes=1, flash_bytes=100)
    boot = {"window": "boot (the screen's spell; once a day)", "display_s": 10.0, "backlight_s": 10.0}
    radio = {"led_s": 3.0, "flash_writes": 50.0, "flash_bytes": 5000.0, "display_s": 40.0, "backlight_s": 40.0,
             "windows": [boot]}
    on, flash = day.switched(walker, still, seg, 3600.0, radio, {"save_steps": 250}, dict(DAY))
    still_s = model.DAY_S - 3600.0
    # the windows' and the boot's spells (the probe's), and the segment's share beyond its boot's spell
    assert on["display.awake"] == pytest.approx(40.0 + 20.0 / 60 * 3600 + 50.0 / 60 * still_s)
    assert on["backlight.on"] == pytest.approx(40.0)
    assert on["led.on"] == pytest.approx(3.0 + 2.0)  # the windows' flashes, and the boot colour once
    # the windows', the still segment's rate over the still day, two saves per 250 steps
    assert flash["writes"] == pytest.approx(50 + still_s / seg + 2 * 8000 / 250)
    assert flash["bytes"] == pytest.approx(5000 + 100 * still_s / seg)
    loads = model.board_loads(dict(REF, display={"type": "st7789"}), on)
    assert loads["display.awake"] == (on["display.awake"], C.DISPLAY_AWAKE)
    assert loads["display.asleep"][0] == pytest.approx(model.DAY_S - on["display.awake"])
    assert loads["backlight.on"] == (on["backlight.on"], C.BACKLIGHT_ON) and loads["led.on"][0] == 5.0


def test_an_unsettled_friendship_costs_each_pin_the_windows_its_answerer_opens():
    fw = probe.firmware_timing()
    r = fw["recon"]
    assert r["asks"] == r["answers"] == {"windows": 11, "s": 74.5}
    assert r["on_s"] == pytest.approx(74.5 + 11 * probe.start_s(), abs=0.1)


def test_naive_policy_listens_all_day():
    naive = model.naive_radio(PLAN)
    avg, _ = model.average(model.never_sleep({"cpu.idle": model.DAY_S}), naive, {})
    assert avg > C.ESP32["air.rx"]


def _dayfile(**over):
    d = {"name": "t", "segment_s": 5, "day": dict(DAY), "plan": dict(PLAN)}
    d.update(over)
    return d


@pytest.mark.parametrize("data, field", [
    ({"day": dict(DAY, stepz=1)}, "day.stepz"),
    ({"day": dict(DAY, worn_h=30)}, "day.worn_h"),
    ({"plan": dict(PLAN, scan_window_ms=50)}, "plan.scan_window_ms"),
    ({"day": dict(DAY, unsettled=-2)}, "day.unsettled"),
    ({"plan": dict(PLAN, adv_interval_ms=0)}, "plan.adv_interval_ms"),
    ({"segment_s": 1}, "segment_s"),
    ({"day": dict(DAY, cancelled_starts=-1)}, "day.cancelled_starts"),
    ({"day": dict(DAY, false_taps="many")}, "day.false_taps"),
    ({"plan": dict(PLAN, cancel_after_s=-0.1)}, "plan.cancel_after_s"),
])
def test_bad_day_files_name_the_field(data, field):
    with pytest.raises(day.DayError, match=field.replace(".", r"\.")):
        day.validate(_dayfile(**data))


def test_shipped_press_day_is_valid():
    spec = day.load("scenarios/press-day.json")
    assert spec["day"]["worn_h"] == 16 and spec["day"]["steps"] == 8000 and spec["day"]["taps"] == 30
    # no bag in it: the detector's suspicions cost nothing there
    assert spec["day"]["false_taps"] == 0 and spec["day"]["cancelled_starts"] == 0
    assert spec["plan"]["cancel_after_s"] == model.EXTRA_PLAN_KEYS["cancel_after_s"]


def test_shipped_bag_day_is_the_press_day_with_an_hour_of_rattle():
    press, bag = day.load("scenarios/press-day.json"), day.load("scenarios/press-day-bag.json")
    assert {k: v for k, v in bag["day"].items() if k not in ("false_taps", "cancelled_starts")} == \
        {k: v for k, v in press["day"].items() if k not in ("false_taps", "cancelled_starts")}
    assert bag["plan"] == press["plan"]
    assert bag["day"]["false_taps"] > 0 and bag["day"]["cancelled_starts"] > 0
    r0, r1 = _radio(press["day"]), _radio(bag["day"])
    assert r1["on_s"] > r0["on_s"] and r1["starts"] == r0["starts"] + bag["day"]["false_taps"] + bag["day"]["cancelled_starts"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", "power", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_json_reports_the_reference_pin(tmp_path):
    f = tmp_path / "tiny-day.json"
    f.write_text(json.dumps(_dayfile()))
    p = _cli(str(f), "--board", "cloudpin_ref", "--json", "--quiet")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["board"] == "cloudpin_ref" and r["battery_mah"] == 150
    assert r["battery_life_h"] == pytest.approx(150 / r["avg_current_ma"], rel=1e-2)
    assert r["naive_avg_current_ma"] > r["avg_current_ma"] > 0
    # the CPU's states come from the simulated firmware and cover the whole day
    cpu = sum(s["s"] for k, s in r["states"].items() if k.startswith("cpu."))
    assert cpu == pytest.approx(model.DAY_S, rel=1e-6)
    assert r["measured"]["cpu_still"]["cpu.active"] > 0
    # and its radio windows from the probe run of the same firmware
    assert set(r["window_costs"]) == set(probe.KINDS) and r["unsettled_friendship"]["windows"] == 11
    # what the pin's ADC reads after that day, on its cell's curve (the board file's)
    curve = batteries.cell(boards.load_board("cloudpin_ref"))[1]
    left = 100 - 100 * r["avg_current_ma"] * 24 / 150
    assert r["after_day"]["pct_left"] == pytest.approx(left, abs=0.1)
    assert r["after_day"]["cell_mv"] == batteries.curve_mv(int(r["after_day"]["pct_left"]), curve)


def test_the_model_reads_each_boards_cell_from_its_board_file():
    ref = boards.load_board("cloudpin_ref")
    what, curve = batteries.cell(ref)
    assert curve == tuple(ref["battery"]["curve_mv"]) and "150 mAh" in what
    assert batteries.cell(boards.load_board("m5stickc_plus"))[1] == batteries.CURVE_MV  # gives none: the default


def test_each_boards_cell_sags_by_the_current_tables_loads():
    # The battery's load figures in the board files (the emulated cell and
    # the firmware's correction read them there: the VM cannot import this
    # table) are the table's; R_internal is Dialog's two profiles of the
    # same cell at mid charge, (V at 1 mA - V at 50 mA) / 49 mA.
    ref, m5 = boards.load_board("cloudpin_ref"), boards.load_board("m5stickc_plus")
    at_1ma, at_50ma = batteries.cell(ref)[1], batteries.CURVE_MV
    r_mohm = (batteries.curve_mv(50, at_1ma) - batteries.curve_mv(50, at_50ma)) * 1000 // 49
    assert 800 <= r_mohm <= 1100, r_mohm
    for b, curve_ma, screen in ((ref, 1, None), (m5, 50, C.DISPLAY_AWAKE + C.BACKLIGHT_ON)):
        bat = b["battery"]
        assert bat["internal_mohm"] == r_mohm and bat["curve_ma"] == curve_ma, bat
        assert bat["read_ma"] == C.ESP32["cpu.active"]
        assert bat["radio_ma"] == C.ESP32["air.rx"] - C.ESP32["cpu.idle"]
        assert bat.get("screen_ma") == (None if screen is None else pytest.approx(screen)), bat


def test_cli_bad_input_is_one_line_and_nonzero(tmp_path):
    f = tmp_path / "bad-day.json"
    f.write_text(json.dumps(_dayfile(day=dict(DAY, taps=-1))))
    p = _cli(str(f), "--quiet")
    assert p.returncode == 2 and "day.taps" in p.stderr and p.stderr.count("\n") == 1
    p = _cli(str(f.with_name("missing.json")), "--quiet")
    assert p.returncode == 2 and "cannot read" in p.stderr
    f.write_text(json.dumps(_dayfile()))
    p = _cli(str(f), "--board", "nosuchboard", "--quiet")
    assert p.returncode == 2 and "nosuchboard" in p.stderr

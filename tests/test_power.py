"""The energy model (host_tools/power): arithmetic on state times, the
planned radio windows, the day file's validation and `cloudpin power`."""
import json
import subprocess
import sys

import pytest

from host_tools.power import currents as C
from host_tools.power import day, model

REF = {"name": "cloudpin_ref", "accel": {"type": "lis3dh", "odr": 50, "tap_odr": 400},
       "led": {"type": "rgb"}, "battery": {"type": "adc"}, "display": None, "power": None}
PLAN = {"adv_interval_ms": 100, "adv_len": 31, "scan_window_ms": 30, "scan_interval_ms": 100,
        "conn_interval_ms": 30, "tap_window_s": 3, "friend_exchange_s": 2, "update_every_s": 600,
        "update_window_s": 2, "update_conn_s": 1, "phone_adv_s": 5, "phone_sync_s": 20,
        "ble_start_active_s": 0.25, "display_on_s": 5, "led_on_s": 1}
DAY = {"worn_h": 16, "steps": 8000, "taps": 30, "new_friends": 25, "phone_syncs": 10,
       "friends_nearby_fraction": 0.8}
NO_RADIO = {"on_s": 0.0, "tx_s": 0.0, "rx_s": 0.0, "starts": 0}


def test_average_is_the_time_weighted_sum_of_the_table():
    cpu = {"cpu.active": model.DAY_S / 4, "cpu.lightsleep": model.DAY_S * 3 / 4}
    avg, states = model.average(cpu, NO_RADIO, model.board_loads(REF, 0, 0))
    want = C.ESP32["cpu.active"] / 4 + C.ESP32["cpu.lightsleep"] * 3 / 4 + C.LIS3DH_NORMAL[400] + C.LDO_QUIESCENT
    assert avg == pytest.approx(want)
    assert states["sensor.lis3dh@400Hz"]["ma"] == C.LIS3DH_NORMAL[400]
    assert model.life(avg, 150) == pytest.approx(150 / want)
    assert model.life(avg, None) is None


def test_accel_rate_between_rows_costs_the_row_above():
    assert C.accel_ma("lis3dh", 50) == C.LIS3DH_NORMAL[50]
    assert C.accel_ma("lis3dh", 60) == C.LIS3DH_NORMAL[100]
    assert C.accel_ma("mpu6050", 500) == C.MPU6050_ACCEL_ONLY


def test_radio_windows_keep_the_cpu_out_of_light_sleep():
    cpu = {"cpu.active": 100.0, "cpu.idle": 900.0, "cpu.lightsleep": 85400.0}
    radio = model.radio_windows(PLAN, DAY)
    after = model.apply_radio(cpu, radio, 0.25)
    assert sum(after.values()) == pytest.approx(sum(cpu.values()))
    assert after["cpu.lightsleep"] == pytest.approx(85400.0 - radio["on_s"])
    assert after["cpu.active"] == pytest.approx(100.0 + 0.25 * radio["starts"])
    assert model.never_sleep(cpu) == {"cpu.active": 100.0, "cpu.idle": 86300.0}


def test_more_taps_and_syncs_cost_more_air_time():
    base = model.radio_windows(PLAN, DAY)
    busy = model.radio_windows(PLAN, dict(DAY, taps=300, phone_syncs=100))
    assert busy["rx_s"] > base["rx_s"] and busy["tx_s"] > base["tx_s"] and busy["on_s"] > base["on_s"]
    # scanning a 30 ms window in every 100 ms: three taps' 3 s windows hear 0.3 of their time
    only_taps = model.radio_windows(dict(PLAN, update_every_s=1e6),
                                    dict(DAY, taps=3, new_friends=0, phone_syncs=0))
    tap = only_taps["windows"][0]
    assert tap["rx_s"] > 3 * 3 * 0.3 and tap["on_s"] == pytest.approx(9.0)


def test_update_windows_run_all_day_and_friends_are_near_only_while_worn():
    # social/updates.py opens them on the UTC clock: a pin on the table still does
    plan = dict(PLAN, update_every_s=300)
    worn = model.radio_windows(plan, DAY)
    table = model.radio_windows(plan, dict(DAY, worn_h=0))
    near = [w for w in table["windows"] if w["window"] == "friend update (friends near)"][0]
    alone = [w for w in table["windows"] if w["window"] == "friend update (nobody near)"][0]
    assert near["count"] == 0 and alone["count"] == pytest.approx(model.DAY_S / 300)
    near_w = [w for w in worn["windows"] if w["window"] == "friend update (friends near)"][0]
    assert near_w["count"] == pytest.approx(DAY["worn_h"] * 3600 / 300 * DAY["friends_nearby_fraction"])
    assert worn["on_s"] > table["on_s"]  # the worn day's connections with friends come on top


def _window(radio, name):
    return [w for w in radio["windows"] if w["window"] == name][0]


def test_a_cancelled_radio_start_costs_its_start_and_nothing_on_air():
    plan = dict(PLAN, update_every_s=1e6)
    quiet = dict(DAY, taps=0, new_friends=0, phone_syncs=0)
    base = model.radio_windows(plan, quiet)
    bag = model.radio_windows(plan, dict(quiet, cancelled_starts=100))
    w = _window(bag, "cancelled radio start")
    # the cancel (0.17 s in) comes before the 0.25 s start ends: the start is the cost
    assert w["count"] == 100 and w["on_s"] == pytest.approx(100 * 0.25)
    assert w["tx_s"] == 0 and w["rx_s"] == 0
    assert bag["starts"] == base["starts"] + 100
    # a cancel that comes later keeps the CPU out of light sleep that much longer
    late = model.radio_windows(dict(plan, cancel_after_s=0.5), dict(quiet, cancelled_starts=100))
    assert _window(late, "cancelled radio start")["on_s"] == pytest.approx(100 * 0.5)
    # priced: each start is 0.25 s of CPU active instead of light sleep
    cpu = {"cpu.active": 100.0, "cpu.idle": 900.0, "cpu.lightsleep": model.DAY_S - 1000.0}
    a0, _ = model.average(model.apply_radio(cpu, base, 0.25), base, {})
    a1, _ = model.average(model.apply_radio(cpu, bag, 0.25), bag, {})
    per_start = (a1 - a0) * model.DAY_S / 100  # mA s
    assert per_start == pytest.approx(0.25 * (C.ESP32["cpu.active"] - C.ESP32["cpu.lightsleep"]))


def test_a_false_tap_is_a_start_and_a_short_window_on_air():
    plan = dict(PLAN, update_every_s=1e6)
    quiet = dict(DAY, taps=0, new_friends=0, phone_syncs=0)
    radio = model.radio_windows(plan, dict(quiet, false_taps=10))
    w = _window(radio, "false tap (ends alone)")
    assert w["on_s"] == pytest.approx(10 * (0.25 + 0.4))
    assert w["tx_s"] > 0 and w["rx_s"] == pytest.approx(10 * (0.4 * 0.3 + model.adv_air(0.4, 100, 31)[1]))
    # a false tap costs more than a cancelled start, less than a real tap's window
    one = {k: model.radio_windows(plan, dict(quiet, **{k: 1}))["on_s"] for k in ("false_taps", "cancelled_starts", "taps")}
    assert one["cancelled_starts"] < one["false_taps"] < one["taps"]


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
    ({"plan": dict(PLAN, scan_window_ms=200)}, "plan.scan_window_ms"),
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
    assert spec["plan"]["alone_window_s"] == model.EXTRA_PLAN_KEYS["alone_window_s"]


def test_shipped_bag_day_is_the_press_day_with_an_hour_of_rattle():
    press, bag = day.load("scenarios/press-day.json"), day.load("scenarios/press-day-bag.json")
    assert {k: v for k, v in bag["day"].items() if k not in ("false_taps", "cancelled_starts")} == \
        {k: v for k, v in press["day"].items() if k not in ("false_taps", "cancelled_starts")}
    assert bag["plan"] == press["plan"]
    assert bag["day"]["false_taps"] > 0 and bag["day"]["cancelled_starts"] > 0
    r0, r1 = model.radio_windows(press["plan"], press["day"]), model.radio_windows(bag["plan"], bag["day"])
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

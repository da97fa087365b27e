# `cloudpin sim`: scenarios validated with one-line errors naming the field,
# the real firmware app on every pin, taps injected into both pins' sensors,
# walkers' steps and radio positions, deterministic for a seed.
import copy
import json

import pytest

from host_tools import REPO, sim
from host_tools.sim import runner

WALK = REPO / "host_tools" / "data" / "walk_neckpouch_60s.csv"

SMALL = {
    "name": "small", "seed": 7, "duration_s": 9, "room": {"width_m": 8, "depth_m": 5},
    "pins": [
        {"id": "a", "x": 1.0, "y": 1.0, "walk": [[0, 1.0, 1.0], [4, 5.0, 1.0]]},
        {"id": "b", "x": 5.1, "y": 1.0, "facing_deg": 180},
        {"id": "c", "x": 3.0, "y": 4.0, "board": "devkitc_mpu6050"},
    ],
    "taps": [{"t_ms": 6000, "a": "a", "b": "b"}],
    "solo_taps": [{"t_ms": 7500, "pin": "c"}],
}


def _run(sc, **kw):
    return sim.simulate(sim.validate(copy.deepcopy(sc)), **kw)


def _without_wall(result):
    r = json.loads(json.dumps(result))
    r["metrics"].pop("wall_s")
    return r


def test_a_small_scenario_runs_the_firmware_and_finds_its_taps_deterministically():
    first = _run(SMALL)
    pins, m = first["pins"], first["metrics"]
    # each pin's own firmware reports what it felt: the touch (both pins) and
    # the knock (one pin), each within a few ms; the detector may miss a soft
    # touch (its bench recall is ~98%), and the result says which
    for p, t in (("a", 6000), ("b", 6000), ("c", 7500)):
        assert pins[p]["taps_injected"] == [t], pins[p]
        assert all(abs(d - t) <= 50 for d in pins[p]["taps"]), pins[p]
        assert pins[p]["taps_missed"] == ([] if pins[p]["taps"] else [t]), pins[p]
    found = sum(len(pins[p]["taps"]) for p in "abc")
    assert pins["c"]["taps"], pins["c"]  # a knock on a pin lying face up is found
    assert m["taps"] == {"injected": 3, "detected": found, "matched": found, "false": 0,
                                        "recall": round(found / 3, 4)}, m
    assert pins["c"]["board"] == "devkitc_mpu6050" and pins["c"]["faults"] == [], pins["c"]
    assert pins["b"]["steps"] == 0 and pins["c"]["steps"] == 0
    assert pins["a"]["walk_recording"] == WALK.name
    # accounting in simulated time: every pin's CPU states (light sleep too) add up to the run
    for p in pins.values():
        t = p["time_us"]
        assert t["cpu.active"] + t.get("cpu.idle", 0) + t.get("cpu.lightsleep", 0) == 9000000, t
        assert t["cpu.lightsleep"] > t["cpu.active"], t  # the pin sleeps between its wakes
    assert m["sim_s"] == 9.0 and m["cpu_time_us"]["cpu.active"] > 0
    assert _without_wall(first) == _without_wall(_run(SMALL))


def test_walkers_count_what_the_step_bench_counts_on_the_same_recordings(tmp_path):
    from host_tools.bench import steps as step_bench

    rows = WALK.read_text().splitlines()[1:]
    names = []
    for i, start in enumerate((0, 20000)):
        out = ["t_ms,x,y,z"]
        for ln in rows:
            t = int(ln.split(",", 1)[0])
            if start <= t < start + 18000:
                out.append("%d,%s" % (t - start, ln.split(",", 1)[1]))
        name = "w%d.csv" % i
        (tmp_path / name).write_text("\n".join(out) + "\n")
        names.append(name)
    (tmp_path / "labels.csv").write_text("file,steps\n" + "".join("%s,30\n" % n for n in names))
    bench = {r["file"]: r["counted"] for r in step_bench.bench_steps(tmp_path)["files"]}
    sc = {"duration_s": 18, "room": {"width_m": 30, "depth_m": 10},
          "pins": [{"id": n, "x": 1, "y": 1 + 3 * i, "recording": str(tmp_path / n),
                    "walk": [[0, 1, 1 + 3 * i], [18, 25, 1 + 3 * i]]} for i, n in enumerate(names)]}
    result = _run(sc)
    for n in names:
        got, want = result["pins"][n]["steps"], bench[n]
        assert want > 15, bench
        # the bench resamples band-limited, the sensor model box-filters: a step either way
        assert abs(got - want) <= max(2, 0.05 * want), (n, got, want)


def test_a_walker_moves_on_the_air_and_touching_pins_are_centimetres_apart():
    sc = sim.validate(copy.deepcopy(SMALL))
    w, pins = runner.build(sc, warn=lambda m: None)
    try:
        by_id = {p.spec["id"]: p for p in pins}
        a, b = by_id["a"].dev, by_id["b"].dev
        far = w.radio.rssi(a, b)
        runner._place(w, pins, by_id, sc, 3000)  # a walked 3 m towards b
        nearer = w.radio.rssi(a, b)
        runner._place(w, pins, by_id, sc, 6000)  # the touch
        touching = w.radio.rssi(a, b)
        runner._place(w, pins, by_id, sc, 7600)  # withdrawn, still face to face
        after = w.radio.rssi(a, b)
        runner._place(w, pins, by_id, sc, 6000 + runner.TOUCH_HOLD_MS)  # back to their positions
        apart = w.radio.rssi(a, b)
        w.run_until(1)  # the apps start (and are dropped with the world)
    finally:
        runner.close(w)
    assert far < nearer < touching, (far, nearer, touching)
    assert after < touching and apart < touching, (apart, after, touching)
    assert runner.position(sc["pins"][0], 2.0)[:2] == (3.0, 1.0)
    assert runner.position(sc["pins"][0], 8.0)[:2] == (5.0, 1.0)


def test_an_unknown_board_runs_the_reference_pin_with_a_warning():
    sc = {"duration_s": 0.5, "room": {"width_m": 2, "depth_m": 2}, "pins": [{"id": "x", "x": 1, "y": 1, "board": "nosuch"}]}
    said = []
    result = _run(sc, warn=said.append)
    assert result["pins"]["x"]["board"] == "cloudpin_ref"
    assert len(said) == 1 and "'nosuch'" in said[0] and "cloudpin_ref" in said[0], said


@pytest.mark.parametrize("change,field", [
    (lambda s: s["taps"][0].update(b="zz"), "taps[0].b: unknown pin 'zz'"),
    (lambda s: s["taps"][0].update(t_ms=-1), "taps[0].t_ms"),
    (lambda s: s["taps"][0].update(t_ms=99999), "taps[0].t_ms"),
    (lambda s: s["solo_taps"][0].update(pin="q"), "solo_taps[0].pin"),
    (lambda s: s["pins"][1].update(x=9.0), "pins[1] (b): (9, 1) is outside the room"),
    (lambda s: s["pins"][0]["walk"].append([2, 1, 1]), "pins[0] (a).walk[2]"),
    (lambda s: s["pins"][0]["walk"][1].__setitem__(2, 50), "pins[0] (a).walk[1]"),
    (lambda s: s["pins"][2].update(id="a"), "pins[2].id: 'a' is used twice"),
    (lambda s: s.update(duration_s=0), "duration_s"),
    (lambda s: s.update(duraton_s=3), "did you mean 'duration_s'"),
    (lambda s: s["pins"][1].update(bord="x"), "pins[1] (b).bord"),
    (lambda s: s["room"].pop("depth_m"), "room.depth_m: missing"),
    (lambda s: s.update(pins=[]), "pins: expected a non-empty list"),
])
def test_bad_scenarios_are_refused_naming_the_field(change, field):
    sc = copy.deepcopy(SMALL)
    change(sc)
    with pytest.raises(sim.ScenarioError) as e:
        sim.validate(sc)
    assert field in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_the_cli_prints_json_and_refuses_a_bad_file_in_one_line(tmp_path, capsys):
    from host_tools.cli import main

    good = tmp_path / "s.json"
    sc = {"name": "cli", "duration_s": 1, "room": {"width_m": 2, "depth_m": 2}, "pins": [{"id": "x", "x": 1, "y": 1}]}
    good.write_text(json.dumps(sc))
    assert main(["sim", str(good)]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out)
    assert r["pins"]["x"]["steps"] == 0 and r["metrics"]["sim_s"] == 1.0
    assert "sim cli: 1 pins" in err
    sc["pins"][0]["y"] = 3
    good.write_text(json.dumps(sc))
    assert main(["sim", str(good)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pins[0] (x)" in err and "outside the room" in err, err
    assert main(["sim", str(tmp_path / "none.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["bench", "sim", "--meet-only", "--no-meet"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--meet-only" in err, err


def test_shipped_scenarios_are_valid():
    # *day* files are day scenarios of `cloudpin power` (tests/test_power.py), not crowds
    names = sorted(p.name for p in (REPO / "scenarios").glob("*.json") if "day" not in p.name)
    assert {"quiet-pair.json", "hall-400.json", "press-room-30.json", "hall-300-rush.json", "walk-past.json",
            "third-pin.json", "attack-replay.json", "attack-spoof.json", "attack-tap-storm.json"} <= set(names)
    for n in names:
        sc = sim.load(REPO / "scenarios" / n)
        assert sc["pins"]
    hall = sim.load(REPO / "scenarios" / "hall-400.json")
    assert len(hall["pins"]) == 400 and hall["duration_s"] == 45
    assert sum(1 for p in hall["pins"] if len(p["walk"]) > 1) == 60


def test_shipped_meet_and_greet_scenarios_are_what_they_say():
    import math

    def load(n):
        return sim.load(REPO / "scenarios" / n)

    rush = load("hall-300-rush.json")
    pins = {p["id"]: p for p in rush["pins"]}
    assert len(pins) == 300 and len(rush["taps"]) == 20
    first = rush["taps"][0]["t_ms"] // 1000 * 1000
    assert all(first <= t["t_ms"] < first + 1000 for t in rush["taps"])  # 20 pairs in the same second
    touched = [p for t in rush["taps"] for p in (t["a"], t["b"])]
    assert len(set(touched)) == 40  # each pin in one pair
    for t in rush["taps"]:  # standing together, face to face
        a, b = pins[t["a"]], pins[t["b"]]
        assert abs(math.dist((a["x"], a["y"]), (b["x"], b["y"])) - 0.6) < 0.01 and not a["walk"] and not b["walk"]
    third = load("third-pin.json")
    (solo,) = third["solo_taps"]
    t0 = third["taps"][0]
    assert solo["t_ms"] == t0["t_ms"]  # knocked at the same instant...
    ps = {p["id"]: p for p in third["pins"]}
    d = math.dist((ps[solo["pin"]]["x"], ps[solo["pin"]]["y"]), (ps[t0["a"]]["x"], ps[t0["a"]]["y"]))
    assert 0.9 <= d <= 1.1  # ...a metre away
    assert third["taps"][1]["t_ms"] == third["taps"][2]["t_ms"]  # and two pairs touching at one instant
    for kind in ("replay", "spoof", "tap_storm"):
        sc = load("attack-%s.json" % kind.replace("_", "-"))
        assert [a["kind"] for a in sc["attackers"]] == [kind] and len(sc["taps"]) >= 5
    walk = load("walk-past.json")
    assert sum(1 for p in walk["pins"] if len(p["walk"]) > 1) >= 6 and len(walk["taps"]) >= 4


def test_a_touching_pair_is_as_far_apart_as_its_reaches_say():
    pa = {"reach_m": 0.2, "reach_s": 0.5, "gap_s": 0.02, "dwell_s": 0.1, "back_m": 0.1, "back_s": 0.4}
    pb = {"reach_m": 0.05, "reach_s": 0.8, "gap_s": 0.0, "dwell_s": 0.3, "back_m": 0.25, "back_s": 0.6}
    d = runner.touch_distance
    assert d(pa, pb, -900) is None  # before either reach starts: where the scenario puts them
    assert abs(d(pa, pb, -800) - (0.02 + 0.2 + 0.05)) < 1e-9  # b starts its reach, a still at rest
    assert d(pa, pb, -400) > d(pa, pb, -100) > d(pa, pb, -25) > 0.02
    assert d(pa, pb, 0) == d(pa, pb, 90) == 0.02  # in contact until the first withdraws
    assert 0.02 < d(pa, pb, 200) < d(pa, pb, 400) < d(pa, pb, 800)
    assert abs(d(pa, pb, 1000) - (0.02 + 0.1 + 0.25)) < 1e-9  # both back, face to face
    assert d(pa, pb, runner.TOUCH_HOLD_MS - 1) == d(pa, pb, 1000) and d(pa, pb, runner.TOUCH_HOLD_MS) is None


def test_a_finished_run_leaves_no_firmware_code_for_the_garbage_collector(monkeypatch):
    # The pins' tasks are dropped mid-flight (here a handshake the run's end
    # cuts). Their coroutines used to be closed by the collector at any
    # later moment, running firmware handlers that raised "no running event
    # loop" inside the next run (once inside an ast.parse: SystemError).
    import gc
    import sys

    got = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: got.append((u.exc_type, u.exc_value, u.object)))
    sc = {"name": "end", "seed": 3, "duration_s": 6.0, "room": {"width_m": 4, "depth_m": 4},
          "event": {"utc_offset_min": 540, "start_utc": 1627027482},
          "pins": [{"id": "p1", "x": 1.0, "y": 1.0, "facing_deg": 0}, {"id": "p2", "x": 1.6, "y": 1.0, "facing_deg": 180}],
          "taps": [{"t_ms": 4700, "a": "p1", "b": "p2"}]}
    warned = []
    sim.simulate(sim.validate(sc), warn=warned.append)
    gc.collect()
    assert got == []
    # the scenario is told why such a touch may be missed or half-committed
    assert warned == ["warning: the touch of p1 and p2 at 4.700 s is less than 3 s before the run's end: its "
                      "handshake may be cut (missed, or half-committed with the other pin holding it pending)"]

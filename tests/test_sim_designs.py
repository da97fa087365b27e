"""Designs in the simulator: every simulated pin holds the event pack (as
deploy puts it), and each pin's output lists what its own firmware unlocked,
from friends made by tapping, a friend's update and steps walked. One small
scenario unlocks every task kind of a pack written for it."""
import json

import pytest

from host_tools.designs import DEFAULT_PACK, compile_pack, packfmt
from host_tools.sim import runner, scenario

KINDS = [k[0] for k in packfmt.KINDS]
WINDOW_T_S = 24  # a friend-update window (every 300 s on the UTC clock) this far into the run


def _pack(tmp_path):
    """One sport per task kind, each met by one friend, one tap day, one
    collector (a friend who made one friend today) or 20 steps."""
    base = json.loads(DEFAULT_PACK.read_text())["sports"][0]
    sports = []
    for kind in KINDS:
        task = {"kind": kind, "n": 20 if kind.startswith("steps") else 1}
        if kind == "collectors":
            task["made"] = 1
        if kind == "streak":
            task["steps"] = 20
        sports.append(dict(base, id="s_" + kind, name=kind, short=kind[:16], task=task))
    path = tmp_path / "kinds.json"
    path.write_text(json.dumps({"format": 1, "event": "Kinds", "sports": sports}))
    assert compile_pack(path)
    return path


def _scenario(tmp_path, pack):
    # A pair that taps (standing face to face, as in scenarios/third-pin.json)
    # and a walker who meets no one.
    sc = {"name": "kinds", "seed": 11, "duration_s": WINDOW_T_S + 6, "room": {"width_m": 7, "depth_m": 5},
          "event": {"utc_offset_min": 540, "start_utc": 1627027500 - WINDOW_T_S},
          "pins": [{"id": "a", "x": 1.0, "y": 2.0, "facing_deg": 0, "card": {"organisation": "Folha", "role": "reporter"}},
                   {"id": "b", "x": 1.6, "y": 2.0, "facing_deg": 180, "card": {"organisation": "AFP", "role": "photo"}},
                   {"id": "walker", "x": 0.5, "y": 4.5, "walk": [[0, 0.5, 4.5], [14, 6.5, 4.5]]}],
          "taps": [{"t_ms": 5137, "a": "a", "b": "b"}]}
    if pack is not None:
        sc["pack"] = pack
    path = tmp_path / "kinds-scenario.json"
    path.write_text(json.dumps(sc))
    return path


def test_every_task_kind_unlocks_from_friends_an_update_and_steps_in_the_simulator(tmp_path):
    _pack(tmp_path)
    result = runner.run_file(_scenario(tmp_path, "kinds.json"))
    assert sorted((f["a"], f["b"]) for f in result["friendships"]) in ([("a", "b")], [("b", "a")]), result
    pins = result["pins"]
    got = {pid: {u["sport"][2:]: u["t_ms"] for u in pins[pid]["unlocked"]} for pid in pins}
    # The pair: the friend (friends, friends_day, orgs, roles), the tap day,
    # and the friend seen in the update window having made a friend today.
    social = {"friends", "friends_day", "orgs", "roles", "tap_days", "collectors"}
    assert set(got["a"]) == set(got["b"]) == social, got
    tap_s, window_s = 5.137, float(WINDOW_T_S)
    for pid in "ab":
        t = got[pid]
        assert tap_s <= t["tap_days"] / 1000 < t["friends"] / 1000 < window_s < t["collectors"] / 1000, (pid, t)
    # The walker: the steps kinds, within a feed tick (5 s) of the walk's end.
    assert set(got["walker"]) == {"steps_day", "steps_total", "streak"}, got
    assert pins["walker"]["steps"] >= 20 and all(0 < t <= 19000 for t in got["walker"].values()), got


def test_sim_pins_get_the_default_pack_and_null_means_none(tmp_path):
    sc = json.loads(_scenario(tmp_path, None).read_text())
    assert scenario.validate(sc)["pack"] == str(DEFAULT_PACK)
    sc["duration_s"] = 16
    sc["pack"] = None
    path = tmp_path / "none.json"
    path.write_text(json.dumps(sc))
    result = runner.run_file(path)
    assert result["friendships"] and all(p["unlocked"] == [] for p in result["pins"].values()), result
    with pytest.raises(scenario.ScenarioError, match="pack: expected"):
        scenario.validate(dict(sc, pack=3))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "event": "x", "sports": []}')
    sc["pack"] = "bad.json"
    path.write_text(json.dumps(sc))
    with pytest.raises(runner.SimError, match="pack: .*sports"):
        runner.run_file(path)

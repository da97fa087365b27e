"""The task kinds whose meaning is about days and differences, through the
simulator across the event's local midnight: taps on two days (two taps on
one day are one), a streak of two days, friends on different days (which
make `friends` but not `friends_day`), organisations and roles told apart
(case and spaces ignored), and steps split over two days (which make
`steps_total` but not `steps_day`). tests/test_sim_designs.py unlocks every
kind at n = 1; this shows the counters behind n > 1 mean what
docs/designs.md says, on the pins' own firmware and clocks."""
import json

from host_tools.designs import DEFAULT_PACK, compile_pack
from host_tools.sim import runner

MIDNIGHT_S = 30  # Tokyo's midnight this far into the run (2021-07-24 00:00 JST)
START_UTC = 1627052400 - MIDNIGHT_S
STEPS = 30  # walked over the two days, fewer on either of them


def _pack(tmp_path):
    base = json.loads(DEFAULT_PACK.read_text())["sports"][0]
    tasks = {
        "tap_days": {"kind": "tap_days", "n": 2},
        "friends": {"kind": "friends", "n": 2},
        "friends_day": {"kind": "friends_day", "n": 2},
        "orgs": {"kind": "orgs", "n": 2},
        "roles": {"kind": "roles", "n": 2},
        "steps_day": {"kind": "steps_day", "n": STEPS},
        "steps_total": {"kind": "steps_total", "n": STEPS},
        "streak": {"kind": "streak", "n": 2, "steps": 8},
    }
    sports = [dict(base, id="s_" + k, name=k, short=k[:16], task=t) for k, t in tasks.items()]
    path = tmp_path / "days.json"
    path.write_text(json.dumps({"format": 1, "event": "Days", "sports": sports}))
    assert compile_pack(path)


def _card(org, role):
    return {"organisation": org, "role": role}


def _scenario(tmp_path):
    # Day one: a touches b, then b touches d (a's organisation and role
    # written otherwise). Day two: a touches c. The walker walks on both days.
    sc = {"name": "days", "seed": 5, "duration_s": MIDNIGHT_S + 25, "room": {"width_m": 8, "depth_m": 6},
          "pack": "days.json",
          "event": {"utc_offset_min": 540, "start_utc": START_UTC},
          "pins": [{"id": "a", "x": 1.0, "y": 2.0, "facing_deg": 0, "card": _card("Folha", "reporter")},
                   {"id": "b", "x": 1.6, "y": 2.0, "facing_deg": 180, "card": _card("AFP", "photo")},
                   {"id": "c", "x": 1.6, "y": 2.6, "facing_deg": 180, "card": _card("NHK", "camera")},
                   {"id": "d", "x": 2.2, "y": 2.0, "facing_deg": 180, "card": _card("FOLHA ", " Reporter")},
                   {"id": "walker", "x": 0.5, "y": 5.5,
                    "walk": [[0, 0.5, 5.5], [12, 6.5, 5.5], [MIDNIGHT_S + 2, 6.5, 5.5], [MIDNIGHT_S + 14, 0.5, 5.5]]}],
          "taps": [{"t_ms": 5137, "a": "a", "b": "b"}, {"t_ms": 22309, "a": "b", "b": "d"},
                   {"t_ms": (MIDNIGHT_S + 4) * 1000 + 211, "a": "a", "b": "c"}]}
    path = tmp_path / "days-scenario.json"
    path.write_text(json.dumps(sc))
    return path


def test_days_and_differences_count_across_midnight_in_the_simulator(tmp_path):
    _pack(tmp_path)
    result = runner.run_file(_scenario(tmp_path))
    pairs = sorted(tuple(sorted((f["a"], f["b"]))) for f in result["friendships"])
    assert pairs == [("a", "b"), ("a", "c"), ("b", "d")], result["friendships"]
    pins = result["pins"]
    got = {pid: {u["sport"][2:]: u["t_ms"] / 1000 for u in pins[pid]["unlocked"]} for pid in pins}
    # a: its second friend (another organisation and role) on day two, its
    # second tap day; never two friends in one day
    assert set(got["a"]) == {"tap_days", "friends", "orgs", "roles"}, got
    assert all(MIDNIGHT_S < t < MIDNIGHT_S + 10 for t in got["a"].values()), got
    # b: two friends on day one, of one organisation and one role as the pin
    # counts them, and two taps on that one day
    assert set(got["b"]) == {"friends", "friends_day"}, got
    assert all(22.3 < t < MIDNIGHT_S for t in got["b"].values()), got
    assert len(pins["b"]["taps"]) == 2, pins["b"]["taps"]
    assert got["c"] == {} and got["d"] == {}, got  # one friend, one tap day each
    # the walker: enough steps on each day for the streak, not enough on
    # either for steps_day; steps_total and the streak come on day two
    assert set(got["walker"]) == {"steps_total", "streak"}, (got, pins["walker"]["steps"])
    assert all(MIDNIGHT_S < t for t in got["walker"].values()), got
    assert pins["walker"]["steps"] >= STEPS, pins["walker"]["steps"]

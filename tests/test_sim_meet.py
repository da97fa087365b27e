# Meet and greet in the simulator: regressions for causes that turned
# intended taps into misses (docs/meet-and-greet.md, "Why intended taps
# failed in the simulator"), each on a small scenario in simulated time.
import copy

from host_tools import sim

# p2 makes a friend of p1, then taps p3 while the window its update service
# opens after a new friend (clocksync: 3 s after the friendship, ~8 s
# long) is scanning: the tap must take the scanner, not crash on EALREADY.
RETAP = {
    "name": "retap", "seed": 3, "duration_s": 12.0, "room": {"width_m": 4, "depth_m": 4},
    "event": {"utc_offset_min": 540, "start_utc": 1627027482},
    "pins": [{"id": "p1", "x": 1.0, "y": 1.0, "facing_deg": 0}, {"id": "p2", "x": 1.6, "y": 1.0, "facing_deg": 180},
             {"id": "p3", "x": 2.2, "y": 1.0, "facing_deg": 180}],
    "taps": [{"t_ms": 2137, "a": "p1", "b": "p2"}, {"t_ms": 8111, "a": "p2", "b": "p3"}],
}


def test_a_tap_during_the_window_after_a_new_friend_takes_the_scanner():
    result = sim.simulate(sim.validate(copy.deepcopy(RETAP)), trace=True)
    assert [t["cause"] for t in result["tap_trace"]] == ["made", "made"], result["tap_trace"]
    assert sorted((f["a"], f["b"]) for f in result["friendships"]) == [("p1", "p2"), ("p2", "p3")]
    notes = [n for p in result["pins"].values() for n in p["notes"]]
    assert not [n for n in notes if "crashed" in n], notes
    m = result["metrics"]["social"]
    assert m["wrong"] == 0 and m["half_committed"] == 0


# Three pairs within a metre of each other tapping within 0.1 s (a cluster
# of hall-150-dense-rush seed 9, moved into a small room): a pin held
# "crowded" by a neighbour that has since named its own partner chooses its
# own (tapmatch: a tapper naming another pin is no rival). Without that
# rule seed 1 lost p126-p130 (one_sided) and seed 8 p126-p130 (crowded).
CLUSTER = {
    "name": "cluster", "seed": 1, "duration_s": 6.0, "room": {"width_m": 4, "depth_m": 4},
    "event": {"utc_offset_min": 540, "start_utc": 1627027482},
    "pins": [{"id": "p042", "x": 1.18, "y": 2.05, "facing_deg": 0}, {"id": "p043", "x": 2.49, "y": 2.97, "facing_deg": 180},
             {"id": "p064", "x": 1.89, "y": 2.97, "facing_deg": 0}, {"id": "p126", "x": 1.34, "y": 2.19, "facing_deg": 0},
             {"id": "p130", "x": 1.94, "y": 2.19, "facing_deg": 180}, {"id": "p133", "x": 1.78, "y": 2.05, "facing_deg": 180}],
    "taps": [{"t_ms": 3875, "a": "p126", "b": "p130"}, {"t_ms": 3902, "a": "p064", "b": "p043"},
             {"t_ms": 3968, "a": "p042", "b": "p133"}],
}


def test_a_cluster_of_pairs_tapping_at_once_is_not_held_crowded_by_neighbours_that_chose():
    for seed in (1, 8):
        sc = copy.deepcopy(CLUSTER)
        sc["seed"] = seed
        result = sim.simulate(sim.validate(sc), trace=True)
        assert [t["cause"] for t in result["tap_trace"]] == ["made"] * 3, (seed, result["tap_trace"])
        m = result["metrics"]["social"]
        assert m["wrong"] == 0 and m["half_committed"] == 0


# mixer.json's first two rounds (seed 8): b4 chose a3 (loss 39), then a4,
# 0.6 m away (loss 46) touching its own partner 166 ms later, held it
# "crowded" (a tap-time estimate of 171 ms over 5 frames: inside the band of
# pins that may have tapped with us); a3's link then found nobody. A pin
# heard only late over several frames tapped at another moment (tapmatch).
# Since the doze's wake on motion (main 6905734) the radio timing differs and
# seeds 1-30 of this run make the same pairs without the rule: the rule is
# held by tests/fw/test_social_tapmatch.py; this stays a regression run.
def test_a_neighbour_touching_166_ms_later_is_not_a_rival():
    import json
    from pathlib import Path

    sc = json.loads((Path(sim.__file__).parents[2] / "scenarios" / "mixer.json").read_text())
    sc.update(seed=8, duration_s=13.5, taps=[t for t in sc["taps"] if t["t_ms"] < 11500])
    result = sim.simulate(sim.validate(sc), trace=True)
    causes = {(t["a"], t["b"]): t["cause"] for t in result["tap_trace"]}
    assert causes[("a3", "b4")] == "made", result["tap_trace"]
    # every other pair is made or its touch went unfelt (the doze wake made mixer s8's one miss)
    assert set(causes.values()) <= {"made", "not_detected"}, causes
    m = result["metrics"]["social"]
    assert m["wrong"] == 0 and m["half_committed"] == 0

# `cloudpin sim --trace`: why each intended tap did or did not become a
# friendship, recorded from the firmware's own handshake in the run.
import copy

from host_tools import sim
from host_tools.sim import runner
from host_tools.sim.trace import Tracer

PAIR = {
    "name": "pair", "seed": 3, "duration_s": 5.0, "room": {"width_m": 4, "depth_m": 4},
    "event": {"utc_offset_min": 540, "start_utc": 1627000000},
    "pins": [{"id": "p1", "x": 1.0, "y": 1.0, "facing_deg": 0}, {"id": "p2", "x": 1.6, "y": 1.0, "facing_deg": 180},
             {"id": "p3", "x": 3.0, "y": 3.0, "facing_deg": 180}],
    "taps": [{"t_ms": 2137, "a": "p1", "b": "p2"}],
}


def test_a_traced_pair_shows_its_handshake_and_the_firmware_is_left_as_it_was():
    from cloudpin.social.tapmatch import TapMatch

    seen = TapMatch.seen
    result = sim.simulate(sim.validate(copy.deepcopy(PAIR)), trace=True)
    assert TapMatch.seen is seen  # unwrapped after the run
    (t,) = result["tap_trace"]
    assert (t["t_ms"], t["a"], t["b"], t["made"], t["cause"]) == (2137, "p1", "p2", True, "made")
    for me, other in (("p1", "p2"), ("p2", "p1")):
        p = t["pins"][me]
        assert 2137 <= p["detected_ms"] < 2237 and p["detected_ms"] < p["radio_up_ms"] < p["detected_ms"] + 400
        assert p["choose"] == p["decide"] == other and p["tap_again"] is None
        assert p["partner"]["frames"] > 3 and p["partner"]["best_loss_db"] <= 50 and p["partner"]["named_us"]
        assert -5 <= p["partner"]["est_ms"] <= 130
        assert p["others"] == []  # p3 did not tap: it sends no TAP frames
        assert p["partner_refused"]["frames"] == 0
        assert p["radio"]["rx_packets"] > 0 and p["radio"]["reports_dropped"] == 0  # (counted up to the choice)
        # the pair's radio distance then: touching (2 cm) or withdrawn by at most two arms' reach
        assert runner.TOUCH_M <= p["partner_m"] <= runner.TOUCH_M + 2 * 0.3
    assert len(t["touch"]["mounts"]) == 2 and 0.15 <= t["touch"]["tau_ms"] <= 10 and 0.05 <= t["touch"]["dv_m_s"] <= 0.35
    assert "tap_trace" not in sim.simulate(sim.validate(copy.deepcopy(PAIR)))


def _tracer(records, rids):
    tr = Tracer()
    tr.records = records
    tr.rids = rids
    return tr


def test_causes_come_from_the_first_broken_link_of_the_chain():
    A, B, C = b"AAAAAA", b"BBBBBB", b"CCCCCC"
    recs = {
        # tap 1: a heard b and c (c nearer), chose nobody; b's detector missed it
        "a": [(1250, "up", "meet"), (1250, "window", 1003), (1300, "seen", B, True, 48, 20, False),
              (1310, "seen", C, True, 40, 25, False), (1320, "seen", C, True, 38, 60, False),
              (1330, "seen", B, False, 70, 900, False), (1650, "choose", "crowded"), (1650, "again", "crowded"),
              # tap 2: a heard b; b heard nobody
              (5250, "up", "meet"), (5250, "window", 5004), (5300, "seen", B, True, 45, 10, True),
              (5650, "choose", B), (6450, "decide", "one_sided"), (6450, "again", "one_sided"),
              (9250, "up", "meet"), (9250, "window", 9004), (9300, "seen", B, True, 45, 10, False),
              (9650, "choose", B), (10450, "decide", "one_sided"), (10450, "again", "one_sided")],
        "b": [(5250, "up", "meet"), (5250, "window", 5004), (5650, "choose", "alone"), (5650, "again", "alone"),
              # tap 3: b heard a only too far (refused) and nobody else; a heard b
              (9250, "up", "meet"), (9250, "window", 9004), (9300, "seen", A, False, 62, 30, False),
              (9340, "seen", A, False, 56, 70, True), (9650, "choose", "alone"), (9650, "again", "alone")],
        "c": [],
    }
    tr = _tracer(recs, {A: "a", B: "b", C: "c"})
    taps = [{"t_ms": 1000, "a": "a", "b": "b"}, {"t_ms": 5000, "a": "a", "b": "b"}, {"t_ms": 9000, "a": "a", "b": "b"}]
    one, two, three = tr.explain(taps, lambda pid: [])
    assert one["cause"] == "not_detected" and one["pins"]["b"] == {"detected_ms": None}
    a = one["pins"]["a"]
    assert a["partner"] == {"frames": 1, "best_loss_db": 48, "est_ms": 20, "named_us": False}
    assert a["others"] == [{"pin": "c", "frames": 2, "best_loss_db": 38, "est_ms": 25, "named_us": False}]
    assert (a["choose"], a["tap_again"], a["radio_up_ms"]) == ("crowded", "crowded", 1250)
    assert two["cause"] == "not_heard"  # b never heard a: that comes before a's one_sided
    assert two["pins"]["a"]["decide"] == "one_sided" and two["pins"]["a"]["choose"] == "b"
    assert three["cause"] == "refused"  # a's frames reached b's TapMatch, which refused them: not "alone"
    b = three["pins"]["b"]
    assert b["partner"]["frames"] == 0 and b["partner_refused"] == {"frames": 2, "best_loss_db": 56, "est_ms": 30}
    made = tr.explain(taps[1:2], lambda pid: ["b"] if pid == "a" else ["a"])
    assert made[0]["cause"] == "made"


def test_the_bench_counts_causes_for_the_meet_scenarios():
    from host_tools.sim import bench

    sc = sim.validate(copy.deepcopy(PAIR))
    s = bench.measure(sc, trace=True)["social"]
    assert s["causes"] == {"made": 1} and s["both_detected"] == 1 == s["made"]
    assert "causes" not in bench.measure(sim.validate(copy.deepcopy(PAIR)))["social"]


def test_the_sweep_is_the_seed_set_the_docs_cite_and_adds_up(monkeypatch):
    from host_tools import REPO
    from host_tools.sim import bench
    from host_tools.sim.scenario import load

    runs = bench.sweep_runs()
    assert len(runs) == len(set(runs)) == 108  # README "Meet and greet in the simulator"
    assert sum(len(load(REPO / "scenarios" / (n + ".json"))["taps"]) for n, _ in runs) == 671
    for name, _ in bench.SWEEP:  # every shipped seed is in
        assert (name, load(REPO / "scenarios" / (name + ".json"))["seed"]) in runs
    monkeypatch.setattr(bench, "SWEEP", (("quiet-pair", (2,)), ("coincident-knocks", ())))
    out = bench.sweep()
    assert [(r["name"], r["seed"]) for r in out["runs"]] == [("quiet-pair", 2), ("quiet-pair", 1), ("coincident-knocks", 1)]
    a = out["all"]
    assert a["runs"] == 3 and a["intended"] == 2 and a["made"] + sum(sum(r["misses"].values()) for r in out["runs"]) == 2
    assert a["made"] == sum(s["made"] for s in out["scenarios"].values()) and out["scenarios"]["quiet-pair"]["runs"] == 2
    assert [m["name"] for m in out["shipped"]] == ["quiet-pair", "coincident-knocks"]  # at their own seeds

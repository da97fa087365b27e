# The unseen-scenario generator (host_tools/sim/unseen.py): what it draws is
# valid, varied, and free of what it promises never to make; the checker
# flags every kind of bug in a run's output.
import copy
import json

from host_tools.sim import unseen
from host_tools.sim.scenario import validate

SEEDS = range(1, 201)


def test_every_drawn_scenario_is_valid_and_repeats():
    for s in SEEDS:
        sc = unseen.make(s)
        validate(json.loads(json.dumps(sc)))  # ScenarioError names the field otherwise
        assert unseen.make(s) == sc


def test_the_draws_cover_what_the_format_allows():
    seen = {"boards": set(), "kinds": set(), "sizes": set(), "walk_taps": 0, "knocks_at_a_touch": 0,
            "repeats": 0, "no_start": 0, "rush": 0}
    for s in SEEDS:
        sc = unseen.make(s)
        pins = {p["id"]: p for p in sc["pins"]}
        seen["boards"] |= {p.get("board") for p in sc["pins"]}
        seen["kinds"] |= {a["kind"] for a in sc.get("attackers", [])}
        seen["sizes"].add(len(sc["pins"]) // 20)
        seen["walk_taps"] += any("walk" in pins[t["a"]] or "walk" in pins[t["b"]] for t in sc["taps"])
        times = [t["t_ms"] for t in sc["taps"]]
        seen["knocks_at_a_touch"] += any(abs(k["t_ms"] - t) <= 5 for k in sc["solo_taps"] for t in times)
        pairs = [frozenset((t["a"], t["b"])) for t in sc["taps"]]
        seen["repeats"] += len(set(pairs)) < len(pairs)
        seen["no_start"] += "start_utc" not in sc["event"]
        seen["rush"] += sum(1 for t in times if 0 <= t - min(times) < 1000) >= 5 if times else 0
    assert seen["boards"] == set(unseen.BOARDS) and seen["kinds"] == set(unseen.KINDS), seen
    assert seen["sizes"] >= {0, 1, 2, 3}, seen
    for k in ("walk_taps", "knocks_at_a_touch", "repeats", "no_start", "rush"):
        assert seen[k] >= 5, (k, seen)


def test_nothing_it_promises_not_to_make():
    for s in SEEDS:
        sc = unseen.make(s)
        last_ms = (sc["duration_s"] - unseen.TAIL_S) * 1000
        touches = {}
        for t in sc["taps"]:
            assert t["t_ms"] <= last_ms, (s, t)
            for p in (t["a"], t["b"]):
                touches.setdefault(p, []).append(t["t_ms"])
        for k in sc["solo_taps"]:
            touches.setdefault(k["pin"], []).append(k["t_ms"])
        for p, ts in touches.items():
            ts.sort()
            assert all(b - a >= unseen.MIN_GAP_S * 1000 - 1 for a, b in zip(ts, ts[1:])), (s, p, ts)


_OK = {"half_committed": [], "friendships": [{"a": "a", "b": "b", "t_ms": 5000}],
       "pins": {"a": {"friends": ["b"], "faults": [], "notes": []},
                "b": {"friends": ["a"], "faults": [], "notes": []}},
       "metrics": {"social": {"wrong": 0, "wrong_pairs": [], "half_committed": 0, "made": 1, "missed": 0,
                              "intended_taps": 1, "tap_to_friendship_ms": {"p95": 1400}}}}
_SC = {"pins": [{"id": "a"}, {"id": "b", "board": "m5stickc_plus"}], "taps": [{"t_ms": 4000, "a": "a", "b": "b"}]}


def test_the_checker_flags_each_kind_of_bug_and_nothing_in_a_clean_run():
    assert unseen.problems(_SC, _OK) == []

    def bad(change):
        r = copy.deepcopy(_OK)
        change(r)
        return unseen.problems(_SC, r)

    assert bad(lambda r: r["metrics"]["social"].update(wrong=1, wrong_pairs=[["a", "c"]]))
    assert bad(lambda r: r["half_committed"].append({"committed": "a", "not": "b"}))
    assert bad(lambda r: r["metrics"]["social"].update(made=0))  # 0 + 0 != 1
    assert bad(lambda r: r["metrics"]["social"]["tap_to_friendship_ms"].update(p95=3500))
    assert bad(lambda r: r["pins"]["b"].update(friends=[]))
    assert bad(lambda r: r["pins"]["a"].update(unparsed_lines=2))
    assert bad(lambda r: r["pins"]["a"].update(faults=["display"]))  # a's board has no display
    # the M5's display reports no fault under CPython (since session 11): one there is a bug
    assert bad(lambda r: r["pins"]["b"].update(faults=["display"]))
    assert bad(lambda r: r["pins"]["b"]["notes"].append("E 281 board display st7789: init failed"))
    assert bad(lambda r: r["pins"]["a"]["notes"].append("E 900 meet Traceback (most recent call last)"))


def _paths(o, p=()):
    yield p
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _paths(v, p + (k,))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _paths(v, p + (i,))


def test_a_mangled_scenario_is_refused_in_one_line_never_crashes_validation():
    # drawn scenarios with 1-3 fields replaced by junk or removed: a list
    # where a pin id goes once raised TypeError (unhashable) instead
    import random

    from host_tools.sim.scenario import ScenarioError

    junk = [None, "x", "", -1, 0, 1e308, float("nan"), [], {}, True, 10 ** 30, [1, 2], {"a": 1}, 2.5, [[0, 0, 0]]]
    r = random.Random(5)
    refused = 0
    for _ in range(3000):
        sc = unseen.make(r.randrange(1, 60))
        paths = list(_paths(sc))[1:]
        for _ in range(r.randint(1, 3)):
            p = r.choice(paths)
            o = sc
            try:
                for k in p[:-1]:
                    o = o[k]
                if r.random() < 0.2 and isinstance(o, dict):
                    o.pop(p[-1], None)
                else:
                    o[p[-1]] = copy.deepcopy(r.choice(junk))
            except (KeyError, IndexError, TypeError):
                pass
        try:
            validate(sc)
        except ScenarioError as e:
            refused += 1
            assert "\n" not in str(e) and str(e), repr(e)
    assert refused > 1500, refused  # most junk is refused (some lands where anything goes: a card's role, a name)

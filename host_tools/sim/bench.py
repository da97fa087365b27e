"""Simulator benchmark (`cloudpin bench sim`): generated halls of 30, 100 and
400 pins (sim/hall.py: 15% walking, a touch and a knock), every pin running
the firmware app, for --seconds of simulated time each, then the shipped
meet-and-greet scenarios (MEET, the 300-pin rush included; --no-meet skips
them). Reports simulated seconds per wall second and per CPU second of this
process (the machine is shared: CPU seconds are what the simulation itself
cost), tap recall and, per scenario, meet and greet's metrics (made share,
tap-to-friendship median and p95, wrong, half-committed, "tap again", radio
on-time per tap, and, traced (sim/trace.py), each intended tap's cause and
how many both of whose pins detected the touch); --meet-only runs only
those. --scenario FILE times one scenario instead (the 400-pin, 45-s hall
target: `cloudpin bench sim --scenario scenarios/hall-400.json`).
--sweep runs meet and greet's seed set (SWEEP: 108 runs, the set README's
"Meet and greet in the simulator" and docs/issues-status.md #9 cite) and
prints made / intended at the first touch, made / both detected, wrong,
half-committed and the largest p95 per scenario and in all.
"""
import json
import sys
import time

from host_tools import REPO
from host_tools.sim import hall, runner
from host_tools.sim.scenario import ScenarioError, load, validate

SIZES = (30, 100, 400)
# the shipped meet-and-greet scenarios, small to large (docs/sim.md)
MEET = ("quiet-pair", "third-pin", "walk-past", "attack-replay", "attack-spoof", "attack-tap-storm",
        "press-room-30", "mixer", "hall-300-rush", "neighbours", "coincident-knocks", "hall-150-dense-rush", "hall-300-rush40")
SOCIAL_KEYS = ("intended_taps", "made", "made_share", "missed", "wrong", "half_committed", "tap_again",
               "tap_to_friendship_ms", "radio_on_ms_per_tap")
# meet and greet's seed set (108 runs, 671 intended taps): seeds 1-10 of the
# nine small scenarios, 1-5 of mixer, hall-150 seeds 7-9, and every shipped seed
SMALL = ("quiet-pair", "third-pin", "walk-past", "attack-replay", "attack-spoof", "attack-tap-storm",
         "press-room-30", "neighbours", "coincident-knocks")
SWEEP = tuple((n, tuple(range(1, 11))) for n in SMALL) + (
    ("mixer", (1, 2, 3, 4, 5)), ("hall-150-dense-rush", (7, 8, 9)), ("hall-100", ()), ("hall-300-rush", ()),
    ("hall-300-rush40", ()))
# room for each size at about the hall-400 density (3 m^2 a pin)
ROOMS = {30: (10, 9), 100: (20, 15), 400: (40, 30)}


def measure(sc, progress=None, trace=False):
    """One scenario's speed and meet-and-greet metrics; with `trace`, also
    each intended tap's cause (sim/trace.py) and the taps made among those
    both of whose pins detected the touch."""
    c0 = time.process_time()
    r = runner.simulate(sc, progress=progress, warn=lambda m: None, trace=trace)
    cpu = time.process_time() - c0
    m = r["metrics"]
    out = {"name": sc["name"], "pins": m["pins"], "walkers": m["walkers"], "sim_s": m["sim_s"],
           "wall_s": m["wall_s"], "cpu_s": round(cpu, 2),
           "sim_s_per_wall_s": round(m["sim_s"] / m["wall_s"], 3),
           "sim_s_per_cpu_s": round(m["sim_s"] / cpu, 3),
           "tap_recall": m["taps"]["recall"], "false_taps": m["taps"]["false"],
           "social": {k: m["social"][k] for k in SOCIAL_KEYS}}
    if trace:
        causes = {}
        for t in r["tap_trace"]:
            causes[t["cause"]] = causes.get(t["cause"], 0) + 1
        out["social"]["causes"] = causes
        out["social"]["both_detected"] = sum(v for k, v in causes.items() if k != "not_detected")
        # which touches were not made, and the one contact the simulator gave them (runner._trace_touches)
        out["social"]["not_made"] = [{"tap": i, "a": t["a"], "b": t["b"], "cause": t["cause"], **t["touch"]}
                                     for i, t in enumerate(r["tap_trace"]) if not t["made"]]
    return out


def sized(n, seconds):
    w, d = ROOMS.get(n, (max(2, int((3 * n) ** 0.5)),) * 2)
    return validate(hall.hall("hall-%d" % n, n, w, d, seconds, max(1, n * 15 // 100), 1, 1, n))


def add_arguments(p):
    p.add_argument("--pins", type=int, nargs="+", default=list(SIZES), help="hall sizes (%(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per hall (%(default)s)")
    p.add_argument("--scenario", help="time this scenario file instead of generated halls")
    p.add_argument("--no-meet", action="store_true", help="skip the shipped meet-and-greet scenarios")
    p.add_argument("--meet-only", action="store_true", help="only the meet-and-greet scenarios (no generated halls)")
    p.add_argument("--sweep", action="store_true",
                   help="meet and greet's seed set (108 runs: seeds 1-10 of the small scenarios, 1-5 of mixer, "
                        "hall-150 seeds 7-9, every shipped seed); --only NAME... limits it to those scenarios")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="with --sweep: only these scenarios")


def meet_scenarios():
    return [load(REPO / "scenarios" / (n + ".json")) for n in MEET]


def sweep_runs(only=None):
    """[(scenario name, seed)] of SWEEP (each shipped seed once, after the listed ones)."""
    runs = []
    for name, seeds in SWEEP:
        if only and name not in only:
            continue
        shipped = load(REPO / "scenarios" / (name + ".json"))["seed"]
        runs += [(name, s) for s in seeds] + ([] if shipped in seeds else [(name, shipped)])
    return runs


def sweep(only=None, progress=None):
    """Run SWEEP: {"runs": [per run: name, seed, made, intended, both detected,
    wrong, half-committed, p95 ms, causes of the misses], "scenarios": the same
    summed per scenario, "all": summed over every run, "shipped": measure() of
    each run at its scenario's shipped seed (as `bench sim` reports them)}."""
    say = progress or (lambda m: None)
    runs, per, shipped = [], {}, []
    for name, seed in sweep_runs(only):
        sc = load(REPO / "scenarios" / (name + ".json"))
        ship = seed == sc["seed"]
        sc["seed"] = seed
        full = measure(sc, trace=True)
        if ship:
            shipped.append(full)
        r = full["social"]
        causes = {k: v for k, v in r["causes"].items() if k != "made"}
        row = {"name": name, "seed": seed, "made": r["made"], "intended": r["intended_taps"],
               "both_detected": r["both_detected"], "wrong": r["wrong"], "half_committed": r["half_committed"],
               "p95_ms": r["tap_to_friendship_ms"]["p95"], "misses": causes, "not_made": r["not_made"]}
        runs.append(row)
        say("sweep: %s seed %d: made %d of %d (%d both detected), wrong %d, half %d%s" % (
            name, seed, row["made"], row["intended"], row["both_detected"], row["wrong"], row["half_committed"],
            "; " + ", ".join("%s %d" % kv for kv in sorted(causes.items())) if causes else ""))
        for key in (name, "all"):
            s = per.setdefault(key, {"runs": 0, "made": 0, "intended": 0, "both_detected": 0, "wrong": 0,
                                     "half_committed": 0, "p95_ms_max": None})
            s["runs"] += 1
            for k in ("made", "intended", "both_detected", "wrong", "half_committed"):
                s[k] += row[k]
            if row["p95_ms"] is not None:
                s["p95_ms_max"] = max(s["p95_ms_max"] or 0, row["p95_ms"])
    total = per.pop("all", None)
    return {"runs": runs, "scenarios": per, "all": total, "shipped": shipped}


def bench_sim(sizes=SIZES, seconds=10.0, progress=None, meet=True):
    halls = [measure(sized(n, seconds), progress) for n in sizes]
    return {"sim": halls + ([measure(sc, progress, trace=True) for sc in meet_scenarios()] if meet else [])}


def run(args):
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.meet_only and (args.no_meet or args.scenario):
        print("error: --meet-only runs the meet-and-greet scenarios: not with --no-meet or --scenario", file=sys.stderr)
        return 2
    if args.seconds < 8 or any(n < 2 for n in args.pins):
        print("error: --seconds must be at least 8 (a touch needs room) and --pins at least 2", file=sys.stderr)
        return 2
    try:
        scs = [load(args.scenario)] if args.scenario else [] if args.meet_only else [
            sized(n, args.seconds) for n in args.pins]
        if not args.scenario and not args.no_meet:
            scs += meet_scenarios()
    except ScenarioError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if args.sweep:
        if args.scenario or args.meet_only or args.no_meet:
            print("error: --sweep runs its own seed set: not with --scenario, --meet-only or --no-meet", file=sys.stderr)
            return 2
        unknown = set(args.only or ()) - set(n for n, _ in SWEEP)
        if unknown:
            print("error: --only: not in the sweep: %s" % ", ".join(sorted(unknown)), file=sys.stderr)
            return 2
        out = sweep(args.only, say)
        a = out["all"]
        say("sweep: %d runs: made %d of %d intended at the first touch, %d of %d both detected; wrong %d, "
            "half-committed %d, p95 at most %s ms" % (a["runs"], a["made"], a["intended"], a["made"],
                                                      a["both_detected"], a["wrong"], a["half_committed"],
                                                      a["p95_ms_max"]))
        print(json.dumps(out, indent=1))
        return 0
    results = []
    meet = set(MEET) if not args.scenario else set()
    for sc in scs:
        say("sim bench: %s, %d pins, %g simulated s..." % (sc["name"], len(sc["pins"]), sc["duration_s"]))
        r = measure(sc, say, trace=sc["name"] in meet)
        say("sim bench: %d pins: %.3f sim s per wall s, %.3f per CPU s (%.0f s wall); made %d of %d taps, p95 %s ms" % (
            r["pins"], r["sim_s_per_wall_s"], r["sim_s_per_cpu_s"], r["wall_s"], r["social"]["made"],
            r["social"]["intended_taps"], r["social"]["tap_to_friendship_ms"]["p95"]))
        results.append(r)
    print(json.dumps({"sim": results}, indent=1))
    return 0

"""Run a scenario of pins, each running the real firmware app from its board
file, on one simulated clock in this process (docs/sim.md has the format).

  cloudpin sim scenarios/quiet-pair.json > result.json
  cloudpin sim scenarios/hall-400.json --recordings ../shared/data/steps/oxford-validation

Output: JSON on stdout: per pin its steps, the taps its firmware reported
(t_ms) against those injected, its board, and its accounting (cpu and radio
state times in us, packet counters); `metrics` has sim_s, wall_s, tap recall
and the radio counters summed over pins. Progress and a short summary go to
stderr. The same scenario and seed give the same JSON, wall_s apart.

Walkers' accelerometers replay walking recordings picked by the seed from
the shipped walk (host_tools/data) and every folder given with --recordings
(or the scenario's "recordings"); a folder's labels.csv, if any, keeps out
recordings that are not walks.
"""
import sys

from host_tools.sim import runner
from host_tools.sim.scenario import ScenarioError, load
from host_tools.sim.scenario import _wearers as wearers


def add_arguments(p):
    p.add_argument("scenario", help="scenario JSON file (see scenarios/ and docs/sim.md)")
    p.add_argument("--recordings", action="append", default=[], metavar="DIR",
                   help="folder (or CSV) of walking recordings to add to the shipped walk; repeatable")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    p.add_argument("--wearers", type=float, default=None, metavar="S",
                   help="wearers answer every \"tap again\": the pair touches again S s later (1.5..60; sets the "
                        "scenario's wearers.tap_again_after_s; made and missed still count first touches, re-touches "
                        "are reported apart: docs/sim.md)")
    p.add_argument("--wearers-tries", type=int, default=None, metavar="N",
                   help="re-touches per intended touch with --wearers (1..5, default 1)")
    p.add_argument("--trace", action="store_true",
                   help="add tap_trace: per intended tap, each pin's detection, radio start, frames heard from its "
                        "partner and the nearest others, its choice and why it failed (host_tools/sim/trace.py)")


def run(args):
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    warn = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        sc = load(args.scenario)
        if args.seed is not None:
            sc["seed"] = args.seed
        if args.wearers is not None or args.wearers_tries is not None:
            sc["wearers"] = wearers({"tap_again_after_s": args.wearers if args.wearers is not None else 2.0,
                                     "tries": args.wearers_tries if args.wearers_tries is not None else 1})
        result = runner.simulate(sc, args.recordings, progress=say, warn=warn, trace=args.trace)
    except (ScenarioError, runner.SimError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    sys.stdout.write(runner.dumps(result) + "\n")
    sys.stdout.flush()
    say(runner.summary(result))
    return 0

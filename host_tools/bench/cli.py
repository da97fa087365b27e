"""Benchmarks: the firmware step counter and tap detector run under the
MicroPython unix port on labelled recordings, and the motion pipeline's cost.

  cloudpin bench steps DIR     step counts vs labels.csv (JSON on stdout)
  cloudpin bench taps DIR...   tap detection (host_tools.bench.taps)
  cloudpin bench cost          us/sample vs a read-only loop, heap bytes/sample
  cloudpin bench social        meet and greet: µs and heap per step, 1,024 friends
  cloudpin bench crowd         simulated s per wall s for 30/100/400 pins running the app
  cloudpin bench radio         a hall of pins on the emulated air (host_tools.bench.radio)
  cloudpin bench sim           `cloudpin sim` halls of 30/100/400 pins: sim s per wall s
  cloudpin bench simsteps DIR  walkers' step counts in `cloudpin sim` vs the step bench, same recordings
  cloudpin bench updates       friend-update windows in halls of 30/100/300 pins: share stored, radio cost
  cloudpin bench phone         the phone service of a virtual badge with 1,000 friends on the air
  cloudpin bench designs       a design card's redraw on the M5StickC Plus: SPI bytes, time at its clock
  cloudpin bench heap          the whole app's heap: per module, per service, after a tap, an update, a phone, on one pin's share
  cloudpin bench clock         two friends' drifting clocks kept together for an hour: windows met
  cloudpin bench all --data D  steps on every set in D, taps, cost, deploy and
                               desk provisioning on virtual badges -> --out FILE
"""
import argparse
import json
import sys
import time
from pathlib import Path

from host_tools.bench import cost, crowd, designs, radio, social, steps, taps


def _bench(sub, name, mod, help, raw=True):
    """One `cloudpin bench NAME`: the module's docstring is its --help page."""
    fmt = dict(formatter_class=argparse.RawDescriptionHelpFormatter) if raw else {}
    p = sub.add_parser(name, help=help, description=mod.__doc__, **fmt)
    mod.add_arguments(p)
    p.set_defaults(_bench=mod.run)


def add_arguments(parser):
    from host_tools.bench import clock, heap, phone, simsteps, updates
    from host_tools.sim import bench as sim_bench

    sub = parser.add_subparsers(dest="bench", metavar="BENCH")
    _bench(sub, "steps", steps, "step counter on a folder of labelled recordings", raw=False)
    _bench(sub, "taps", taps, "tap detector on tap-labelled recordings", raw=False)
    _bench(sub, "cost", cost, "us per sample and heap per sample under MicroPython", raw=False)
    _bench(sub, "social", social, "meet and greet: cost per step under MicroPython, friend list at its bound", raw=False)
    _bench(sub, "crowd", crowd, "many pins' apps on one simulated clock: sim s per wall s", raw=False)
    _bench(sub, "radio", radio, "a hall of pins advertising on the emulated air")
    _bench(sub, "sim", sim_bench, "cloudpin sim halls: sim s per wall s")
    _bench(sub, "simsteps", simsteps, "walkers' step counts in cloudpin sim against the step bench")
    _bench(sub, "updates", updates, "friend-update windows in a hall: share stored, radio cost")
    _bench(sub, "phone", phone, "the phone service over the emulated air: first friend page, 1,000 friends")
    _bench(sub, "designs", designs, "a design card's redraw on a display: SPI bytes and time", raw=False)
    _bench(sub, "heap", heap, "the whole app's heap budget: modules, services, phases, one pin's share, the demo's badges")
    _bench(sub, "clock", clock, "two friends' RTCs drifting in light sleep, kept together by the firmware")
    p = sub.add_parser("all", help="every benchmark, written to one JSON file")
    p.add_argument("--data", required=True, help="folder of recording sets (each a folder with labels.csv)")
    p.add_argument("--out", default="bench/results.json", help="results file (%(default)s)")
    p.add_argument("--odr", type=float, default=None, help="step counter ODR, Hz (default: the board's)")
    p.add_argument("--board", default=steps.DEFAULT_BOARD)
    p.set_defaults(_bench=run_all)


def _bench_deploy():
    from host_tools.bench import deploy_bench

    return deploy_bench.bench_deploy()


def _bench_desk():
    from host_tools.bench import desk as desk_bench

    return desk_bench.bench_desk()


def _bench_phone(say):
    from host_tools.bench import phone

    return phone.bench_phone(progress=say)


def _bench_heap(say):
    from host_tools.bench import heap

    return heap.measure(progress=say)


def _bench_sim():
    from host_tools.sim import bench as sim_bench

    return sim_bench.bench_sim()["sim"]


def _bench_simsteps(sets, say):
    from host_tools.bench import simsteps

    out = {}
    for s in sets:
        say("simsteps: %s: walkers in cloudpin sim against the step bench..." % s.name)
        try:
            out[s.name] = simsteps.bench_simsteps(s, seconds=simsteps.ALL_SECONDS, progress=say)
        except Exception as e:  # one set's failure must not lose the others' results
            say("simsteps: %s: failed: %s: %s" % (s.name, type(e).__name__, e))
            out[s.name] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


def _bench_clock():
    from host_tools.bench import clock

    return clock.bench_clock()


def _bench_power(say):
    from host_tools import power

    day = Path(__file__).resolve().parent.parent.parent / "scenarios" / "press-day.json"
    return power.run(power.load(day), progress=say, warn=say)


def run_all(args):
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    data = Path(args.data)
    sets = sorted(p for p in data.iterdir() if (p / "labels.csv").exists()) if data.is_dir() else []
    if not sets:
        print("error: %s: no folders with labels.csv" % data, file=sys.stderr)
        return 2
    t0 = time.time()
    result = {"generated_by": "cloudpin bench all --data %s" % args.data, "steps": {}}
    failed = 0
    for s in sets:
        try:
            result["steps"][s.name] = steps.bench_steps(s, args.odr, args.board, say)
        except steps.BenchError as e:  # one bad set must not lose the others' results
            say("error: %s" % e)
            result["steps"][s.name] = {"error": str(e)}
            failed += 1
    result["cost"] = cost.measure()  # at the rate the app runs the sensor
    result["simsteps"] = _bench_simsteps(sets, say)
    try:
        say("taps: generating and benchmarking...")
        result["taps"] = taps.bench_suite([str(s) for s in sets], progress=say)
    except Exception as e:  # another module's failure must not lose the step results
        say("taps: skipped: %s: %s" % (type(e).__name__, e))
        result["taps"] = {"error": "%s: %s" % (type(e).__name__, e)}
    for name, run_one in (("deploy", _bench_deploy), ("desk", _bench_desk),
                          ("radio", lambda: radio.bench_radio(progress=say)), ("sim", _bench_sim),
                          ("social", social.measure), ("designs", designs.measure),
                          ("crowd", lambda: crowd.bench_crowd(progress=say)),
                          ("phone", lambda: _bench_phone(say)), ("power", lambda: _bench_power(say)),
                          ("heap", lambda: _bench_heap(say)), ("clock", _bench_clock)):
        say("%s: benchmarking on virtual badges..." % name)
        try:
            result[name] = run_one()
        except Exception as e:  # one benchmark's failure must not lose the others' results
            say("%s: failed: %s: %s" % (name, type(e).__name__, e))
            result[name] = {"error": "%s: %s" % (type(e).__name__, e)}
    result["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    say("wrote %s in %.0f s" % (out, result["seconds"]))
    for name, r in result["steps"].items():
        if "error" in r:
            say("  %s: not scored: %s" % (name, r["error"]))
            continue
        s = r["summary"]
        kinds = s.get("by_kind", {})
        say("  %s: MAPE %s%% over all walking files (%s), false steps/h %s" % (
            name, s.get("mape_pct"), ", ".join("%s %s%%" % (k, v["mape_pct"]) for k, v in sorted(kinds.items())
                                               if "mape_pct" in v), s.get("false_steps_per_hour")))
    return 1 if failed else 0


def run(args):
    if not getattr(args, "_bench", None):
        print("usage: cloudpin bench {steps,taps,cost,social,designs,crowd,radio,sim,simsteps,updates,phone,heap,clock,all} ... (see --help)",
              file=sys.stderr)
        return 2
    return args._bench(args)

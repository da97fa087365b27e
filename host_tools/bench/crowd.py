"""Crowd benchmark: N pins in one CPython process, each running the real
firmware app (cloudpin.app.App on the reference board's hardware, LIS3DH at
its tap rate, BLE off) on one simulated clock (World.start / run_for). The
pins lie at rest: the cost of the platform itself, before any radio or
walking. Reports simulated seconds per wall second for each crowd size and
where the time goes (--profile: the top functions by own time).
"""
import cProfile
import io
import json
import pstats
import sys
import time

from host_tools import BOARDS_DIR, firmware_on_path

SIZES = (30, 100, 400)


def add_arguments(p):
    p.add_argument("--pins", type=int, nargs="+", default=list(SIZES), help="crowd sizes (%(default)s)")
    p.add_argument("--seconds", type=float, default=5.0, help="simulated seconds per crowd (%(default)s)")
    p.add_argument("--profile", action="store_true", help="profile the largest crowd (top functions on stderr)")


def _crowd(n):
    from cloudpin import board as board_layer
    from cloudpin.app import App
    from cloudpin.log import Logger
    from cpsim import world as world_mod
    from cpsim.boardfit import fit
    from cpsim.recording import Rest

    board = json.loads((BOARDS_DIR / "cloudpin_ref.json").read_text())
    world_mod.reset()
    w = world_mod.World()
    apps = []

    async def firmware(box):
        log = Logger("app", sink=lambda line: None)
        hw = board_layer.build(board, log.child("board"), wdt_timeout_ms=0, with_ble=False)
        app = box[0] = App(hw, log)
        await app.main()

    for i in range(n):
        dev = w.device("p%03d" % i)
        # The pin's parts as its board file describes them (one fitter for
        # the bench, the simulator and virtual badges), each lying still.
        fit(dev, board, source=Rest(seed=i + 1))
        box = [None]
        apps.append(box)
        w.start(dev, firmware(box))
    return w, apps


def measure(n, seconds, profile=False):
    w, apps = _crowd(n)
    w.run_for(100)  # boot every pin (board build, sensor set-up)
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    w.run_for(int(seconds * 1000))
    if prof:
        prof.disable()
    wall = time.perf_counter() - t0
    w.close()
    cpu = [d.acct.snapshot()["time_us"] for d in w.devices]
    active = sum(t.get("cpu.active", 0) for t in cpu) / max(1, sum(sum(t.values()) for t in cpu))
    r = {"pins": n, "sim_s": seconds, "wall_s": round(wall, 2), "sim_s_per_wall_s": round(seconds / wall, 3),
         "modelled_cpu_active": round(active, 4)}
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        r["profile"] = out.getvalue()
    return r


def bench_crowd(sizes=SIZES, seconds=2.0, progress=None):
    """{"crowd": [per size: pins, sim_s, wall_s, sim_s_per_wall_s, ...]}."""
    firmware_on_path(compat=True)
    out = []
    for n in sizes:
        if progress:
            progress("crowd: %d pins, %.1f simulated s..." % (n, seconds))
        out.append(measure(n, seconds))
    return {"crowd": out}


def run(args):
    if args.seconds <= 0 or any(n < 1 for n in args.pins):
        print("error: --seconds and --pins must be positive", file=sys.stderr)
        return 2
    firmware_on_path(compat=True)
    results = []
    for n in args.pins:  # one at a time: each result shows as it comes
        print("crowd: %d pins, %.1f simulated s..." % (n, args.seconds), file=sys.stderr)
        r = measure(n, args.seconds, profile=args.profile and n == max(args.pins))
        prof = r.pop("profile", None)
        if prof:
            print(prof, file=sys.stderr)
        print("crowd: %d pins: %.3f sim s per wall s" % (n, r["sim_s_per_wall_s"]), file=sys.stderr)
        results.append(r)
    print(json.dumps({"crowd": results}, indent=1))
    return 0

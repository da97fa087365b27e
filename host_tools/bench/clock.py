"""Clock benchmark: two friends whose RTCs drift apart in light sleep
(cpsim.slowclock, +PPM and -PPM) for HOURS in `cloudpin sim`, the
firmware keeping their clocks together (cloudpin.social.clocksync,
docs/clock.md). They touch 12 s in; it reports, per pin, the periodic
update windows after the touch and how many brought the friend's update,
how far apart the two RTCs are at the end and how far from true UTC, and
what the windows would have been without the correction (ESTIMATE: while
the clocks are under 2 s apart, from the measured light-sleep share).

  cloudpin bench clock [--hours 1] [--ppm 2500] [--seed 1]
"""
import json
import sys
import time

PERIOD_S = 300  # cloudpin.social.updates.PERIOD_S
START_UTC = 1627027483  # windows at t = 17 s, 317 s, ...
TOUCH_MS = 12000


def add_arguments(p):
    p.add_argument("--hours", type=float, default=1.0, help="simulated hours (%(default)s)")
    p.add_argument("--ppm", type=float, default=2500.0,
                   help="each pin's sleep-clock error, one + and one - (%(default)s; cited range +-5,000)")
    p.add_argument("--seed", type=int, default=1)


def scenario(hours, ppm, seed=1):
    return {"name": "clock-pair", "seed": seed, "duration_s": hours * 3600.0,
            "room": {"width_m": 6, "depth_m": 4}, "event": {"utc_offset_min": 540, "start_utc": START_UTC},
            "pins": [{"id": "a", "x": 2.0, "y": 2.0, "facing_deg": 0, "clock_ppm": ppm},
                     {"id": "b", "x": 2.6, "y": 2.0, "facing_deg": 180, "clock_ppm": -ppm}],
            "taps": [{"t_ms": TOUCH_MS, "a": "a", "b": "b"}]}


def bench_clock(hours=1.0, ppm=2500.0, seed=1):
    from host_tools import sim

    t0 = time.time()
    r = sim.simulate(sim.validate(scenario(hours, ppm, seed)), progress=None)
    wall = time.time() - t0
    first = (START_UTC // PERIOD_S + 1) * PERIOD_S - START_UTC  # s after t = 0
    end = hours * 3600.0
    windows = [t for t in range(first, int(end) - 2, PERIOD_S) if t * 1000 > TOUCH_MS + 3000]  # friends by then
    a, b = r["pins"]["a"], r["pins"]["b"]
    asleep = a["time_us"].get("cpu.lightsleep", 0) / (end * 1e6)
    apart_s = [t * 2 * ppm * 1e-6 * asleep for t in windows]
    return {
        "hours": hours, "ppm": [ppm, -ppm], "windows": len(windows),
        "received": {"a": a["updates_received"].get("b", 0), "b": b["updates_received"].get("a", 0)},
        "without_correction_estimate": sum(1 for d in apart_s if d < 2.0),
        "rtc_apart_ms": round(abs(a["clock"]["rtc_err_ms"] - b["clock"]["rtc_err_ms"]), 1),
        "rtc_err_ms": {"a": a["clock"]["rtc_err_ms"], "b": b["clock"]["rtc_err_ms"]},
        "sleep_err_ms": {"a": a["clock"]["err_ms"], "b": b["clock"]["err_ms"]},
        "light_sleep_share": round(asleep, 4),
        "sim_s_per_wall_s": round(end / wall, 1),
    }


def run(args):
    if args.hours <= 0 or args.hours > 24:
        print("error: --hours: between 0 and 24, got %g" % args.hours, file=sys.stderr)
        return 2
    if abs(args.ppm) > 100000:
        print("error: --ppm: at most 100000, got %g" % args.ppm, file=sys.stderr)
        return 2
    print("clock: %g h of two pins at +-%g ppm..." % (args.hours, args.ppm), file=sys.stderr)
    print(json.dumps(bench_clock(args.hours, args.ppm, args.seed), indent=1))
    return 0

"""Battery life of a pin over a day scenario (docs/power.md).

  cloudpin power scenarios/press-day.json
  cloudpin power scenarios/press-day.json --board cloudpin_ref --json

Runs a short segment of the day through the crowd simulator with the real
firmware (one walker and one still pin per board) to measure the CPU's duty,
and a second short run (host_tools/power/probe.py) that measures every kind
of radio window the firmware opens (taps, the clock's window after a new
friend, friend updates, the phone window, false taps, cancelled starts,
reconciliation), then accounts the whole day in bulk: CPU states scaled to
the day's walking and still time, each window's measured radio time times
how often the day opens it (false taps, cancelled starts and unsettled
friendships when the day file counts them, e.g. scenarios/press-day-bag.json),
sensor, display, LED and regulator from the cited current table
(host_tools/power/currents.py).
Prints per board the average current, mAh a day, battery life and the same
day under the naive policy (BLE always advertising and scanning, CPU never
sleeping). --json: a JSON object per board (a list for several) on stdout.
"""
import json
import sys

from host_tools.boards import BoardError
from host_tools.power import day as dayrun


def add_arguments(p):
    p.add_argument("scenario", help="day scenario JSON (e.g. scenarios/press-day.json; docs/power.md)")
    p.add_argument("--board", action="append", metavar="B",
                   help="board name in boards/ (repeatable; default: every board)")
    p.add_argument("--json", action="store_true", help="JSON on stdout instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def text(r):
    life = "no battery (%s)" % r["battery_source"] if r["battery_life_h"] is None else \
        "%.1f h on %.0f mAh (low-battery warning after %.1f h)" % (
            r["battery_life_h"], r["battery_mah"], r["low_battery_after_h"])
    lines = ["%s: %.2f mA average, %.1f mAh/day, %s; naive policy %.1f mA (%.1fx)"
             % (r["board"], r["avg_current_ma"], r["mah_per_day"], life, r["naive_avg_current_ma"],
                r["naive_ratio"])]
    for k, s in sorted(r["states"].items(), key=lambda kv: -kv[1]["avg_ma"]):
        lines.append("  %-26s %9.0f s/day x %7.3f mA = %7.3f mA avg" % (k, s["s"], s["ma"], s["avg_ma"]))
    return "\n".join(lines)


def run(args):
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        spec = dayrun.load(args.scenario)
        reports = dayrun.run(spec, args.board, progress=say, warn=say)
    except (dayrun.DayError, BoardError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        out = reports[0] if len(reports) == 1 else reports
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
    else:
        print("\n\n".join(text(r) for r in reports))
    return 0

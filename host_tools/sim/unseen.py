"""Scenarios nobody tuned on: a generator of `cloudpin sim` scenarios in the
shipped format, and a checker that runs them and says what went wrong.

Issue 9: "We will run scenarios of our own in this format." So the
handshake, the simulator and the scenario validation are tried on
scenarios drawn from a seed, different in every way the format allows:
layouts (scatter, a grid, tables, a queue, a corridor), densities (2 to 80
pins), boards, facing, walkers (some walk up to a pin, stop, touch and walk
off), timings (a rush of pairs in one second, one wearer touching several
people in turn, a pair touching twice, knocks coinciding with a touch a
metre away), clocks, time zones, an event start on a RID rotation or at
local midnight, and attackers of every kind.

    python -m host_tools.sim.unseen make SEED > scenario.json
    python -m host_tools.sim.unseen check FIRST LAST [--runs-seeds N] [--timeout S]

`check` generates scenarios FIRST..LAST, runs each in a child process
(`cloudpin sim`, nice 19, a timeout for hangs) and reports, one line each,
anything that is a bug whatever the scenario: a crash or a non-zero exit, a
hang, a wrong or half-committed friendship, output that does not add up
(made + missed != intended, a friendship whose pins do not list each other,
unparsed log lines, a p95 above the target), and firmware faults or errors.
A miss is not a bug: it is reported as a number at the end.

What is never generated: a touch within TAIL_S of the end (a handshake the
run cuts is neither made nor a fault), and a pin touching two people less
than MIN_GAP_S apart (one tap window takes both).
"""
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

from host_tools.sim.hall import dumps, stroll

BOARDS = ("cloudpin_ref", "devkitc_mpu6050", "m5stickc_plus")
KINDS = ("replay", "spoof", "tap_storm")
EPOCH_S = 900  # RIDs rotate every 15 minutes of UTC (docs/meet-and-greet.md)
TAIL_S = 4.0
MIN_GAP_S = 2.5
P95_MAX_MS = 3000  # the target


def _layout(r, kind, n, w, d):
    """n (x, y) points of a layout inside a w x d room (0.3 m from walls)."""
    lo = 0.3
    pts = []
    if kind == "grid":
        cols = max(1, int(math.ceil(math.sqrt(n * w / d))))
        sx, sy = (w - 2 * lo) / cols, (d - 2 * lo) / max(1, int(math.ceil(n / cols)))
        for i in range(n):
            pts.append((lo + sx * (i % cols + 0.5), lo + sy * (i // cols + 0.5)))
    elif kind == "tables":
        k = max(1, n // r.randint(3, 8))
        centres = [(r.uniform(1, max(1.01, w - 1)), r.uniform(1, max(1.01, d - 1))) for _ in range(k)]
        for i in range(n):
            cx, cy = centres[i % k]
            a, rad = r.uniform(0, 2 * math.pi), r.uniform(0.4, 1.0)
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    elif kind == "queue":
        step = r.uniform(0.4, 0.9)
        x, y = lo, d / 2
        for i in range(n):
            pts.append((x, y + r.uniform(-0.2, 0.2)))
            x += step
            if x > w - lo:
                x, y = lo, y + 1.0 if y + 1.0 < d - lo else lo
    else:  # scatter, corridor (a narrow room, chosen by the caller)
        pts = [(r.uniform(lo, w - lo), r.uniform(lo, d - lo)) for _ in range(n)]
    return [(round(min(w - lo, max(lo, x)), 2), round(min(d - lo, max(lo, y)), 2)) for x, y in pts]


def _near(r, p, w, d, gap):
    """A point `gap` m from p in a random direction, inside the room."""
    for _ in range(20):
        a = r.uniform(0, 2 * math.pi)
        x, y = p["x"] + gap * math.cos(a), p["y"] + gap * math.sin(a)
        if 0.2 <= x <= w - 0.2 and 0.2 <= y <= d - 0.2:
            return round(x, 2), round(y, 2), math.degrees(a)
    return p["x"], p["y"], 0.0


def make(seed):
    """A scenario dict (valid for scenario.validate) drawn from `seed`."""
    r = random.Random("unseen/%d" % seed)
    size = r.choice(("small", "small", "medium", "medium", "large"))
    n = {"small": r.randint(2, 12), "medium": r.randint(13, 40), "large": r.randint(41, 80)}[size]
    layout = r.choice(("scatter", "grid", "tables", "queue", "corridor"))
    density = r.uniform(0.15, 1.5)  # pins per square metre
    area = max(6.0, n / density)
    if layout == "corridor":
        d = round(r.uniform(1.5, 2.5), 1)
        w = round(max(4.0, area / d), 1)
    else:
        w = round(math.sqrt(area) * r.uniform(0.7, 1.4), 1)
        d = round(max(2.0, area / w), 1)
    dur = r.choice((10, 12, 15, 20, 30, 40))
    mix = r.choice(("ref", "mixed", "mixed", "devkit", "m5"))
    pins = []
    for i, (x, y) in enumerate(_layout(r, layout, n, w, d)):
        board = {"ref": "cloudpin_ref", "devkit": "devkitc_mpu6050", "m5": r.choice(BOARDS),
                 "mixed": r.choice(BOARDS[:2])}[mix]
        p = {"id": "u%02d" % (i + 1), "x": x, "y": y, "board": board}
        if r.random() < 0.9:
            p["facing_deg"] = r.randrange(360)
        if r.random() < 0.08:
            p["sleep"] = False
        if r.random() < 0.05:
            p["clock_ppm"] = r.choice((-20000, -6000, 6000, 20000))
        pins.append(p)
    ids = [p["id"] for p in pins]
    by_id = {p["id"]: p for p in pins}
    busy = {}  # pin -> [t_s of its touches]
    taps, solos = [], []
    first, last = r.choice((0.5, 2.0, 3.0)), dur - TAIL_S

    def free(pid, t):
        return all(abs(t - u) >= MIN_GAP_S for u in busy.get(pid, []))

    def touch(a, b, t):
        busy.setdefault(a, []).append(t)
        busy.setdefault(b, []).append(t)
        taps.append({"t_ms": int(t * 1000), "a": a, "b": b})

    def stand_together(a, b):
        pa, pb = by_id[a], by_id[b]
        if "walk" in pb or b in busy:
            return
        gap = r.uniform(0.3, 0.9)
        pb["x"], pb["y"], ang = _near(r, pa, w, d, gap)
        pa["facing_deg"], pb["facing_deg"] = round(ang) % 360, round(ang + 180) % 360

    # walkers: strolls; some walk up to a standing pin, touch it, walk on
    walkers = r.sample(ids, r.randint(0, max(0, n // 3)))
    for pid in walkers:
        stroll(r, by_id[pid], w, d, dur, start_s=3, legs_s=(3, 10), reach_m=6, margin_m=0.3, end_s=2)
    still = [i for i in ids if i not in walkers]
    if walkers and still and r.random() < 0.6:  # a walker stops at someone, touches, walks on
        pid, other = r.choice(walkers), r.choice(still)
        t_stop = round(r.uniform(first + 1, max(first + 1.5, last - 3)), 1)
        t_tap = t_stop + r.uniform(0.8, 2.0)
        if t_tap <= last:
            x, y, _ = _near(r, by_id[other], w, d, r.uniform(0.4, 0.7))
            start = by_id[pid]["walk"][0]
            by_id[pid]["walk"] = [start] if start[0] < t_stop - 2 else []
            by_id[pid]["walk"] += [[max(0.1, t_stop - 1.5), x, y], [t_stop, x, y],
                                   [round(min(dur, t_tap + 3), 1), x, y]]
            if t_tap + 8 <= dur:
                by_id[pid]["walk"].append([round(t_tap + 8, 1), round(r.uniform(0.3, w - 0.3), 2),
                                           round(r.uniform(0.3, d - 0.3), 2)])
            by_id[pid]["x"], by_id[pid]["y"] = by_id[pid]["walk"][0][1], by_id[pid]["walk"][0][2]
            touch(pid, other, t_tap)
    if len(still) >= 2:
        style = r.choice(("pairs", "rush", "serial", "mixed"))
        n_pairs = r.randint(1, max(1, len(still) // 2))
        pool = [i for i in still if i not in busy]
        r.shuffle(pool)
        if style in ("pairs", "mixed"):
            for _ in range(n_pairs if style == "pairs" else max(1, n_pairs // 2)):
                if len(pool) < 2:
                    break
                a, b = pool.pop(), pool.pop()
                stand_together(a, b)
                touch(a, b, r.uniform(first, last))
        if style in ("rush", "mixed") and len(pool) >= 2:
            t0, spread = r.uniform(first, last - 2), r.choice((0.3, 1.0, 2.0))
            for _ in range(min(len(pool) // 2, r.randint(2, 25))):
                a, b = pool.pop(), pool.pop()
                stand_together(a, b)
                touch(a, b, t0 + r.uniform(0, spread))
        if style == "serial" and len(pool) >= 2:
            hub = pool.pop()
            t = r.uniform(first, first + 2)
            while pool and t <= last:
                b = pool.pop()
                stand_together(hub, b) if len(busy.get(hub, [])) == 0 else None
                touch(hub, b, t)
                t += r.uniform(MIN_GAP_S, 7)
        # a pair touching again (already friends)
        if taps and r.random() < 0.3:
            t0 = taps[r.randrange(len(taps))]
            t = t0["t_ms"] / 1000.0 + r.uniform(MIN_GAP_S, 8)
            if t <= last and free(t0["a"], t) and free(t0["b"], t) and "walk" not in by_id[t0["a"]] \
                    and "walk" not in by_id[t0["b"]]:
                touch(t0["a"], t0["b"], t)
    # knocks: some at the instant of a touch, a metre or so away
    for _ in range(r.randint(0, 4)):
        if not still:
            break
        if taps and r.random() < 0.6:
            t0 = r.choice(taps)
            others = [i for i in still if i not in (t0["a"], t0["b"]) and free(i, t0["t_ms"] / 1000.0)]
            if not others:
                continue
            pid = min(others, key=lambda i: math.hypot(by_id[i]["x"] - by_id[t0["a"]]["x"],
                                                       by_id[i]["y"] - by_id[t0["a"]]["y"]))
            t = t0["t_ms"] / 1000.0 + r.uniform(-0.005, 0.005)
        else:
            pid, t = r.choice(still), r.uniform(first, last)
        if 0 <= t <= last and free(pid, t):
            busy.setdefault(pid, []).append(t)
            solos.append({"t_ms": max(0, int(t * 1000)), "pin": pid})
    sc = {"name": "unseen-%d" % seed, "seed": seed, "duration_s": dur, "room": {"width_m": w, "depth_m": d}}
    # event: a time zone, and a start that puts a RID rotation or local midnight near the touches
    off = r.choice((0, 60, 330, 540, -300, -720, 840, r.randrange(-720, 841)))
    when = r.choice(("plain", "rotation", "midnight", "unset"))
    base = r.randrange(1600000000, 1900000000)
    if when == "rotation":
        base = base - base % EPOCH_S + EPOCH_S - int(r.uniform(first, last))  # a new RID mid-run
    elif when == "midnight":
        local = base + 60 * off
        base = base - local % 86400 + 86400 - int(r.uniform(first, last))
    if when != "unset":
        sc["event"] = {"utc_offset_min": off, "start_utc": base}
    else:
        sc["event"] = {"utc_offset_min": off}
    if r.random() < 0.25:
        sc["clock"] = {"range_ppm": r.choice((0, 1000, 20000)), "wander_ppm": r.choice((0, 1000))}
    sc["pins"] = pins
    sc["taps"] = sorted(taps, key=lambda t: t["t_ms"])
    sc["solo_taps"] = sorted(solos, key=lambda t: t["t_ms"])
    if r.random() < 0.35:
        att = []
        for k in range(r.randint(1, 3)):
            near = by_id[r.choice([t["a"] for t in taps] or ids)]
            x, y, _ = _near(r, near, w, d, r.uniform(0.3, 3))
            a = {"id": "x%d" % (k + 1), "x": x, "y": y, "kind": r.choice(KINDS)}
            if r.random() < 0.3:
                a["tx_dbm"] = r.choice((-20, 0, 10, 20))
            att.append(a)
        sc["attackers"] = att
    if r.random() < 0.2:
        sc["pack"] = None
    return sc


# --- checking ----------------------------------------------------------------
def problems(sc, result):
    """What in one run's output is a bug whatever the scenario (a list of lines)."""
    out = []
    m = result["metrics"]["social"]
    if m["wrong"]:
        out.append("wrong friendships %s" % m["wrong_pairs"])
    if m["half_committed"] or result["half_committed"]:
        out.append("half-committed %s" % result["half_committed"])
    if m["made"] + m["missed"] != m["intended_taps"] or m["intended_taps"] != len(sc["taps"]):
        out.append("made %d + missed %d != intended %d" % (m["made"], m["missed"], m["intended_taps"]))
    p95 = m["tap_to_friendship_ms"]["p95"]
    if p95 is not None and p95 > P95_MAX_MS:
        out.append("p95 tap to friendship %d ms" % p95)
    pins = result["pins"]
    for f in result["friendships"]:
        if f["b"] not in pins[f["a"]]["friends"] or f["a"] not in pins[f["b"]]["friends"]:
            out.append("friendship %s-%s not in both friend lists" % (f["a"], f["b"]))
    # every board's faults count, the M5's display too: under CPython it
    # draws nothing but reports no fault since session 11 (docs/sim.md, Limits)
    for pid, p in pins.items():
        if p.get("unparsed_lines"):
            out.append("%s: %d unparsed log lines" % (pid, p["unparsed_lines"]))
        if p["faults"]:
            out.append("%s: faults %s" % (pid, sorted(p["faults"])))
        for line in p["notes"]:
            if line.startswith("E") or "Traceback" in line or "crash" in line or "restart" in line:
                out.append("%s: %s" % (pid, line[:160]))
    return out


def run_one(path, seed, timeout_s):
    """(result or None, problems): `cloudpin sim` on a file in a child process."""
    cmd = ["nice", "-n", "19", sys.executable, "-m", "host_tools.cli", "sim", path, "--quiet", "--trace"]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, ["hang: no result in %d s" % timeout_s]
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return None, ["exit %d: %s" % (p.returncode, tail[:200])]
    try:
        return json.loads(p.stdout), []
    except ValueError:
        return None, ["stdout is not JSON"]


def check(first, last, seeds=1, timeout_s=900, out=sys.stdout, keep=None):
    """Generate scenarios first..last, run each with `seeds` seeds; print a
    line per run and a total. Returns the number of runs with problems."""
    from host_tools.sim.scenario import ScenarioError, validate

    bad = made = intended = detected_pairs = made_detected = 0
    causes = {}
    tmp = keep or tempfile.mkdtemp(prefix="cloudpin-unseen-")
    for s in range(first, last + 1):
        sc = make(s)
        try:
            validate(json.loads(json.dumps(sc)))
        except ScenarioError as e:
            print("unseen-%d: generator made an invalid scenario: %s" % (s, e), file=out, flush=True)
            bad += 1
            continue
        path = os.path.join(tmp, "unseen-%d.json" % s)
        with open(path, "w") as f:
            f.write(dumps(sc))
        for k in range(seeds):
            t0 = time.time()
            res, probs = run_one(path, s + 1000 * k if k else None, timeout_s)
            line = "unseen-%d seed %s: %d pins, %d taps" % (s, s + 1000 * k if k else sc["seed"], len(sc["pins"]),
                                                             len(sc["taps"]))
            if res is not None:
                probs += problems(sc, res)
                m = res["metrics"]["social"]
                made += m["made"]
                intended += m["intended_taps"]
                for t in res.get("tap_trace", []):
                    causes[t["cause"]] = causes.get(t["cause"], 0) + 1
                    if t["cause"] != "not_detected":
                        detected_pairs += 1
                        made_detected += t["cause"] == "made"
                line += ", made %d, wrong %d, half %d" % (m["made"], m["wrong"], m["half_committed"])
            line += " (%.0f s)" % (time.time() - t0)
            if probs:
                bad += 1
                line += "\n  PROBLEM " + "\n  PROBLEM ".join(probs)
            print(line, file=out, flush=True)
    print("total: made %d of %d intended, %d of %d pairs both of whose pins felt the touch; causes %s; "
          "runs with problems %d; files in %s" % (made, intended, made_detected, detected_pairs,
                                                  json.dumps(causes, sort_keys=True), bad, tmp), file=out)
    return bad


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m host_tools.sim.unseen", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="print the scenario drawn from SEED")
    mk.add_argument("seed", type=int)
    ck = sub.add_parser("check", help="generate, run and check scenarios FIRST..LAST")
    ck.add_argument("first", type=int)
    ck.add_argument("last", type=int)
    ck.add_argument("--runs-seeds", type=int, default=1, help="runs per scenario (its seed, then +1000, +2000...)")
    ck.add_argument("--timeout", type=int, default=900, help="seconds before a run counts as a hang")
    ck.add_argument("--keep", metavar="DIR", help="write the scenarios here (default: a temporary folder)")
    a = ap.parse_args(argv)
    if a.cmd == "make":
        sys.stdout.write(dumps(make(a.seed)))
        return 0
    return 1 if check(a.first, a.last, a.runs_seeds, a.timeout, keep=a.keep) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

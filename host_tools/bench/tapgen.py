"""Make labelled tap recordings: real accelerometer recordings resampled to a
tap-capable output data rate, with physically modelled pin-to-pin touches
(and, on request, modelled transients that are not touches) added.

Usage: python -m host_tools.bench.tapgen SRC_DIR [SRC_DIR ...] OUT_DIR
           [--odr 400] [--seed 1] [--split tune|heldout] [--max-seconds 120]
           [--distractors PER_MIN] [--no-taps] [--walking]

Output (the `../shared/data/steps` format plus taps): one CSV `t_ms,x,y,z` (g)
per source recording (a random window of at most --max-seconds; its step
count is blanked when it is a window of a longer recording), labels.csv (the
source rows, sample_hz set to the new rate), taps.csv
`file,t_ms,tau_ms,dv,mount,vertical` (the touch's centre, contact duration,
velocity change, how the pin was held, and the sine of its direction's
elevation against the recording's gravity: 0 across it, +-1 along it) and, with --distractors, distractors.csv
`file,t_ms,kind`. Everything is drawn from one seeded generator, so the same
arguments make byte-identical files. Values are not clipped: the bench clips
them at the sensor's range.

The models and the sources of every range are in tapmodel.py. --split keeps
only the recordings of that split and insists on one of its seeds
(tapsplit.py): tune on `tune`, report `heldout`.

Times: touches are at least 1.5 s apart (plus an exponential gap, mean 5 s)
and 1.6 s away from the ends (room for the reach); 15% are double touches
250-500 ms apart. A real sensor's causal filter delays every sample by about
a period; both pins share that delay.

What the recordings cannot give: the sources are 12.5 Hz (watch) and 100 Hz
(phone) data. Resampling to 400 Hz interpolates them faithfully but cannot
recreate what they never held, so heel strikes, knocks and clothing rubs
above ~6 Hz (watch) or ~45 Hz (phone) are missing and a false-tap rate
measured on them alone is optimistic. --distractors adds the modelled
non-touch transients (tapmodel.DISTRACTORS) to cover part of that gap.
"""
import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from host_tools.bench import resample as rs
from host_tools.bench import tapdirs
from host_tools.bench import tapmodel as tm
from host_tools.bench import tapsplit

G = tm.G
MIN_GAP_S = 1.5
MEAN_EXTRA_GAP_S = 5.0
DOUBLE_FRACTION = 0.15
DOUBLE_GAP_S = (0.25, 0.5)
EDGE_S = 1.6
DISTRACTORS = tm.DISTRACTORS
# an untouched hour as the bench models it: events per minute of each kind
# (our assumption of a busy day: walking most of it, the pin on a lanyard,
# some of it in a bag, the odd pat on the chest or knock on a table)
UNTOUCHED_MIX = {"heel": 3.0, "swing": 2.0, "bag": 1.0, "chest": 0.5, "knock": 0.5}
# between touches: the same, less the bag (a pin in a bag is not being touched)
TOUCHED_MIX = {k: v for k, v in UNTOUCHED_MIX.items() if k != "bag"}


def tap_times(rng, duration_ms):
    """Contact times (ms from the window start) for one recording."""
    times = []
    t = EDGE_S * 1000 + rng.exponential(MEAN_EXTRA_GAP_S * 1000)
    while t < duration_ms - EDGE_S * 1000:
        times.append(t)
        if rng.random() < DOUBLE_FRACTION:
            t2 = t + rng.uniform(*DOUBLE_GAP_S) * 1000
            if t2 < duration_ms - EDGE_S * 1000:
                times.append(t2)
                t = t2
        t += (MIN_GAP_S + rng.exponential(MEAN_EXTRA_GAP_S)) * 1000
    return times


def _lay(xyz, k, offs, wave):
    """Add a (n, 3) waveform at output offsets `offs` from sample k, in place."""
    idx = offs + k
    ok = (idx >= 0) & (idx < len(xyz))
    xyz[idx[ok]] += wave[ok]


def gravity_at(gravity, k):
    """The recording's gravity estimate (tapdirs.gravity: its 1 s mean) at sample k."""
    return gravity[min(max(k, 0), len(gravity) - 1)]


def add_taps(t_ms, xyz, rate, rng, gravity=None):
    """Add modelled touches to an evenly sampled recording in place.

    `xyz` is an (n, 3) array in g at `rate` Hz with sample times `t_ms`;
    `gravity` its (n, 3) slow part (tapdirs.gravity of the recording before
    anything is added; None: +z): each touch's direction is drawn against
    the gravity at its time (tapmodel.orient).
    Returns [(t_ms, peak_g, params)] of the touches added (params: tapmodel.draw_touch)."""
    period = 1000.0 / rate
    if gravity is None:
        gravity = tapdirs.gravity(xyz, rate)
    added = []
    for tc in tap_times(rng, t_ms[-1] - t_ms[0]):
        k = int(round(tc / period))
        p = tm.draw_touch(rng, gravity_at(gravity, k))
        peak = 0.0
        for offs, wave in tm.touch_events(rate, p, tc - k * period):
            _lay(xyz, k, offs, wave)
            peak = peak or float(np.abs(wave).max())
        added.append((t_ms[0] + tc, peak, p))
    return added


def add_distractors(t_ms, xyz, rate, rng, per_minute, avoid_ms, keep_ms=300.0, mix=None, gravity=None):
    """Add non-touch transients (tapmodel.DISTRACTORS) at random times, at
    least keep_ms from every time in `avoid_ms`. `per_minute` events in all,
    of kinds drawn uniformly, or `mix` {kind: per minute} instead. Heel and
    bag events are walking bouts: a train of steps. Each points against the
    recording's gravity at its time (`gravity` as add_taps) as its kind does
    (tapmodel.draw_vertical; a bag's knocks each their own way, the bump
    on the hip along gravity). Returns [(t_ms, kind)]."""
    period = 1000.0 / rate
    if gravity is None:
        gravity = tapdirs.gravity(xyz, rate)
    duration = t_ms[-1] - t_ms[0]
    avoid = np.asarray(sorted(avoid_ms), dtype=float)
    added = []
    kinds = sorted(DISTRACTORS)
    if mix:
        plan = [(kind, int(rng.poisson(mix[kind] * duration / 60000.0))) for kind in sorted(mix)]
        events = [kind for kind, n in plan for _ in range(n)]
    else:
        events = [kinds[int(rng.integers(len(kinds)))] for _ in range(rng.poisson(per_minute * duration / 60000.0))]
    for kind in events:
        draw, make, bout, step_s = DISTRACTORS[kind]
        start = rng.uniform(EDGE_S * 1000, max(EDGE_S * 1000, duration - EDGE_S * 1000))
        times = [start]
        if bout:
            step = rng.uniform(*step_s) * 1000
            times = [start + i * step for i in range(int(rng.integers(*bout)))]
        times = [tc for tc in times if tc < duration - EDGE_S * 1000]
        if len(avoid) and any(np.min(np.abs(avoid - tc)) < keep_ms for tc in times):
            continue
        vertical = tm.draw_vertical(rng, "heel" if kind == "bag" else kind)
        azim = rng.uniform(0, 2 * math.pi)
        args = draw(rng)
        for tc in times:
            if kind in tm.PER_STEP:
                args = draw(rng)
            k = int(round(tc / period))
            g = gravity_at(gravity, k)
            direction = tm.world_direction(g, vertical, azim)
            if kind == "bag":
                # the bump on the hip along the body's vertical, each knock its own way
                offs, wave = make(rate, args[0], args[1], (), tc - k * period)
                _lay(xyz, k, offs, wave[:, None] * direction[None, :])
                for knock in args[2]:
                    offs, wave = make(rate, 0.0, args[1], (knock,), tc - k * period)
                    kd = tm.world_direction(g, tm.draw_vertical(rng, "bag"), rng.uniform(0, 2 * math.pi))
                    _lay(xyz, k, offs, wave[:, None] * kd[None, :])
            else:
                offs, wave = make(rate, *args, tc - k * period)
                _lay(xyz, k, offs, wave[:, None] * direction[None, :])
            added.append((t_ms[0] + tc, kind))
    return added


def add_walk(t_ms, xyz, rate, rng, bout=10, gravity=None):
    """Heel strikes all the time, touches or not: the wearer walks through
    the whole recording (tapmodel's heel strike reaching the chest: 0.3-1.5 g
    over 20-60 ms, a step every 0.45-0.65 s, new parameters every `bout`
    steps, along the recording's gravity as add_distractors lays them). The
    untouched day's heel bouts keep away from touches; this is the set that
    shows what the detector does to a touch next to a heel strike.
    Returns [(t_ms, "heel")]."""
    period = 1000.0 / rate
    if gravity is None:
        gravity = tapdirs.gravity(xyz, rate)
    draw, make, _, step_s = DISTRACTORS["heel"]
    added = []
    tc = rng.uniform(0, step_s[1] * 1000)
    k = 0
    while tc < t_ms[-1] - t_ms[0]:
        if k % bout == 0:
            args = draw(rng)
            step = rng.uniform(*step_s) * 1000
            vertical = tm.draw_vertical(rng, "heel")
            azim = rng.uniform(0, 2 * math.pi)
        i = int(round(tc / period))
        direction = tm.world_direction(gravity_at(gravity, i), vertical, azim)
        offs, wave = make(rate, *args, tc - i * period)
        _lay(xyz, i, offs, wave[:, None] * direction[None, :])
        added.append((t_ms[0] + tc, "heel"))
        tc += step
        k += 1
    return added


def _read_labels(src):
    path = Path(src) / "labels.csv"
    if not path.exists():
        return None, {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, {row["file"]: row for row in reader}


def recordings(src):
    """Recording CSVs in a set folder (everything but labels.csv/taps.csv)."""
    src = Path(src)
    if not src.is_dir():
        raise rs.RecordingError("%s: not a folder" % src)
    files = sorted(p for p in src.glob("*.csv") if p.name not in ("labels.csv", "taps.csv", "distractors.csv"))
    if not files:
        raise rs.RecordingError("%s: no recording CSV files" % src)
    return files


def write_recording(path, t_ms, xyz):
    with open(path, "w", newline="") as f:
        f.write("t_ms,x,y,z\n")
        np.savetxt(f, np.column_stack([t_ms, xyz]), fmt=["%.1f", "%.4f", "%.4f", "%.4f"], delimiter=",")


def generate(sources, out_dir, odr=400, seed=1, max_seconds=120.0, distractors_per_min=0.0, progress=None,
             split=None, taps=True, mix=None, walking=False):
    """Build a tap set in out_dir from one or more source folders.

    Returns {"files": n, "taps": n, "distractors": n, "seconds": total}. When
    two sources hold files of the same name, the later ones are prefixed with
    their folder name. split (tapsplit.TUNE or HELDOUT) keeps only that split's
    recordings and requires one of its seeds. With distractors_per_min > 0 or a
    `mix` ({kind: per minute}), non-touch transients are added too and listed
    in distractors.csv `file,t_ms,kind`: anything detected near them is a false
    tap. taps=False adds no touches (an untouched set; taps.csv is then empty,
    so every detection counts as false). walking=True lays heel strikes over
    the whole of every recording as well, next to touches too (add_walk), and
    lists them in distractors.csv."""
    tapsplit.check_seed(split, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # the walk draws from its own stream: a walking set has the same touches
    walk_rng = np.random.default_rng((seed, 1))
    label_rows, fieldnames, tap_rows, seen, distractor_rows = [], None, [], set(), []
    total_s = 0.0
    for src in sources:
        names, labels = _read_labels(src)
        fieldnames = fieldnames or names
        for path in recordings(src):
            if split is not None and not tapsplit.in_split(path.name, split):
                continue
            name = path.name if path.name not in seen else "%s-%s" % (Path(src).name, path.name)
            seen.add(name)
            if progress:
                progress("tapgen: %s" % name)
            t, x, y, z = rs.load_resampled(path, odr)
            n_max = int(max_seconds * odr)
            start = int(rng.integers(0, len(t) - n_max + 1)) if len(t) > n_max else 0
            sl = slice(start, start + n_max)
            t_out = t[sl] - t[sl][0]
            xyz = np.column_stack([x[sl], y[sl], z[sl]])
            gravity = tapdirs.gravity(xyz, odr)  # of the real walk, before anything is laid on it
            added = add_taps(t_out, xyz, odr, rng, gravity) if taps else []
            for tc, _, p in added:
                tap_rows.append((name, tc, p["tau"] * 1000, p["dv"], p["mount"], p["vertical"]))
            if distractors_per_min > 0 or mix:
                for tc, kind in add_distractors(t_out, xyz, odr, rng, distractors_per_min, [a[0] for a in added],
                                                mix=mix, gravity=gravity):
                    distractor_rows.append((name, tc, kind))
            if walking:
                distractor_rows += [(name, tc, kind) for tc, kind in add_walk(t_out, xyz, odr, walk_rng, gravity=gravity)]
            write_recording(out / name, t_out, xyz)
            total_s += len(t_out) / odr
            row = dict(labels.get(path.name, {}))
            row["file"] = name
            if row.get("steps") not in (None, "") and len(t) > n_max:
                # a window of a longer recording: its step count is unknown
                row["steps"] = ""
            if "sample_hz" in row or not labels:
                row["sample_hz"] = "%g" % odr
            label_rows.append(row)
    if not label_rows:
        raise rs.RecordingError("no %s recordings in %s" % (split, ", ".join(str(s) for s in sources)))
    fieldnames = fieldnames or ["file", "sample_hz"]
    with (out / "labels.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        w.writeheader()
        for row in label_rows:
            w.writerow(row)
    with (out / "taps.csv").open("w", newline="") as f:
        f.write("file,t_ms,tau_ms,dv,mount,vertical\n")
        for name, tc, tau_ms, dv, mount, vertical in tap_rows:
            f.write("%s,%.1f,%.3f,%.4f,%s,%.3f\n" % (name, tc, tau_ms, dv, mount, vertical))
    if distractors_per_min > 0 or mix or walking:
        with (out / "distractors.csv").open("w", newline="") as f:
            f.write("file,t_ms,kind\n")
            for name, tc, kind in distractor_rows:
                f.write("%s,%.1f,%s\n" % (name, tc, kind))
    return {"files": len(label_rows), "taps": len(tap_rows), "distractors": len(distractor_rows),
            "seconds": round(total_s, 1)}


# the bench's sets (taps.bench_suite, tapfeat, tapwhy): touches among the
# day's transients, the untouched day, and touches while walking
SETS = ("touched", "untouched", "walking")


def generate_set(sources, out_dir, name, seed, split=None, odr=400, max_seconds=120.0, progress=None):
    """One of SETS for a seed, as the bench suite makes it (generate())."""
    if name not in SETS:
        raise ValueError("unknown set %r (use %s)" % (name, ", ".join(SETS)))
    return generate(sources, out_dir, odr=odr, seed=seed, max_seconds=max_seconds, progress=progress, split=split,
                    taps=name != "untouched", mix=UNTOUCHED_MIX if name == "untouched" else TOUCHED_MIX,
                    walking=name == "walking")


def add_arguments(parser):
    parser.add_argument("sources", nargs="+", metavar="SRC_DIR", help="folders of recordings (CSV t_ms,x,y,z in g)")
    parser.add_argument("out", metavar="OUT_DIR", help="folder to write the tap set to (created)")
    parser.add_argument("--odr", type=float, default=400.0, help="output data rate in Hz (default 400)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="longest window taken from each recording (default 120)")
    parser.add_argument("--distractors", type=float, default=0.0, metavar="PER_MIN",
                        help="also add non-touch transients (heel strikes, chest swings and knocks, table knocks, "
                             "bag rattle), per minute")
    parser.add_argument("--split", choices=tapsplit.SPLITS, default=None,
                        help="only this split's recordings, and a seed of it (tune: 1-999, heldout: 1000-1999, "
                             "heldout2: the held-out recordings with seeds 2000-2999)")
    parser.add_argument("--no-taps", action="store_true", help="add no touches (an untouched set)")
    parser.add_argument("--walking", action="store_true",
                        help="also lay heel strikes over the whole of every recording, next to touches too "
                             "(the wearer walks while touching)")


def run(args):
    try:
        summary = generate(args.sources, args.out, odr=args.odr, seed=args.seed, max_seconds=args.max_seconds,
                           distractors_per_min=args.distractors, progress=lambda m: print(m, file=sys.stderr),
                           split=args.split, taps=not args.no_taps, walking=args.walking)
    except (rs.RecordingError, tapsplit.SplitError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print("wrote %(files)d recordings, %(taps)d taps, %(distractors)d distractors, %(seconds).0f s" % summary,
          file=sys.stderr)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m host_tools.bench.tapgen", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

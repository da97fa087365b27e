"""Walkers in `cloudpin sim` against the step bench, on the same recordings
(`cloudpin bench simsteps DIR`): issue 8's target that "the pins' step
counts in a sim of walkers agree with the step bench on the same
recordings".

Every walking recording of DIR (labels.csv kind `walk`; --files N: the
first N, --seconds S: each cut to its first S seconds) is counted twice
by the firmware's step counter, at the board's sensor rate:
  - the step bench (`cloudpin bench steps`): the recording resampled
    band-limited, fed to the counter in the MicroPython VM;
  - `cloudpin sim`: one walker per recording, on the reference board's
    emulated LIS3DH (its FIFO, its box-filtered replay of the recording),
    running the whole firmware app, walking for the recording's length.
JSON on stdout: per file both counts and their difference, and how many
agree within max(2 steps, 5%) (the bound tests/test_sim.py holds a short
walk to). Progress on stderr. `cloudpin bench all` runs it on every set,
each recording cut to its first 5 minutes.
"""
import json
import sys
import tempfile
from pathlib import Path

from host_tools.bench import steps
from host_tools.bench.steps import BenchError

AGREE_PCT = 5.0
# `bench all` cuts each recording to its first 5 minutes: the bangle set's
# walks run to 3 hours, and the simulator runs every pin to the longest one
ALL_SECONDS = 300.0
AGREE_STEPS = 2
SPACING_M = 3.0  # walkers' lanes: far enough apart that nobody touches


def _cut(src, dst, seconds):
    """Copy recording src to dst (t_ms from 0), its first `seconds` (None:
    all); returns its length in seconds."""
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    if not lines or not lines[0].startswith("t_ms"):
        raise BenchError("%s: header must be t_ms,x,y,z" % src)
    out, t0, last = [lines[0]], None, 0
    for ln in lines[1:]:
        if not ln.strip():
            continue
        t, rest = ln.split(",", 1)
        try:
            t = int(float(t))
        except ValueError:
            raise BenchError("%s: t_ms must be a number, got %r" % (src, t)) from None
        t0 = t if t0 is None else t0
        if seconds is not None and t - t0 >= seconds * 1000:
            break
        out.append("%d,%s" % (t - t0, rest))
        last = t - t0
    if len(out) < 2:
        raise BenchError("%s: no samples" % src)
    dst.write_text("\n".join(out) + "\n")
    return last / 1000.0


def scenario(files, lengths):
    """One walker per recording, each in its own lane, walking from t = 0
    for the recording's length (the sim replays it from its start)."""
    width = 40.0
    pins = []
    for i, (path, length) in enumerate(zip(files, lengths)):
        y = 1.0 + SPACING_M * i
        pins.append({"id": "w%02d" % i, "x": 1.0, "y": y, "recording": str(path),
                     "walk": [[0, 1.0, y], [length, width - 1.0, y]]})
    return {"name": "simsteps", "seed": 1, "duration_s": round(max(lengths) + 2.0, 3), "pack": None,
            "room": {"width_m": width, "depth_m": SPACING_M * len(files) + 2.0}, "pins": pins}


def bench_simsteps(folder, seconds=None, max_files=None, progress=None):
    from host_tools.sim import runner
    from host_tools.sim.scenario import validate

    say = progress or (lambda m: None)
    walks = [e for e in steps.read_labels(folder) if e["kind"] == "walk" and "error" not in e]
    if max_files is not None:
        walks = walks[:max_files]
    if not walks:
        raise BenchError("%s: no walking recordings (labels.csv kind walk)" % folder)
    with tempfile.TemporaryDirectory(prefix="cloudpin-simsteps-") as tmp:
        tmp = Path(tmp)
        lengths = [_cut(Path(folder) / e["file"], tmp / e["file"], seconds) for e in walks]
        with (tmp / "labels.csv").open("w") as f:
            f.write("file,steps,kind\n")
            for e in walks:  # the label: only the bench's own score (not used here) reads it
                f.write("%s,%d,walk\n" % (e["file"], e["expected"]))
        bench = {r["file"]: r["counted"] for r in steps.bench_steps(tmp, progress=say)["files"]}
        sc = validate(scenario([tmp / e["file"] for e in walks], lengths))
        say("simsteps: %d walkers, %.0f simulated s in cloudpin sim..." % (len(walks), sc["duration_s"]))
        result = runner.simulate(sc, progress=say, warn=lambda m: None)
    rows = []
    for i, e in enumerate(walks):
        b, s = bench[e["file"]], result["pins"]["w%02d" % i]["steps"]
        rows.append({"file": e["file"], "seconds": lengths[i], "bench": b, "sim": s, "diff": s - b,
                     "agree": abs(s - b) <= max(AGREE_STEPS, AGREE_PCT / 100.0 * b)})
    diffs = [abs(r["diff"]) for r in rows]
    return {"set": Path(folder).name, "board": "cloudpin_ref", "seconds_each": seconds,
            "agree_within": "max(%d steps, %g%%)" % (AGREE_STEPS, AGREE_PCT),
            "files": rows, "agree": sum(r["agree"] for r in rows), "of": len(rows),
            "max_abs_diff": max(diffs),
            "mean_abs_diff_pct": round(100.0 * sum(diffs) / max(1, sum(r["bench"] for r in rows)), 2),
            "sim_wall_s": result["metrics"]["wall_s"]}


def add_arguments(parser):
    parser.add_argument("dir", metavar="DIR", help="folder of t_ms,x,y,z CSV recordings (g) with labels.csv")
    parser.add_argument("--seconds", type=float, default=None, help="cut each recording to its first S seconds")
    parser.add_argument("--files", type=int, default=None, help="only the first N walking recordings")


def run(args):
    if (args.seconds is not None and args.seconds < 10) or (args.files is not None and args.files < 1):
        print("error: --seconds must be at least 10 (the counter needs a few seconds of walking) and --files at "
              "least 1", file=sys.stderr)
        return 2
    try:
        r = bench_simsteps(args.dir, args.seconds, args.files, lambda m: print(m, file=sys.stderr, flush=True))
    except (BenchError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print(json.dumps(r, indent=1))
    print("simsteps: %d of %d walkers agree with the step bench within %s (largest difference %d steps)" % (
        r["agree"], r["of"], r["agree_within"], r["max_abs_diff"]), file=sys.stderr)
    return 0

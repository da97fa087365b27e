"""Step benchmark: run the firmware step counter (firmware/cloudpin/steps.py)
under the MicroPython unix port on a folder of labelled recordings.

Input: a folder of CSV recordings `t_ms,x,y,z` (g) and `labels.csv` with at
least `file,steps`; a `kind` column (walk/mixed/none) is optional: without it,
files with steps > 0 count as walking and 0 as no-step.

Each recording is resampled to the sensor's output data rate (band-limited,
see resample.py; default: the rate the app runs the board's sensor at, as
firmware/cloudpin/motion.py chooses it: accel.tap_odr, else accel.odr, else 50 Hz), converted to int16 mg and written to a binary file that the VM reads in
32-sample FIFO chunks (feed_fifo, as the app does). Files are split over two
VM processes.

Output: JSON on stdout, per file {file, expected, counted, kind, hours}, and a
summary: MAPE and median APE over walking files (expected > 0), false steps
per hour over no-step files (expected == 0), and the same per kind (`long` =
walks of 1,000+ steps). Progress goes to stderr. A recording that is missing
or unreadable does not stop the run: it is listed under `skipped` with the
reason, left out of the summary, and the exit status is 1 instead of 0;
so is one that is not UTF-8 text or whose timestamps are not milliseconds
(judged from the sample spacing: seconds would otherwise count 0 steps).
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from host_tools import BOARDS_DIR, FIRMWARE_DIR
from host_tools.bench import emit
from host_tools.bench import resample as rs
from host_tools.boards import boardspec
from host_tools.fw import vm

RUNNER = Path(__file__).resolve().parent / "mp_steps_runner.py"
DEFAULT_BOARD = "cloudpin_ref"
FALLBACK_ODR = 50.0  # when there is no such board file
LONG_WALK = 1000
MP_HEAP = vm.vm_heap()  # the pin's heap in the VM's words: the firmware alone, no emulator
WORKERS = 2


class BenchError(Exception):
    """Bad input or a failed run, with a message for the user."""


def board_odr(board=DEFAULT_BOARD):
    """The rate the app feeds the step counter on `board`: the sensor runs at
    the tap rate where the board has one, else at accel.odr, as the chip can
    run it (boardspec.motion_rate, what the board layer programs)."""
    try:
        accel = json.loads((BOARDS_DIR / (board + ".json")).read_text())["accel"]
        return float(boardspec.motion_rate(accel))
    except (OSError, ValueError, KeyError, TypeError):
        return FALLBACK_ODR


def read_labels(folder):
    """[{file, expected, kind}] from folder/labels.csv; a listed file that
    does not exist gets an `error` instead of stopping the benchmark."""
    path = Path(folder) / "labels.csv"
    if not Path(folder).is_dir():
        raise BenchError("%s: not a folder" % folder)
    if not path.exists():
        raise BenchError("%s: missing labels.csv (columns file,steps[,kind])" % folder)
    try:
        return _read_label_rows(folder, path)
    except UnicodeDecodeError:
        raise BenchError(rs.not_utf8(path)) from None


def _read_label_rows(folder, path):
    out = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "file" not in reader.fieldnames or "steps" not in reader.fieldnames:
            raise BenchError("%s: header must have file and steps columns" % path)
        for lineno, row in enumerate(reader, 2):
            name = (row.get("file") or "").strip()
            if not name:
                continue
            try:
                expected = int(float(row["steps"]))
            except (TypeError, ValueError):
                raise BenchError("%s:%d: steps must be a number, got %r" % (path, lineno, row["steps"])) from None
            kind = (row.get("kind") or "").strip() or ("walk" if expected > 0 else "none")
            entry = {"file": name, "expected": expected, "kind": kind}
            if not (Path(folder) / name).is_file():
                entry["error"] = "%s:%d: recording %s not found" % (path, lineno, name)
            out.append(entry)
    if not out:
        raise BenchError("%s: no recordings listed" % path)
    return out


def micropython_binary():
    return vm.micropython_binary(BenchError)


def _run_vm(jobs, workdir, workers=WORKERS, on_count=None):
    """jobs: [(odr, binpath, weight)] -> counts, run in `workers` VMs.
    on_count(done, total) hears each file as its VM finishes it."""
    groups = [[] for _ in range(max(1, min(workers, len(jobs))))]
    load = [0] * len(groups)
    for i in sorted(range(len(jobs)), key=lambda i: -jobs[i][2]):
        g = load.index(min(load))
        groups[g].append(i)
        load[g] += jobs[i][2]
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE_DIR))
    procs = []
    for g, idx in enumerate(groups):
        manifest = Path(workdir) / ("manifest%d.txt" % g)
        manifest.write_text("".join("%r %s\n" % (jobs[i][0], jobs[i][1]) for i in idx))
        procs.append(subprocess.Popen([micropython_binary(), "-X", "heapsize=" + MP_HEAP, str(RUNNER), str(manifest)],
                                      cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    counts = [None] * len(jobs)
    lock = threading.Lock()

    def collect(idx, p):
        # One reader per VM: results are reported as they come, and a VM's
        # full pipe never stalls it while another is being read.
        for line in p.stdout:
            if line.startswith("RESULT "):
                _, k, steps = line.split()
                with lock:
                    counts[idx[int(k)]] = int(steps)
                    done = sum(c is not None for c in counts)
                if on_count:
                    on_count(done, len(jobs))

    readers = [threading.Thread(target=collect, args=(idx, p), daemon=True) for idx, p in zip(groups, procs)]
    for t in readers:
        t.start()
    for idx, p, t in zip(groups, procs, readers):
        err = p.stderr.read()
        p.wait()
        t.join()
        if p.returncode != 0 or any(counts[i] is None for i in idx):
            raise BenchError("step counter failed in the MicroPython VM (exit %s):\n%s" % (p.returncode, err[-2000:]))
    return counts


def _ape(f):
    return abs(f["counted"] - f["expected"]) * 100.0 / f["expected"]


def summarise(files):
    """Set summary (and per kind) from per-file results."""

    def block(rows):
        walking = [f for f in rows if f["expected"] > 0]
        still = [f for f in rows if f["expected"] == 0]
        out = {"files": len(rows)}
        if walking:
            apes = [_ape(f) for f in walking]
            out["mape_pct"] = round(sum(apes) / len(apes), 2)
            out["median_ape_pct"] = round(statistics.median(apes), 2)
            out["max_ape_pct"] = round(max(apes), 2)
            out["error_pct"] = {f["file"]: round((f["counted"] - f["expected"]) * 100.0 / f["expected"], 1) for f in walking}
        if still:
            hours = sum(f["hours"] for f in still)
            out["hours"] = round(hours, 2)
            out["false_steps"] = sum(f["counted"] for f in still)
            out["false_steps_per_hour"] = round(out["false_steps"] / hours, 2) if hours else None
        return out

    summary = block(files)
    summary.pop("error_pct", None)
    kinds = {}
    for f in files:
        kinds.setdefault(f["kind"], []).append(f)
    long_walks = [f for f in files if f["kind"] == "walk" and f["expected"] >= LONG_WALK]
    if long_walks and len(long_walks) < len(kinds.get("walk", [])):
        kinds["long"] = long_walks
    summary["by_kind"] = {k: block(v) for k, v in sorted(kinds.items())}
    return summary


def bench_steps(folder, odr=None, board=DEFAULT_BOARD, progress=None, workers=WORKERS):
    """Benchmark one folder; returns {set, odr_hz, files, summary}."""
    say = progress or (lambda m: None)
    odr = float(odr or board_odr(board))
    if not 5 <= odr <= 1000:
        raise BenchError("--odr must be within 5..1000 Hz, got %g" % odr)
    labels = read_labels(folder)
    name = Path(folder).resolve().name  # the set's name, also for `bench steps .`
    t0 = time.time()
    usable, skipped = [], []
    every = max(1, len(labels) // 10)
    with tempfile.TemporaryDirectory(prefix="cloudpin-steps-") as tmp:
        jobs = []
        for i, entry in enumerate(labels):
            if i and i % every == 0:
                say("%s: resampled %d of %d recordings" % (name, i, len(labels)))
            if "error" not in entry:
                try:
                    t, x, y, z = rs.load_resampled(Path(folder) / entry["file"], odr)
                except rs.RecordingError as e:
                    entry["error"] = str(e)
            if "error" in entry:
                say("skipped %s" % entry["error"])
                skipped.append({"file": entry["file"], "error": entry["error"]})
                continue
            entry["hours"] = round(len(t) / odr / 3600.0, 4)
            binpath = Path(tmp) / ("rec%d.bin" % i)
            rs.to_mg_int16(x, y, z).tofile(binpath)
            jobs.append((odr, binpath, len(t)))
            usable.append(entry)
        if not usable:
            raise BenchError("%s: no usable recordings (%d skipped)" % (folder, len(skipped)))
        say("%s: %d recordings resampled to %g Hz in %.1f s; counting in the MicroPython VM..." % (
            name, len(usable), odr, time.time() - t0))
        counts = _run_vm(jobs, tmp, workers, on_count=lambda done, total: (
            say("%s: counted %d of %d recordings" % (name, done, total))
            if done % every == 0 or done == total else None))
    files = [{"file": e["file"], "expected": e["expected"], "counted": c, "kind": e["kind"], "hours": e["hours"]}
             for e, c in zip(usable, counts)]
    say("%s: done in %.1f s" % (name, time.time() - t0))
    out = {"set": name, "odr_hz": odr, "files": files, "summary": summarise(files)}
    if skipped:
        out["skipped"] = skipped
    return out


def add_arguments(parser):
    parser.add_argument("dir", metavar="DIR", help="folder of t_ms,x,y,z CSV recordings (g) with labels.csv")
    parser.add_argument("--odr", type=float, default=None,
                        help="sensor output data rate, Hz (default: the board's, as the app runs it: "
                        "accel.tap_odr, else accel.odr)")
    parser.add_argument("--board", default=DEFAULT_BOARD, help="board whose sensor rate is the default (%(default)s)")


def run(args):
    progress = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        result = bench_steps(args.dir, args.odr, args.board, progress)
    except (BenchError, rs.RecordingError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    s = result["summary"]
    return emit(result, "%s: MAPE %s%% (median %s%%) over walking files, %s false steps/h" % (
        result["set"], s.get("mape_pct"), s.get("median_ape_pct"), s.get("false_steps_per_hour")))

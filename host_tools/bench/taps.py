"""Tap benchmark: run the firmware tap detector (firmware/cloudpin/taps.py)
under the MicroPython unix port on labelled recordings and score it.

Input: one or more folders of CSV recordings `t_ms,x,y,z` (g). A folder with
`taps.csv` (`file,t_ms`) is a labelled tap set (make one with
`python -m host_tools.bench.tapgen`); a folder without one is taken as real
recordings holding no taps, so everything detected there is a false tap.
With --generate the folders are sources: a tap set is generated from them
into a temporary folder first (see tapgen for the model).

Each recording is resampled to the tap output data rate (band-limited, see
resample.py), clipped to the sensor's range, converted to int16 mg and fed to
the detector in the VM. A detection within 50 ms of a labelled tap finds it
(each label and each detection is used once, nearest first).

Output: JSON on stdout, per file {file, taps_ms, expected_taps_ms, hours}
and a summary: recall, precision, mean/max timing error (ms) and false taps
per hour over the files without labelled taps. Progress goes to stderr. An
unreadable recording does not stop the run: it is listed under `skipped`
with the reason, left out of the summary, and the exit status is 1.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from host_tools import BOARDS_DIR, FIRMWARE_DIR
from host_tools.bench import emit
from host_tools.bench import resample as rs
from host_tools.bench import tapboard
from host_tools.bench import tapgen
from host_tools.bench import tapmodel
from host_tools.bench import tapsplit
from host_tools.fw import vm

MATCH_MS = 50.0
# a false tap is put down to a transient up to this long after its time (a
# bag's knocks come up to 120 ms after the step, tapmodel.bag_step_waveform)
DISTRACTOR_AFTER_MS = 150.0
RUNNER = Path(__file__).resolve().parent / "mp_taps_runner.py"
MP_HEAP = vm.vm_heap()  # the pin's heap in the VM's words: the firmware alone, no emulator
DEFAULT_BOARD = "cloudpin_ref"


class BenchError(Exception):
    """Bad input or a failed run, with a message for the user."""


def load_board(board=DEFAULT_BOARD):
    try:
        return json.loads((BOARDS_DIR / (board + ".json")).read_text())
    except (OSError, ValueError) as e:
        raise BenchError("board %s: %s" % (board, e)) from None


def board_defaults(board=DEFAULT_BOARD):
    """(tap_odr, range_g) from a board definition; 400 Hz and 4 g if absent."""
    try:
        accel = json.loads((BOARDS_DIR / (board + ".json")).read_text())["accel"]
        return int(accel.get("tap_odr", 400)), float(accel.get("range_g", 4))
    except (OSError, ValueError, KeyError, TypeError):
        return 400, 4.0


def micropython_binary():
    return vm.micropython_binary(BenchError)


def read_tap_labels(folder, names):
    """{file: [t_ms, ...]} from folder/taps.csv, or None when there is none."""
    taps = read_taps(folder, names)
    return None if taps is None else {n: [t for t, _ in v] for n, v in taps.items()}


def read_taps(folder, names):
    """{file: [(t_ms, tau_ms or None), ...]} sorted by time, from folder/taps.csv
    (tau_ms: the touch's contact duration, when the set was made by tapgen),
    or None when there is no taps.csv."""
    path = Path(folder) / "taps.csv"
    if not path.exists():
        return None
    labels = {n: [] for n in names}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "t_ms"} <= set(reader.fieldnames):
            raise BenchError("%s: header must have file,t_ms" % path)
        for lineno, row in enumerate(reader, 2):
            if row["file"] not in labels:
                raise BenchError("%s:%d: no recording named %r in %s" % (path, lineno, row["file"], folder))
            try:
                tau = float(row["tau_ms"]) if row.get("tau_ms") not in (None, "") else None
                labels[row["file"]].append((float(row["t_ms"]), tau))
            except (TypeError, ValueError):
                raise BenchError("%s:%d: t_ms %r is not a number" % (path, lineno, row["t_ms"])) from None
    for v in labels.values():
        v.sort()
    return labels


def read_distractors(folder):
    """{file: [(t_ms, kind)]} from folder/distractors.csv (tapgen --distractors), or {}."""
    path = Path(folder) / "distractors.csv"
    out = {}
    if path.exists():
        with path.open(newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                out.setdefault(row["file"], []).append((float(row["t_ms"]), row["kind"]))
    return out


def read_positions(folder):
    """{file: position} from folder/labels.csv (the source's: wrist, neckpouch,
    backpocket...), or {} without one."""
    path = Path(folder) / "labels.csv"
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["file"]: row.get("position") or "" for row in csv.DictReader(f) if row.get("file")}


def run_detector(samples_mg, odr, params=None, workdir=None, counts=None, seams=None):
    """Feed int16 mg samples (interleaved x, y, z) to the firmware detector in
    the MicroPython VM; returns [(t_ms from the first sample, strength_mg)].
    counts: a dict to receive the detector's `suspects`, `cancels` and `contexts`.
    seams: sample indices where another recording begins (one detector for
    them all, reset() there as after a FIFO overrun: a pin's day); counts then
    gets `seams`, the counts so far at each, [(sample, suspects, cancels, contexts)]."""
    fd, binpath = tempfile.mkstemp(suffix=".bin", dir=workdir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(samples_mg.astype("<i2").tobytes())
        cmd = [micropython_binary(), "-X", "heapsize=" + MP_HEAP, str(RUNNER), binpath, str(int(odr))]
        if params or seams:
            cmd.append(json.dumps(params or {}))
        if seams:
            cmd.append(",".join(str(int(k)) for k in seams))
        env = dict(os.environ, MICROPYPATH=str(FIRMWARE_DIR))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    finally:
        os.unlink(binpath)
    taps, done, at_seams = [], False, []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["TAP"]:
            taps.append((float(parts[1]), int(parts[2])))
        elif parts[:1] == ["SEAM"]:
            at_seams.append(tuple(int(a) for a in parts[1:5]))
        elif parts[:1] == ["DONE"]:
            done = int(parts[1]) == len(samples_mg) // 3
            if counts is not None:
                counts.update(suspects=int(parts[3]), cancels=int(parts[4]), contexts=int(parts[5]))
                if seams:
                    counts["seams"] = at_seams
    if proc.returncode != 0 or not done:
        raise BenchError("tap detector failed under MicroPython (exit %d):\n%s%s" % (
            proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return taps


def match(detected, expected, window_ms=MATCH_MS):
    """Pairs (detected_ms, expected_ms), nearest first, each used once."""
    pairs = sorted((abs(d - e), d, e) for d in detected for e in expected if abs(d - e) <= window_ms)
    used_d, used_e, out = set(), set(), []
    for _, d, e in pairs:
        if d not in used_d and e not in used_e:
            used_d.add(d)
            used_e.add(e)
            out.append((d, e))
    return out


SOFTWARE = "software"
BOARD = "board"
DOZE = "doze"
DETECTORS = (SOFTWARE, BOARD, DOZE)


def bench_folders(folders, odr=None, range_g=None, params=None, progress=None, detector=SOFTWARE, day=False):
    """Score the detector on folders of recordings; returns the JSON-able result.
    detector: SOFTWARE (TapDetector.feed on every sample, in the VM), BOARD (the
    reference board end to end: its LIS3DH emulated, FIFO bursts, the motion
    service: tapboard.py; params do not apply) or DOZE (the same with the
    service's own loop, which dozes when still and wakes on the click).
    day: the recordings are one pin's day, one after another (the suite's
    generated windows): the software detector runs once over them all,
    reset() at each new recording as after a FIFO overrun, so what it keeps
    all day (the impulse log, the rattle context) carries across; otherwise
    each recording gets a fresh detector (unrelated recordings). The board
    paths always start fresh per recording."""
    d_odr, d_range = board_defaults()
    odr = int(odr or d_odr)
    range_g = float(range_g or d_range)
    if odr < 100:
        raise BenchError("--odr %d Hz is too low for taps (a tap is a few ms long; use 400-500 Hz)" % odr)
    folders = [Path(f) for f in folders]
    multi = len(folders) > 1
    board = load_board() if detector in (BOARD, DOZE) else None
    if board is not None and int(board["accel"].get("tap_odr", 0)) != odr:
        raise BenchError("the board path runs %s's LIS3DH at its tap rate, %s Hz, not --odr %d" % (
            DEFAULT_BOARD, board["accel"].get("tap_odr"), odr))
    files_out = []
    skipped = []
    days = []  # day: (file entry, its first sample's time, int16 mg samples) for one run at the end
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix="cloudpin-taps-") as work:
        for folder in folders:
            try:
                paths = tapgen.recordings(folder)
            except rs.RecordingError as e:
                raise BenchError(str(e)) from None
            labels = read_taps(folder, [p.name for p in paths])
            distractors = read_distractors(folder)
            positions = read_positions(folder)
            for path in paths:
                if progress:
                    progress("taps: %s" % path)
                name = (folder.name + "/" + path.name) if multi else path.name
                try:
                    t, x, y, z = rs.load_resampled(path, odr)
                except rs.RecordingError as e:
                    if progress:
                        progress("skipped %s" % e)
                    skipped.append({"file": name, "error": str(e)})
                    continue
                # the sensor saturates at its full scale
                clipped = [np.clip(a, -range_g, range_g) for a in (x, y, z)]
                stats = None
                if board is not None:
                    stats = {}
                    try:
                        found = tapboard.run_board(np.column_stack(clipped), odr, board, doze=detector == DOZE,
                                                   stats=stats)
                    except ValueError as e:
                        raise BenchError(str(e)) from None
                elif day:
                    days.append((len(files_out), t[0], rs.to_mg_int16(*clipped)))
                    found = []
                else:
                    # the sensor's full scale, as the motion service tells the detector
                    stats = {}
                    found = run_detector(rs.to_mg_int16(*clipped), odr,
                                         dict({"clip_mg": int(range_g * 980)}, **(params or {})), work, stats)
                taps_ms = [round(t[0] + ms, 1) for ms, _ in found]
                files_out.append({
                    "file": name,
                    "taps_ms": taps_ms,
                    "strengths_mg": [mg for _, mg in found],
                    "expected_taps_ms": None if labels is None else [t for t, _ in labels[path.name]],
                    "hours": round(len(t) / odr / 3600.0, 5),
                })
                if labels is not None and any(tau is not None for _, tau in labels[path.name]):
                    files_out[-1]["expected_tau_ms"] = [tau for _, tau in labels[path.name]]
                if path.name in distractors:
                    files_out[-1]["distractors"] = distractors[path.name]
                if positions.get(path.name):
                    files_out[-1]["position"] = positions[path.name]
                if stats:
                    files_out[-1]["motion" if board is not None else "detector"] = stats
        if days:
            _run_day(days, files_out, odr, dict({"clip_mg": int(range_g * 980)}, **(params or {})), work)
    if not files_out:
        raise BenchError("no usable recordings (%d skipped)" % len(skipped))
    result = {"odr_hz": odr, "range_g": range_g, "match_ms": MATCH_MS, "detector": detector,
              "params": (params or {}) if detector == SOFTWARE else {}, "files": files_out, "summary": summarise(files_out)}
    if skipped:
        result["skipped"] = skipped
    result["summary"]["seconds"] = round(time.time() - t_start, 1)
    return result


def _run_day(days, files_out, odr, params, work):
    """One software detector over the recordings of `days` one after another
    (bench_folders' day): each file entry gets the taps that peaked within
    its samples, timed as a fresh run would time them, and the detector's
    counts over its samples."""
    starts = [0]
    for _, _, mg in days:
        starts.append(starts[-1] + len(mg) // 3)
    counts = {}
    found = run_detector(np.concatenate([mg for _, _, mg in days]), odr, params, work, counts, seams=starts[1:-1])
    # the counts so far at each seam and at the end
    cum = [(0, 0, 0)] + [c[1:] for c in counts.get("seams", [])] + [
        (counts["suspects"], counts["cancels"], counts["contexts"])]
    for k, (i, _, _) in enumerate(days):
        files_out[i]["taps_ms"] = []
        files_out[i]["strengths_mg"] = []
        files_out[i]["detector"] = {key: cum[k + 1][j] - cum[k][j] for j, key in
                                    enumerate(("suspects", "cancels", "contexts"))}
    for ms, mg in found:
        # the runner stamps sample n at (n * 1000 + odr / 2) // odr ms: n is
        # recoverable while a period is over a ms
        n = int(round(ms * odr / 1000.0))
        k = int(np.searchsorted(starts, n, side="right")) - 1
        i, t0, _ = days[k]
        local = ((n - starts[k]) * 1000 + (odr >> 1)) // odr
        files_out[i]["taps_ms"].append(round(t0 + local, 1))
        files_out[i]["strengths_mg"].append(mg)


def _errors(errs):
    """Timing error statistics (ms) of matched taps: detected minus labelled."""
    if not errs:
        return {"timing_error_ms_mean": None, "timing_error_ms_p95": None, "timing_error_ms_max": None}
    a = np.abs(np.asarray(errs))
    return {"timing_error_ms_mean": round(float(a.mean()), 2), "timing_error_ms_p95": round(float(np.percentile(a, 95)), 2),
            "timing_error_ms_max": round(float(a.max()), 2), "timing_bias_ms": round(float(np.mean(errs)), 2)}


def summarise(files):
    labelled = matched = detected = 0
    errors = []
    false_free, hours_free, hours = 0, 0.0, 0.0
    suspects_free = cancels_free = contexts_free = 0
    kinds = {}
    bands = {}
    places = {}
    for f in files:
        expected = f["expected_taps_ms"] or []
        hours += f["hours"]
        if not expected:
            false_free += len(f["taps_ms"])
            hours_free += f["hours"]
            counts = f.get("detector") or f.get("motion") or {}
            suspects_free += counts.get("suspects", 0)
            cancels_free += counts.get("cancels", 0)
            contexts_free += counts.get("contexts", 0)
        if f["expected_taps_ms"] is None:
            continue
        pairs = match(f["taps_ms"], expected)
        labelled += len(expected)
        detected += len(f["taps_ms"])
        matched += len(pairs)
        errors += [d - e for d, e in pairs]
        f["found"] = len(pairs)
        if expected and f.get("position"):
            pl = places.setdefault(f["position"], [0, 0])
            pl[0] += len(expected)
            pl[1] += len(pairs)
        if f.get("expected_tau_ms"):
            found_at = {e: d for d, e in pairs}
            for e, tau in zip(expected, f["expected_tau_ms"]):
                b = bands.setdefault(tapmodel.band_of(tau), {"labelled": 0, "found": 0, "errors": []})
                b["labelled"] += 1
                if e in found_at:
                    b["found"] += 1
                    b["errors"].append(found_at[e] - e)
        unmatched = set(f["taps_ms"]) - {d for d, _ in pairs}
        for t_d, kind in f.get("distractors", ()):
            k = kinds.setdefault(kind, {"events": 0, "false_taps": 0})
            k["events"] += 1
            hit = [d for d in unmatched if -MATCH_MS <= d - t_d <= DISTRACTOR_AFTER_MS]
            k["false_taps"] += len(hit)
            unmatched -= set(hit)
    s = {
        "files": len(files),
        "hours": round(hours, 3),
        "labelled_taps": labelled,
        "detected_taps": detected,
        "found_taps": matched,
        "recall": round(matched / labelled, 4) if labelled else None,
        "precision": round(matched / detected, 4) if detected else None,
    }
    s.update(_errors(errors))
    s.update({
        "hours_without_taps": round(hours_free, 3),
        "false_taps_without_taps": false_free,
        "false_taps_per_hour": round(false_free / hours_free, 3) if hours_free else None,
        # candidates that waited for their company there: each starts the radio (meet.py)
        "suspects_per_hour": round(suspects_free / hours_free, 3) if hours_free else None,
        # ...of which the detector cancelled (the radio off again: a cancelled start, docs/power.md)
        "cancels_per_hour": round(cancels_free / hours_free, 3) if hours_free else None,
        # candidates the rattle context dropped (TapDetector._context): no radio start
        "contexts_per_hour": round(contexts_free / hours_free, 3) if hours_free else None,
    })
    if bands:
        s["by_contact_ms"] = {}
        for name in sorted(bands, key=lambda n: float(n.split("-")[0]) if n[0].isdigit() else 1e9):
            b = bands[name]
            s["by_contact_ms"][name] = dict({"labelled": b["labelled"], "found": b["found"],
                                             "recall": round(b["found"] / b["labelled"], 4)}, **_errors(b["errors"]))
    if places:
        # where the recording under the touches was worn: a pin is touched
        # on a lanyard, a clip or in the hand, never in a trouser pocket
        s["by_position"] = {k: {"labelled": v[0], "found": v[1], "recall": round(v[1] / v[0], 4)}
                            for k, v in sorted(places.items())}
    if kinds:
        s["distractors"] = kinds
    motion = [f["motion"] for f in files if "motion" in f]
    if motion:  # the board paths: the motion service's counters, summed
        s["motion"] = {k: sum(m[k] for m in motion) for k in motion[0]}
    return s


def bench_taps(folder, odr=None, range_g=None, params=None, progress=None, detector=SOFTWARE):
    """Python API for one folder (`cloudpin bench taps DIR`)."""
    return bench_folders([folder], odr, range_g, params, progress, detector)


SUITE_SEEDS = 4  # generator seeds per split in the suite: ~250 touches each on the held-out recordings


def bench_suite(data_dirs, odr=None, range_g=None, split=tapsplit.HELDOUT, seeds=SUITE_SEEDS, max_seconds=120.0,
                params=None, progress=None, detectors=DETECTORS):
    """What `bench all` and `bench taps --suite` report, on one split of
    `data_dirs` (tapsplit: report HELDOUT, tune on TUNE):
    - touched: touches laid over the split's recordings with the day's
      transients between them (tapgen.TOUCHED_MIX: no bag rattle, a pin in a
      bag is not touched), `seeds` seeds of the split: recall, precision,
      timing, and recall per contact duration;
    - untouched: the same recordings with the transients and no touches:
      false taps per hour and per kind of transient;
    - real: the split's whole recordings as they are: false taps per hour;
    - walking: the touched set's touches with heel strikes all the time,
      next to touches too (tapgen walking=True): what the veto's company
      does to a touch while the wearer walks (the software detector only).
    Each generated set is one pin's day for the software detector: its
    windows one after another through one detector (bench_folders' day), as
    a pin's detector runs all day; the board paths run each window afresh.
    Each for the software detector; with BOARD or DOZE in `detectors` the
    same sets through the reference board end to end too (under "board" and
    "doze")."""
    d_odr, _ = board_defaults()
    odr = int(odr or d_odr)
    first = tapsplit.seeds(split).start
    touched, untouched, walking, gen = [], [], [], []
    boards = {d: {"touched": [], "untouched": []} for d in (BOARD, DOZE) if d in detectors}
    boards_real = {}
    with tempfile.TemporaryDirectory(prefix="cloudpin-tapset-") as tmp:
        for i in range(seeds):
            for kind, out in (("touched", touched), ("untouched", untouched)):
                folder = Path(tmp) / ("%s-%d" % (kind, first + i))
                g = tapgen.generate(data_dirs, folder, odr=odr, seed=first + i, max_seconds=max_seconds,
                                    progress=progress, split=split, taps=kind == "touched",
                                    mix=tapgen.TOUCHED_MIX if kind == "touched" else tapgen.UNTOUCHED_MIX)
                gen.append(dict(g, set=kind, seed=first + i))
                out += bench_folders([folder], odr, range_g, params, progress, day=True)["files"]
                for d, sets in boards.items():
                    sets[kind] += bench_folders([folder], odr, range_g, None, progress, detector=d)["files"]
            folder = Path(tmp) / ("walking-%d" % (first + i))
            g = tapgen.generate(data_dirs, folder, odr=odr, seed=first + i, max_seconds=max_seconds,
                                progress=progress, split=split, mix=tapgen.TOUCHED_MIX, walking=True)
            gen.append(dict(g, set="walking", seed=first + i))
            walking += bench_folders([folder], odr, range_g, params, progress, day=True)["files"]
        with tempfile.TemporaryDirectory(prefix="cloudpin-tapreal-") as real_dir:
            # the split's real recordings whole, linked (not copied) into one folder
            for src in data_dirs:
                for path in tapgen.recordings(src):
                    if tapsplit.in_split(path.name, split):
                        target = Path(real_dir) / path.name
                        if not target.exists():
                            os.symlink(path.resolve(), target)
            real = bench_folders([real_dir], odr, range_g, params, progress)
            for d in boards:
                boards_real[d] = bench_folders([real_dir], odr, range_g, None, progress, detector=d)
    result = {
        "odr_hz": odr,
        "split": split,
        "seeds": [first, first + seeds - 1],
        "touched_mix_per_min": tapgen.TOUCHED_MIX,
        "untouched_mix_per_min": tapgen.UNTOUCHED_MIX,
        "generator": gen,
        "touched": summarise(touched),
        "untouched": summarise(untouched),
        "real": real["summary"],
        "walking": summarise(walking),
        "real_false_taps": [{"file": f["file"], "taps_ms": f["taps_ms"]} for f in real["files"] if f["taps_ms"]],
    }
    for d, sets in boards.items():
        result[d] = {"board": DEFAULT_BOARD, "touched": summarise(sets["touched"]),
                     "untouched": summarise(sets["untouched"]), "real": boards_real[d]["summary"]}
    return result


def add_arguments(parser):
    parser.add_argument("dirs", nargs="+", metavar="DIR",
                        help="folder(s) of CSV recordings; with taps.csv = labelled taps, without = no taps")
    parser.add_argument("--odr", type=int, default=None,
                        help="sensor output data rate for taps, Hz (default: the board's tap_odr, %d)" % board_defaults()[0])
    parser.add_argument("--range-g", type=float, default=None,
                        help="sensor full scale, g; samples clip there (default: the board's, %g)" % board_defaults()[1])
    parser.add_argument("--generate", action="store_true",
                        help="treat DIRs as sources: generate a tap set from them first (tapgen), then bench it")
    parser.add_argument("--seed", type=int, default=None,
                        help="generator seed (with --generate; default: the split's first, else 1)")
    parser.add_argument("--split", choices=tapsplit.SPLITS, default=None,
                        help="with --generate or --suite: only this split's recordings and seeds (tapsplit.py); "
                             "tune constants on `tune`, report `heldout` (the --suite default)")
    parser.add_argument("--suite", action="store_true",
                        help="treat DIRs as sources and run what `bench all` reports: touches, untouched "
                             "transients, touches while walking (heel strikes all the time) and the real "
                             "recordings of one split, with recall per contact duration")
    parser.add_argument("--seeds", type=int, default=SUITE_SEEDS, help="with --suite: seeds per set (default %(default)s)")
    parser.add_argument("--detector", choices=DETECTORS, default=None,
                        help="software: the firmware detector on every sample (in the VM); board: the reference "
                             "board end to end (its LIS3DH emulated, FIFO bursts, the motion service), ~30x real "
                             "time; doze: the same with the service's own loop, which dozes on a still pin and wakes "
                             "on the click engine. Default: software; --suite runs all three unless --detector is given")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="with --suite: also store the result as the `taps` entry of this JSON file "
                             "(e.g. bench/results.json), leaving its other entries alone")
    parser.add_argument("--params", default=None, help="detector keyword arguments as JSON, e.g. '{\"threshold_mg\": 1000}'")


def _suite_line(result, name, part):
    t, u, r = part["touched"], part["untouched"], part["real"]
    bands = " ".join("%s %s" % (k, v["recall"]) for k, v in (t.get("by_contact_ms") or {}).items())
    walk = "; recall walking %s" % part["walking"]["recall"] if "walking" in part else ""
    return ("taps %s (%s): recall %s precision %s timing p95/max %s/%s ms; false taps/h %s untouched "
            "(modelled transients), %s real over %s h; recall by contact: %s%s" % (
                name, result["split"], t["recall"], t["precision"], t["timing_error_ms_p95"],
                t["timing_error_ms_max"], u["false_taps_per_hour"], r["false_taps_per_hour"],
                r["hours_without_taps"], bands, walk))


def _store(path, result):
    path = Path(path)
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as e:
        raise BenchError("%s: not JSON (%s)" % (path, e)) from None
    data["taps"] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def run(args):
    progress = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        params = json.loads(args.params) if args.params else None
        if params is not None and not isinstance(params, dict):
            raise BenchError("--params must be a JSON object")
        if args.suite:
            result = bench_suite(args.dirs, args.odr, args.range_g, split=args.split or tapsplit.HELDOUT,
                                 seeds=args.seeds, params=params, progress=progress,
                                 detectors=(args.detector,) if args.detector else DETECTORS)
            if args.out:
                _store(args.out, result)
            return emit(result, "; ".join(_suite_line(result, name, part) for name, part in (
                ("software", result), ("board", result.get("board")), ("doze", result.get("doze"))) if part))
        if args.generate:
            seed = args.seed if args.seed is not None else (tapsplit.seeds(args.split).start if args.split else 1)
            with tempfile.TemporaryDirectory(prefix="cloudpin-tapset-") as tmp:
                tapgen.generate(args.dirs, tmp, odr=args.odr or board_defaults()[0], seed=seed, progress=progress,
                                split=args.split)
                result = bench_folders([tmp], args.odr, args.range_g, params, progress, detector=args.detector or SOFTWARE)
        else:
            result = bench_folders(args.dirs, args.odr, args.range_g, params, progress, detector=args.detector or SOFTWARE)
    except (BenchError, rs.RecordingError, tapsplit.SplitError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except ValueError as e:  # bad --params JSON
        print("error: --params: %s" % e, file=sys.stderr)
        return 2
    s = result["summary"]
    return emit(result, "taps: recall %s precision %s timing %s/%s ms, %s false taps/h over %s h without taps" % (
        s["recall"], s["precision"], s["timing_error_ms_mean"], s["timing_error_ms_max"],
        s["false_taps_per_hour"], s["hours_without_taps"]))


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m host_tools.bench.taps", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

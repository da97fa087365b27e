"""Why the tap detector missed each touch it missed (#9, #13: recall).

Runs the firmware detector (firmware/cloudpin/taps.py) in CPython on tap
sets (tapgen: labelled touches and the day's transients) and follows every
event it measures to its end: a candidate, or the rule that dropped it.
Each labelled touch then gets one verdict: `found`, or the rule that
dropped the event nearest it (within 50 ms), or `none` (nothing crossed
the threshold, or the event started under another's dead time):

  weak        the event's peak stayed under threshold_mg
  wide        its energy width was over width_ms (sat_width_ms when clipped)
  long        it stayed above its end level longer than max_event_ms
  not_quiet   the 8 ms before it were not quiet (quiet_pct)
  ring        it rang over ring_pct % (sat_ring_pct) in latency_ms after
  refractory  it started within refractory_ms of a tap (dead time)
  veto_pre, veto_after, veto_train, veto_crowded, veto_echo   the rattle
              veto's rules (TapDetector._rattle and _echo: the same step's
              knocks before or after it, the steps around it, a full
              impulse log, a one-sample candidate's later impulse)
  veto_context  the rattle context (TapDetector._context: ctx_n candidates
              vetoed in the ctx_ms before it)

with the touch's drawn parameters (contact band, dv, mount, direction),
the recording's kind and position (labels.csv of the sources), and the
candidate's measures (peak mg, width, ring, quiet) where it had one.

Usage: python -m host_tools.bench.tapwhy SRC_DIR [SRC_DIR ...] [--split tune]
           [--seeds 1-2] [--sets touched,walking,untouched] [--params JSON]
           [--keep DIR] [--out FILE.csv] [--fresh]
The sets are made with tapgen as `bench taps --suite` makes them (the same
draws for the same split and seed), and each is one pin's day as the suite
runs it (its recordings through one detector; --fresh: one per recording). --keep DIR keeps them there and reuses
them on the next run (a sweep of --params over the same draws). Output: JSON
on stdout (per set: touches, found, recall by band, misses by verdict, and
false taps over the untouched set by kind of transient); --out writes one row
per labelled touch and per false tap.
"""
import argparse
import csv
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from host_tools import firmware_on_path
from host_tools.bench import resample as rs
from host_tools.bench import tapgen
from host_tools.bench import tapmodel
from host_tools.bench import tapsplit
from host_tools.bench.taps import DISTRACTOR_AFTER_MS, MATCH_MS, match

SETS = tapgen.SETS
VETOES = {1: "veto_pre", 2: "veto_after", 3: "veto_train", 4: "veto_crowded", 5: "veto_echo", 6: "veto_context"}


def _detector_class():
    firmware_on_path()
    from cloudpin import taps as fw

    IDLE, EVENT, CHECK, BUSY = fw._IDLE, fw._EVENT, fw._CHECK, fw._BUSY
    Base = fw.TapDetector

    class Following(Base):
        """The firmware detector, noting how each event it measured ended:
        `events` [(peak t_ms, verdict, measures)]. Read around feed() only:
        the firmware's logic is untouched."""

        def __init__(self, *a, **k):
            self.events = []
            self.spans = []  # (from t_ms, to t_ms, what began it): the detector waited for quiet
            self._busy = None
            self._called = None
            self._verdicts = {}  # suspected candidate's peak counter -> its row
            Base.__init__(self, *a, **k)

        def _row(self, verdict):
            pe = self._peak_e or 1
            return [self._peak_t, verdict, {
                "pk_mg": fw.isqrt(self._peak_e), "width": round(self._esum * 256.0 / pe, 2),
                "ring_r": round((self._ring / pe) ** 0.5, 3), "pre_r": round((self._pre / pe) ** 0.5, 3),
                "flat": int(self._flat), "n": self._n}]

        def _judge(self, p, mg):
            why = Base._judge(self, p, mg)
            self._called = (p, why)
            row = self._verdicts.get(p)
            if row is not None:  # a suspected candidate's verdict
                row[1] = VETOES[why] if why else "found"
            return why

        def feed(self, x, y, z, t_ms):
            s0, dead0, sus0 = self._state, self._dead, self.suspects
            prev = self._row("lobe") if s0 == CHECK and self._lowwait else None
            self._called = None
            found = Base.feed(self, x, y, z, t_ms)
            s1 = self._state
            row = None
            if s0 == EVENT and s1 != EVENT:
                if s1 == BUSY:
                    pe = self._peak_e
                    wide = (self._esum << 2) > (pe >> fw._WSHIFT) * (self._sat_q if self._flat else self._width_q)
                    row = self._row("long" if self._n > self._max_event else "wide" if wide else "not_quiet")
                elif s1 == IDLE:
                    row = self._row("weak")
                # CHECK: judged after latency_ms
            elif s0 == CHECK and s1 != CHECK:
                if s1 == EVENT and prev is not None:
                    row = prev  # a bigger pulse came at once: this was its leading lobe
                elif self.suspects > sus0 or (found and not self._train):
                    row = self._row("found" if found else "suspect")
                    self._verdicts[self._peak_c] = row
                elif self._called is not None and self._called[0] == self._peak_c and self._called[1]:
                    row = self._row(VETOES[self._called[1]])  # the company before it
                else:
                    row = self._row("ring")
            elif s0 == IDLE and s1 == BUSY and dead0 > 0:
                row = [t_ms, "refractory", {}]
            if row is not None:
                self.events.append(row)
            if s1 == BUSY and s0 != BUSY:
                self._busy = (t_ms, row[1] if row else "busy")
            elif s0 == BUSY and s1 != BUSY and self._busy:
                self.spans.append((self._busy[0], t_ms, self._busy[1]))
            return found

    return Following


def _labels(folder):
    rows = {}
    path = Path(folder) / "taps.csv"
    if path.exists():
        with path.open(newline="") as f:
            for r in csv.DictReader(f):
                rows.setdefault(r["file"], []).append(r)
    dis = {}
    path = Path(folder) / "distractors.csv"
    if path.exists():
        with path.open(newline="") as f:
            for r in csv.DictReader(f):
                dis.setdefault(r["file"], []).append((float(r["t_ms"]), r["kind"]))
    return rows, dis


def _sources(sources):
    """{file name: labels.csv row} of the source recordings (kind, position)."""
    out = {}
    for src in sources:
        path = Path(src) / "labels.csv"
        if path.exists():
            with path.open(newline="", encoding="utf-8-sig") as f:
                for r in csv.DictReader(f):
                    out[r["file"]] = r
    return out


def _samples(folder, path, odr, range_g):
    """(t_ms, int mg list x, y, z interleaved) of a recording as the bench
    feeds it, cached beside it (a sweep reads each recording once)."""
    cache = Path(folder) / (".mg-%d-%g" % (odr, range_g)) / (path.name + ".npy")
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        a = np.load(cache)
        return a[0, 0], a[1:].ravel().tolist()
    t, x, y, z = rs.load_resampled(path, odr)
    mg = rs.to_mg_int16(*[np.clip(a, -range_g, range_g) for a in (x, y, z)]).astype(np.int32).reshape(-1, 3)
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, np.vstack([[[int(round(t[0])), 0, 0]], mg]))
    return t[0], mg.ravel().tolist()


def explain_folder(folder, odr=400, range_g=4.0, variants=(None,), source_labels=None, day=False):
    """[(rows, hours)] for each detector keyword set of `variants`: one row
    per labelled touch (its verdict) and per false tap (a detection matching
    no touch: the transient it came from). day: the folder's recordings are
    one pin's day, one detector over them one after another, reset() at each
    as after a FIFO overrun (what `bench taps --suite` does for its sets);
    else a fresh detector per recording."""
    Det = _detector_class()
    touches, dis = _labels(folder)
    source_labels = source_labels or {}
    out = [([], 0.0) for _ in variants]
    dets = [None] * len(variants)
    base = 0  # day: the stream's sample count before this recording
    for path in tapgen.recordings(folder):
        t0, flat = _samples(folder, path, odr, range_g)
        n = len(flat) // 3
        src = source_labels.get(path.name, {})
        labelled = touches.get(path.name, [])
        for v, params in enumerate(variants):
            det = dets[v]
            if det is None or not day:
                det = dets[v] = Det(odr, **dict({"clip_mg": int(range_g * 980)}, **(params or {})))
            else:
                det.reset()
            ev0, sp0 = len(det.events), len(det.spans)
            feed = det.feed
            taps = []
            for i in range(base, base + n):
                j = 3 * (i - base)
                if feed(flat[j], flat[j + 1], flat[j + 2], (i * 1000 + (odr >> 1)) // odr):
                    taps.append(det.tap_ms)
            # times from this recording's first sample, as a fresh detector's
            # (base is a whole number of ms: below)
            t_base = base * 1000 // odr
            taps = [t - t_base + t0 for t in taps]
            rows = out[v][0]
            out[v] = (rows, out[v][1] + n / odr / 3600.0)
            rows += _verdicts(det.events[ev0:], det.spans[sp0:], t0 - t_base, taps, labelled,
                              dis.get(path.name, ()), path.name, src)
        if day:
            # the next recording starts on a whole ms (a sample or two of gap,
            # as an overrun's), so its times are a fresh detector's exactly
            step = odr // math.gcd(1000, odr)
            base = -(-(base + n) // step) * step
    return out


def _verdicts(det_events, det_spans, t0, taps, labelled, dis, name, src):
    out = []
    pairs = match(taps, [float(r["t_ms"]) for r in labelled])
    found = {e for _, e in pairs}
    events = [(e[0] + t0, e[1], e[2]) for e in det_events]
    for r in labelled:
        tc = float(r["t_ms"])
        row = {"file": name, "t_ms": tc, "tau_ms": float(r["tau_ms"]),
               "band": tapmodel.band_of(float(r["tau_ms"])), "dv": float(r["dv"]), "mount": r["mount"],
               "vertical": float(r["vertical"]), "kind": src.get("kind", ""), "position": src.get("position", "")}
        if tc in found:
            row["why"] = "found"
        else:
            near = [e for e in events if abs(e[0] - tc) <= MATCH_MS]
            # the strongest event near the touch is the touch
            best = max(near, key=lambda e: e[2].get("pk_mg", 0)) if near else None
            span = [sp for sp in det_spans if sp[0] + t0 <= tc <= sp[1] + t0]
            row["why"] = best[1] if best else ("busy_" + span[0][2]) if span else "none"
            if row["why"] in ("found", "suspect"):
                row["why"] = "elsewhere"  # a candidate near it matched another touch
            if best:
                row.update(best[2])
                row["dt_ms"] = round(best[0] - tc, 1)
            row["events"] = " ".join("%+.0f:%s" % (e[0] - tc, e[1]) for e in near)
        out.append(row)
    unmatched = set(taps) - {d for d, _ in pairs}
    for d in sorted(unmatched):
        near = [(tc, kind) for tc, kind in dis if -MATCH_MS <= d - tc <= DISTRACTOR_AFTER_MS]
        out.append({"file": name, "t_ms": d, "why": "false_tap",
                    "kind": min(near, key=lambda a: abs(d - a[0]))[1] if near else "walk",
                    "position": src.get("position", "")})
    return out


def summarise(rows, hours):
    touches = [r for r in rows if r["why"] != "false_tap"]
    s = {"touches": len(touches), "found": sum(r["why"] == "found" for r in touches), "hours": round(hours, 3)}
    s["recall"] = round(s["found"] / len(touches), 4) if touches else None
    bands = {}
    for r in touches:
        b = bands.setdefault(r["band"], [0, 0])
        b[0] += 1
        b[1] += r["why"] == "found"
    s["by_band"] = {k: "%d/%d" % (v[1], v[0]) for k, v in sorted(bands.items())}
    why = {}
    for r in touches:
        if r["why"] != "found":
            why[r["why"]] = why.get(r["why"], 0) + 1
    s["missed_by_verdict"] = why
    false = [r for r in rows if r["why"] == "false_tap"]
    kinds = {}
    for r in false:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    s["false_taps"] = len(false)
    s["false_taps_by_kind"] = kinds
    s["false_taps_per_hour"] = round(len(false) / hours, 2) if hours else None
    return s


def run(sources, split, seeds, sets=SETS, variants=(None,), keep=None, odr=400, progress=None, day=True):
    """[{set: summary}] over the seeds for each detector keyword set of
    `variants`, and the rows of each (each with set and seed). day: each
    set's recordings are one pin's day (explain_folder), as the suite runs them."""
    labels = _sources(sources)
    results = [{} for _ in variants]
    rows_all = [[] for _ in variants]
    with tempfile.TemporaryDirectory(prefix="cloudpin-tapwhy-") as tmp:
        base = Path(keep) if keep else Path(tmp)
        for name in sets:
            acc = [([], 0.0) for _ in variants]
            for seed in seeds:
                folder = base / ("%s-%s-%d" % (split, name, seed))
                if not (folder / "taps.csv").exists():
                    tapgen.generate_set(sources, folder, name, seed, split, odr, progress=progress)
                if progress:
                    progress("tapwhy: %s" % folder)
                for v, (r, h) in enumerate(explain_folder(folder, odr, variants=variants, source_labels=labels,
                                                               day=day)):
                    for row in r:
                        row.update(set=name, seed=seed)
                    acc[v] = (acc[v][0] + r, acc[v][1] + h)
            for v, (r, h) in enumerate(acc):
                results[v][name] = summarise(r, h)
                rows_all[v] += r
    return results, rows_all


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.bench.tapwhy", description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", metavar="SRC_DIR", help="folders of real recordings the sets are laid over")
    ap.add_argument("--split", choices=tapsplit.SPLITS, default=tapsplit.TUNE,
                    help="recordings and seeds of this split only (default: %(default)s; tune on it)")
    ap.add_argument("--seeds", default=None, metavar="FIRST-LAST", help="generator seeds (default: the split's first two)")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated, of %s (default: all)" % ", ".join(SETS))
    ap.add_argument("--params", default=None,
                    help="detector keyword arguments as JSON; a list of them runs each on the same draws (a sweep)")
    ap.add_argument("--keep", default=None, metavar="DIR", help="keep the generated sets here, and reuse them")
    ap.add_argument("--out", default=None, metavar="FILE.csv", help="one row per labelled touch and per false tap")
    ap.add_argument("--fresh", action="store_true",
                    help="a fresh detector per recording (before the twelfth session; default: each set one pin's "
                         "day, as `bench taps --suite`)")
    args = ap.parse_args(argv)
    try:
        seeds = tapsplit.parse_seeds(args.split, args.seeds)
        sets = [s for s in args.sets.split(",") if s]
        bad = [s for s in sets if s not in SETS]
        if bad:
            raise tapsplit.SplitError("--sets: unknown set %s (use %s)" % (bad[0], ", ".join(SETS)))
        try:
            params = json.loads(args.params) if args.params else None
        except ValueError as e:
            raise tapsplit.SplitError("--params: %s" % e) from None
        variants = params if isinstance(params, list) else [params]
        if not all(p is None or isinstance(p, dict) for p in variants):
            raise tapsplit.SplitError("--params must be a JSON object or a list of them")
        results, rows = run(args.dirs, args.split, seeds, sets, variants, args.keep,
                            progress=lambda m: print(m, file=sys.stderr), day=not args.fresh)
    except (rs.RecordingError, tapsplit.SplitError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if args.out:
        flat = [dict(r, variant=v) for v, rs_ in enumerate(rows) for r in rs_]
        keys = []
        for r in flat:
            keys += [k for k in r if k not in keys]
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(flat)
    out = results[0] if len(results) == 1 else [dict(r, params=p) for r, p in zip(results, variants)]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-candidate features of the tap detector, for judging a candidate on
several measures at once (#13: keys in a bag).

Runs the firmware detector (firmware/cloudpin/taps.py) in CPython on a
split's generated sets (tapgen: touched, untouched, walking) and logs, for
every candidate that was suspected (passed its shape checks and the company
before it), what the pin knows about it at its verdict: the event's shape,
the impulse log around it, and a few measures from the raw signal the pin
could keep per candidate. Each row is labelled: a touch (within 50 ms of a
labelled one), or the kind of transient it came from (distractors.csv), and
the rattle veto's verdict.

Usage: python -m host_tools.bench.tapfeat SRC_DIR [SRC_DIR ...] --out FILE.csv
           [--split tune] [--seeds 1-2]
"""
import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

from host_tools import firmware_on_path
from host_tools.bench import resample as rs
from host_tools.bench import tapgen
from host_tools.bench import tapsplit

MATCH_MS = 50.0
AFTER_MS = 150.0


def _detector_class():
    firmware_on_path()
    from cloudpin.taps import TapDetector

    class Logging(TapDetector):
        """The firmware detector, noting each suspected candidate's state."""

        def __init__(self, *a, **k):
            self.rows = []
            self._sus = {}
            TapDetector.__init__(self, *a, on_suspect=self._on_suspect, **k)

        def _on_suspect(self, t_ms, on):
            if not on:
                return
            pe = self._peak_e
            self._sus[self._peak_c] = {
                "t_ms": t_ms, "c": self._peak_c, "pe": pe, "pk": int(pe ** 0.5),
                "esum": self._esum, "flat": int(self._flat), "ring": self._ring, "pre": self._pre,
                "peak_n": self._peak_n,
            }

        def _rattle(self, p):
            vetoed = TapDetector._rattle(self, p)
            row = self._sus.pop(p, None)
            if row is not None:
                n = self._nlog
                log = [(self._rel(self._lt[j], p), self._lm[j]) for j in range(n)]
                row["log"] = sorted(log)
                row["vetoed"] = int(vetoed)
                self.rows.append(row)
            return vetoed

    return Logging


def company(row, odr=400):
    """Measures of the impulse log around a candidate (samples relative to its peak)."""
    ms = 1000.0 / odr
    log = row.pop("log")
    own = max([m for d, m in log if -4 <= d <= 4] or [0])
    pk = max(row["pk"], 800)
    f = {"own_mg": own, "sharp": own / row["pk"] if row["pk"] else 0.0}
    before = [(d, m) for d, m in log if d < -4]
    after = [(d, m) for d, m in log if d > 4]
    f["near_before"] = max([m for d, m in before if -60 <= d <= -6] or [0]) / pk
    f["near_before_any"] = max([m for d, m in before if -60 <= d] or [0]) / pk
    f["after_max"] = max([m for d, m in after] or [0]) / pk
    f["after_n"] = len(after)
    for lo_mg in (120, 300):
        ev = [(d, m) for d, m in before if -800 <= d < -60 and m >= lo_mg]
        f["train_n%d" % lo_mg] = len(ev)
    f["train_n20pct"] = len([1 for d, m in before if -800 <= d < -60 and m >= max(300, pk * 0.2)])
    f["train_n10pct"] = len([1 for d, m in before if -800 <= d < -60 and m >= pk * 0.1])
    f["before_sum"] = sum(m for d, m in before if -800 <= d) / pk
    f["before_n"] = len([1 for d, m in before if -800 <= d])
    prev = [d for d, m in before if m >= 300]
    f["last_ms"] = min(2000.0, -max(prev) * ms) if prev else 2000.0
    prev = [d for d, m in before if m >= pk * 0.15]
    f["last15_ms"] = min(2000.0, -max(prev) * ms) if prev else 2000.0
    f["log_full"] = int(len(log) >= 48)
    return f


def raw_measures(row, mg, odr=400):
    """Measures from the samples the detector was fed (n, 3 mg) around the peak."""
    k = row["c"]
    n = len(mg)
    # the impulse: the peak against the few samples before it (the detector's high-pass, near enough)
    h = mg[k] - mg[max(0, k - 10):max(1, k - 3)].mean(axis=0)
    u = h / (np.linalg.norm(h) or 1.0)

    def seg(a, b):  # samples a..b relative to the peak, clipped
        return mg[max(0, k + a):max(0, min(n, k + b))]

    g = seg(-520, -8).mean(axis=0) if k > 20 else mg[:1].mean(axis=0)
    gn = np.linalg.norm(g) or 1.0
    f = {"vert": abs(float(np.dot(u, g / gn)))}
    pre = seg(-60, -8)
    post = seg(4, 80)
    base = pre.mean(axis=0) if len(pre) else g
    # the recoil: the pin's mean acceleration along the touch over 10-200 ms after, against before
    f["recoil"] = float(np.dot(post.mean(axis=0) - base, u)) / row["pk"] if len(post) else 0.0
    # the slow activity over the 2 s before: the magnitude's spread
    s = seg(-800, -20)
    f["slow_sd"] = float(np.linalg.norm(s, axis=1).std()) if len(s) > 10 else 0.0
    # the hip bump / reach: the largest excursion from the 1.3 s mean over 150 ms before
    f["bump_before"] = float(np.abs(seg(-60, -4) - g).max()) / row["pk"] if k > 60 else 0.0
    return f


def label(row, touches, distractors, hours_kind):
    t = row["t_ms"]
    if touches and min(abs(t - x) for x in touches) <= MATCH_MS:
        return "touch"
    near = [(abs(t - tc), kind) for tc, kind in distractors if -MATCH_MS <= t - tc <= AFTER_MS]
    return min(near)[1] if near else "walk"


def run_set(folder, odr, range_g, params, set_name, seed, progress=None):
    Det = _detector_class()
    paths = tapgen.recordings(folder)
    taps = {}
    with open(Path(folder) / "taps.csv", newline="") as f:
        for r in csv.DictReader(f):
            taps.setdefault(r["file"], []).append((float(r["t_ms"]), float(r["tau_ms"])))
    dis = {}
    dpath = Path(folder) / "distractors.csv"
    if dpath.exists():
        with dpath.open(newline="") as f:
            for r in csv.DictReader(f):
                dis.setdefault(r["file"], []).append((float(r["t_ms"]), r["kind"]))
    out = []
    hours = 0.0
    for path in paths:
        if progress:
            progress("tapfeat: %s %s" % (set_name, path.name))
        t, x, y, z = rs.load_resampled(path, odr)
        clipped = [np.clip(a, -range_g, range_g) for a in (x, y, z)]
        flat = rs.to_mg_int16(*clipped).astype(int)
        mg = flat.reshape(-1, 3)
        det = Det(odr, **dict({"clip_mg": int(range_g * 980)}, **(params or {})))
        feed = det.feed
        vals = flat.tolist()
        for i in range(len(mg)):
            j = 3 * i
            feed(vals[j], vals[j + 1], vals[j + 2], (i * 1000 + (odr >> 1)) // odr)
        hours += len(mg) / odr / 3600.0
        tl = taps.get(path.name, [])
        for row in det.rows:
            row["t_ms"] = row["t_ms"] + t[0]
            r = {"set": set_name, "seed": seed, "file": path.name}
            r["kind"] = label(row, [a for a, _ in tl], dis.get(path.name, []), None)
            if r["kind"] == "touch":
                r["tau_ms"] = min(tl, key=lambda a: abs(a[0] - row["t_ms"]))[1]
            r.update(company(row, odr))
            r.update(raw_measures(row, mg, odr))
            for key in ("t_ms", "pk", "esum", "flat", "ring", "pre", "peak_n", "vetoed"):
                r[key] = row[key]
            pe = row["pe"]
            r["width"] = row["esum"] * 256.0 / pe
            r["ring_r"] = (row["ring"] / pe) ** 0.5
            r["pre_r"] = (row["pre"] / pe) ** 0.5
            out.append(r)
    return out, hours


def collect(sources, split=tapsplit.TUNE, seeds=(1, 2), odr=400, range_g=4.0, params=None, progress=None,
            max_seconds=120.0):
    """Rows for every suspected candidate of the split's sets, and the hours
    of each set: ({set: hours}, rows)."""
    rows, hours = [], {}
    with tempfile.TemporaryDirectory(prefix="cloudpin-tapfeat-") as tmp:
        for seed in seeds:
            for set_name in ("touched", "untouched", "walking"):
                folder = Path(tmp) / ("%s-%d" % (set_name, seed))
                tapgen.generate_set(sources, folder, set_name, seed, split, odr, max_seconds)
                r, h = run_set(folder, odr, range_g, params, set_name, seed, progress)
                # the labelled touches, found or not (recall's denominator)
                with open(folder / "taps.csv", newline="") as f:
                    n_touch = sum(1 for _ in csv.DictReader(f))
                hours[(set_name, seed)] = (h, n_touch)
                rows += r
    return hours, rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.bench.tapfeat", description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="folders of real recordings the sets are laid over")
    ap.add_argument("--out", required=True, metavar="FILE.csv",
                    help="one row per suspected candidate; FILE.csv.hours gets each set's hours and touches")
    ap.add_argument("--split", choices=tapsplit.SPLITS, default=tapsplit.TUNE,
                    help="recordings and seeds of this split only (default: %(default)s; tune on it)")
    ap.add_argument("--seeds", default=None, metavar="FIRST-LAST",
                    help="generator seeds of the split (default: its first two)")
    args = ap.parse_args(argv)
    try:
        seeds = tapsplit.parse_seeds(args.split, args.seeds)
        hours, rows = collect(args.dirs, args.split, seeds, progress=lambda m: print(m, file=sys.stderr))
    except (rs.RecordingError, tapsplit.SplitError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    keys = sorted({k for r in rows for k in r})
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    with open(args.out + ".hours", "w") as f:
        for (s, seed), (h, n) in sorted(hours.items()):
            f.write("%s,%d,%.5f,%d\n" % (s, seed, h, n))
    print("%d candidates" % len(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

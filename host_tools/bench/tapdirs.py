"""Which way a recording's sharpest transients point against gravity.

The tap detector may judge a candidate by the direction of its impulse
against gravity (docs/taps.md, "Direction against gravity"), so the bench's
models must draw each event's direction from what real ones do. This
measures it on real recordings: gravity is the recording's 1 s moving
average, a transient is a local maximum of the second difference over +-1
sample (the detector's own impulse measure, as sharp as the recording's rate
allows) among the top `top` share of them, and its vertical fraction is
|d . g| / (|d| |g|): 1 along gravity, 0 across it (isotropic directions give
a uniform 0-1).

Usage: python -m host_tools.bench.tapdirs DIR [DIR ...] [--split tune]
           [--positions bag,backpocket,frontpocket] [--top 0.02]

Prints per recording (position from labels.csv) the deciles of the vertical
fraction, and the pooled deciles over the recordings whose position is in
--positions: tapmodel.BAG_VERTICAL_DECILES is that line on the tuning split.
"""
import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from host_tools.bench import resample as rs
from host_tools.bench import tapsplit

DECILES = np.linspace(0.0, 1.0, 11)
BAG_POSITIONS = ("bag", "backpocket", "frontpocket")


def gravity(xyz, rate, window_s=1.0):
    """The recording's slow part (n, 3): a moving average over window_s."""
    k = max(1, int(round(window_s * rate)))
    ker = np.ones(k) / k
    # edges: the mean of what is there, not zeros
    norm = np.convolve(np.ones(len(xyz)), ker, "same")
    return np.column_stack([np.convolve(xyz[:, i], ker, "same") / norm for i in range(3)])


def vertical_fractions(xyz, rate, top=0.02):
    """Vertical fraction of each of the sharpest transients of an (n, 3)
    recording in g at `rate` Hz (see the module's doc)."""
    if len(xyz) < 3:
        return np.zeros(0)
    g = gravity(xyz, rate)[1:-1]
    d = 2 * xyz[1:-1] - xyz[:-2] - xyz[2:]
    m = np.linalg.norm(d, axis=1)
    gn = np.linalg.norm(g, axis=1)
    peak = np.zeros(len(m), dtype=bool)
    peak[1:-1] = (m[1:-1] >= m[:-2]) & (m[1:-1] >= m[2:])
    keep = peak & (m >= np.quantile(m, 1.0 - top)) & (m > 0) & (gn > 0.3)
    return np.abs(np.sum(d[keep] * g[keep], axis=1)) / (m[keep] * gn[keep])


def measure(dirs, split=tapsplit.TUNE, positions=BAG_POSITIONS, top=0.02):
    """[(file, position, n, deciles)] per recording of `split`, and the pooled
    deciles of those at `positions` (None when there are none)."""
    rows, pooled = [], []
    for src in dirs:
        if not Path(src).is_dir():
            raise rs.RecordingError("%s: not a folder" % src)
        labels = {}
        path = Path(src) / "labels.csv"
        if path.exists():
            with path.open(newline="", encoding="utf-8-sig") as f:
                labels = {r["file"]: r for r in csv.DictReader(f)}
        for rec in sorted(Path(src).glob("*.csv")):
            if rec.name in ("labels.csv", "taps.csv", "distractors.csv"):
                continue
            if split is not None and not tapsplit.in_split(rec.name, split):
                continue
            t, x, y, z = rs.load_csv(rec)
            rate = rs.source_rate(t)
            vf = vertical_fractions(np.column_stack([x, y, z]), rate, top)
            pos = labels.get(rec.name, {}).get("position", "")
            rows.append((rec.name, pos, len(vf), np.quantile(vf, DECILES) if len(vf) else None))
            if pos in positions:
                pooled.append(vf)
    return rows, (np.quantile(np.concatenate(pooled), DECILES) if pooled else None)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m host_tools.bench.tapdirs", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="folders of recordings (CSV t_ms,x,y,z in g)")
    parser.add_argument("--split", choices=tapsplit.SPLITS, default=tapsplit.TUNE,
                        help="only this split's recordings (default tune: the models are set from it)")
    parser.add_argument("--positions", default=",".join(BAG_POSITIONS),
                        help="positions (labels.csv) pooled into the last line (default %(default)s)")
    parser.add_argument("--top", type=float, default=0.02, help="share of the sharpest transients kept (default 0.02)")
    args = parser.parse_args(argv)
    if not 0 < args.top <= 1:
        print("error: --top must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        rows, pooled = measure(args.dirs, args.split, tuple(args.positions.split(",")), args.top)
    except (rs.RecordingError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    fmt = lambda q: " ".join("%.2f" % v for v in q)  # noqa: E731
    for name, pos, n, q in rows:
        print("%-44s %-12s n=%4d  deciles %s" % (name, pos, n, fmt(q) if q is not None else "-"))
    if pooled is not None:
        print("pooled %s: deciles %s" % (args.positions, fmt(pooled)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

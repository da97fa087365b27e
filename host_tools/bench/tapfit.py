"""How well can a tap candidate be judged on several measures at once?
The trade-off between touches lost and keys-in-a-bag false taps kept, for a
model fitted on tapfeat.py's per-candidate features (#13).

Reads the CSV tapfeat.py writes (and its `.hours`), keeps the candidates the
detector reports today (not vetoed), and fits a model that tells touches from
the rest: a gradient-boosted ensemble (what the features can do at best, far
beyond a pin) or a decision tree of a given depth (what a pin can run).
Scored by leave-one-seed-out cross-validation: each seed's candidates are
judged by a model fitted on the other seeds. For a series of shares of the
touches given up (the model's probability threshold at that quantile of the
touched set's touches), prints recall (touched set, walking set), false
taps per hour in the untouched day from the bag and from everything else.

Usage: python -m host_tools.bench.tapfit FEATURES.csv [--model gb|2|3|4]
           [--features a,b,c]
Needs scikit-learn (the dev extra).
"""
import argparse
import csv
import sys

import numpy as np

# measures a pin can compute per candidate from what it keeps (tapfeat.py):
# the event's shape and the impulse log around it
PIN_FEATURES = ("pk", "width", "ring_r", "pre_r", "sharp", "peak_n", "flat", "near_before", "after_max",
                "train_n120", "train_n300", "train_n10pct", "train_n20pct", "before_sum", "before_n",
                "last_ms", "last15_ms")
DROP_SHARES = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1)


class FitError(Exception):
    pass


def load(path):
    """(rows of the candidates the detector reports, {(set, seed): (hours, touches)})."""
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["vetoed"] == "0"]
        hours = {}
        with open(str(path) + ".hours") as f:
            for line in f:
                s, seed, h, n = line.strip().split(",")
                hours[(s, int(seed))] = (float(h), int(n))
    except (OSError, KeyError, ValueError) as e:
        raise FitError("%s: %s" % (path, e)) from None
    return rows, hours


def _model(name):
    if name == "gb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_depth=4, random_state=0)
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=int(name), min_samples_leaf=10, random_state=0)


def cross_validated(rows, features, model="gb"):
    """Each candidate's probability of being a touch, from a model fitted on the other seeds."""
    try:
        X = np.array([[float(r[f]) for f in features] for r in rows])
    except KeyError as e:
        raise FitError("no feature %s in the CSV" % e) from None
    y = np.array([r["kind"] == "touch" for r in rows]).astype(int)
    seeds = np.array([int(r["seed"]) for r in rows])
    if len(set(seeds)) < 2:
        raise FitError("cross-validation by seed needs at least two seeds")
    p = np.zeros(len(y))
    for sd in sorted(set(seeds)):
        held = seeds == sd
        p[held] = _model(model).fit(X[~held], y[~held]).predict_proba(X[held])[:, 1]
    return p


def curve(rows, hours, p, shares=DROP_SHARES):
    """[{drop, recall_touched, recall_walking, bag_per_h, other_per_h}] for each share of touches given up."""
    sets = np.array([r["set"] for r in rows])
    kinds = np.array([r["kind"] for r in rows])
    touch = kinds == "touch"
    n_touched = sum(n for (s, _), (_, n) in hours.items() if s == "touched")
    n_walking = sum(n for (s, _), (_, n) in hours.items() if s == "walking")
    h_free = sum(h for (s, _), (h, _) in hours.items() if s == "untouched")
    out = []
    for q in shares:
        keep = p >= np.quantile(p[touch & (sets == "touched")], q) if q else np.ones(len(p), bool)
        free = keep & (sets == "untouched")
        out.append({"drop": q,
                    "recall_touched": round((keep & touch & (sets == "touched")).sum() / n_touched, 4),
                    "recall_walking": round((keep & touch & (sets == "walking")).sum() / n_walking, 4),
                    "bag_per_h": round((free & (kinds == "bag")).sum() / h_free, 1),
                    "other_per_h": round((free & (kinds != "bag")).sum() / h_free, 1)})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.bench.tapfit", description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="tapfeat.py's output (with its .hours beside it)")
    ap.add_argument("--model", default="gb", choices=("gb", "2", "3", "4", "5"),
                    help="gb: gradient-boosted trees (the features' best); N: one decision tree of depth N")
    ap.add_argument("--features", default=",".join(PIN_FEATURES), help="comma-separated columns (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        rows, hours = load(args.csv)
        feats = [f for f in args.features.split(",") if f]
        p = cross_validated(rows, feats, args.model)
    except FitError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except ImportError as e:
        print("error: tapfit needs scikit-learn, the dev extra (pip install -e '.[dev]'): %s" % e, file=sys.stderr)
        return 2
    for c in curve(rows, hours, p):
        print("touches given up %4.1f%%: recall %.4f (walking %.4f); false taps/h: bag %5.1f, other %4.1f" % (
            100 * c["drop"], c["recall_touched"], c["recall_walking"], c["bag_per_h"], c["other_per_h"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

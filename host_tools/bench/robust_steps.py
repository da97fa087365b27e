"""How the step counter's scores move when the recordings are changed the way
a different pin would change them (not part of `make bench`).

The counter will be judged on recordings we have not seen, from other sensors
worn other ways. This re-runs the firmware counter in the MicroPython VM on
every labelled set with each recording rotated to a random orientation, with
sensor noise added, with its gain off by +-5% (an uncalibrated accelerometer's
sensitivity tolerance), and with all of these at once, and prints the issue-3
metrics per variant beside the unchanged run, so a score that holds only for
the exact files shows as one that moves.

  python -m host_tools.bench.robust_steps DATA [--odr HZ] [--noise-mg 5] [--seed 7]
"""
import argparse
import sys
import tempfile
from pathlib import Path

from host_tools.bench import steps as bench
from host_tools.bench import tune_steps


def random_rotation(rng):
    """A uniformly random 3x3 rotation matrix (from a random unit quaternion)."""
    import numpy as np

    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def perturb(mg, rng, rotate=False, gain=1.0, noise_mg=0.0):
    """int16 (n, 3) mg samples -> the same recording as another pin would give it."""
    import numpy as np

    v = mg.astype(float)
    if rotate:
        v = v @ random_rotation(rng).T
    v = v * gain
    if noise_mg:
        v = v + rng.normal(0.0, noise_mg, v.shape)
    return np.clip(np.round(v), -32768, 32767).astype("<i2")


def variants(noise_mg):
    return [("as recorded", {}), ("rotated", {"rotate": True}), ("noise %g mg" % noise_mg, {"noise_mg": noise_mg}),
            ("gain -5%", {"gain": 0.95}), ("gain +5%", {"gain": 1.05}),
            ("all at once", {"rotate": True, "noise_mg": noise_mg, "gain": None})]


def run_variant(data, odr, opts, rng, workdir):
    """{set: [file result]} with every recording perturbed by `opts`."""
    import numpy as np

    jobs, meta = [], []
    for s in sorted(p for p in Path(data).iterdir() if (p / "labels.csv").exists()):
        for e, path, n in tune_steps.cached_bins(s, odr):
            o = dict(opts)
            if o.get("gain", 1.0) is None:  # "all at once": each file its own gain error
                o["gain"] = float(rng.choice([0.95, 1.05]))
            mg = np.fromfile(path, dtype="<i2").reshape(-1, 3)
            out = Path(workdir) / ("%s-%s" % (s.name, path.name))
            perturb(mg, rng, **o).tofile(out)
            jobs.append((odr, out, n))
            meta.append((s.name, e))
    counts = bench._run_vm(jobs, workdir)
    res = {}
    for (name, e), c in zip(meta, counts):
        res.setdefault(name, []).append(dict(e, counted=c))
    return res


def main(argv=None):
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="folder of labelled sets (each a folder with labels.csv)")
    ap.add_argument("--odr", type=float, default=None, help="sensor rate, Hz (default: the reference board's, as the app runs it)")
    ap.add_argument("--noise-mg", type=float, default=5.0, help="rms sensor noise added per sample (mg)")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    a.odr = a.odr or bench.board_odr()
    rng = np.random.default_rng(a.seed)
    for name, opts in variants(a.noise_mg):
        with tempfile.TemporaryDirectory(prefix="cloudpin-robust-") as tmp:
            res = run_variant(a.data, a.odr, opts, rng, tmp)
        missed = tune_steps.missed_targets(res)
        print("%-12s %s | %s" % (name, " ; ".join("%s %s" % (k, tune_steps.score_line(v)) for k, v in res.items()),
                                 "meets ALL" if not missed else "misses: " + ",".join(missed)))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

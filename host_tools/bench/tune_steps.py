"""Host-side tuning aid for the step counter (not part of the benchmark).

Runs the firmware counter in the MicroPython VM on every labelled set in a
data folder with some `_NAME = const(V)` constants overridden (a patched copy
of steps.py in a temp dir), and prints the issue-3 target metrics per set, so
a constant is judged on every set at once rather than on one file.

  python -m host_tools.bench.tune_steps DATA [NAME=V ...] [--odr HZ] [--files]
  python -m host_tools.bench.tune_steps DATA --sweep NAME=V1,V2,V3
  python -m host_tools.bench.tune_steps DATA --grid A=1,2 B=3,4 [--odr ...]

--grid runs every combination and prints one line per combination with the
issue-3 targets it misses (`set:kind`; none: `meets ALL`), so a claim such as "no setting
of these gates meets every target" can be checked rather than believed.

Resampled recordings are cached in /tmp (keyed by set, file and rate).
"""
import argparse
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools import FIRMWARE_DIR
from host_tools.bench import resample as rs
from host_tools.bench import steps as bench

CACHE = Path(tempfile.gettempdir()) / "cloudpin-steps-cache"


def cached_bins(folder, odr):
    """[(label entry, bin path, n samples)] for one set at `odr`."""
    out = []
    for e in bench.read_labels(folder):
        if "error" in e:
            print("skipped %s" % e["error"], file=sys.stderr)
            continue
        p = CACHE / ("%s-%g" % (Path(folder).name, odr)) / (e["file"] + ".bin")
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            t, x, y, z = rs.load_resampled(Path(folder) / e["file"], odr)
            rs.to_mg_int16(x, y, z).tofile(p)
        n = p.stat().st_size // 6
        e = dict(e, hours=n / odr / 3600.0)
        out.append((e, p, n))
    return out


def patched_firmware(overrides, workdir):
    """A copy of firmware/ with constants in cloudpin/steps.py replaced."""
    dst = Path(workdir) / "fw"
    shutil.copytree(FIRMWARE_DIR / "cloudpin", dst / "cloudpin")
    src = (dst / "cloudpin" / "steps.py").read_text()
    for name, value in overrides.items():
        src, n = re.subn(r"^(%s = const\()[^)]*\)" % re.escape(name), r"\g<1>%s)" % value, src, flags=re.M)
        if n != 1:
            raise SystemExit("no constant %s in steps.py" % name)
    (dst / "cloudpin" / "steps.py").write_text(src)
    return dst


def run_sets(data, overrides, odr):
    """{set: [file result]} for every set under `data`."""
    sets = sorted(p for p in Path(data).iterdir() if (p / "labels.csv").exists())
    jobs, meta = [], []
    for s in sets:
        for e, p, n in cached_bins(s, odr):
            jobs.append((odr, p, n))
            meta.append((s.name, e))
    old = bench.FIRMWARE_DIR
    with tempfile.TemporaryDirectory(prefix="cloudpin-tune-") as tmp:
        bench.FIRMWARE_DIR = patched_firmware(overrides, tmp)  # _run_vm's MICROPYPATH
        try:
            counts = bench._run_vm(jobs, tmp)
        finally:
            bench.FIRMWARE_DIR = old
    out = {}
    for (name, e), c in zip(meta, counts):
        out.setdefault(name, []).append(dict(e, counted=c))
    return out


def score_line(files):
    """The issue-3 metrics of one set in one line."""
    k: dict = bench.summarise(files)["by_kind"]  # pyright: ignore[reportAssignmentType] -- summarise returns a mixed dict; by_kind is a dict
    parts = []
    if "walk" in k:
        parts.append("walk %.2f%%" % k["walk"]["mape_pct"])
    if "long" in k:
        parts.append("long %.2f%%" % k["long"]["mape_pct"])
    if "none" in k:
        parts.append("none %.1f/h" % k["none"]["false_steps_per_hour"])
    if "mixed" in k:
        errs = k["mixed"]["error_pct"].values()
        parts.append("mixed ok %d/%d worst %.0f%%" % (sum(abs(v) <= 40 for v in errs), len(errs), max(abs(v) for v in errs)))
    return " | ".join(parts)


# The issue-3 targets by kind of recording (the bangle set's; oxford's stricter
# 2% holds there too, see README); a set is held to those of its kinds it has.
TARGETS = (("walk", lambda k: k.get("mape_pct", 0) <= 5), ("long", lambda k: k.get("mape_pct", 0) <= 2),
           ("none", lambda k: (k.get("false_steps_per_hour") or 0) <= 10),
           ("mixed", lambda k: all(abs(v) <= 40 for v in k.get("error_pct", {}).values())))


def missed_targets(res):
    """["set:kind", ...] of the targets a run misses (empty: it meets them all)."""
    out = []
    for name, files in res.items():
        k = bench.summarise(files)["by_kind"]
        out.extend("%s:%s" % (name, kind) for kind, ok in TARGETS if kind in k and not ok(k[kind]))
    return out


def grid(data, base, axes, odr, out=sys.stdout):
    """Every combination of the values in `axes` ("NAME=V1,V2"): one line each
    with its scores and the targets it misses; returns how many meet them all."""
    names, values = [], []
    for ax in axes:
        n, v = ax.split("=", 1)
        names.append(n)
        values.append(v.split(","))
    combos = list(itertools.product(*values))
    met_all = 0
    for combo in combos:
        res = run_sets(data, dict(base, **dict(zip(names, combo))), odr)
        missed = missed_targets(res)
        met_all += not missed
        print("%-40s %s | %s" % (" ".join("%s=%s" % kv for kv in zip(names, combo)),
                                 " ; ".join("%s %s" % (n, score_line(f)) for n, f in res.items()),
                                 "meets ALL" if not missed else "misses: " + ",".join(missed)), file=out)
        out.flush()
    print("%d of %d combinations meet every target" % (met_all, len(combos)), file=out)
    return met_all


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("set", nargs="*", help="NAME=VALUE constant overrides")
    ap.add_argument("--odr", type=float, default=None, help="sensor rate, Hz (default: the reference board's, as the app runs it)")
    ap.add_argument("--sweep", help="NAME=V1,V2,... one run per value")
    ap.add_argument("--files", action="store_true", help="per-file errors too")
    ap.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", help="every combination of these values")
    a = ap.parse_args(argv)
    a.odr = a.odr or bench.board_odr()
    if a.grid:
        grid(a.data, dict(kv.split("=", 1) for kv in a.set), a.grid, a.odr)
        return 0
    base = dict(kv.split("=", 1) for kv in a.set)
    variants = [base]
    if a.sweep:
        name, values = a.sweep.split("=", 1)
        variants = [dict(base, **{name: v}) for v in values.split(",")]
    for ov in variants:
        res = run_sets(a.data, ov, a.odr)
        print(" ".join("%s=%s" % kv for kv in ov.items()) or "(as committed)")
        for name, files in res.items():
            print("  %-18s %s" % (name, score_line(files)))
            if a.files:
                for f in files:
                    err = (f["counted"] - f["expected"]) * 100.0 / f["expected"] if f["expected"] else 0.0
                    print("    %-36s %-5s %6d %6d %+6.1f%%" % (f["file"], f["kind"], f["expected"], f["counted"], err))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

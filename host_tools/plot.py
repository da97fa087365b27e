"""Pictures of recordings: `cloudpin plot steps FILE.csv -o out.png` draws the
acceleration magnitude, the step counter's filtered signal, where steps were
credited, and the true count from labels.csv beside the file (if listed), so a
person can see why a count is off. The firmware counter runs here in CPython
(the same code the pin runs; the benchmark runs it in the MicroPython VM)."""
import csv
import sys
from pathlib import Path

from host_tools import firmware_on_path
from host_tools.bench import resample as rs
from host_tools.bench.steps import DEFAULT_BOARD, board_odr


def truth_for(path):
    """(steps, kind) from labels.csv next to the recording, or (None, None)."""
    labels = Path(path).parent / "labels.csv"
    try:
        with labels.open(newline="") as f:
            for row in csv.DictReader(f):
                if (row.get("file") or "").strip() == Path(path).name:
                    return int(float(row["steps"])), (row.get("kind") or "").strip() or None
    except (OSError, KeyError, ValueError):
        pass
    return None, None


def trace_steps(path, odr):
    """Run the firmware counter over a recording; returns dict of arrays:
    t_s, magnitude_g, filtered_g, step_t_s, walking, periodicity (the last
    evaluation's autocorrelation peak, 0..1), rms_g (of the filtered signal
    over the counter's window), the thresholds the counter uses, and the final
    count."""
    import numpy as np

    firmware_on_path()
    from cloudpin import steps as fw

    t, x, y, z = rs.load_resampled(path, odr)
    mg = rs.to_mg_int16(x, y, z).reshape(-1, 3).tolist()
    sc = fw.StepCounter(odr)
    filt = np.empty(len(mg))
    per = np.zeros(len(mg))
    walking = np.zeros(len(mg), dtype=bool)
    marks = []
    prev = 0
    t_s = (t - t[0]) / 1000.0
    for i, (a, b, c) in enumerate(mg):
        sc.feed(a, b, c)
        filt[i] = sc.filtered
        walking[i] = sc.walking
        per[i] = sc.periodicity / 1024.0
        if sc.steps > prev:
            # A walk's opening steps are credited together once it is
            # recognised: spread them back over the time they were taken.
            period = (sc.period_ms() or 500) / 1000.0
            k = sc.steps - prev
            marks.extend(t_s[i] - period * j for j in range(k - 1, -1, -1))
        elif sc.steps < prev:  # a still stride at the end of a walk, taken back
            del marks[len(marks) - (prev - sc.steps):]
        prev = sc.steps
    win = max(1, int(odr * fw._WIN_MS / 1000))
    sq = np.concatenate([[0.0], np.cumsum((filt / 1000.0) ** 2)])
    rms = np.sqrt((sq[win:] - sq[:-win]) / win)
    rms = np.concatenate([np.full(len(filt) - len(rms), np.nan), rms])
    return {"t_s": t_s, "magnitude_g": np.sqrt(x * x + y * y + z * z), "filtered_g": filt / 1000.0,
            "step_t_s": np.asarray(marks), "walking": walking, "periodicity": per, "rms_g": rms,
            "thresholds": {"start": fw._AC_IN / 1024.0, "keep": fw._AC_OUT / 1024.0, "rms_g": fw._RMS_MIN_MG / 1000.0},
            "steps": sc.steps}


def plot_steps(path, out, odr=None, start_s=None, seconds=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    odr = float(odr or board_odr())
    tr = trace_steps(path, odr)
    truth, kind = truth_for(path)
    t = tr["t_s"]
    sel = np.ones(len(t), dtype=bool)
    if start_s is not None:
        sel &= t >= start_s
    if seconds is not None:
        sel &= t < (start_s or 0) + seconds
    marks = tr["step_t_s"]
    marks = marks[(marks >= t[sel][0]) & (marks <= t[sel][-1])] if sel.any() else marks[:0]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(14, 8.5), sharex=True, gridspec_kw={"height_ratios": [1, 1.3, 1]})
    ax1.plot(t[sel], tr["magnitude_g"][sel], lw=0.7, color="tab:gray")
    ax1.set_ylabel("|a| (g)")
    ax1.grid(alpha=0.3)
    ax2.plot(t[sel], tr["filtered_g"][sel], lw=0.8, color="tab:blue", label="filtered (gravity removed, smoothed)")
    w = tr["walking"][sel]
    lo, hi = ax2.get_ylim()
    ax2.fill_between(t[sel], lo, hi, where=w, color="tab:green", alpha=0.12, step="mid", label="walking recognised")
    ax2.set_ylim(lo, hi)
    if len(marks):
        ax2.plot(marks, np.interp(marks, t, tr["filtered_g"]), "v", color="tab:red", ms=4, label="step credited")
    ax2.set_ylabel("filtered (g)")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper right", fontsize=8)
    # Why a walk was (not) recognised: it starts only while the periodicity
    # stays above `start` and the window is louder than the rms floor.
    th = tr["thresholds"]
    ax3.plot(t[sel], tr["periodicity"][sel], lw=0.9, color="tab:purple", label="periodicity (autocorrelation peak)")
    ax3.axhline(th["start"], color="tab:purple", ls="--", lw=0.8, label="to start walking (%.2f)" % th["start"])
    ax3.axhline(th["keep"], color="tab:purple", ls=":", lw=0.8, label="to keep walking (%.2f)" % th["keep"])
    ax3.set_ylim(0, 1)
    ax3.set_ylabel("periodicity")
    ax3.set_xlabel("time (s)")
    ax3.grid(alpha=0.3)
    r = ax3.twinx()
    r.plot(t[sel], tr["rms_g"][sel], lw=0.8, color="tab:orange", label="rms over the window (g)")
    r.axhline(th["rms_g"], color="tab:orange", ls="--", lw=0.8, label="rms floor (%.3f g)" % th["rms_g"])
    r.set_ylabel("rms (g)")
    h1, l1 = ax3.get_legend_handles_labels()
    h2, l2 = r.get_legend_handles_labels()
    ax3.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=7, ncol=2)
    if truth is None:
        verdict = "counted %d (no label)" % tr["steps"]
    else:
        err = "" if not truth else " (%+.1f%%)" % ((tr["steps"] - truth) * 100.0 / truth)
        verdict = "truth %d, counted %d%s" % (truth, tr["steps"], err)
    fig.suptitle("%s%s at %g Hz: %s" % (Path(path).name, " [%s]" % kind if kind else "", odr, verdict))
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return tr["steps"], truth


def add_arguments(parser):
    sub = parser.add_subparsers(dest="what", metavar="WHAT")
    p = sub.add_parser("steps", help="a recording with its detected steps and true count")
    p.add_argument("file", metavar="FILE.csv", help="recording t_ms,x,y,z in g")
    p.add_argument("-o", "--out", required=True, help="PNG to write (its folder is created if missing)")
    p.add_argument("--odr", type=float, default=None, help="sensor ODR, Hz (default: the %s board's)" % DEFAULT_BOARD)
    p.add_argument("--start", type=float, default=None, help="first second to draw")
    p.add_argument("--seconds", type=float, default=None, help="how many seconds to draw")


def _prepare_out(out):
    """Create the folder `out` goes in; a one-line reason if that cannot be
    done. Checked before the (slow) trace, so a typo costs nothing."""
    parent = Path(out).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return "cannot create the folder for %s: %s" % (out, e.strerror or e)
    if Path(out).is_dir():
        return "%s is a folder: give the PNG's file name" % out
    return None


def run(args):
    if getattr(args, "what", None) != "steps":
        print("usage: cloudpin plot steps FILE.csv -o out.png", file=sys.stderr)
        return 2
    err = _prepare_out(args.out)
    if err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    try:
        counted, truth = plot_steps(args.file, args.out, args.odr, args.start, args.seconds)
    except (rs.RecordingError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("error: cannot write %s: %s" % (args.out, e.strerror or e), file=sys.stderr)
        return 2
    print("%s: counted %d, truth %s -> %s" % (args.file, counted, truth, args.out), file=sys.stderr)
    return 0

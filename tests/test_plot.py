"""`cloudpin plot steps` draws a readable PNG with the true and counted steps."""
import math
import subprocess
import sys

from PIL import Image

from host_tools import REPO
from host_tools.plot import plot_steps, trace_steps, truth_for


def _walk_csv(path, seconds=30, rate=50.0):
    lines = ["t_ms,x,y,z"]
    for i in range(int(seconds * rate)):
        t = i / rate
        z = 1.0 + (0.35 * math.sin(4 * math.pi * t) + 0.1 * math.sin(2 * math.pi * t) if 3 < t < 27 else 0)
        lines.append("%d,0.0100,-0.0200,%.4f" % (round(t * 1000), z))
    path.write_text("\n".join(lines) + "\n")


def test_plot_with_truth(tmp_path):
    _walk_csv(tmp_path / "w.csv")
    (tmp_path / "labels.csv").write_text("file,steps,kind\nw.csv,48,walk\n")
    assert truth_for(tmp_path / "w.csv") == (48, "walk")
    out = tmp_path / "w.png"
    counted, truth = plot_steps(tmp_path / "w.csv", out, odr=50)
    assert truth == 48 and abs(counted - 48) <= 3
    img = Image.open(out)
    assert img.size[0] >= 1000 and img.size[1] >= 500


def test_plot_cli_without_labels(tmp_path):
    _walk_csv(tmp_path / "w.csv", seconds=10)
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "plot", "steps", str(tmp_path / "w.csv"),
                           "-o", str(tmp_path / "o.png")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.png").stat().st_size > 10000
    assert "truth None" in proc.stderr


def test_plot_bad_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.csv").write_text("time,a,b\n1,2,3\n")
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "plot", "steps", str(tmp_path / "bad.csv"),
                           "-o", str(tmp_path / "o.png")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "header must start t_ms,x,y,z" in proc.stderr and "Traceback" not in proc.stderr


def test_trace_shows_why_a_walk_was_recognised(tmp_path):
    _walk_csv(tmp_path / "w.csv", seconds=40)
    tr = trace_steps(tmp_path / "w.csv", 50)
    t, per, rms, th = tr["t_s"], tr["periodicity"], tr["rms_g"], tr["thresholds"]
    walking = (t > 10) & (t < 26)
    after = t > 35  # the window (4 s) plus the longest lag (2 s) after the walk ended
    assert per[walking].min() > th["start"] and rms[walking].min() > th["rms_g"]
    assert per[after].max() < th["keep"] and rms[after].max() < th["rms_g"]
    assert tr["walking"][walking].all() and not tr["walking"][after].any()


def test_plot_cli_creates_the_output_folder(tmp_path):
    _walk_csv(tmp_path / "w.csv", seconds=8)
    out = tmp_path / "missing" / "dir" / "x.png"
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "plot", "steps", str(tmp_path / "w.csv"),
                           "-o", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size[0] >= 1000


def test_plot_cli_unwritable_output_is_a_clear_error(tmp_path):
    _walk_csv(tmp_path / "w.csv", seconds=8)
    (tmp_path / "afile").write_text("not a folder\n")
    for out, says in ((tmp_path / "afile" / "x.png", "cannot create the folder"), (tmp_path, "is a folder")):
        proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "plot", "steps", str(tmp_path / "w.csv"),
                               "-o", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1

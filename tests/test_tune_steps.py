"""The tuning aid scores constants of the firmware counter (run in the VM) on
every set and says which issue-3 targets a setting misses."""
import io
import math

from host_tools.bench import tune_steps


def _csv(path, seconds, walk, rate=50.0):
    lines = ["t_ms,x,y,z"]
    for i in range(int(seconds * rate)):
        t = i / rate
        z = 1.0 + (0.3 * math.sin(4 * math.pi * t) + 0.1 * math.sin(2 * math.pi * t) if walk and 2 < t < seconds - 2 else 0)
        lines.append("%d,0.0100,-0.0200,%.4f" % (round(t * 1000), z))
    path.write_text("\n".join(lines) + "\n")


def test_grid_names_the_targets_each_setting_misses(tmp_path, monkeypatch):
    monkeypatch.setattr(tune_steps, "CACHE", tmp_path / "cache")
    s = tmp_path / "data" / "set"
    s.mkdir(parents=True)
    _csv(s / "walk.csv", 40, True)
    _csv(s / "rest.csv", 60, False)
    (s / "labels.csv").write_text("file,steps,kind\nwalk.csv,72,walk\nrest.csv,0,none\n")
    out = io.StringIO()
    # A 5 g rms floor makes every walk too quiet: the walk target is missed.
    met = tune_steps.grid(tmp_path / "data", {}, ["_RMS_MIN_MG=45,5000"], 50.0, out)
    lines = out.getvalue().splitlines()
    assert met == 1, out.getvalue()
    assert lines[0].startswith("_RMS_MIN_MG=45") and lines[0].endswith("meets ALL")
    assert lines[1].startswith("_RMS_MIN_MG=5000") and lines[1].endswith("misses: set:walk")
    assert lines[2] == "1 of 2 combinations meet every target"

"""`cloudpin bench simsteps`: walkers in `cloudpin sim` counted against the
step bench on the same recordings (issue 8's last target, now in `make
bench`). A short run on the shipped walk; bad input is refused in one line."""

from host_tools import REPO
from host_tools.bench import simsteps
from host_tools.cli import main

WALK = REPO / "host_tools" / "data" / "walk_neckpouch_60s.csv"


def _set(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    rows = WALK.read_text().splitlines()
    (d / "a.csv").write_text("\n".join(rows) + "\n")
    (d / "b.csv").write_text(rows[0] + "\n" + "\n".join(  # the same walk from its 25th second
        "%d,%s" % (int(ln.split(",", 1)[0]) - 25000, ln.split(",", 1)[1])
        for ln in rows[1:] if int(ln.split(",", 1)[0]) >= 25000) + "\n")
    (d / "still.csv").write_text(rows[0] + "\n" + "".join("%d,0,0,1\n" % (10 * i) for i in range(2000)))
    (d / "labels.csv").write_text("file,steps,kind\na.csv,90,walk\nb.csv,50,walk\nstill.csv,0,none\n")
    return d


def test_walkers_in_the_sim_count_what_the_bench_counts(tmp_path):
    r = simsteps.bench_simsteps(_set(tmp_path), seconds=20)
    assert [f["file"] for f in r["files"]] == ["a.csv", "b.csv"]  # walks only
    for f in r["files"]:
        assert f["bench"] > 20 and abs(f["seconds"] - 20) < 0.1, f
        assert f["agree"] == (abs(f["sim"] - f["bench"]) <= max(2, 0.05 * f["bench"])), f
    assert r["agree"] == r["of"] == 2 and r["max_abs_diff"] <= 2, r
    sc = simsteps.scenario([tmp_path / "x.csv", tmp_path / "y.csv"], [10.0, 20.0])
    assert sc["duration_s"] == 22.0 and sc["pins"][1]["walk"][-1][0] == 20.0


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["bench", "simsteps", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    d = _set(tmp_path)
    assert main(["bench", "simsteps", str(d), "--seconds", "5"]) == 2
    assert "--seconds" in capsys.readouterr().err
    (d / "labels.csv").write_text("file,steps,kind\nstill.csv,0,none\n")
    assert main(["bench", "simsteps", str(d)]) == 2
    assert "no walking recordings" in capsys.readouterr().err
    (d / "labels.csv").write_text("file,steps,kind\na.csv,90,walk\n")
    (d / "a.csv").write_text("time,x,y,z\n0,0,0,1\n")
    assert main(["bench", "simsteps", str(d)]) == 2
    assert "header must be t_ms" in capsys.readouterr().err

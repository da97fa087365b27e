"""Per-candidate features of the tap detector (host_tools/bench/tapfeat.py)
and the trade-off curve fitted on them (tapfit.py)."""
import csv

import numpy as np
import pytest

from host_tools.bench import tapfeat, tapfit, tapgen


def _write_recording(path, seconds, rate):
    t = np.arange(int(seconds * rate)) * 1000.0 / rate
    z = 1.0 + 0.3 * np.sin(2 * np.pi * 1.8 * t / 1000)
    tapgen.write_recording(path, t, np.column_stack([0.1 * np.sin(2 * np.pi * 0.9 * t / 1000), 0 * t, z]))


def test_company_measures_the_impulse_log_around_a_candidate():
    # samples at 400 Hz relative to the peak: its own impulse, a knock 50 ms
    # before (20 samples), two steps' knocks 0.5 and 1 s before, a weak one
    row = {"pk": 3000, "log": [(-400, 900), (-200, 700), (-150, 150), (-20, 500), (0, 3300), (30, 200)]}
    f = tapfeat.company(row)
    assert f["own_mg"] == 3300 and abs(f["sharp"] - 1.1) < 1e-9
    assert abs(f["near_before"] - 500 / 3000) < 1e-9
    assert abs(f["after_max"] - 200 / 3000) < 1e-9 and f["after_n"] == 1
    assert f["train_n120"] == 3 and f["train_n300"] == 2
    assert f["train_n20pct"] == 2  # 900 and 700 reach 600 mg, 150 does not
    assert f["last_ms"] == 50.0  # the knock 20 samples before
    assert f["last15_ms"] == 50.0  # 500 mg is over 15% of 3 g
    # nothing before: the look-back reads "longer than 2 s"
    f = tapfeat.company({"pk": 3000, "log": [(0, 3000)]})
    assert f["last_ms"] == 2000.0 and f["train_n120"] == 0 and f["near_before"] == 0


def test_every_suspected_candidate_is_logged_and_labelled(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_recording(src / "walk.csv", 40, 50)
    out = tmp_path / "set"
    tapgen.generate([src], out, odr=400, seed=3)
    rows, hours = tapfeat.run_set(out, 400, 4.0, None, "touched", 3)
    with open(out / "taps.csv", newline="") as f:
        touches = [float(r["t_ms"]) for r in csv.DictReader(f)]
    assert len(touches) >= 3 and abs(hours - 40 / 3600) < 1e-3
    found = [r for r in rows if r["kind"] == "touch"]
    # a clean walk: every touch is found and nothing else is suspected
    assert len(found) == len(touches) and len(rows) == len(touches), (len(found), len(rows), touches)
    for r in found:
        assert min(abs(r["t_ms"] - t) for t in touches) <= 50 and r["vetoed"] == 0
        assert 0 < r["tau_ms"] <= 10 and r["pk"] >= 800 and 0 <= r["vert"] <= 1


def _rows(seed, n_touch, n_bag, separable):
    rng = np.random.default_rng(seed)
    rows = []
    for kind, n, s in (("touch", n_touch, "touched"), ("bag", n_bag, "untouched")):
        for _ in range(n):
            x = (1.0 if kind == "touch" else 0.0) if separable else rng.random()
            rows.append({"set": s, "seed": str(seed), "kind": kind, "x": str(x + 0.01 * rng.random()), "vetoed": "0"})
    return rows


@pytest.mark.parametrize("separable", [True, False])
def test_the_curve_drops_the_bag_only_when_a_feature_tells_it_apart(separable):
    rows = _rows(1, 100, 50, separable) + _rows(2, 100, 50, separable)
    hours = {("touched", 1): (1.0, 100), ("touched", 2): (1.0, 100), ("walking", 1): (1.0, 1),
             ("walking", 2): (1.0, 1), ("untouched", 1): (1.0, 0), ("untouched", 2): (1.0, 0)}
    p = tapfit.cross_validated(rows, ["x"], "2")
    c = tapfit.curve(rows, hours, p, shares=(0.0, 0.02))
    assert c[0]["bag_per_h"] == 50.0 and c[0]["recall_touched"] == 1.0
    assert c[1]["recall_touched"] >= 0.97
    if separable:
        assert c[1]["bag_per_h"] == 0.0
    else:  # a random feature: giving up 2% of touches keeps nearly all the bag
        assert c[1]["bag_per_h"] > 40.0, c


def test_tapfit_names_a_missing_feature(tmp_path, capsys):
    path = tmp_path / "f.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["set", "seed", "kind", "x", "vetoed"])
        w.writeheader()
        for r in _rows(1, 10, 5, True) + _rows(2, 10, 5, True):
            w.writerow(r)
    (tmp_path / "f.csv.hours").write_text("touched,1,1.0,10\nuntouched,1,1.0,0\n")
    assert tapfit.main([str(path), "--features", "x,nope", "--model", "2"]) == 2
    assert "nope" in capsys.readouterr().err


def test_tapfeat_names_bad_input_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "f.csv")
    assert tapfeat.main([str(tmp_path / "missing"), "--out", out]) == 2
    assert "missing" in capsys.readouterr().err
    assert tapfeat.main([str(tmp_path), "--out", out, "--seeds", "1000-1001"]) == 2  # held-out seeds on tune
    assert "seed 1000 is not a tune seed" in capsys.readouterr().err
    assert tapfeat.main([str(tmp_path), "--out", out, "--seeds", "one"]) == 2
    assert "FIRST-LAST" in capsys.readouterr().err

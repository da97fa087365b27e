"""Tap bench: the generator (host_tools/bench/tapgen.py) and `cloudpin bench
taps` (host_tools/bench/taps.py), which runs the firmware detector in the
MicroPython VM."""
import argparse
import csv
import json
import math

import numpy as np
import pytest

from host_tools.bench import tapgen, tapmodel, tapsplit
from host_tools.bench import taps as bench


def _write_recording(path, seconds, rate, walk):
    t = np.arange(int(seconds * rate)) * 1000.0 / rate
    z = 1.0 + (0.4 * np.sin(2 * np.pi * 1.8 * t / 1000) if walk else 0.0 * t)
    x = (0.1 if walk else 0.01) * np.sin(2 * np.pi * 0.9 * t / 1000)  # a desk sways 20 mg, not 200
    tapgen.write_recording(path, t, np.column_stack([x, 0 * t, z]))


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_recording(src / "walk.csv", 30, 50, True)
    _write_recording(src / "desk.csv", 20, 12.5, False)
    (src / "labels.csv").write_text(
        "file,steps,kind,position,sample_hz\nwalk.csv,54,walk,neckpouch,50\ndesk.csv,0,none,hand,12.5\n")
    return src


def _taps(folder):
    with open(folder / "taps.csv", newline="") as f:
        return [(r["file"], float(r["t_ms"])) for r in csv.DictReader(f)]


def test_generator_writes_the_set_deterministically(source, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    summary = tapgen.generate([source], a, odr=400, seed=7)
    tapgen.generate([source], b, odr=400, seed=7)
    tapgen.generate([source], c, odr=400, seed=8)
    names = sorted(p.name for p in a.iterdir())
    assert names == ["desk.csv", "labels.csv", "taps.csv", "walk.csv"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _taps(a) != _taps(c)
    assert summary["files"] == 2 and summary["taps"] == len(_taps(a)) > 4
    # recordings at the new rate, labels copied with the new rate
    t = np.loadtxt(a / "walk.csv", delimiter=",", skiprows=1)[:, 0]
    assert np.allclose(np.diff(t), 2.5, atol=0.06) and (a / "walk.csv").read_text().startswith("t_ms,x,y,z\n")
    rows = list(csv.DictReader(open(a / "labels.csv")))
    assert [(r["file"], r["steps"], r["kind"], r["sample_hz"]) for r in rows] == [
        ("desk.csv", "0", "none", "400"), ("walk.csv", "54", "walk", "400")]
    # taps away from the ends and never closer than a double tap
    for name, dur in (("walk.csv", 30000), ("desk.csv", 20000)):
        times = sorted(tc for f, tc in _taps(a) if f == name)
        assert all(1000 <= tc <= dur - 1000 for tc in times)
        assert all(b2 - b1 >= 250 for b1, b2 in zip(times, times[1:]))


def test_tap_model_physics():
    # the sensor sees the impulse through its low-pass: the peak grows with
    # the bandwidth (ODR) and the velocity change, and the pin ends at rest
    _, w400 = tapmodel.tap_waveform(400, 0.1, 1e-3, 0.1, 0.0)
    _, w200 = tapmodel.tap_waveform(200, 0.1, 1e-3, 0.1, 0.0)
    _, w400s = tapmodel.tap_waveform(400, 0.2, 1e-3, 0.1, 0.0)
    assert 3.0 < w400.max() < 4.5 and 1.7 < w400.max() / w200.max() < 2.3
    assert w400s.max() == pytest.approx(2 * w400.max(), rel=0.01)
    assert abs(w400.sum()) / 400 * tapgen.G < 0.002  # net velocity change ~0 m/s
    assert (w400 > 0.15 * w400.max()).sum() <= 2  # one or two samples wide
    _, swing = tapmodel.chest_swing_waveform(400, 0.3, 0.025, 0.0)
    assert (swing > 0.5 * swing.max()).sum() >= 5  # soft collisions are broad


def test_bench_finds_the_generated_taps(source, tmp_path):
    out = tmp_path / "set"
    tapgen.generate([source], out, odr=400, seed=3)
    result = bench.bench_taps(out, odr=400, range_g=8)
    s = result["summary"]
    assert result["odr_hz"] == 400 and len(result["files"]) == 2
    for f in result["files"]:
        assert set(f) >= {"file", "taps_ms", "expected_taps_ms", "hours"}
        assert all(isinstance(t, float) for t in f["taps_ms"])
    assert s["labelled_taps"] == len(_taps(out))
    assert s["recall"] >= 0.9 and s["precision"] >= 0.9, s
    assert s["timing_error_ms_max"] <= 20
    # recall and timing per contact-duration band, over every labelled touch
    bands = s["by_contact_ms"]
    assert set(bands) <= {tapmodel.band_of(t) for t in (0.5, 2, 4, 8)}
    assert sum(b["labelled"] for b in bands.values()) == s["labelled_taps"]
    assert sum(b["found"] for b in bands.values()) == s["found_taps"]
    # ... and per position of the recording under the touches (labels.csv)
    places = s["by_position"]
    assert set(places) == {"neckpouch", "hand"}
    assert sum(p["labelled"] for p in places.values()) == s["labelled_taps"]
    assert sum(p["found"] for p in places.values()) == s["found_taps"]
    assert json.loads(json.dumps(result)) == result


def test_board_path_runs_the_emulated_lis3dh_and_the_motion_service(source, tmp_path):
    out = tmp_path / "set"
    tapgen.generate([source], out, odr=400, seed=3)
    result = bench.bench_taps(out, odr=400, detector=bench.BOARD)
    s = result["summary"]
    assert result["detector"] == "board" and s["labelled_taps"] == len(_taps(out))
    # the software detector on the chip's FIFO bursts finds the touches on a
    # plain walk, timed back from the burst's read time
    assert s["recall"] >= 0.9 and s["precision"] >= 0.9, s
    assert s["timing_error_ms_max"] <= 20, s
    quiet = bench.bench_taps(source, odr=400, detector=bench.BOARD)["summary"]
    assert quiet["false_taps_without_taps"] == 0


def test_doze_path_dozes_on_a_still_pin_and_its_click_wakes_it(source, tmp_path):
    out = tmp_path / "set"
    tapgen.generate([source], out, odr=400, seed=3)
    runs = {d: bench.bench_taps(out, odr=400, detector=d) for d in (bench.BOARD, bench.DOZE)}
    desk = {d: next(f for f in r["files"] if f["file"] == "desk.csv") for d, r in runs.items()}
    # lying still, the service's own loop dozes (the watermark off) and each
    # touch wakes it through the click engine; the board path never dozes
    assert desk["board"]["motion"]["dozes"] == 0
    assert desk["doze"]["motion"]["dozes"] >= 1, desk["doze"]
    assert desk["doze"]["motion"]["clicks"] >= len(desk["doze"]["expected_taps_ms"]) > 0
    # the same touches, timed within a few ms (a woken burst is read at another moment)
    a, b = sorted(desk["doze"]["taps_ms"]), sorted(desk["board"]["taps_ms"])
    assert len(a) == len(b) and all(abs(x - y) <= 3 for x, y in zip(a, b)), (a, b)
    s = runs["doze"]["summary"]
    assert s["recall"] >= 0.9 and s["precision"] >= 0.9 and s["motion"]["dozes"] >= 1, s


def test_board_path_at_another_rate_than_the_board_is_refused(source, capsys):
    assert _cli([str(source), "--detector", "board", "--odr", "500"]) == 2
    err = capsys.readouterr().err
    assert "400 Hz" in err and err.count("\n") == 1, err


def test_folder_without_taps_counts_false_taps_per_hour(source, tmp_path):
    out = tmp_path / "set"
    tapgen.generate([source], out, odr=400, seed=3)
    (out / "taps.csv").unlink()  # the same recordings, now "real, no taps"
    s = bench.bench_taps(out, odr=400)["summary"]
    assert s["labelled_taps"] == 0 and s["recall"] is None
    assert s["false_taps_without_taps"] >= 5  # every detection is false here
    assert s["false_taps_per_hour"] == pytest.approx(s["false_taps_without_taps"] / s["hours_without_taps"], rel=0.02)
    quiet = bench.bench_taps(source, odr=400)["summary"]  # the sources: no taps at all
    assert quiet["false_taps_without_taps"] == 0 and quiet["false_taps_per_hour"] == 0


def test_distractors_are_labelled_and_scored(source, tmp_path):
    out = tmp_path / "set"
    summary = tapgen.generate([source], out, odr=400, seed=5, distractors_per_min=6)
    assert summary["distractors"] > 0
    rows = list(csv.DictReader(open(out / "distractors.csv")))
    assert {r["kind"] for r in rows} <= set(tapgen.DISTRACTORS)
    s = bench.bench_taps(out, odr=400)["summary"]
    assert sum(k["events"] for k in s["distractors"].values()) == len(rows)


def test_match_pairs_nearest_once():
    assert bench.match([100.0, 200.0, 500.0], [110.0, 130.0]) == [(100.0, 110.0)]
    assert sorted(bench.match([100.0, 125.0], [110.0, 130.0])) == [(100.0, 110.0), (125.0, 130.0)]


def _cli(argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return bench.run(parser.parse_args(argv))


@pytest.mark.parametrize("setup,message", [
    (lambda d: None, "not a folder"),
    (lambda d: d.mkdir(), "no recording CSV files"),
    (lambda d: (d.mkdir(), (d / "a.csv").write_text("time,x\n1,2\n")), "header must start t_ms,x,y,z"),
    (lambda d: (d.mkdir(), (d / "a.csv").write_text("t_ms,x,y,z\n0,0,0,1\n10,0,0,1\n"),
                (d / "taps.csv").write_text("file,t_ms\nb.csv,5\n")), "no recording named 'b.csv'"),
    (lambda d: (d.mkdir(), (d / "a.csv").write_text("t_ms,x,y,z\n0,0,0,1\n10,0,0,1\n"),
                (d / "taps.csv").write_text("file,t_ms\na.csv,soon\n")), "t_ms 'soon' is not a number"),
])
def test_bad_input_is_a_clear_error(tmp_path, capsys, setup, message):
    d = tmp_path / "in"
    setup(d)
    assert _cli([str(d)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err, err


def test_low_odr_and_bad_params_are_refused(source, capsys):
    assert _cli([str(source), "--odr", "50"]) == 2
    assert "too low for taps" in capsys.readouterr().err
    assert _cli([str(source), "--params", "[1]"]) == 2
    assert "--params" in capsys.readouterr().err
    assert _cli([str(source), "--params", '{"threshold": 1}']) == 2  # not a detector argument
    assert "threshold" in capsys.readouterr().err
    assert _cli([str(source), "--generate", "--split", "heldout", "--seed", "3"]) == 2
    assert "seed 3 is not a heldout seed" in capsys.readouterr().err


def test_generator_cli_reports_bad_source(tmp_path, capsys):
    assert tapgen.main([str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert math.isfinite(tapgen.G)


def test_unreadable_recording_is_skipped_and_the_rest_scored(source, capsys):
    (source / "broken.csv").write_text("t_ms,x,y,z\n0,0,0,nan\n10,0,0,1\n")
    assert _cli([str(source)]) == 1  # JSON printed, but not a clean run
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert sorted(f["file"] for f in result["files"]) == ["desk.csv", "walk.csv"]
    assert result["skipped"] == [{"file": "broken.csv", "error": "%s: non-finite values" % (source / "broken.csv")}]
    assert "1 recording(s) skipped" in out.err


def test_touch_parameters_span_the_plausible_range():
    rng = np.random.default_rng(0)
    draws = [tapmodel.draw_touch(rng) for _ in range(3000)]
    taus = np.array([p["tau"] * 1000 for p in draws])
    dvs = np.array([p["dv"] for p in draws])
    # under a millisecond (hard pins) to about 10 ms (behind fabric), every band filled
    assert taus.min() < 0.3 and 8.0 < taus.max() <= 10.0
    bands = {tapmodel.band_of(t) for t in taus}
    assert bands == {"0-1 ms", "1-3 ms", "3-6 ms", "6-10 ms"}
    assert tapmodel.DV_RANGE[0] <= dvs.min() and dvs.max() <= tapmodel.DV_RANGE[1]
    mounts = {p["mount"] for p in draws}
    assert mounts == set(tapmodel.MOUNTS)
    assert all(p["sway_g"] > 0 for p in draws if p["mount"] == "lanyard")
    assert all(p["sway_g"] == 0 for p in draws if p["mount"] != "lanyard")
    fabric = taus[[p["mount"] == "fabric" for p in draws]]
    assert fabric.min() >= 2.0 and np.median(fabric) > np.median(taus)


def test_soft_contact_is_broader_and_weaker_and_ringing_rings_at_its_frequency():
    _, hard = tapmodel.tap_waveform(400, 0.1, 0.5e-3, 0.1, 0.0)
    _, soft = tapmodel.tap_waveform(400, 0.1, 10e-3, 0.1, 0.0)
    assert soft.max() < 0.5 * hard.max()
    assert (soft > 0.5 * soft.max()).sum() >= 3 > (hard > 0.5 * hard.max()).sum()
    # a 60 Hz ring at damping 0.1 after the contact: its spectrum peaks there
    offs, ringing = tapmodel.tap_waveform(400, 0.2, 1e-3, 0.1, 0.0, ring=(0.3, 60.0, 0.1))
    tail = (ringing - tapmodel.tap_waveform(400, 0.2, 1e-3, 0.1, 0.0)[1])[offs > 2]
    spectrum = np.abs(np.fft.rfft(tail, 4096))
    assert abs(np.fft.rfftfreq(4096, 1 / 400)[spectrum.argmax()] - 60) < 3


def test_reach_and_sway_are_slow_and_bounded():
    rng = np.random.default_rng(2)
    for _ in range(50):
        p = tapmodel.draw_touch(rng)
        offs, slow = tapmodel.slow_waveform(400, p, 0.0)
        assert np.abs(slow).max() < 2.5  # g: minimum-jerk reaches of <= 30 cm in >= 0.3 s
        spectrum = np.abs(np.fft.rfft(slow, axis=0)) ** 2
        f = np.fft.rfftfreq(len(slow), 1 / 400)
        assert spectrum[f > 15].sum() < 0.01 * spectrum.sum()  # nothing a tap detector keys on


def test_the_rattle_context_drops_are_counted_apart_and_start_no_radio(source, tmp_path):
    # a pin in a bag through a walk: the veto cancels some radio starts, and
    # once it has dropped two knocks the rattle context drops the next ones
    # before they are suspected (no radio start at all)
    out = tmp_path / "set"
    tapgen.generate([source], out, odr=400, seed=6, taps=False, mix={"bag": 6.0})
    on = bench.bench_taps(out, odr=400)["summary"]
    off = bench.bench_taps(out, odr=400, params={"ctx_ms": 0})["summary"]
    assert on["contexts_per_hour"] > 0 and off["contexts_per_hour"] == 0, (on, off)
    assert on["false_taps_per_hour"] < off["false_taps_per_hour"], (on, off)
    assert on["suspects_per_hour"] < off["suspects_per_hour"], (on, off)
    assert 0 < off["cancels_per_hour"] < off["suspects_per_hour"], off

def test_every_non_touch_kind_is_generated(source, tmp_path):
    out = tmp_path / "set"
    tapgen.generate([source], out, odr=400, seed=5, taps=False, mix={k: 10.0 for k in tapmodel.DISTRACTORS})
    rows = list(csv.DictReader(open(out / "distractors.csv")))
    assert {r["kind"] for r in rows} == set(tapmodel.DISTRACTORS)
    assert _taps(out) == []


def test_walking_lays_heel_strikes_next_to_the_same_touches(source, tmp_path):
    plain, walk = tmp_path / "plain", tmp_path / "walk"
    tapgen.generate([source], plain, odr=400, seed=3)
    tapgen.generate([source], walk, odr=400, seed=3, walking=True)
    assert _taps(walk) == _taps(plain)  # the same touches
    heels = [(r["file"], float(r["t_ms"])) for r in csv.DictReader(open(walk / "distractors.csv"))]
    assert heels and {r["kind"] for r in csv.DictReader(open(walk / "distractors.csv"))} == {"heel"}
    for name, dur in (("walk.csv", 30000), ("desk.csv", 20000)):
        t = sorted(tc for f, tc in heels if f == name)
        gaps = np.diff(t)
        assert len(t) >= dur / 650 - 1 and gaps.min() >= 450 - 1 and gaps.max() <= 650 + 1
    # every touch has a heel strike within a step of it, some within 150 ms
    near = [min(abs(tc - h) for f2, h in heels if f2 == f) for f, tc in _taps(walk)]
    assert max(near) <= 325 and any(d <= 150 for d in near)
    a = np.loadtxt(walk / "walk.csv", delimiter=",", skiprows=1)
    b = np.loadtxt(plain / "walk.csv", delimiter=",", skiprows=1)
    assert 0.3 <= np.abs(a[:, 3] - b[:, 3]).max() <= 1.6  # the heel strikes (0.3-1.5 g) along z mostly


def test_the_held_out_split_is_disjoint_from_tuning(tmp_path):
    names = ["rec%03d.csv" % i for i in range(60)]
    held = {n for n in names if tapsplit.split_of(n) == tapsplit.HELDOUT}
    assert 10 <= len(held) <= 30  # about a third, fixed by the name
    assert set(tapsplit.TUNE_SEEDS).isdisjoint(tapsplit.HELDOUT_SEEDS)
    src = tmp_path / "src"
    src.mkdir()
    for n in names[:9]:
        _write_recording(src / n, 5, 50, True)
    sets = {}
    for split, seed in ((tapsplit.TUNE, 1), (tapsplit.HELDOUT, 1000)):
        tapgen.generate([src], tmp_path / split, odr=400, seed=seed, max_seconds=5, split=split)
        sets[split] = {p.name for p in (tmp_path / split).glob("rec*.csv")}
        assert all(tapsplit.split_of(n) == split for n in sets[split])
    assert sets[tapsplit.TUNE] and sets[tapsplit.HELDOUT]
    assert sets[tapsplit.TUNE].isdisjoint(sets[tapsplit.HELDOUT])
    assert sets[tapsplit.TUNE] | sets[tapsplit.HELDOUT] == set(names[:9])
    with pytest.raises(tapsplit.SplitError):  # a tuning seed on held-out recordings
        tapgen.generate([src], tmp_path / "x", odr=400, seed=1, split=tapsplit.HELDOUT)
    with pytest.raises(tapsplit.SplitError):
        tapgen.generate([src], tmp_path / "y", odr=400, seed=1000, split=tapsplit.TUNE)
    # split 2: the held-out recordings with seeds no one had drawn
    assert set(tapsplit.HELDOUT2_SEEDS).isdisjoint(set(tapsplit.HELDOUT_SEEDS) | set(tapsplit.TUNE_SEEDS))
    tapgen.generate([src], tmp_path / "h2", odr=400, seed=2000, max_seconds=5, split=tapsplit.HELDOUT2)
    assert {p.name for p in (tmp_path / "h2").glob("rec*.csv")} == sets[tapsplit.HELDOUT]
    assert (tmp_path / "h2" / "taps.csv").read_text() != (tmp_path / tapsplit.HELDOUT / "taps.csv").read_text()
    with pytest.raises(tapsplit.SplitError):
        tapgen.generate([src], tmp_path / "z", odr=400, seed=1000, split=tapsplit.HELDOUT2)


def test_suite_scores_one_split_and_stores_it(source, tmp_path, capsys):
    out = tmp_path / "results.json"
    out.write_text('{"steps": {"kept": 1}}\n')
    assert _cli([str(source), "--suite", "--split", "heldout", "--seeds", "1", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["steps"] == {"kept": 1}  # other benches' results stay
    t = r["taps"]
    assert t["split"] == "heldout" and t["seeds"] == [1000, 1000]
    # only the held-out recording (walk.csv) is used, in every set
    assert all(g["files"] == 1 for g in t["generator"])
    assert t["touched"]["labelled_taps"] > 0 and "by_contact_ms" in t["touched"]
    assert t["untouched"]["labelled_taps"] == 0 and t["untouched"]["distractors"]
    assert set(t["untouched"]["distractors"]) <= set(tapgen.UNTOUCHED_MIX)
    assert "bag" not in t["touched"].get("distractors", {})  # a pin in a bag is not touched
    assert t["real"]["files"] == 1 and t["real"]["false_taps_without_taps"] == 0
    # the same touches with heel strikes all the time
    assert t["walking"]["labelled_taps"] == t["touched"]["labelled_taps"] and t["walking"]["distractors"]["heel"]
    # the same sets through the reference board end to end
    c = t["board"]
    assert c["board"] == "cloudpin_ref"
    assert c["touched"]["labelled_taps"] == t["touched"]["labelled_taps"] and "by_contact_ms" in c["touched"]
    assert c["untouched"]["hours_without_taps"] == t["untouched"]["hours_without_taps"]
    assert t["doze"]["touched"]["labelled_taps"] == t["touched"]["labelled_taps"] and "motion" in t["doze"]["touched"]
    err = capsys.readouterr().err
    assert "taps software (heldout): recall" in err and "taps board (heldout): recall" in err
    assert "taps doze (heldout): recall" in err


def test_touches_are_drawn_across_gravity_and_a_bags_knocks_as_measured():
    rng = np.random.default_rng(4)
    for g in ((0, 0, 1), (0, -1, 0.2), (0.6, 0.6, 0.5)):
        up = np.asarray(g, dtype=float) / np.linalg.norm(g)
        draws = [tapmodel.draw_touch(rng, g) for _ in range(2000)]
        for p in draws:
            assert abs(np.linalg.norm(p["direction"]) - 1) < 1e-9
            assert abs(p["direction"] @ up - p["vertical"]) < 1e-9
            # a lanyard swings across the cord: horizontal, across the contact
            assert abs(p["across"] @ up) < 1e-9 and abs(p["across"] @ p["direction"]) < 1e-9
        worn = np.array([abs(p["vertical"]) for p in draws if p["mount"] != "hand"])
        hand = np.array([abs(p["vertical"]) for p in draws if p["mount"] == "hand"])
        assert worn.max() <= math.sin(math.radians(tapmodel.WORN_ELEV_DEG)) + 1e-9
        # hand-held: within 45 degrees but for the few in any direction
        share = (hand > math.sin(math.radians(tapmodel.HAND_ELEV_DEG)) + 1e-9).mean()
        assert 0.01 < share < tapmodel.HAND_ANY_FRACTION
    bag = np.abs([tapmodel.draw_vertical(rng, "bag") for _ in range(5000)])
    assert np.abs(np.quantile(bag, np.linspace(0, 1, 11))[1:-1] - tapmodel.BAG_VERTICAL_DECILES[1:-1]).max() < 0.03
    heel = np.abs([tapmodel.draw_vertical(rng, "heel") for _ in range(2000)])
    assert np.median(heel) > 0.9


def test_the_generator_lays_each_touch_against_the_recordings_gravity(tmp_path):
    # a still device lying on its side (gravity on -x, a little on y): each
    # touch's impulse keeps the drawn angle to that gravity
    src = tmp_path / "src"
    src.mkdir()
    t = np.arange(40 * 50) * 20.0
    tapgen.write_recording(src / "side.csv", t, np.column_stack([-0.95 + 0 * t, 0.3 + 0 * t, 0 * t]))
    out = tmp_path / "set"
    tapgen.generate([src], out, odr=400, seed=3)
    up = np.array([-0.95, 0.3, 0.0]) / math.hypot(0.95, 0.3)
    rec = np.loadtxt(out / "side.csv", delimiter=",", skiprows=1)
    rows = list(csv.DictReader(open(out / "taps.csv")))
    assert len(rows) >= 4
    errs = []
    for r in rows:
        k = int(round(float(r["t_ms"]) / 2.5))
        h = rec[k - 3:k + 4, 1:4] - rec[k - 40:k - 30, 1:4].mean(axis=0)
        v = h[np.argmax(np.linalg.norm(h, axis=1))]
        errs.append(abs(v @ up / np.linalg.norm(v) - float(r["vertical"])))
    assert np.median(errs) < 0.05 and max(errs) < 0.3, errs


def test_tapdirs_measures_how_transients_point_against_gravity(tmp_path, capsys):
    from host_tools.bench import tapdirs

    # a still device with gravity on z knocked along z (vertical) and along
    # x (horizontal), once every 0.3 s; file names that fall in the tuning split
    src = tmp_path / "src"
    src.mkdir()
    rate = 100
    t = np.arange(30 * rate) * 10.0
    names = {}
    for axis, kind in ((2, "up"), (0, "across")):
        xyz = np.column_stack([0 * t, 0 * t, 1.0 + 0 * t])
        xyz[::30, axis] += 0.5
        name = next(n for n in ("%s%d.csv" % (kind, i) for i in range(20)) if tapsplit.split_of(n) == tapsplit.TUNE)
        tapgen.write_recording(src / name, t, xyz)
        names[kind] = name
    (src / "labels.csv").write_text("file,position\n%s,bag\n%s,hand\n" % (names["up"], names["across"]))
    rows, pooled = tapdirs.measure([src])
    q = {name: deciles for name, _, _, deciles in rows}
    assert q[names["up"]][1] > 0.95 and q[names["across"]][-1] < 0.05
    assert pooled[1] > 0.95  # only the bag is pooled
    assert tapdirs.main([str(src)]) == 0
    assert "pooled bag,backpocket,frontpocket" in capsys.readouterr().out
    assert tapdirs.main([str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def _knock(xyz, k, g, axis=2):
    # a hard contact after the sensor's low-pass: one sample and its side lobes
    for off, f in ((0, 1.0), (-1, 0.1), (1, 0.1)):
        xyz[k + off, axis] += g * f


def _still_recording(path, seconds, knocks):
    n = int(seconds * 400)
    xyz = np.zeros((n, 3))
    xyz[:, 2] = 1.0
    xyz[:, 0] = 0.002 * ((np.arange(n) * 7) % 5 - 2)  # a few mg of tremor
    for k, g, axis in knocks:
        _knock(xyz, k, g, axis)
    tapgen.write_recording(path, np.arange(n) * 2.5, xyz)


def test_a_generated_set_is_one_pins_day_so_the_rattle_context_carries_into_the_next_window(tmp_path):
    # the suite's windows are one pin's day: a bag rattling to the end of one
    # window (keys at every step, 0.55 s apart, and the same step's second
    # knock 200 ms on) holds the rattle context into the next, where a lone
    # knock 2.5 s in (past the train veto's 2 s) is dropped by it; a fresh
    # detector per window (unrelated
    # recordings) takes it for a tap. A touch 12 s into the third window is
    # past the context either way and keeps its time.
    folder = tmp_path / "day"
    folder.mkdir()
    steps = [(k, 2.0, 2) for k in range(400, 2300, 220)] + [(k + 80, 0.7, 1) for k in range(400, 2300, 220)]
    _still_recording(folder / "a.csv", 6, steps)
    _still_recording(folder / "b.csv", 4, [(1000, 3.0, 2)])
    _still_recording(folder / "c.csv", 14, [(4800, 3.0, 0)])
    (folder / "taps.csv").write_text("file,t_ms,tau_ms,dv,mount,vertical\nc.csv,12000.0,0.5,0.1,hand,0.0\n")
    fresh = {f["file"]: f for f in bench.bench_folders([folder], odr=400)["files"]}
    day = {f["file"]: f for f in bench.bench_folders([folder], odr=400, day=True)["files"]}
    assert fresh["b.csv"]["taps_ms"] == [2500.0], fresh["b.csv"]
    assert day["b.csv"]["taps_ms"] == [], day["b.csv"]
    assert day["b.csv"]["detector"]["contexts"] == 1 and fresh["b.csv"]["detector"]["contexts"] == 0
    assert day["c.csv"]["taps_ms"] == fresh["c.csv"]["taps_ms"] == [12000.0]
    assert day["a.csv"] == fresh["a.csv"]  # the day's first window is the same either way
    # tapwhy's day is the same day
    from host_tools.bench import tapwhy
    for kw, b_rows in (({"day": True}, []), ({}, [("false_tap", 2500.0)])):
        [(rows, _)] = tapwhy.explain_folder(folder, 400, **kw)
        assert [(r["why"], r["t_ms"]) for r in rows if r["file"] == "b.csv"] == b_rows, rows
        assert [(r["why"], r["t_ms"]) for r in rows if r["file"] == "c.csv"] == [("found", 12000.0)], rows
        assert len([r for r in rows if r["file"] == "a.csv"]) == len(fresh["a.csv"]["taps_ms"])

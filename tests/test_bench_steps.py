"""The step benchmark harness on a small generated folder: JSON shape, numbers
that agree with the firmware counter, and clear errors for bad input."""
import json
import math
import subprocess
import sys

import pytest

from host_tools import REPO
from host_tools.bench import steps as bench


def _write(path, seconds, rate=25.0, step_hz=0.0, noise=0.004):
    lines = ["t_ms,x,y,z"]
    for i in range(int(seconds * rate)):
        t = i / rate
        b = 0.0
        if step_hz:
            b = 0.35 * math.sin(2 * math.pi * step_hz * t) + 0.1 * math.sin(math.pi * step_hz * t)
        n = noise * math.sin(i * 12.9898)
        lines.append("%d,%.4f,%.4f,%.4f" % (round(t * 1000), n, 0.01, 1.0 + b))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def folder(tmp_path):
    _write(tmp_path / "walk.csv", 40, step_hz=2.0)  # 80 steps
    _write(tmp_path / "still.csv", 30)
    (tmp_path / "labels.csv").write_text("file,steps\nwalk.csv,80\nstill.csv,0\n")
    return tmp_path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", "bench", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_steps_json_shape_and_numbers(folder):
    proc = _cli("steps", str(folder), "--odr", "25")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    files = {f["file"]: f for f in result["files"]}
    assert set(files) == {"walk.csv", "still.csv"}
    assert files["walk.csv"]["kind"] == "walk" and files["still.csv"]["kind"] == "none"
    assert abs(files["walk.csv"]["counted"] - 80) <= 4
    assert files["still.csv"]["counted"] == 0
    s = result["summary"]
    ape = abs(files["walk.csv"]["counted"] - 80) * 100 / 80
    assert s["mape_pct"] == pytest.approx(ape, abs=0.01) and s["median_ape_pct"] == pytest.approx(ape, abs=0.01)
    assert s["false_steps_per_hour"] == 0 and s["hours"] > 0
    assert set(s["by_kind"]) == {"walk", "none"}
    assert "counting in the MicroPython VM" in proc.stderr  # progress goes to stderr
    assert "counted 1 of 2 recordings" in proc.stderr and "counted 2 of 2 recordings" in proc.stderr


def test_vm_counts_equal_the_counter_in_cpython(folder):
    # the VM (feed_fifo, 32-sample chunks) and CPython (feed) agree exactly
    sys.path[:0] = [str(REPO / "firmware"), str(REPO / "host_tools" / "emulator")]
    try:
        from cloudpin.steps import StepCounter
    finally:
        del sys.path[:2]
    from host_tools.bench import resample as rs

    result = bench.bench_steps(folder, odr=50)
    for f in result["files"]:
        t, x, y, z = rs.load_resampled(folder / f["file"], 50)
        sc = StepCounter(50)
        for a, b, c in rs.to_mg_int16(x, y, z).reshape(-1, 3).tolist():
            sc.feed(a, b, c)
        assert sc.steps == f["counted"], f


def test_missing_labels_is_a_clear_error(tmp_path):
    _write(tmp_path / "a.csv", 5)
    proc = _cli("steps", str(tmp_path))
    assert proc.returncode == 2
    assert "missing labels.csv" in proc.stderr and "Traceback" not in proc.stderr


def test_malformed_recording_is_skipped_with_its_reason_and_the_rest_scored(folder):
    with (folder / "walk.csv").open("a") as f:
        f.write("1234,0.1,oops,1.0\n")
    proc = _cli("steps", str(folder))
    assert proc.returncode == 1, proc.stderr  # JSON printed, but not a clean run
    result = json.loads(proc.stdout)
    assert [f["file"] for f in result["files"]] == ["still.csv"]
    (skip,) = result["skipped"]
    assert skip["file"] == "walk.csv" and "expected 4 numbers" in skip["error"]
    assert "skipped" in proc.stderr and "walk.csv" in proc.stderr and "Traceback" not in proc.stderr
    assert result["summary"]["files"] == 1 and "mape_pct" not in result["summary"]


def test_label_naming_a_missing_file_is_skipped(folder):
    (folder / "labels.csv").write_text("file,steps\nwalk.csv,80\nghost.csv,3\n")
    proc = _cli("steps", str(folder))
    assert proc.returncode == 1 and "ghost.csv not found" in proc.stderr
    result = json.loads(proc.stdout)
    assert [f["file"] for f in result["files"]] == ["walk.csv"] and result["skipped"][0]["file"] == "ghost.csv"


def test_no_usable_recording_is_an_error(folder):
    (folder / "labels.csv").write_text("file,steps\nghost.csv,3\n")
    proc = _cli("steps", str(folder))
    assert proc.returncode == 2 and "no usable recordings (1 skipped)" in proc.stderr and not proc.stdout


def test_default_odr_comes_from_the_board():
    assert bench.board_odr("no-such-board") == bench.FALLBACK_ODR
    assert bench.board_odr() > 0


def test_default_rate_is_the_one_the_app_runs_each_board_at():
    # The bench must measure the counter as the pin feeds it: the motion
    # service picks the sensor rate; the bench's default has to follow it.
    from types import SimpleNamespace

    from host_tools import BOARDS_DIR

    sys.path[:0] = [str(REPO / "firmware"), str(REPO / "host_tools" / "emulator")]
    try:
        from cloudpin.motion import MotionService
    finally:
        del sys.path[:2]
    from host_tools.boards import boardspec

    boards = sorted(BOARDS_DIR.glob("*.json"))
    assert len(boards) >= 3
    for path in boards:
        # The board layer hands the service the rate the chip runs at (tests/fw/test_app.py).
        accel = json.loads(path.read_text())["accel"]
        # (a driver's range_g: the service tells the tap detector its full scale)
        hw = SimpleNamespace(accel=SimpleNamespace(range_g=accel["range_g"]), accel_rate=boardspec.motion_rate(accel))
        svc = MotionService(hw, log=None)
        assert bench.board_odr(path.stem) == svc.rate and svc.pipeline.steps.rate_hz <= 30, path.stem


def test_non_utf8_recording_is_skipped_and_the_rest_scored(folder):
    (folder / "latin1.csv").write_bytes("t_ms,x,y,z\n0,0,0,1\n20,0,0,1\n# caf\xe9\n".encode("latin-1"))
    with (folder / "labels.csv").open("a") as f:
        f.write("latin1.csv,0\n")
    proc = _cli("steps", str(folder))
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert sorted(f["file"] for f in result["files"]) == ["still.csv", "walk.csv"]
    (skip,) = result["skipped"]
    assert skip["file"] == "latin1.csv" and "latin1.csv:4: not UTF-8 text (byte 0xe9)" in skip["error"]
    assert "Traceback" not in proc.stderr


def test_non_utf8_labels_is_a_one_line_error(folder):
    (folder / "labels.csv").write_bytes("file,steps\nwalk.csv,80\nstill\xe9.csv,0\n".encode("latin-1"))
    proc = _cli("steps", str(folder))
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.strip().splitlines() == [
        "error: %s:3: not UTF-8 text (byte 0xe9); save the CSV as UTF-8" % (folder / "labels.csv")]


def test_timestamps_in_seconds_are_refused_not_scored(folder):
    # The same walk with t in seconds: spaced 0.04 "ms", i.e. 25 kHz.
    lines = (folder / "walk.csv").read_text().splitlines()
    seconds = [lines[0]] + ["%g,%s" % (int(r.split(",", 1)[0]) / 1000.0, r.split(",", 1)[1]) for r in lines[1:]]
    (folder / "walk_s.csv").write_text("\n".join(seconds) + "\n")
    with (folder / "labels.csv").open("a") as f:
        f.write("walk_s.csv,80\n")
    proc = _cli("steps", str(folder))
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert "walk_s.csv" not in [f["file"] for f in result["files"]]
    (skip,) = result["skipped"]
    assert skip["file"] == "walk_s.csv" and "t_ms must be milliseconds" in skip["error"]
    assert "look like seconds" in skip["error"] and "walk_s.csv" in proc.stderr


def test_bench_all_keeps_the_other_sets_when_one_labels_file_is_bad(folder, tmp_path_factory, monkeypatch):
    from types import SimpleNamespace

    from host_tools.bench import cli as bench_cli

    data = tmp_path_factory.mktemp("sets")
    folder.rename(data / "good")
    (data / "bad").mkdir()
    (data / "bad" / "labels.csv").write_bytes(b"file,steps\n\xff.csv,1\n")
    # only the step sets are under test here: the other benchmarks answer at once
    monkeypatch.setattr(bench_cli.cost, "measure", lambda: {})
    monkeypatch.setattr(bench_cli.taps, "bench_suite", lambda sets, progress: {})
    monkeypatch.setattr(bench_cli, "_bench_deploy", lambda: {})
    monkeypatch.setattr(bench_cli, "_bench_desk", lambda: {})
    monkeypatch.setattr(bench_cli, "_bench_sim", lambda: {})
    monkeypatch.setattr(bench_cli, "_bench_phone", lambda say: {})
    monkeypatch.setattr(bench_cli, "_bench_clock", lambda: {})
    monkeypatch.setattr(bench_cli.radio, "bench_radio", lambda progress: {})
    monkeypatch.setattr(bench_cli.social, "measure", lambda: {})
    monkeypatch.setattr(bench_cli.designs, "measure", lambda: {})
    monkeypatch.setattr(bench_cli.crowd, "bench_crowd", lambda progress: {})
    monkeypatch.setattr(bench_cli, "_bench_power", lambda say: {})
    monkeypatch.setattr(bench_cli, "_bench_heap", lambda say: {})
    monkeypatch.setattr(bench_cli, "_bench_simsteps", lambda sets, say: {})
    out = data / "results.json"
    rc = bench_cli.run_all(SimpleNamespace(data=str(data), out=str(out), odr=25.0, board=bench.DEFAULT_BOARD))
    assert rc == 1
    result = json.loads(out.read_text())
    assert "not UTF-8 text" in result["steps"]["bad"]["error"]
    assert {f["file"] for f in result["steps"]["good"]["files"]} == {"walk.csv", "still.csv"}


def test_a_set_given_as_dot_is_named_after_its_folder(folder, monkeypatch):
    # `cloudpin bench steps .` from inside the set: its name, not "", in the
    # JSON and at the head of every progress line.
    from host_tools.bench import steps

    monkeypatch.chdir(folder)
    said = []
    out = steps.bench_steps(".", odr=25, progress=said.append)
    assert out["set"] == folder.name
    assert said and all(line.startswith(folder.name + ": ") for line in said), said

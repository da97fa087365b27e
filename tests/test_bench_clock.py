"""`cloudpin bench clock` (host_tools/bench/clock.py): two friends' drifting
RTCs over a short run, and its argument checks."""
from host_tools.bench import clock
from host_tools.cli import main


def test_a_short_run_meets_in_every_window_where_drift_alone_would_not():
    r = clock.bench_clock(hours=0.2, ppm=2500)  # windows at 17, 317 and 617 s
    assert r["windows"] == 3 and r["received"] == {"a": 3, "b": 3}, r
    assert r["without_correction_estimate"] == 2  # 3 s apart by the third
    assert r["rtc_apart_ms"] < 500 and 0.9 < r["light_sleep_share"] < 1
    assert r["sleep_err_ms"]["a"] > 1000 > -1000 > r["sleep_err_ms"]["b"]  # they did drift


def test_bad_arguments_are_refused_in_one_line(capsys):
    assert main(["bench", "clock", "--hours", "0"]) == 2
    assert main(["bench", "clock", "--ppm", "200000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "--hours" in err and "--ppm" in err, err

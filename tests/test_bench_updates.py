"""cloudpin bench updates: a small hall runs the real update service for one
window and reports what was stored; bad crowd sizes are one-line errors."""
import subprocess
import sys

from host_tools.bench import updates


def test_a_small_hall_stores_near_friends_and_reports_the_window_cost():
    r = updates.hall(4, seed=1)
    assert r["pins"] == 4 and r["windows"] == 4 and r["directions"] == {"near": 2, "far": 2}
    assert r["near_stored_share"] == 1.0  # two pins a few metres apart, alone in the hall
    assert r["per_window_ms"]["radio_on"] == 2250.0  # 250 ms start-up + the 2 s window
    assert 0 < r["per_window_ms"]["air_tx"] < 50 and 1500 < r["per_window_ms"]["air_rx"] <= 2000


def test_odd_or_malformed_crowd_sizes_are_refused():
    for arg in ("3", "ten"):
        p = subprocess.run([sys.executable, "-m", "host_tools.cli", "bench", "updates", "--pins", arg],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, p.stderr

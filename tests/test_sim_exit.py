"""`cloudpin sim` ends quietly: the apps' tasks are dropped with the world,
and a task made but never run (asyncio.wait_for's for a ThreadSafeFlag's
wait() when the run ended first; coincident-knocks has one) is closed with
it, instead of Python warning at exit that its coroutine was never awaited."""
import subprocess
import sys

from host_tools import REPO


def test_a_sim_run_leaves_no_warning_at_exit():
    out = subprocess.run([sys.executable, "-m", "host_tools.cli", "sim", "--quiet", "scenarios/coincident-knocks.json"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"pins"' in out.stdout
    assert "never awaited" not in out.stderr and "Warning" not in out.stderr and "Task" not in out.stderr, out.stderr


def test_a_run_cut_in_a_handshake_closes_its_pins_without_a_warning():
    # Closing the pins' coroutines runs the firmware's `finally` blocks with
    # no loop: meet's disconnect makes a flag's wait() for wait_for, which
    # cannot be awaited then (cpsim.compat: wait_for_ms closes it).
    import warnings

    from host_tools import sim

    sc = {"name": "end", "seed": 3, "duration_s": 6.0, "room": {"width_m": 4, "depth_m": 4},
          "event": {"utc_offset_min": 540, "start_utc": 1627027482},
          "pins": [{"id": "p1", "x": 1.0, "y": 1.0, "facing_deg": 0}, {"id": "p2", "x": 1.6, "y": 1.0, "facing_deg": 180}],
          "taps": [{"t_ms": 4700, "a": "p1", "b": "p2"}]}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        sim.simulate(sim.validate(sc), warn=lambda line: None)
        import gc

        gc.collect()
    assert not [str(w.message) for w in seen if "never awaited" in str(w.message)], [(str(w.message), w.filename, w.lineno) for w in seen]

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

"""The simulator under CPython needs greenlet (pyproject): without it the
scheduler used to fall back to nesting every blocking call, which changed
what the pins saw (third-pin found 0 of 7 taps, every FIFO overran), in
silence. Now it refuses at import, naming the fix."""
import subprocess
import sys
from pathlib import Path

EMULATOR = Path(__file__).resolve().parent.parent / "host_tools" / "emulator"


def test_without_greenlet_the_simulator_refuses_at_import_in_one_line():
    code = ("import sys\nsys.modules['greenlet'] = None  # as if not installed\n"
            "sys.path.insert(0, %r)\n"
            "try:\n    import cpsim.simloop\nexcept ImportError as e:\n    print('REFUSED', e)\n"
            "else:\n    print('IMPORTED')\n" % str(EMULATOR))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == ["REFUSED the simulator needs the greenlet package: make install"], (out.stdout, out.stderr)


def test_with_greenlet_it_imports():
    out = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import cpsim.simloop; print('OK')"
                          % str(EMULATOR)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "OK", out.stderr

"""Precompiled emulator modules for the MicroPython VM.

On a pin, `machine`, `bluetooth` and `esp32` are C modules that cost no heap.
The emulated ones are Python: compiling their source inside the VM needs
tens of KB of heap at import, which would eat the ESP32-sized heap the
firmware is tested with. So they are compiled once with mpy-cross (portable
bytecode) into a cache folder that goes on MICROPYPATH instead of the source.
"""
import os
import subprocess
import sys
from pathlib import Path

from host_tools import EMULATOR_DIR, REPO

CACHE_DIR = REPO / ".cache" / "emulator-mpy"


def _mpy_cross():
    return str(Path(sys.executable).parent / "mpy-cross")


def compile_tree(src, dst):
    """Compile every .py under src to .mpy under dst, skipping up-to-date files."""
    src, dst = Path(src), Path(dst)
    for py in sorted(src.rglob("*.py")):
        if "__pycache__" in py.parts:
            continue
        rel = py.relative_to(src)
        out = dst / rel.with_suffix(".mpy")
        if out.exists() and out.stat().st_mtime >= py.stat().st_mtime:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp%d" % os.getpid())
        proc = subprocess.run([_mpy_cross(), "-o", str(tmp), "-s", rel.as_posix(), str(py)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError("mpy-cross failed on %s:\n%s" % (py, proc.stderr))
        os.replace(tmp, out)  # atomic: parallel test workers never see half a file
    # Drop .mpy files whose source is gone, so a deleted module cannot linger.
    for mpy in dst.rglob("*.mpy"):
        if not (src / mpy.relative_to(dst)).with_suffix(".py").exists():
            mpy.unlink()
    return dst


def emulator_dir():
    """Folder to put on MICROPYPATH for the emulated machine/bluetooth/esp32."""
    return compile_tree(EMULATOR_DIR, CACHE_DIR)

"""CloudPin host tools: flash, deploy, provision and read badges."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO / "firmware"
BOARDS_DIR = REPO / "boards"
EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"

__version__ = "0.1.0"


def firmware_on_path(compat=False):
    """Make the firmware (`cloudpin`) importable in this CPython process,
    with the emulator (`cpsim`, and its stand-ins for MicroPython's own
    modules: `micropython`, `machine`...) ahead of anything else of those
    names. With compat, also give CPython what MicroPython has and the
    firmware uses (time.ticks_ms, asyncio.ThreadSafeFlag, cryptolib...:
    cpsim.compat.install), which changes this process's modules for good."""
    for d in (str(EMULATOR_DIR), str(FIRMWARE_DIR)):
        if d not in sys.path:
            sys.path.insert(0, d)
    if compat:
        from cpsim import compat as cp

        cp.install()

"""CloudPin host tools: flash, deploy, provision and read badges."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO / "firmware"
BOARDS_DIR = REPO / "boards"
EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"

__version__ = "0.1.0"

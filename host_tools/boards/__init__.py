"""Board definitions (boards/*.json) for host tools. Validation is the
firmware's own (firmware/cloudpin/boardspec.py), so a board file the host
accepts is one the pin accepts."""
import json
from pathlib import Path

from host_tools import BOARDS_DIR
from host_tools.fw import source as fwsource

boardspec = fwsource.load("boardspec")
BoardError = boardspec.BoardError


def board_names():
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def board_path(name_or_path):
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        return p
    candidate = BOARDS_DIR / (str(name_or_path) + ".json")
    if not candidate.exists():
        raise BoardError("unknown board %r; known boards: %s" % (str(name_or_path), ", ".join(board_names())))
    return candidate


def load_board(name_or_path):
    """Load and validate a board by name (boards/NAME.json) or path; raises BoardError."""
    path = board_path(name_or_path)
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BoardError("board file %s does not exist" % path) from None
    except ValueError as e:
        raise BoardError("board file %s is not valid JSON: %s" % (path, e)) from None
    try:
        return boardspec.validate(data)
    except BoardError as e:
        raise BoardError("%s: %s" % (path, e)) from None

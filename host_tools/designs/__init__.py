"""Event packs (packs/*.json) for host tools: checked by the firmware's own
validator (firmware/cloudpin/designs/packjson.py), so a pack the host accepts is
one the pin accepts; cards rendered by the firmware's own drawing code in
the MicroPython VM (render.py)."""
import json
import sys
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO
from host_tools.fw import source as fwsource

# The firmware's own modules, imported as the pin imports them (the package
# on the path, appended: no host module is shadowed), so the loader, the
# validator (designs.packjson) and their PackError are one set of modules.
if str(FIRMWARE_DIR) not in sys.path:
    sys.path.append(str(FIRMWARE_DIR))
from cloudpin.designs import pack as packfmt  # noqa: E402
from cloudpin.designs import packjson  # noqa: E402

PackError = packfmt.PackError
PACKS_DIR = REPO / "packs"
DEFAULT_PACK = PACKS_DIR / "tokyo2020.json"  # what deploy, image and the simulator put on a pin
PACK_FILE = fwsource.constants("app")["PACK_PATH"]  # the compiled pack on the pin, beside board.json


def read_pack(path):
    """(parsed document, [errors]) for the pack file at path: every error
    the firmware's validator names, or why the file could not be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, ["%s: no such file" % path]
    except (OSError, UnicodeDecodeError) as e:
        return None, ["%s: cannot read: %s" % (path, e)]
    try:
        doc = json.loads(text)
    except ValueError as e:
        return None, ["%s: not valid JSON: %s" % (path, e)]
    return doc, ["%s: %s" % (path, e) for e in packjson.check(doc)]


def compile_pack(path):
    """The compiled pack file's bytes (what the pin boots from, /pack.bin)
    for a valid pack; PackError naming every error otherwise."""
    doc, errors = read_pack(path)
    if errors:
        raise PackError("\n".join(errors))
    return packjson.to_bytes(packfmt.Pack(doc))


def pack_error_line(err, path):
    """One line for a tool that compiles a pack as one of its steps (deploy,
    image): the first error and where to see them all."""
    lines = str(err).splitlines() or ["invalid pack"]
    if len(lines) == 1:
        return lines[0]
    return "%s (and %d more errors: cloudpin pack check %s)" % (lines[0], len(lines) - 1, path)

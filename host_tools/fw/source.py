"""What host tools take from the firmware's own modules instead of
restating it: limits, NVS keys, the digest of a badge's secrets. The
firmware is MicroPython code, so it is read from its files, not imported as
a package: constants through the syntax tree (a module may import
MicroPython-only modules), and the few modules that need nothing beyond the
standard library loaded as plain files."""
import ast
import importlib.util
from pathlib import Path

from host_tools import FIRMWARE_DIR


class SourceError(ValueError):
    """The firmware tree lacks what a host tool takes from it."""


def _path(name, root):
    return Path(root) / "cloudpin" / (name.replace(".", "/") + ".py")


def constants(name, root=FIRMWARE_DIR):
    """{NAME: value} of the module-level `NAME = literal` and
    `NAME = const(literal)` assignments in firmware module cloudpin.<name>."""
    path = _path(name, root)
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "const":
            value = value.args[0]
        try:
            out[node.targets[0].id] = ast.literal_eval(value)
        except ValueError:  # computed at run time: not a constant the host can take
            continue
    return out


def version(root=FIRMWARE_DIR):
    """VERSION of the firmware tree (cloudpin/__init__.py)."""
    found = constants("__init__", root).get("VERSION")
    if not isinstance(found, str):
        raise SourceError('no VERSION = "x.y.z" in %s' % _path("__init__", root))
    return found


def load(name, root=FIRMWARE_DIR):
    """Firmware module cloudpin.<name> run under CPython, for one that
    imports only what CPython has too (cloudpin.identity), pure firmware
    modules included (boardspec takes its rates from cloudpin.rates)."""
    import sys

    if str(root) not in sys.path:
        sys.path.append(str(root))
    path = _path(name, root)
    spec = importlib.util.spec_from_file_location("cloudpin_fw_" + name.replace(".", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

"""The board layer (firmware/cloudpin/board.py) is the only firmware code that
constructs machine/bluetooth objects, so a simulation can hand the app
emulated parts and every object belongs to the pin that built it."""
import ast

from host_tools import FIRMWARE_DIR

# esp32.NVS is left to identity.open_nvs(): the desk opens the identity
# namespace over the REPL through it, with no board layer running.
_MODULES = ("machine", "bluetooth")


def constructions(path):
    """(line, what) of each call to a class of machine/bluetooth in a file."""
    tree = ast.parse(path.read_text())
    imported = set()  # names bound by `from machine import X`
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in _MODULES:
            imported.update(a.asname or a.name for a in node.names)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in _MODULES \
                and f.attr[:1].isupper():
            out.append((node.lineno, "%s.%s" % (f.value.id, f.attr)))
        elif isinstance(f, ast.Name) and f.id in imported and f.id[:1].isupper():
            out.append((node.lineno, f.id))
    return out


def test_only_the_board_layer_constructs_hardware_objects():
    found = {}
    for path in sorted((FIRMWARE_DIR / "cloudpin").rglob("*.py")):  # the subpackages too
        # bluetooth.UUID is a value (a service's name), not a piece of hardware
        calls = [c for c in constructions(path) if c[1] != "bluetooth.UUID"]
        if calls:
            found[str(path.relative_to(FIRMWARE_DIR / "cloudpin"))] = calls
    assert "board.py" in found  # the check sees constructions at all
    del found["board.py"]
    assert found == {}, found


def test_the_check_finds_both_spellings(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import machine\nfrom machine import Pin\nt = machine.Timer(0)\np = Pin(4)\nPin.IN\n")
    assert constructions(f) == [(3, "machine.Timer"), (4, "Pin")]

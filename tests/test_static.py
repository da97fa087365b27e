"""The firmware is checked against the pin's real platform: mpy-cross for the
ESP32's Xtensa CPU and pyright with the ESP32 stubs. The negative tests prove
each check catches the mistakes it is here for."""
import shutil

import pytest

from host_tools import FIRMWARE_DIR
from host_tools.fw import static_check


def test_every_firmware_module_compiles_for_xtensawin():
    assert static_check.firmware_modules(), "no firmware modules found"
    assert static_check.mpy_cross_all() == {}


def test_firmware_type_checks_against_esp32_stubs():
    assert static_check.type_check() == []


@pytest.fixture
def scratch_fw(tmp_path):
    root = tmp_path / "fw"
    shutil.copytree(FIRMWARE_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    return root


@pytest.mark.parametrize(
    "line",
    [
        "match x:\n    case 1:\n        pass\n",  # match statement: not MicroPython syntax
        "def f(a, /, b):\n    return a\n",  # positional-only parameters
    ],
)
def test_mpy_cross_rejects_cpython_only_syntax(scratch_fw, line):
    (scratch_fw / "cloudpin" / "broken.py").write_text("x = 1\n" + line)
    assert any("broken.py" in p for p in static_check.mpy_cross_all(scratch_fw))


def test_type_check_rejects_method_the_esp32_port_lacks(scratch_fw):
    (scratch_fw / "cloudpin" / "broken.py").write_text(
        "import machine\n\ndef f():\n    machine.I2C(0).frobnicate()\n"
    )
    errors = static_check.type_check(scratch_fw)
    assert any("frobnicate" in e for e in errors), errors


def test_type_check_rejects_missing_esp32_module(scratch_fw):
    (scratch_fw / "cloudpin" / "broken.py").write_text("import esp32\n\nesp32.NVS('x').set_float('k', 1.0)\n")
    errors = static_check.type_check(scratch_fw)
    assert any("set_float" in e for e in errors), errors

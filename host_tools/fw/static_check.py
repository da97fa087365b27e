"""Static checks of the firmware against the ESP32: every module compiles with
mpy-cross for the Xtensa (ESP32) CPU, and pyright with MicroPython's ESP32
stubs as its typeshed reports no errors."""
import json
import subprocess
import sys
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO

STUBS_DIR = REPO / ".venv" / "esp32-stubs"


def _tool(name):
    return str(Path(sys.executable).parent / name)


def firmware_modules(root=FIRMWARE_DIR):
    return sorted(p for p in Path(root).rglob("*.py") if "__pycache__" not in p.parts)


def mpy_cross(path, out=None, arch="xtensawin"):
    """Compile one module for `arch`; returns (ok, message)."""
    cmd = [_tool("mpy-cross"), "-march=" + arch, str(path)]
    if out:
        cmd[1:1] = ["-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def mpy_cross_all(root=FIRMWARE_DIR, arch="xtensawin"):
    """Returns {path: message} for every module that does not compile."""
    failures = {}
    for path in firmware_modules(root):
        out = Path("/tmp") / ("cloudpin-check-%d.mpy" % abs(hash(str(path))))
        ok, msg = mpy_cross(path, out, arch)
        out.unlink(missing_ok=True)
        if not ok:
            failures[str(path)] = msg
    return failures


def type_check(root=FIRMWARE_DIR, stubs=STUBS_DIR):
    """Run pyright over `root` with the ESP32 stubs; returns a list of error strings."""
    if not (Path(stubs) / "machine.pyi").exists():
        raise RuntimeError("ESP32 stubs missing at %s: run `make install`" % stubs)
    config = {
        "typeshedPath": str(stubs),
        "stubPath": str(stubs),
        "pythonVersion": "3.8",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
        "include": [str(root)],
    }
    cfg = Path(root) / ".pyright-check.json"
    cfg.write_text(json.dumps(config))
    try:
        proc = subprocess.run([_tool("pyright"), "--outputjson", "-p", str(cfg)], capture_output=True, text=True)
    finally:
        cfg.unlink(missing_ok=True)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError("pyright did not run: " + proc.stdout[-2000:] + proc.stderr[-2000:])
    return [
        "%s:%d: %s" % (d["file"], d["range"]["start"]["line"] + 1, d["message"])
        for d in report.get("generalDiagnostics", [])
        if d.get("severity") == "error"
    ]

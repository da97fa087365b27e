"""Test harness.

Firmware tests live in tests/fw/test_*.py as plain `def test_*():` functions
using bare asserts, so the same file runs under CPython and inside the real
MicroPython VM (unix port, ESP32-sized heap). Each function becomes two pytest
items, `name[cpython]` and `name[micropython]`; a failure in either runtime
fails the run. Functions named `test_mp_*` run under MicroPython only (heap
measurements that mean nothing under CPython).
"""
import ast
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FW_TESTS = REPO / "tests" / "fw"
FIRMWARE = REPO / "firmware"
EMULATOR = REPO / "host_tools" / "emulator"


_EMULATOR_MPY = []


def micropython_path():
    # The emulator goes in precompiled (host_tools/fw/vm.py): on a pin its
    # modules are C and cost no heap. MICROPYPATH replaces the VM's default
    # path, so ".frozen" (asyncio is frozen into the unix port) is kept last.
    if not _EMULATOR_MPY:
        from host_tools.fw.vm import emulator_dir

        _EMULATOR_MPY.append(emulator_dir())
    return os.pathsep.join([str(p) for p in (FW_TESTS, FIRMWARE, _EMULATOR_MPY[0])] + [".frozen"])


# A test VM pads its qstr pools before the test module (mp_runner.py), with
# room for the emulator's names and the firmware's (cpsim.resident.pad_qstrs):
# the firmware's names then make no pool in the VM, and the chips' pools for
# them are charged instead: the VM holds qstr_charge() aside from the shares, as a
# virtual badge's does (docs/heap.md "The qstr pools"). Before, a test VM
# charged nothing until the firmware's names crossed the emulator's last
# pool, then a 28 KB one. The padding is the emulator's: the heap probe makes
# it too.
EMULATOR_PROBE = ("from cpsim import resident\nresident.pad_qstrs(2 * resident.QSTR_ROOM)\n"
                  "resident.load_all(sim=True, every_board=True)")


def micropython_heap():
    """-X heapsize for test VMs: the pin's heap in the VM's words plus what
    every emulator module a test may load occupies with the VM's qstr pools
    padded (host_tools/fw/vm.py), the simulated time base included
    (mp_runner.py installs it)."""
    from host_tools.fw.vm import vm_heap

    return vm_heap(micropython_binary(), EMULATOR_PROBE)


def qstr_charge():
    """The VM bytes a test VM holds aside for the chip's qstr pools: a
    virtual badge's. Once in a VM of several pins, whose names are interned
    once as their code is loaded once (FirmwareFile.heap)."""
    from cpsim import resident

    return resident.BADGE_QSTR_POOL_BYTES


for _p in (str(EMULATOR), str(FIRMWARE), str(FW_TESTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
sys.path.append(str(REPO))  # host_tools when not installed
from host_tools.fw.vm import micropython_binary  # noqa: E402
from cpsim import compat  # noqa: E402

compat.install()


def pytest_pycollect_makemodule(module_path, parent):
    # Replaces pytest's own Module collector for firmware test files.
    if module_path.parent == FW_TESTS:
        return FirmwareFile.from_parent(parent, path=module_path)
    return None


class FirmwareFile(pytest.File):
    pins = 1  # pins a test of this module runs at once in its VM (module constant PINS)

    def collect(self):
        tree = ast.parse(self.path.read_text(), str(self.path))
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and getattr(node.targets[0], "id", None) == "PINS"
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int)):
                self.pins = max(1, node.value.value)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                runtimes = ("micropython",) if node.name.startswith("test_mp_") else ("cpython", "micropython")
                for rt in runtimes:
                    yield FirmwareItem.from_parent(self, name="%s[%s]" % (node.name, rt), func=node.name, runtime=rt)

    def heap(self):
        # Each pin of a multi-pin test (two pins tapped together, a third one
        # a metre away) has its own 100 KB on the chip: one pin's share each.
        from host_tools.fw.vm import firmware_heap_in_vm

        base = micropython_heap()
        if self.pins == 1 or not base.isdigit():
            return base
        return str(int(base) + (self.pins - 1) * firmware_heap_in_vm())

    def micropython_results(self):
        """Run the whole module once in the VM; {test name: (passed, output)}."""
        cached = getattr(self, "_mp_results", None)
        if cached is not None:
            return cached
        workdir = tempfile.mkdtemp(prefix="cloudpin-mp-")
        env = dict(os.environ, MICROPYPATH=micropython_path(), CLOUDPIN_QSTR_HOLD=str(qstr_charge()))
        proc = subprocess.run(
            [micropython_binary(), "-X", "heapsize=" + self.heap(), str(FW_TESTS / "mp_runner.py"), self.path.stem, workdir],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
        )
        shutil.rmtree(workdir, ignore_errors=True)
        results, current, lines = {}, None, []
        for line in proc.stdout.splitlines():
            if line.startswith("@@BEGIN "):
                current, lines = line[8:], []
            elif line.startswith("@@END ") and current:
                results[current] = (line.endswith(" PASS"), "\n".join(lines))
                current = None
            else:
                lines.append(line)
        self._mp_results = results
        self._mp_tail = "exit code %s\nstdout tail:\n%s\nstderr:\n%s" % (
            proc.returncode, "\n".join(proc.stdout.splitlines()[-30:]), proc.stderr[-3000:])
        return results


class FirmwareTestFailure(Exception):
    pass


class FirmwareItem(pytest.Item):
    def __init__(self, *, func, runtime, **kw):
        super().__init__(**kw)
        self.func = func
        self.runtime = runtime

    def runtest(self):
        if self.runtime == "cpython":
            from cpsim import world

            world.reset()
            mod = importlib.import_module(self.parent.path.stem)
            old = os.getcwd()
            tmp = tempfile.mkdtemp(prefix="cloudpin-py-")
            os.chdir(tmp)
            try:
                getattr(mod, self.func)()
            finally:
                os.chdir(old)
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            results = self.parent.micropython_results()
            if self.func not in results:
                raise FirmwareTestFailure("test did not report under MicroPython (VM crashed?)\n" + self.parent._mp_tail)
            ok, output = results[self.func]
            if not ok:
                raise FirmwareTestFailure("failed under MicroPython:\n" + output)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, FirmwareTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name

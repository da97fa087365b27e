"""The whole app on ONE pin's heap, with and without the designs (issue 10,
docs/designs.md "The heap"): the app as main.py starts it on a provisioned pin
of the reference board, its package as .mpy as deploy and `make demo` install
it, in a VM that gives the firmware exactly one pin's share (host_tools/fw/vm.py;
the emulated stack's run-time state beside it, as a virtual badge has) and
charges the firmware's qstr pools as the chip would (cpsim.resident.pad_qstrs,
docs/heap.md "The qstr pools"). The harness (tests/fw/appkit.py, from source,
and the log lines it keeps) is charged to the pin too.

A second pin, built after the first in the same VM, taps it. It shares the
first one's code, so before the tap the VM is cut to what two pins would have
free on their own chips: twice the first pin's free heap after its boot (the
same board, the same services, the same work: it holds the pack only if the
first pin's designs are on), and each pin's margin is half of what the two
have free.
"""
import re

import pytest
from cpsim import resident

from host_tools.bench.heap import FW_TESTS, _mpy_tree
from host_tools.designs import DEFAULT_PACK, compile_pack
from host_tools.fw import vm

_PROBE = "from cpsim import resident\nresident.load_all(sim=True, every_board=True)\n" \
         "from cpsim.world import World\nw = World()\nresident.pad_qstrs()"

_RUN = r'''
import gc, os
gc.threshold(4096)  # the emulator packed low, as a virtual badge's boot shim loads it
from cpsim import resident, simtime
simtime.install()
resident.load_all(sim=True, every_board=True)
from cpsim.world import World
w = World()
resident.pad_qstrs()
data = None  # the pack file's bytes, for app_pin to write on each pin's flash: held outside the shares
if PACK:
    with open("pack.bin", "rb") as f:
        data = f.read()
gc.collect()
# The chip's qstr pools for the firmware's names, then exactly the pin's share
# free: the rest of the heap is held; a second share is held for pin B.
held = [bytearray(resident.CHIP_QSTR_POOL_BYTES), bytearray(SHARE), None]
gc.collect()
held[2] = bytearray(gc.mem_free() - SHARE + resident.CHIP_QSTR_POOL_BYTES)
gc.threshold(-1)  # the port's default, as the firmware finds it on a chip
gc.collect()
print("SHARE", gc.mem_free())
from appkit import app_pin, start_and_tap
from cloudpin import bus as topics
T0 = 1796000010
root = os.getcwd()
da, a, la = app_pin(w, root, "pa", 1, T0, card=True, pack=data, status_every_ms=1000)
os.chdir(root)
if a.designs is None:
    data = None
gc.collect()
free_a = gc.mem_free()
print("BOOT", free_a)
print("DESIGNS", a.designs is not None)
held[1] = None
gc.collect()
db, b, lb = app_pin(w, root, "pb", 2, T0, card=True, pack=data, status_every_ms=1000)
os.chdir(root)
gc.collect()
held[1] = bytearray(gc.mem_free() - 2 * free_a)  # what two chips would have free, no more
gc.collect()
print("TWO", gc.mem_free())
w.radio.set_distance(da, db, 0.02)
made = []
for app in (a, b):
    app.bus.subscribe(topics.FRIEND, lambda slot, t, app=app: made.append(app.badge))
start_and_tap(w, ((da, a), (db, b)))
w.run_for(7000)
os.chdir(root)
gc.collect()
print("AFTER", gc.mem_free())
print("MADE", len(made))
print("UNLOCKED", " ".join(a.designs.engine.pack.ids[i] for i in a.designs.engine.order) if a.designs else "-")
for ln in la:
    print("A", ln)
for ln in lb:
    print("B", ln)
'''


def one_pin(tree, pack):
    """{tag: [values]} of the run above (pack: the Tokyo pack on both pins)."""
    share = vm.firmware_heap_in_vm() + resident.RUNTIME_BYTES
    heap = str(int(vm.vm_heap(vm.micropython_binary(), _PROBE)) + 2 * share)
    out = vm.run_script("SHARE = %d\nPACK = %r\n" % (share, pack) + _RUN, {"pack.bin": compile_pack(DEFAULT_PACK)},
                        heap=heap, path=[tree, FW_TESTS, vm.emulator_dir()], timeout=300)
    vals = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        vals.setdefault(k, []).append(v)
    assert abs(int(vals["SHARE"][0]) - (share - resident.CHIP_QSTR_POOL_BYTES)) < 256, vals["SHARE"]  # (block rounding)
    return vals


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _mpy_tree(tmp_path_factory.mktemp("fw") / "fw")


def _per_pin_least(vals):
    """Half the least free heap the two pins' status lines saw (each line: the VM's)."""
    seen = [int(m.group(1)) for m in (re.search(r" mem_free=(\d+)", ln) for ln in vals["A"] + vals["B"]) if m]
    assert len(seen) >= 10, seen
    return min(seen) // 2


def _made_friends(vals):
    la, lb = vals["A"], vals["B"]
    assert vals["MADE"] == ["2"], (la, lb)
    assert not any("MemoryError" in ln or "crashed" in ln for ln in la + lb), (la, lb)


def test_one_pins_share_holds_the_app_and_a_tap_without_designs(tree):
    vals = one_pin(tree, False)
    _made_friends(vals)
    # measured 2026-12-05: 28,384 free after boot; 7,000 the least during the
    # tap; 16,600 after it (docs/heap.md)
    assert int(vals["BOOT"][0]) >= 20480, vals["BOOT"]
    assert _per_pin_least(vals) >= 4096
    assert int(vals["AFTER"][0]) // 2 >= 12288, vals["AFTER"]


def test_with_the_pack_one_pins_share_leaves_the_designs_off_and_makes_friends(tree):
    # The designs do not fit beside meet and greet on one pin's share
    # (docs/designs.md "The heap"): the pin says so before loading them and
    # keeps the heap a tap needs.
    vals = one_pin(tree, True)
    assert vals["DESIGNS"] == ["False"]
    off = [ln for ln in vals["A"] if "designs off: out of heap" in ln]
    assert len(off) == 1 and " needed)" in off[0], vals["A"]
    _made_friends(vals)
    # measured 2026-12-05: 27,680 free after boot (704 less than without the
    # pack), 6,900 the least during the tap
    assert int(vals["BOOT"][0]) >= 20480, vals["BOOT"]
    assert _per_pin_least(vals) >= 4096

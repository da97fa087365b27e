"""The whole app on ONE pin's heap, with and without the designs (issue 10,
docs/designs.md "The heap"; the run is `cloudpin bench heap`'s one_pin in
host_tools/bench/heap.py, which records the figures): the app as main.py
starts it on a provisioned pin of the reference board, its package as .mpy
as deploy and `make demo` install it, in a VM that gives the firmware
exactly one pin's share (host_tools/fw/vm.py; the emulated stack's run-time
state beside it, as a virtual badge has) and charges the firmware's qstr
pools as the chip would (cpsim.resident.pad_qstrs, docs/heap.md "The qstr
pools"). The harness (tests/fw/appkit.py, from source,
and the log lines it keeps) is charged to the pin too.

A second pin, built after the first in the same VM, taps it. It shares the
first one's code, so before the tap the VM is cut to what two pins would have
free on their own chips: twice the first pin's free heap after its boot (the
same board, the same services, the same work: it holds the pack only if the
first pin's designs are on), and each pin's margin is half of what the two
have free.
"""
import pytest
from cpsim import resident

from host_tools.bench.heap import _mpy_tree, one_pin, qstrs

# The least a pin may have free while a tap makes a friend (the VM's bytes):
# the handshake allocates blocks of up to 3.3 KB (social/exchange.py); with
# about 1 KB left one of them found no room and the tap failed.
TAP_MARGIN = 3072


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _mpy_tree(tmp_path_factory.mktemp("fw") / "fw")


@pytest.fixture(scope="module")
def without_pack(tree):
    return _run(tree, False)


def _share():
    from host_tools.fw import vm

    return vm.firmware_heap_in_vm() + resident.RUNTIME_BYTES


def _run(tree, pack):
    r = one_pin(tree, pack)
    assert abs(r["share"] - (_share() - resident.CHIP_QSTR_POOL_BYTES)) < 256, r["share"]  # (block rounding)
    assert r["samples"] >= 30, r  # every 20 ms while the pin is awake (it sleeps between)
    return r


def _made_friends(r):
    la, lb = r["lines_a"], r["lines_b"]
    assert r["friends_made"] == 2, (la, lb)
    assert not any("MemoryError" in ln or "crashed" in ln for ln in la + lb), (la, lb)


def test_one_pins_share_holds_the_app_and_a_tap_without_designs(without_pack):
    r = without_pack
    _made_friends(r)
    # measured 2026-12-05 on b872fc8 (bench heap, one_pin): 27,104 free after
    # boot; 6,416 the least during the tap; 17,088 after it
    assert r["free_after_boot"] >= 20480, r["free_after_boot"]
    assert r["least_free_in_tap_per_pin"] >= TAP_MARGIN, r["least_free_in_tap_per_pin"]
    assert r["free_after_tap_per_pin"] >= 12288, r["free_after_tap_per_pin"]


def test_with_the_pack_one_pins_share_leaves_the_designs_off_and_makes_friends(tree):
    # The designs do not fit beside meet and greet on one pin's share
    # (docs/designs.md "The heap"): the pin says so before loading them and
    # keeps the heap a tap needs. (When they fit, this test turns into one
    # that boots with them and unlocks aquatics with a margin.)
    r = _run(tree, True)
    assert not r["designs"] and r["unlocked"] == []
    off = [ln for ln in r["lines_a"] if "designs off: out of heap" in ln]
    assert len(off) == 1 and " needed)" in off[0], r["lines_a"]
    _made_friends(r)
    # measured 2026-12-05 on b872fc8 (bench heap, one_pin): 26,432 free after
    # boot (672 less than without the pack), 5,616 the least during the tap
    assert r["free_after_boot"] >= 20480, r["free_after_boot"]
    assert r["least_free_in_tap_per_pin"] >= TAP_MARGIN, r["least_free_in_tap_per_pin"]


def test_the_qstr_charge_is_the_chips_pools_for_the_apps_names(without_pack):
    # The names the app's modules intern on the chip (counted in their .mpy
    # files for the ESP32, less the ROM's): at boot they fill pools of
    # 20..640 entries, which is what the runs above hold; with the designs'
    # names the chip needs no more than a 1,280-entry pool more (docs/heap.md
    # "The qstr pools"), which the designs' heap check counts.
    q = qstrs(without_pack["modules"])
    assert q["boot"]["pool_entries"] == sum(resident.CHIP_QSTR_ENTRIES), q
    assert 2 * q["boot"]["esp32_pool_bytes"] == resident.CHIP_QSTR_POOL_BYTES
    assert 2 * q["boot_with_designs"]["esp32_pool_bytes"] <= resident.CHIP_QSTR_POOL_BYTES + resident.CHIP_QSTR_POOL_MORE_BYTES, q

"""The whole app on ONE pin's heap, with and without the designs (issue 10,
docs/designs.md "The heap"; the run is `cloudpin bench heap`'s one_pin in
host_tools/bench/heap.py, which records the figures): the app as main.py
starts it on a provisioned pin of the reference board, its package run in
place from its ROMFS image mounted at /rom as the pin's romfs partition is
(host_tools/images/romfs.py; docs/heap.md "The package in ROMFS"), in a VM
that gives the firmware exactly one pin's share (host_tools/fw/vm.py; the
emulated stack's run-time state beside it, as a virtual badge has) and
charges the firmware's qstr pools as the chip would (cpsim.resident.pad_qstrs,
docs/heap.md "The qstr pools"; with the pack, the pool the designs' names
add too). The harness (tests/fw/appkit.py, as .mpy, and the log lines it
keeps) is charged to the pin too.

A second pin, built after the first in the same VM, taps it. It shares the
first one's code, so before the tap the VM is cut to what two pins would have
free on their own chips: twice the first pin's free heap after its boot (the
same board, the same services, the same work: it holds the pack only if the
first pin's designs are on), and each pin's margin is half of what the two
have free.
"""
import pytest
from cloudpin import designs
from cpsim import resident

from host_tools.bench.heap import one_pin, qstrs, rom_image

# The least a pin may have free while a tap makes a friend (the VM's bytes):
# the handshake allocates blocks of up to 3.3 KB (social/exchange.py); with
# about 1 KB left one of them found no room and the tap failed.
TAP_MARGIN = 3072


@pytest.fixture(scope="module")
def rom(tmp_path_factory):
    return tmp_path_factory.mktemp("fw"), rom_image()


@pytest.fixture(scope="module")
def without_pack(rom):
    return _run(rom, False)


def _share():
    from host_tools.fw import vm

    return vm.firmware_heap_in_vm() + resident.RUNTIME_BYTES


def _run(rom, pack, board=None):
    r = one_pin(rom[0], pack, rom[1], board, marks=True)
    check_run(r)
    return r


def check_run(r):
    """What every one_pin run must show: the app from /rom, the share exact
    with the chip's qstr pools held (the next one when the designs loaded)."""
    assert r["app_from"] == "/rom/cloudpin/app.mpy", r["app_from"]
    pools = resident.CHIP_QSTR_POOL_BYTES
    assert r["qstr_charge"] == pools + (resident.CHIP_QSTR_POOL_MORE_BYTES if r["designs"] else 0), r["qstr_charge"]
    assert abs(r["share"] - (_share() - pools)) < 256, r["share"]  # (block rounding)
    assert r["samples"] >= 30, r  # every 20 ms while the pin is awake (it sleeps between)


def designs_cost(r):
    """What loading the designs took (the VM's bytes, App's marks around
    them), less the qstr pool the run holds for their names then."""
    marks = dict(r["free_after"])
    return marks["status"] - marks["designs"] - resident.CHIP_QSTR_POOL_MORE_BYTES


def _made_friends(r):
    # pin B's lines until the phone check holds its half of the heap (it has
    # none left after that, which no second chip would share: heap.one_pin)
    la, lb = r["lines_a"], r["lines_b"][:r["lines_b_fed"]]
    assert r["friends_made"] == 2, (la, lb)
    bad = [ln for ln in la + lb if "MemoryError" in ln or "crashed" in ln]
    assert not bad, bad


def test_one_pins_share_holds_the_app_and_a_tap_without_designs(without_pack):
    r = without_pack
    _made_friends(r)
    # measured 2026-12-05 (bench heap, one_pin), the package in place from
    # /rom: 89,376 free after boot (25,312 with it loaded from .mpy files);
    # 68,768 the least during the tap (4,768); 79,104 after it (15,104)
    assert r["free_after_boot"] >= 65536, r["free_after_boot"]
    assert r["least_free_in_tap_per_pin"] >= 49152, r["least_free_in_tap_per_pin"]
    assert r["free_after_tap_per_pin"] >= 57344, r["free_after_tap_per_pin"]


def test_with_the_pack_one_pins_share_boots_the_designs_and_unlocks_one_in_a_tap(rom):
    # With the package in place from /rom the designs fit beside meet and
    # greet on one pin's exact share, the chip's qstr pool for their names
    # held too (docs/designs.md "The heap"): the designs come on at boot, a
    # tap makes a friend on both pins and unlocks aquatics on the first.
    r = _run(rom, True)
    assert r["designs"], r["lines_a"]
    assert not any("designs off" in ln for ln in r["lines_a"]), r["lines_a"]
    _made_friends(r)
    assert r["unlocked"] == ["aquatics"], (r["unlocked"], r["lines_a"])
    # measured 2026-12-05: 50,528 free after boot, 28,256 the least during the
    # tap, 38,608 after it: the margin asserted is 16 KB (VM) in the tap
    assert r["free_after_boot"] >= 40960, r["free_after_boot"]
    assert r["least_free_in_tap_per_pin"] >= 16384, r["least_free_in_tap_per_pin"]
    # The designs' heap check counts what loading them took from /rom (their
    # code and data: measured 19,472), not much more (docs/designs.md "The heap")
    took = designs_cost(r)
    assert took <= designs.CODE_ROM_WORDS * 8 < took + 2048, (took, designs.CODE_ROM_WORDS)


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

# Every emulator module firmware may load: on a pin these are C code in
# flash, so every VM that runs firmware on the emulator (tests, virtual
# badges) gets their resident size added to the pin's heap (host_tools/fw/vm.py).
# The models only some boards carry (AXP192, ST7789: cpsim/boardfit.py) are
# left out: a virtual badge's heap probe fits its own board, so it counts
# them where they are used and nowhere else.
#
# What the emulator keeps at run time besides its modules: the emulated
# NimBLE's state once the stack is up (addresses, key store, station,
# counters) and a connection's (cpsim.link, cpsim.gatt), which the ESP32 keeps
# in the IDF heap (micropython ports/esp32 builds NimBLE with
# MICROPY_BLUETOOTH_NIMBLE_BINDINGS_ONLY: its mallocs are the IDF's, not the
# GC heap's). A virtual badge keeps this much beside the firmware's share
# (host_tools/vbadge/boot_shim.py). Measured in the VM by
# tests/fw/test_emu_resident.py (3,872 bytes a pin with a connection, on the
# simulator's radio), which fails when the emulator outgrows it; 2 KB more
# for the air client's end of a link (cpsim.airlink), an ESTIMATE.
# docs/heap.md has the figures.
RUNTIME_BYTES = 6144


def load_all(sim=False, every_board=False, air=False):
    """sim: also the scheduler of simulated time (cpsim.simtime and
    cpsim.mptasks), which a virtual badge loads too: the stack's start asks
    it whether a simulated run is going on (cpsim.timebase).
    every_board: also the models only some boards carry, for a VM (the
    tests') that fits several boards in turn. air: also the shared air's
    client (a virtual badge of a farm)."""
    import machine  # noqa: F401
    import bluetooth  # noqa: F401
    import esp32  # noqa: F401
    from cpsim import world, clock, accounting, cpucost, timebase, radio, lis3dh, mpu6050, mpu6886, recording  # noqa: F401
    from cpsim import slowclock  # noqa: F401 (machine.lightsleep's)
    from cpsim import machine_pin, machine_i2c, machine_timer, machine_adc, machine_rtc, machine_spi  # noqa: F401
    from cpsim import blegap, link, gatt, blegatts, blegattc, bleirq  # noqa: F401
    if every_board:
        from cpsim import boardfit, axp192, st7789  # noqa: F401
    if sim:
        from cpsim import simtime, mptasks  # noqa: F401
    if air:
        from cpsim import airclient, airlink  # noqa: F401


def power_on(air=False):
    """What a chip has from power-on, made before its firmware runs (a
    virtual badge's boot): every emulated module, the RTC's slow clock
    (cpsim.default_device.slow_clock) and the radio with the
    emulator's half of bluetooth.BLE() (the chip's half, a small object, is
    the firmware's: its first BLE() returns this one). Loaded now, they sit
    at the bottom of the heap: loaded at the firmware's first use they would
    land among its objects and break up its free space. The VM's qstr pools
    are padded then (pad_qstrs): the firmware's names make no pool here, and
    the boot shim holds the chip's pools (BADGE_QSTR_POOL_BYTES) instead."""
    load_all(sim=True, air=air)
    import bluetooth
    from cpsim import default_device
    from cpsim.world import current

    default_device.slow_clock(current())  # its RTC's slow clock, drawn now: below the firmware's share too
    bluetooth.BLE()
    pad_qstrs()


# The qstr pools. MicroPython interns each name a module uses in pools
# (micropython py/qstr.c, qstr_add): when the last pool is full, the next is
# allocated at twice its size, on the GC heap. The ROM pools end with room 10
# (qstr.c MICROPY_ALLOC_QSTR_ENTRIES_INIT; with frozen modules, as on the unix
# port and ESP32_GENERIC, tools/mpy-tool.py sets min(len, 10)), so the heap's
# pools hold 20, 40, 80, ... names, each entry a pointer, a 2-byte hash and a
# 1-byte length (MICROPY_QSTR_BYTES_IN_HASH 2 at the extra-features ROM
# level, both ports). In the VM the emulator's and the test harness's names
# come first (on the chip the emulator is C, its names in ROM), so where the
# VM makes a new pool for the firmware's names is not where the chip does:
# the firmware's first thousand names cost it nothing, then one of them
# costs a 2,560-entry pool (28 KB). pad_qstrs() and CHIP_QSTR_POOL_BYTES make
# the VM charge what the chip would (docs/heap.md, "The qstr pools").
QSTR_ROOM = 2048  # names a firmware run may intern, with room to spare (docs/heap.md: about 1,400)
# The chip's pools for the firmware's names at boot: the app's 1,169 names
# (`cloudpin bench heap`, chip_qstrs: counted in its .mpy files, less the
# ROM's) fill pools of 20..640 entries (1,260); on the ESP32 each pool is a
# 24-byte header and 7 bytes an entry, and the VM's share is the pin's heap
# doubled (host_tools/fw/vm.py), so twice that. The designs' names or a
# phone session's take the chip past 1,260 names, to a pool of 1,280 more:
# a run with either holds CHIP_QSTR_POOL_MORE_BYTES too.
CHIP_QSTR_ENTRIES = (20, 40, 80, 160, 320, 640)
CHIP_QSTR_POOL_BYTES = 2 * sum(24 + 7 * n for n in CHIP_QSTR_ENTRIES)
CHIP_QSTR_POOL_MORE_BYTES = 2 * (24 + 7 * 1280)
# A virtual badge's firmware may run the designs and phone sessions, whose
# names take the chip to that next pool at some moment of its run; the VM
# cannot charge it at that moment, so a badge holds both from boot (never
# kinder than the chip; stricter by the second pool until then).
BADGE_QSTR_POOL_BYTES = CHIP_QSTR_POOL_BYTES + CHIP_QSTR_POOL_MORE_BYTES


def pad_qstrs(room=QSTR_ROOM):
    """Intern placeholder names (no identifier can be one) until the VM's last
    qstr pool has room for `room` more: the firmware's names then make no pool
    here, and a test charges the chip's pools instead (CHIP_QSTR_POOL_BYTES).
    Run right after the emulator loads, in the heap probe too (the padding is
    the emulator's, as its names are). Returns the names added."""
    import gc

    added = 0
    before = gc.mem_alloc()  # once a name, not twice: it walks the whole heap's table
    while True:
        getattr(None, "#%d" % added, None)  # interns the name
        added += 1
        after = gc.mem_alloc()
        # 8-byte pointer, 2-byte hash, 1-byte length an entry in the VM
        if (after - before) // 11 > room:
            return added
        before = after

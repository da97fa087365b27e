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
    virtual badge's boot): every emulated module and the radio with the
    emulator's half of bluetooth.BLE() (the chip's half, a small object, is
    the firmware's: its first BLE() returns this one). Loaded now, they sit
    at the bottom of the heap: loaded at the firmware's first use they would
    land among its objects and break up its free space."""
    load_all(sim=True, air=air)
    import bluetooth

    bluetooth.BLE()

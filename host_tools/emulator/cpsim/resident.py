# Every emulator module firmware may load: on a pin these are C code in
# flash, so every VM that runs firmware on the emulator (tests, virtual
# badges) gets their resident size added to the pin's heap (host_tools/fw/vm.py).
# The models only some boards carry (AXP192, ST7789: cpsim/boardfit.py) are
# left out: a virtual badge's heap probe fits its own board, so it counts
# them where they are used and nowhere else.


def load_all(sim=False, every_board=False):
    """sim: also the simulated time base of host runs (tests, the simulator:
    cpsim.simtime and cpsim.mptasks), which a virtual badge never loads.
    every_board: also the models only some boards carry, for a VM (the
    tests') that fits several boards in turn."""
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

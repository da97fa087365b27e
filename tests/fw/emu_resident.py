# Every emulator module a firmware test may load: on a pin these are C code
# in flash, so the harness adds their resident size to the VM's heap.


def load_all():
    import machine  # noqa: F401
    import bluetooth  # noqa: F401
    import esp32  # noqa: F401
    from cpsim import world, clock, radio, lis3dh, mpu6050, mpu6886, recording  # noqa: F401
    from cpsim import machine_pin, machine_i2c, machine_timer, machine_adc, machine_rtc  # noqa: F401
    from cpsim import blegap, link, gatt, blegatts, blegattc, bleirq  # noqa: F401

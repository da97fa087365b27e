"""The current table: every figure (mA at the battery side of the regulator,
3.3 V rail) with its source next to it. "ESTIMATE" marks a figure no
datasheet gives for this board; replace it with a bench measurement."""

# ESP32 Series Datasheet v3.5, table 6 / section 5.4 "RF power consumption"
# and "power consumption by power modes". MicroPython's ESP32 port runs the
# CPU at 160 MHz (ports/esp32 sdkconfig default), so the 160 MHz row applies.
ESP32 = {
    # modem sleep at 160 MHz: 27-44 mA. Upper bound while code runs.
    "cpu.active": 44.0,
    # lower bound of the same row: the clock runs but the cores wait in the
    # idle task (MicroPython has no automatic light sleep, issue #5459).
    "cpu.idle": 27.0,
    "cpu.lightsleep": 0.8,  # datasheet table 6: light sleep 0.8 mA
    "cpu.deepsleep": 0.01,  # datasheet table 6: deep sleep ~10 uA (RTC timer + memory)
    # whole-chip currents while the RF is on air (datasheet 5.4, BLE):
    "air.tx": 130.0,  # BLE TX at 0 dBm: ~130 mA
    "air.rx": 100.0,  # BLE RX: 95-100 mA, the upper figure
    # NimBLE up but nothing on air: no datasheet figure; ESTIMATE that the
    # controller adds nothing beyond the CPU's own modem-sleep current.
    "radio.idle": 0.0,
}

# Accelerometer currents by output data rate (Hz) -> mA.
# LIS3DH datasheet (ST DocID 17530), table 12 "Operating mode current
# consumption": normal mode 1 Hz 2 uA, 10 Hz 4, 25 Hz 6, 50 Hz 11, 100 Hz 20,
# 200 Hz 38, 400 Hz 73, 1344 Hz 185 uA; power-down 0.5 uA.
LIS3DH_NORMAL = {1: 0.002, 10: 0.004, 25: 0.006, 50: 0.011, 100: 0.020, 200: 0.038, 400: 0.073, 1344: 0.185}
# same table, low-power mode: 1 Hz 2 uA, 10 Hz 3, 25 Hz 4, 50 Hz 6, 100 Hz 10, 200 Hz 18, 400 Hz 36.
LIS3DH_LOW_POWER = {1: 0.002, 10: 0.003, 25: 0.004, 50: 0.006, 100: 0.010, 200: 0.018, 400: 0.036}
# MPU-6000/MPU-6050 Product Specification PS-MPU-6000A-00 rev 3.4, section 6.3:
# accelerometer only (gyro disabled) 500 uA at any rate the firmware uses;
# low-power accel mode 1.25 Hz 10 uA, 5 Hz 20, 20 Hz 70, 40 Hz 140 uA (wake
# cycles, no FIFO streaming at our rates).
MPU6050_ACCEL_ONLY = 0.5
# MPU-6886 (DS-000193 v1.1): ESTIMATE, the accel-only figure of its MPU-6050
# predecessor (500 uA); this table did not read the MPU-6886's own row.
MPU6886_ACCEL_ONLY = 0.5

# Board peripherals.
# RGB/red LED lit, one channel through its resistor: ESTIMATE 5 mA.
LED_ON = 5.0
# M5StickC Plus display, 135x240 ST7789V: controller in normal mode ESTIMATE
# 6 mA (ST7789V datasheet lists several mA in normal display mode), backlight
# LED from the AXP192 LDO2 ESTIMATE 20 mA; asleep (SLPIN, backlight off)
# ESTIMATE 0.01 mA.
DISPLAY_ON = 6.0 + 20.0
DISPLAY_SLEEP = 0.01
# AXP192 quiescent with its DC-DCs and LDOs for the ESP32 and the LCD
# enabled: ESTIMATE 0.1 mA (not read from the AXP192 datasheet).
AXP192_QUIESCENT = 0.1
# Reference pin's LDO: the board file does not name it; ESTIMATE 0.055 mA,
# the typical ground current of a common 3.3 V LDO (AP2112K datasheet: 55 uA).
LDO_QUIESCENT = 0.055
# DevKitC's AMS1117-3.3: AMS1117 datasheet quiescent current 5 mA typical
# (the board runs from USB, so it does not limit a battery).
AMS1117_QUIESCENT = 5.0


def accel_ma(kind, odr):
    """Current of the accelerometer `kind` at output rate `odr` Hz: the
    table's row at or above odr (a rate between rows costs the next one up)."""
    if kind == "lis3dh":
        table = LIS3DH_NORMAL
    elif kind == "mpu6050":
        return MPU6050_ACCEL_ONLY
    elif kind == "mpu6886":
        return MPU6886_ACCEL_ONLY
    else:
        return 0.0
    for rate in sorted(table):
        if rate >= odr:
            return table[rate]
    return table[max(table)]

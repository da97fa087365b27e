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
    # NimBLE up but nothing on air: ESTIMATE, no datasheet row. Why +0:
    # between its radio events the controller keeps RF, PHY and baseband
    # off (ESP-IDF's default BT modem sleep, which MicroPython's
    # ports/esp32/boards/sdkconfig.ble leaves on), and Espressif's own
    # measurement of an ESP32 with NimBLE up and advertising, modem sleep,
    # CPU frequency scaling on (esp-idf examples/bluetooth/nimble/power_save
    # README, "Typical current consumption": 14.1 mA) is below the idle
    # CPU's 27 mA alone: the stack costs no measurable current over the CPU
    # state it keeps awake; its air time is charged as air.tx / air.rx.
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
# MPU-6886 (InvenSense DS-000193 v1.1, the datasheet M5Stack publishes):
# ESTIMATE 500 uA, its MPU-6050 predecessor's accel-only figure above. Its
# own supply-current rows (section 3.3) could not be read for this table:
# no copy of the table's text was found (the searchable copies of the
# datasheet stop at its first pages); replace with DS-000193's
# "accelerometer low-noise mode" row.
MPU6886_ACCEL_ONLY = 0.5

# Board peripherals.
# LED lit, one channel through its resistor: ESTIMATE 5 mA. Neither board
# file names the LED or its resistor (the reference pin's RGB LED on GPIO
# 25/26/27, the M5StickC Plus's red LED on G10); 5 mA is a 3.3 V GPIO
# through a few hundred ohms into a ~2 V LED. The firmware lights it 2 s at
# boot, ~0.1 s per tap and 0.02 s per phone window (measured: led.on in the
# emulator's accounting), so the figure moves the day by microamps.
LED_ON = 5.0
# M5StickC Plus display, 135x240 ST7789V (docs/boards.md) with its backlight
# LED on the AXP192's LDO2. Controller: 7.5 mA in normal display mode, 30 uA
# in sleep-in mode (SLPIN) — the ST7789V's figures as done.land's ST7789
# page tabulates them from Sitronix's datasheets (ST7789V: 7.5 mA normal,
# the VI revision 8 mA; sleep-in 30 uA): a secondary source, the datasheet
# itself not being searchable here. Backlight: ESTIMATE 20 mA, the low end
# of the 20-40 mA that page gives for these modules' backlights (M5Stack
# publishes no figure for the LDO2 at 3.0 V).
DISPLAY_AWAKE = 7.5
DISPLAY_SLEEP = 0.03
BACKLIGHT_ON = 20.0
# AXP192 quiescent with its DC-DCs and LDOs for the ESP32 and the LCD
# enabled: ESTIMATE 0.1 mA. X-Powers' AXP192 datasheet (2010, section 5
# "Electrical Characteristics") is only found as page images and a table of
# contents here; its quiescent row was not read. Against it: a public
# M5StickC Plus project's power notes put that board's deep-sleep floor at
# "~2 mA (AXP192 quiescent)", unmeasured and unsourced there; if so the
# M5StickC Plus's average is ~1.9 mA higher than this table says.
AXP192_QUIESCENT = 0.1
# Reference pin's LDO: the board's regulator is an AP2112K-3.3 (boards/
# cloudpin_ref.json, its description: a common 600 mA LDO for ESP32 boards
# on a LiPo). Diodes Inc. AP2112 datasheet, "Electrical Characteristics":
# quiescent (ground) current 55 uA typical, 80 uA max, no load. ESTIMATE
# until a copy is read here: the figure is the one the AP2112 is chosen for
# and this table has always used.
LDO_QUIESCENT = 0.055
# DevKitC's AMS1117-3.3: AMS1117 datasheet quiescent current 5 mA typical
# (the board runs from USB, so it does not limit a battery).
AMS1117_QUIESCENT = 5.0

# The ESP32's SPI NOR flash, where littlefs keeps the pin's files. Espressif
# does not name the part inside the ESP32-PICO-D4 or the WROOM-32; priced as
# a 3 V Winbond W25Q-JV part: W25Q128JV datasheet rev F (March 2018), 9.4
# "DC Electrical Characteristics": page program current ICC5 and sector
# erase current ICC6 20 mA typical (25 max); 9.6 "AC Electrical
# Characteristics": page program tPP 0.4 ms typical (3 max) per 256-byte
# page, 4 KB sector erase tSE 45 ms typical (400 max). (Read from a
# transcription of that datasheet's tables in a public repository, cited as
# [W25Q128JV section 9.4/9.6].) While the flash programs or erases, the
# ESP32 cannot run from it (its cache is off) or sleep: the CPU is charged
# as active over that time too (model.flash_states).
FLASH_PROGRAM = 20.0
FLASH_ERASE = 20.0
FLASH_PAGE = 256
FLASH_SECTOR = 4096
FLASH_T_PAGE_S = 0.0004
FLASH_T_SECTOR_S = 0.045


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

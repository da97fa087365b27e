"""The current table: every figure (mA at the battery side of the regulator,
3.3 V rail) with its source next to it, and SOURCES, the same citations as
data (kind, where) so a test can hold every figure to having one.

Kinds: "datasheet" (the part's own datasheet, read here), "secondary" (the
datasheet's figure as another document quotes it, the datasheet itself not
found), "measured" (someone's bench measurement, on this board or a sibling),
"derived" (arithmetic from cited figures, shown), "design" (a figure the
design chooses, the part picked to match), "ESTIMATE" (no source exists:
says what was searched and why the figure)."""

# ESP32 Series Datasheet, "Power Consumption by Power Modes" and "RF Power-
# Consumption Specifications": table 6 / section 5.4 in v3.5, the same
# figures in v4.2's table 8 and table 17 (section 5.5; 3.3 V supply, 25 C,
# transmitters at 50 % duty), read from v4.2 (the copy in
# sunocean01/ESP32_Note). MicroPython's ESP32 port runs the CPU at 160 MHz
# (ports/esp32 sdkconfig default), so the 160 MHz row applies; the
# ESP32-PICO-D4 and the WROOM-32 are dual-core chips, whose row is 27-44 mA.
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
    # "radio.idle", NimBLE up with nothing on air: below (derived from
    # Espressif's measurement, on the model's idle CPU).
}

# The BLE controller between its radio events. MicroPython's ESP32 build
# keeps ESP-IDF's Bluetooth modem sleep (ports/esp32/boards/sdkconfig.ble
# and sdkconfig.base leave CONFIG_BTDM_CTRL_MODEM_SLEEP at its default, y,
# ORIG mode on the main XTAL; esp_bt_controller_enable() calls
# btdm_controller_enable_sleep(true) in components/bt/controller/esp32/bt.c):
# between events the controller turns RF, PHY and baseband off (esp-idf
# examples/bluetooth/nimble/power_save README) while the CPU runs on. The
# only ESP32 figure with the BLE stack up and the CPU at a fixed clock is
# Espressif's measurement in esp-at's sleep examples (espressif/esp-at
# docs/en/AT_Command_Examples/sleep_at_examples.rst, added 2021-08-19
# c83929ba, removed 2022-03-08 89f324d7 "remove power consumption data",
# no reason given; measured on a bare module): "When the CPU frequency of
# ESP32 is 80 MHz and the module in single Bluetooth LE advertising mode
# [AT+BLEADVPARAM 1600: every 1 s], the average current in Modem-sleep mode
# is about 23 mA" (the same for a connection at a 1 s interval; 21 mA for
# Wi-Fi station modem sleep, DTIM 1). The datasheet's idle CPU at 80 MHz is
# its modem-sleep row's lower figure, 20 mA (the 160 MHz row's 27 mA is
# what ESP-IDF measures between a Wi-Fi station's beacons with its modem
# asleep: docs/en/api-guides/sleep-current/esp32_modem_sleep.inc, 160 MHz,
# DFS off, min 27.18-27.77 mA). On that idle CPU, what the stack costs
# between events is the rest of the 23 mA once the advertising's air is out:
# one event a second of 3 empty ADV_IND PDUs (16 bytes x 8 us, the
# shortest; a longer PDU leaves less) at TX 130 mA and 3 x (T_IFS + a
# SCAN_REQ) of listening at RX 100 mA, each over the 27 mA idle CPU as the
# model prices air. 23 - 20 - 0.111 = 2.889 mA. It charges the stack with
# every milliamp the module drew over the datasheet's lower figure (chip
# to chip, the controller's wake-up before each event, the AT firmware's
# own tasks): an upper bound as long as that module idled at 20 mA, the
# figure the model's cpu.idle is taken from at 160 MHz. Not tighter either
# way: Espressif's Wi-Fi measurement above says a radio whose modem sleeps
# costs 0.2-0.8 mA over the idle CPU; read against esp-at's Wi-Fi figure
# (21 mA at DTIM 1) with ESP-IDF's beacon cost at 160 MHz (31.12 average -
# 27.18 minimum = 3.9 mA) that module would have idled near 17 mA and the
# stack cost ~5.8, but a beacon's cost depends on the access point, so
# that reading is not used. (Was ESTIMATE +0.)
ESPAT_BLE_ADV_1S_80MHZ = 23.0
CPU_IDLE_80MHZ = 20.0
ESPAT_ADV_AIR_MA = 3 * (16 * 8 * (ESP32["air.tx"] - ESP32["cpu.idle"])
                        + (150 + 22 * 8) * (ESP32["air.rx"] - ESP32["cpu.idle"])) / 1e6
ESP32["radio.idle"] = ESPAT_BLE_ADV_1S_80MHZ - CPU_IDLE_80MHZ - ESPAT_ADV_AIR_MA

# Accelerometer currents by output data rate (Hz) -> mA.
# LIS3DH datasheet (ST DocID17530 Rev 2, December 2016; read from a copy in
# LucaMarsilio/I2C_Class_26_10_22), table 12 "Current consumption of
# operating modes": normal mode 1 Hz 2 uA, 10 Hz 4, 25 Hz 6, 50 Hz 11, 100 Hz 20,
# 200 Hz 38, 400 Hz 73, 1344 Hz 185 uA; power-down 0.5 uA.
LIS3DH_NORMAL = {1: 0.002, 10: 0.004, 25: 0.006, 50: 0.011, 100: 0.020, 200: 0.038, 400: 0.073, 1344: 0.185}
# same table, low-power mode: 1 Hz 2 uA, 10 Hz 3, 25 Hz 4, 50 Hz 6, 100 Hz 10, 200 Hz 18, 400 Hz 36.
LIS3DH_LOW_POWER = {1: 0.002, 10: 0.003, 25: 0.004, 50: 0.006, 100: 0.010, 200: 0.018, 400: 0.036}
# MPU-6000/MPU-6050 Product Specification PS-MPU-6000A-00 rev 3.4, section 6.3
# "Electrical and Other Common Specifications" (its page text as
# text-id.123dok.com reproduces it, page headers and all):
# accelerometer only (gyro disabled) 500 uA at any rate the firmware uses;
# low-power accel mode 1.25 Hz 10 uA, 5 Hz 20, 20 Hz 70, 40 Hz 140 uA (wake
# cycles, no FIFO streaming at our rates).
MPU6050_ACCEL_ONLY = 0.5
# MPU-6886: InvenSense DS-000193 rev 1.1 (03/29/2017), section 3.3 "Electrical
# Specifications", table 3 "D.C. Electrical Characteristics", supply
# currents, low-noise mode: 3-axis accelerometer 321 uA typical (370 max);
# 6-axis 2.79 mA, gyroscope alone 2.55 mA, full-chip sleep 6 uA. The driver
# (cloudpin/mpu6886.py) runs the accelerometer in low-noise mode with the
# gyroscopes in standby (PWR_MGMT_2), at any rate: this row. Read from the
# copy M5Stack publishes (m5stack/M5-Schematic, datasheet/MPU-6886-000193+
# v1.1_GHIC.PDF.pdf). The table's conditions are VDD = 1.8 V; the M5StickC
# Plus feeds 3.3 V, and the part regulates its core internally, so the row
# is taken as is. (Was ESTIMATE 500 uA, the MPU-6050's figure.) Its
# duty-cycled low-power mode (table 18: 171 uA at 500 Hz, 1x averaging;
# 40.7 uA at 100 Hz) is a lever the driver does not use (set_odr refuses
# cycle=True).
MPU6886_ACCEL_ONLY = 0.321

# Board peripherals.
# The LED lit, one channel, per board (led_ma below):
# - M5StickC Plus, its red LED on G10: 21.1 mA, measured on the M5StickC
#   (lang-ship.com, "M5StickCの消費電源 その1": built-in red LED off 95.6 mA,
#   on 116.7 mA, +21.1 mA), the same G10 red LED the Plus carries; measured
#   at the board's 5 V input, so it is the board's draw, not the LED's alone.
#   M5Stack's Plus schematic (the LED's resistor) is published only as an
#   image, not searchable here. (Was ESTIMATE 5 mA.) Taken as is: on the
#   3.3 V rail the same power is 5/3.3 times the DC-DC's efficiency as many
#   milliamps (~29 mA at 90 %), so 21.1 may be low by up to a third; the
#   LED is lit ~7 s a day, so that is 0.001 mA on the M5's day.
# - reference pin, one channel of its RGB LED on GPIO 25/26/27: 5 mA, a
#   design figure: the reference pin's schematic does not exist yet (the
#   board file describes a design), so its resistor is chosen for 5 mA a
#   channel, R = (3.3 V - Vf) / 5 mA (about 260 ohm for a 2.0 V red die).
# The firmware lights it 2 s at boot, ~0.1 s per tap and 0.02 s per phone
# window (led.on in the emulator's accounting): microamps over the day.
LED_ON = 5.0  # the reference pin's (design)
LED_ON_M5 = 21.1  # the M5StickC Plus's (measured on the M5StickC)
# M5StickC Plus display, 135x240 ST7789V (docs/boards.md) with its backlight
# LED on the AXP192's LDO2. Controller: 7.5 mA in normal display mode, 30 uA
# in sleep-in mode (SLPIN) — the ST7789V's figures as done.land's ST7789
# page tabulates them from Sitronix's datasheets (ST7789V: 7.5 mA normal,
# the VI revision 8 mA; sleep-in 30 uA): a secondary source, the datasheet
# itself not being searchable here. Another version of the same page gives
# 4 mA, idle mode 0.4 mA and sleep-in 5 uA in its summary while its
# revision table still says 7.5 mA: the higher figures are kept (the
# controller is awake all day on the M5 while its screen is lit).
DISPLAY_AWAKE = 7.5
DISPLAY_SLEEP = 0.03
# AXP192 datasheet (X-Powers, English rev 1.1 and Chinese v1.13, section 5
# "Electrical Characteristics", BAT = 3.8 V, 25 C; read from the copies in
# m5stack/M5-Schematic, Core/): each regulator's own no-load draw. DC-DC1
# input current in PFM mode at no load 26 uA (DC-DC2/3: 20 uA, unused on
# this board); LDO2 and LDO3 quiescent 100 uA each; LDOIO0 90 uA; off-mode
# current 27 uA. No row gives the whole chip's on-state current.
AXP192_DCDC1_IQ = 0.026
AXP192_LDO_IQ = 0.1
# Backlight, LDO2 at 3.0 V (the firmware's lcd_power(backlight_mv=3000), the
# setting M5Stack's own library uses): 20 mA, the backlight rating of a
# 1.14" 135x240 ST7789V module (EastRising ER-TFT1.14-2: LED anode 3.0 V
# typical, 2.9-3.1, 20 mA), as protoboard.xyz's part record transcribes that
# datasheet (secondary: M5Stack names no panel part), plus LDO2's own 100 uA
# while it is on. Checked against two measurements of the M5StickC (its
# sibling: a 0.96" panel on the same LDO2 at 3.0 V, ScreenBreath(12)) at the
# board's 5 V input, lang-ship.com: 20.4 mA ("M5StickCでの省電力ノウハウ",
# screen at 12) and 28.2 mA over a dark screen ("M5StickCの消費電源 その1").
# The higher one would add 8.1 mA while the backlight is on. (Was ESTIMATE
# 20 mA, the low end of done.land's 20-40 mA for such backlights.)
BACKLIGHT_ON = 20.0 + AXP192_LDO_IQ
# AXP192 quiescent, all day: derived from the rows above for the rails the
# M5StickC Plus keeps on under this firmware: DC-DC1 (the ESP32's 3.3 V,
# PFM at light load) 26 uA + LDO3 (the LCD logic, powered from boot and
# through the display's sleep) 100 uA = 126 uA. LDO2's 100 uA goes with the
# backlight (BACKLIGHT_ON); LDO1 (the RTC's, always on) has no row. (Was
# ESTIMATE 0.1 mA.) Against it: lang-ship.com's M5StickC breakdown
# ("M5StickCでの省電力ノウハウ") measured 1.4 mA of "AXP192 basic functions"
# by difference at the 5 V input while the cell was charging (its author
# warns the absolute values are rough), and a public M5StickC Plus project's
# notes say "~2 mA (AXP192 quiescent)", unmeasured. The datasheet's rows for
# every rail the chip has add up to 356 uA; what the 1.4 mA holds beyond
# them (the charger, running during that measurement; the ADCs, all of which
# M5Stack's library enables, this firmware only the battery's; the chip's
# own housekeeping, which no row gives) is not known. If it were all the
# board's, the M5StickC Plus would average 1.27 mA more than this table.
# Not in the table: the 5 V HAT boost (EXTEN), which M5Stack's library
# turns on and this firmware leaves as the board powered up (1.3 mA on the
# M5StickC, the same lang-ship breakdown).
AXP192_QUIESCENT = AXP192_DCDC1_IQ + AXP192_LDO_IQ
# Reference pin's LDO: the board's regulator is an AP2112K-3.3 (boards/
# cloudpin_ref.json). Diodes Inc. AP2112 datasheet (DS39724 rev. 2-2, June
# 2017), "Electrical Characteristics": quiescent current 55 uA typical, no
# load. Secondary: no copy of the datasheet's table was found (searched the
# code, docs and pages corpora and repositories holding the part); the
# figure as part libraries transcribe it (a JITX/atopile-style part model's
# docstring: "low quiescent current of 55uA typical and ... standby current
# of 0.01uA"), and one board's bench notes agree (net-pbx.com: hibernation
# 79.5 uA with this LDO, about 51 uA to be saved by a 4 uA one).
LDO_QUIESCENT = 0.055
# DevKitC's AMS1117-3.3: Advanced Monolithic Systems' AMS1117 datasheet,
# electrical characteristics: quiescent current 5 mA typical, 11 max, at
# VIN - VOUT = 1.5 V (read from a copy in matthiasbock/USB-3.3V-supply.PCB;
# the board runs from USB, so it does not limit a battery).
AMS1117_QUIESCENT = 5.0

# The ESP32's SPI NOR flash, where littlefs keeps the pin's files. Espressif
# does not name the part inside the ESP32-PICO-D4 or the WROOM-32; priced as
# a 3 V Winbond W25Q-JV part: W25Q128JV datasheet rev F (March 2018), 9.4
# "DC Electrical Characteristics": page program current ICC5 and sector
# erase current ICC6 20 mA typical (25 max); 9.6 "AC Electrical
# Characteristics": page program tPP 0.4 ms typical (3 max) per 256-byte
# page, 4 KB sector erase tSE 45 ms typical (400 max). (Read from a
# transcription of that datasheet's tables in a public repository, cited as
# [W25Q128JV section 9.4/9.6]; checked against revision D (May 2017, the
# copy in khofesh/winbond), whose 9.4 gives the same ICC5/ICC6 20 mA typ,
# 25 max and 9.6 the same tSE, but tPP 0.7 ms typical: the later revision's
# 0.4 ms is kept, rev D's would add ~0.002 mA to a day.) While the flash programs or erases, the
# ESP32 cannot run from it (its cache is off) or sleep: the CPU is charged
# as active over that time too (model.flash_states).
FLASH_PROGRAM = 20.0
FLASH_ERASE = 20.0
FLASH_PAGE = 256
FLASH_SECTOR = 4096
FLASH_T_PAGE_S = 0.0004
FLASH_T_SECTOR_S = 0.045

KINDS = ("datasheet", "secondary", "measured", "derived", "design", "ESTIMATE")

# Every figure above, by name (an ESP32 key as "ESP32[key]"): (kind, where).
# tests/test_power.py holds this table to the module: a figure without an
# entry, an entry without a figure, or an ESTIMATE that does not say what
# was searched fails.
SOURCES = {
    "ESP32[cpu.active]": ("datasheet", "ESP32 Series Datasheet v4.2 table 8 (v3.5 table 6): modem sleep, "
                          "160 MHz, dual-core, 27-44 mA (upper)"),
    "ESP32[cpu.idle]": ("datasheet", "ESP32 Series Datasheet v4.2 table 8 (v3.5 table 6): modem sleep, "
                        "160 MHz (lower)"),
    "ESP32[cpu.lightsleep]": ("datasheet", "ESP32 Series Datasheet v4.2 table 8 (v3.5 table 6): light sleep 0.8 mA"),
    "ESP32[cpu.deepsleep]": ("datasheet", "ESP32 Series Datasheet v4.2 table 8 (v3.5 table 6): deep sleep, "
                             "RTC timer + memory 10 uA"),
    "ESP32[air.tx]": ("datasheet", "ESP32 Series Datasheet v4.2 table 17, 5.5 (v3.5 5.4): BLE TX 0 dBm 130 mA"),
    "ESP32[air.rx]": ("datasheet", "ESP32 Series Datasheet v4.2 table 17, 5.5 (v3.5 5.4): BLE RX 95-100 mA (upper)"),
    "ESP32[radio.idle]": ("derived", "esp-at sleep examples (Espressif, measured; removed 2022): ESP32 at 80 MHz, "
                          "BLE advertising every 1 s, modem sleep, ~23 mA; less the 80 MHz idle CPU (20 mA) and "
                          "the advertising's air, on the model's idle-CPU figure"),
    "ESPAT_BLE_ADV_1S_80MHZ": ("measured", "Espressif, esp-at docs sleep_at_examples.rst (c83929ba, 2021): ESP32 at "
                               "80 MHz, BLE advertising 1 s, Modem-sleep: average ~23 mA"),
    "CPU_IDLE_80MHZ": ("datasheet", "ESP32 Series Datasheet v4.2 table 8 (v3.5 table 6): modem sleep, 80 MHz, "
                       "dual-core, 20-31 mA (lower)"),
    "ESPAT_ADV_AIR_MA": ("derived", "3 empty ADV_IND (128 us) at 130 - 27 mA and 3 x (T_IFS + SCAN_REQ, 326 us) "
                         "at 100 - 27 mA, once a second"),
    "LIS3DH_NORMAL": ("datasheet", "ST LIS3DH DocID17530 Rev 2, table 12, normal mode"),
    "LIS3DH_LOW_POWER": ("datasheet", "ST LIS3DH DocID17530 Rev 2, table 12, low-power mode"),
    "MPU6050_ACCEL_ONLY": ("datasheet", "InvenSense PS-MPU-6000A-00 rev 3.4, 6.3: accelerometer only 500 uA"),
    "MPU6886_ACCEL_ONLY": ("datasheet", "InvenSense DS-000193 rev 1.1, 3.3 table 3: 3-axis accelerometer, "
                           "low-noise mode, 321 uA typ"),
    "LED_ON": ("design", "reference pin: resistor chosen for 5 mA a channel, R = (3.3 V - Vf) / 5 mA"),
    "LED_ON_M5": ("measured", "lang-ship.com 'M5StickCの消費電源 その1': M5StickC red LED (G10) +21.1 mA"),
    "DISPLAY_AWAKE": ("secondary", "Sitronix ST7789V normal mode 7.5 mA, as done.land's ST7789 page tabulates it"),
    "DISPLAY_SLEEP": ("secondary", "Sitronix ST7789V sleep-in 30 uA, as done.land's ST7789 page tabulates it"),
    "AXP192_DCDC1_IQ": ("datasheet", "X-Powers AXP192 rev 1.1 / v1.13, section 5: DC-DC1 PFM no-load input 26 uA"),
    "AXP192_LDO_IQ": ("datasheet", "X-Powers AXP192 rev 1.1 / v1.13, section 5: LDO2/LDO3 quiescent 100 uA"),
    "BACKLIGHT_ON": ("secondary", "ER-TFT1.14-2 backlight 3.0 V, 20 mA (protoboard.xyz's transcription) + "
                     "AXP192 LDO2 100 uA; M5StickC measured 20.4-28.2 mA (lang-ship.com)"),
    "AXP192_QUIESCENT": ("derived", "AXP192 section 5: DC-DC1 26 uA + LDO3 100 uA = 126 uA"),
    "LDO_QUIESCENT": ("secondary", "Diodes AP2112 DS39724 rev 2-2: quiescent 55 uA typ, as part libraries quote it"),
    "AMS1117_QUIESCENT": ("datasheet", "AMS1117 datasheet (Advanced Monolithic Systems): quiescent 5 mA typ, 11 max"),
    "FLASH_PROGRAM": ("datasheet", "Winbond W25Q128JV rev D (and rev F, transcribed), 9.4: ICC5 20 mA typ"),
    "FLASH_ERASE": ("datasheet", "Winbond W25Q128JV rev D (and rev F, transcribed), 9.4: ICC6 20 mA typ"),
    "FLASH_PAGE": ("datasheet", "Winbond W25Q128JV: 256-byte program page"),
    "FLASH_SECTOR": ("datasheet", "Winbond W25Q128JV: 4 KB erase sector"),
    "FLASH_T_PAGE_S": ("secondary", "Winbond W25Q128JV rev F, 9.6: tPP 0.4 ms typ (a transcription; rev D: 0.7)"),
    "FLASH_T_SECTOR_S": ("datasheet", "Winbond W25Q128JV rev D (and rev F, transcribed), 9.6: tSE 45 ms typ"),
}

# The LED's current by board name (the comment at LED_ON); a board not
# listed is priced as the reference pin's design figure.
_LED_BY_BOARD = {"m5stickc_plus": LED_ON_M5}


def led_ma(board):
    """One lit LED channel of board `board` (its name), mA."""
    return _LED_BY_BOARD.get(board, LED_ON)


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

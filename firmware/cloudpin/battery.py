# Battery level: the cell's voltage -> charge left, on one discharge curve
# that the firmware and the energy model share (host_tools/power/batteries.py
# imports CURVE_MV from here). A resistor divider on an ADC1 pin (ADC2 stops
# working while the radio is on; read_uv() uses the chip's eFuse
# calibration), or the AXP192's battery ADC (cloudpin.axp192).
#
# A curve is the cell's voltage at 100, 95, ..., 0 % charge left (21
# millivolt figures, falling). A board file may give its cell's own
# (battery.curve_mv, boards/*.json: validated by boardspec; the board
# layer passes it here and host_tools/power reads the same file, so the
# pin and the model share one copy per board). CURVE_MV is the curve of a
# board that gives none (the M5StickC Plus: an AXP192 battery takes no board
# curve, and M5Stack publishes none for its 120 mAh cell): Dialog
# Semiconductor's profile of a 190 mAh LiPo (PH12YT) discharged at 50 mA,
# C/4, about the M5's C/3 with its screen lit (vol_dis_high_0 in
# custom_socf_battery_profile.h, dialog-semiconductor/BLE_SDK10_examples:
# 0..100 % by 10 %; the 5 % points here linear between them, rounded down).
# Was the hobby-LiPo table (ESTIMATE). The reference pin's board file
# carries the same profile's 1 mA curve, its own load. Flat in the middle:
# a linear map of 3.3-4.2 V would read about 61 % at 3.85 V, where half the
# charge is left.
LOW_PCT = 15  # below this the wearer is warned (LED) and the phone told (bus.BATTERY)
_CLEAR_PCT = 20  # and the warning ends above this (no flicker around the line)
CURVE_MV = (4123, 4082, 4042, 4015, 3988, 3963, 3939, 3915, 3891, 3870, 3850,
            3834, 3818, 3798, 3779, 3754, 3730, 3703, 3676, 3654, 3633)
_STEP = 5  # percent between entries


def curve_percent(cell_mv, c=CURVE_MV):
    """Charge left (0..100) of a cell at cell_mv on curve c, interpolated."""
    if cell_mv >= c[0]:
        return 100
    last = len(c) - 1
    if cell_mv <= c[last]:
        return 0
    i = 1
    while c[i] > cell_mv:
        i += 1
    # c[i] <= cell_mv < c[i - 1]: between (100 - 5i) and (100 - 5(i - 1)) %
    return 100 - _STEP * i + _STEP * (cell_mv - c[i]) // (c[i - 1] - c[i])


def curve_mv(pct, c=CURVE_MV):
    """Curve c's voltage at pct % left (the inverse, for models and tests)."""
    if pct >= 100:
        return c[0]
    if pct <= 0:
        return c[len(c) - 1]
    i = (100 - pct) // _STEP
    lo = 100 - _STEP * (i + 1)  # c[i + 1] is at lo %, c[i] at lo + 5 %
    return c[i + 1] + (c[i] - c[i + 1]) * (pct - lo) // _STEP


def percent(mv, empty_mv, full_mv, c=CURVE_MV):
    """Charge left 0..100 from the measured voltage on curve c; the board's
    empty_mv and full_mv (boards/*.json: its charger's and its cut-off's
    levels) read 0 and 100 at and past them."""
    if mv <= empty_mv:
        return 0
    if mv >= full_mv:
        return 100
    return curve_percent(mv, c)


class LowBattery:
    """Whether to warn: low below LOW_PCT, and again fine only above
    _CLEAR_PCT. update() returns True when the state changed."""

    def __init__(self):
        self.low = False

    def update(self, pct):
        was = self.low
        if pct < LOW_PCT:
            self.low = True
        elif pct > _CLEAR_PCT:
            self.low = False
        return self.low != was


class AdcBattery:
    """The level of a cell read under load. The pin reads with its CPU awake
    (~44 mA, more with the screen lit or the radio listening), and a loaded
    cell's terminal reads its open-circuit voltage less I x R_internal; the
    board's curve was measured at its own load (battery curve_ma), so
    mv[0] = (read_ma - curve_ma) x internal_mohm (boards/*.json, worked in
    docs/power.md; cloudpin.board.build works it out) puts a reading back on
    the curve, and mv[1] (screen_ma x internal_mohm) more while the screen
    is lit, a steady load. A scan's is not steady (it listens window_us of
    every interval_us): while one runs the last quiet level is kept (a scan
    window lasts seconds; the cell loses well under 1 % in one), and with
    no quiet reading yet the pin reads anyway (low by up to the radio's
    share). An idle radio's or a connection's short events are on air a
    few per cent of the time: read through.
    adc: anything with read_uv() (machine.ADC, cloudpin.axp192.AXP192).
    One class and names the app already interns: each new name costs the
    chip's qstr pools (docs/heap.md "The qstr pools")."""

    def __init__(self, adc, divider, empty_mv, full_mv, curve=None, mv=(0, 0), display=None):
        """curve: the cell's (a tuple like CURVE_MV), None: CURVE_MV.
        mv: the sag in mV (awake, more while lit). display: the board's
        cloudpin.display.Screen, lit while lit_until is set."""
        self._adc = adc
        self._divider = divider
        self._curve = (empty_mv, full_mv, curve or CURVE_MV)  # percent()'s scale, one name
        self.mv = mv
        self.display = display
        self.radio = None  # cloudpin.ble.radio.RadioOwner (the app): scanning() while it scans
        self._level = -1  # the last quiet level, -1: none yet

    def millivolts(self):
        return int(self._adc.read_uv() * self._divider) // 1000

    def percent(self):
        r = self.radio
        scanning = r is not None and r.scanning()
        if scanning and self._level >= 0:
            return self._level
        mv = self.millivolts() + self.mv[0]
        d = self.display
        if d is not None and d.lit_until is not None:
            mv += self.mv[1]
        empty_mv, full_mv, c = self._curve
        pct = percent(mv, empty_mv, full_mv, c)
        if not scanning:
            self._level = pct
        return pct

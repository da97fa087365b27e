# X-Powers AXP192 power management chip (datasheet AXP192 v1.0; register
# names as there), as the M5StickC Plus wires it: battery on its charger,
# LDO2 to the LCD backlight, LDO3 to the LCD logic. This driver reads the
# battery voltage and switches the LCD supplies; the chip's other rails
# (DC-DC1 feeds the ESP32 itself) are left as the board powered up.
#
# The AXP192 has no fuel gauge register: the level is estimated from the
# battery voltage on the shared LiPo curve, corrected for the load it is
# read under (cloudpin.battery.AdcBattery, which board.build wraps
# around this driver).
from micropython import const

from cloudpin import accel
from cloudpin.regs import Registers

_IC_TYPE = const(0x03)  # reads 0x03 on an AXP192
_OUTPUT_CTL = const(0x12)  # - EXTEN - DC-DC2 LDO3 LDO2 DC-DC3 DC-DC1
_LDO23_VOLTAGE = const(0x28)  # LDO2[7:4] LDO3[3:0]: 1.8 V + 0.1 V x n
_BAT_V_H = const(0x78)  # battery voltage ADC bits 11..4; 0x79 bits 3..0
_ADC_EN1 = const(0x82)  # bit 7: battery voltage ADC
_AXP192_ID = const(0x03)

_LDO2 = const(0x04)
_LDO3 = const(0x08)
_BAT_V_ADC = const(0x80)
_UV_PER_STEP = const(1100)  # battery voltage ADC: 1.1 mV a step


class AXP192(Registers):
    def __init__(self, i2c, address=0x34):
        accel.check_id(i2c, address, _IC_TYPE, _AXP192_ID, "AXP192")
        Registers.__init__(self, i2c, address)
        self._update(_ADC_EN1, _BAT_V_ADC, _BAT_V_ADC)

    def _update(self, reg, mask, bits):
        self._write8(reg, (self._read8(reg) & ~mask) | bits)

    # --- battery ------------------------------------------------------------------
    def read_uv(self):
        """The battery's microvolts, as machine.ADC.read_uv() reads a pin
        (cloudpin.battery.AdcBattery reads either)."""
        self.i2c.readfrom_mem_into(self.address, _BAT_V_H, self._b2)
        raw = (self._b2[0] << 4) | (self._b2[1] & 0x0F)
        return raw * _UV_PER_STEP

    # --- LCD supplies -------------------------------------------------------------
    def lcd_power(self, on, backlight_mv=3000, logic_mv=3000):
        """LDO3 (LCD logic) and LDO2 (backlight) on at the given voltages
        (1800..3300 mV), or both off."""
        if on:
            code = ((_ldo_code(backlight_mv) << 4) | _ldo_code(logic_mv))
            self._write8(_LDO23_VOLTAGE, code)
        self._update(_OUTPUT_CTL, _LDO2 | _LDO3, (_LDO2 | _LDO3) if on else 0)

    def backlight(self, on):
        """Backlight alone: off saves its current with the LCD contents kept."""
        self._update(_OUTPUT_CTL, _LDO2, _LDO2 if on else 0)


def _ldo_code(mv):
    n = (mv - 1800) // 100
    return 0 if n < 0 else 15 if n > 15 else n

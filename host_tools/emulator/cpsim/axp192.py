# X-Powers AXP192 power management chip (datasheet AXP192 v1.0, registers
# as named there) on the emulated I2C bus at 0x34, as on the M5StickC Plus:
# LDO2 powers the LCD backlight, LDO3 the LCD logic.
#   00 power status: bit 7 ACIN present, bit 5 VBUS present, bit 2 battery
#      current direction (1: charging)
#   01 charge status: bit 6 charging, bit 5 battery connected
#   03 IC type: 0x03
#   12 output control: bit 0 DC-DC1, 1 DC-DC3, 2 LDO2, 3 LDO3, 4 DC-DC2, 6 EXTEN
#   28 LDO2 (high nibble) / LDO3 (low nibble) voltage: 1.8 V + 0.1 V x n
#   78-79 battery voltage ADC: 12 bits, 78 = bits 11..4, 79 bits 3..0 = bits
#      3..0; 1.1 mV a step; reads 0 while 82 bit 7 (its ADC enable) is clear
#   82 ADC enable 1 (power-on 0x83: battery voltage and current on)
# The AXP192 has no fuel gauge (a percentage register is the AXP202's):
# firmware estimates the level from the voltage.
from cpsim.i2cdev import I2CDeviceModel

POWER_STATUS = 0x00
CHARGE_STATUS = 0x01
IC_TYPE = 0x03
OUTPUT_CTL = 0x12
LDO23_VOLTAGE = 0x28
BAT_V_H = 0x78
BAT_V_L = 0x79
ADC_EN1 = 0x82

LDO2 = 0x04
LDO3 = 0x08
_BAT_ADC = 0x80
_MV_PER_STEP = 1.1


class AXP192(I2CDeviceModel):
    address = 0x34

    def __init__(self, battery_mv=3900, address=None):
        I2CDeviceModel.__init__(self, address)
        # battery_mv: an int, or a callable(t_ms) -> mV (a discharge curve)
        self.battery_mv = battery_mv
        self.regs[IC_TYPE] = 0x03
        self.regs[CHARGE_STATUS] = 0x20  # battery connected, not charging
        # Power-on outputs: M5Stack's boards come up with DC-DC1 (ESP32) and
        # DC-DC3 on; LDO2/LDO3 are enabled by firmware (M5's own init).
        self.regs[OUTPUT_CTL] = 0x01 | 0x02
        self.regs[LDO23_VOLTAGE] = 0xCC  # 3.0 V / 3.0 V
        self.regs[ADC_EN1] = 0x83
        self.on_output = None  # callable(model) after a write to OUTPUT_CTL or LDO23_VOLTAGE

    def _mv(self):
        v = self.battery_mv
        if callable(v):
            v = v(self.clock.now_ms())
        return v

    def read_reg(self, reg):
        if reg in (BAT_V_H, BAT_V_L):
            raw = 0
            if self.regs[ADC_EN1] & _BAT_ADC:
                raw = max(0, min(0xFFF, int(self._mv() / _MV_PER_STEP + 0.5)))
            return raw >> 4 if reg == BAT_V_H else raw & 0x0F
        return self.regs[reg]

    def write_reg(self, reg, value):
        if reg in (POWER_STATUS, CHARGE_STATUS, IC_TYPE, BAT_V_H, BAT_V_L):
            return  # read-only
        self.regs[reg] = value
        if reg in (OUTPUT_CTL, LDO23_VOLTAGE) and self.on_output is not None:
            self.on_output(self)

    # --- what a test or the display model asks -----------------------------------
    def ldo_mv(self, n):
        """Output of LDO2 or LDO3 in mV, 0 when off."""
        bit = LDO2 if n == 2 else LDO3
        if not self.regs[OUTPUT_CTL] & bit:
            return 0
        v = self.regs[LDO23_VOLTAGE]
        return 1800 + 100 * ((v >> 4) if n == 2 else (v & 0x0F))

    @property
    def backlight(self):
        return self.ldo_mv(2) > 0

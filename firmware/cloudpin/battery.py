# Battery level from a resistor divider on an ADC1 pin (ADC2 stops working
# while the radio is on). read_uv() uses the chip's eFuse calibration.


class AdcBattery:
    def __init__(self, adc, divider, empty_mv, full_mv):
        self._adc = adc
        self._divider = divider
        self._empty = empty_mv
        self._full = full_mv

    def millivolts(self):
        return int(self._adc.read_uv() * self._divider) // 1000

    def percent(self):
        mv = self.millivolts()
        p = (mv - self._empty) * 100 // (self._full - self._empty)
        return 0 if p < 0 else 100 if p > 100 else p

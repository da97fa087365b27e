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
        return percent(self.millivolts(), self._empty, self._full)


def percent(mv, empty_mv, full_mv):
    """Charge level 0..100 from the voltage, linear between empty and full:
    rough (a LiPo's curve is flat in the middle) but enough for a badge."""
    p = (mv - empty_mv) * 100 // (full_mv - empty_mv)
    return 0 if p < 0 else 100 if p > 100 else p

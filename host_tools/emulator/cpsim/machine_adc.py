# machine.ADC of the emulated ESP32 port (see machine.py).
from cpsim.machine_pin import _pin_num
from cpsim.world import current

# --- ADC ----------------------------------------------------------------------

_ADC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)
# Full-scale input of the ESP32 ADC per attenuation, in mV (0, 2.5, 6, 11 dB).
_ADC_FULL_MV = (1100, 1500, 2200, 3900)


class ADC:
    """Linear model of the ESP32 ADC: the pin's voltage comes from
    Device.adc_values[pin] in microvolts (an int or a callable(t_ms));
    raw = uv / full_scale * (2**bits - 1), clamped; read_uv() is that raw
    value converted back, as the calibrated port returns."""

    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12

    def __init__(self, id, *, atten=None, sample_ns=None):
        num = _pin_num(id)
        if num not in _ADC_PINS:
            raise ValueError("invalid pin")
        self._dev = current()
        self._num = num
        self._atten = 0
        self._bits = 12
        if atten is not None:
            self.atten(atten)

    def init(self, *, atten=None, sample_ns=None):
        if atten is not None:
            self.atten(atten)

    def atten(self, atten):
        if atten not in (0, 1, 2, 3):
            raise ValueError("invalid atten")
        self._atten = atten

    def width(self, bits):
        if bits not in (9, 10, 11, 12):
            raise ValueError("invalid bits")
        self._bits = bits

    def _uv(self):
        clock = self._dev.world.clock
        v = self._dev.adc_values.get(self._num, 0)
        if callable(v):
            v = v(clock.now_ms())
        return int(v)

    def read(self):
        top = (1 << self._bits) - 1
        full = _ADC_FULL_MV[self._atten] * 1000
        raw = (self._uv() * top + full // 2) // full
        return 0 if raw < 0 else top if raw > top else raw

    def read_u16(self):
        raw, b = self.read(), self._bits
        return (raw << (16 - b)) | (raw >> (2 * b - 16))

    def read_uv(self):
        return self.read() * _ADC_FULL_MV[self._atten] * 1000 // ((1 << self._bits) - 1)

    def deinit(self):
        pass



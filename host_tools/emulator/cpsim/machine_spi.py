# machine.SPI of the emulated ESP32 port (see machine.py): the hardware SPI
# hosts of ports/esp32/machine_hw_spi.c with extmod/machine_spi.c's methods.
#
# SPI(1) is HSPI and SPI(2) VSPI; their default pins are the IO_MUX ones
# (14/13/12 and 18/23/19). One object per host: SPI(1) twice is the same
# peripheral, reconfigured. Bytes written go to the device models attached
# to the host with attach_spi(); a model selects itself by its own CS line
# (a GPIO the firmware drives, as on the M5StickC Plus), so it reads the
# Device's pads at each transfer. Nothing answers on MISO: reads return
# 0xFF (a floating line pulled high) unless a model gives bytes back.
from cpsim.machine_pin import _pin_num
from cpsim.world import current

_DEFAULT_PINS = {1: (14, 13, 12), 2: (18, 23, 19)}  # (sck, mosi, miso)


def attach_spi(dev, host, model):
    """Put `model` (spi_transfer(data, out) -> None) on SPI host 1 or 2 of `dev`."""
    models = getattr(dev, "spi_models", None)
    if models is None:
        models = dev.spi_models = {}
    models.setdefault(host, []).append(model)
    if hasattr(model, "attach"):
        model.attach(dev)
    return model


class SPI:
    MSB = 0
    LSB = 1

    def __new__(cls, id, *args, **kw):
        if not isinstance(id, int) or id not in _DEFAULT_PINS:
            raise ValueError("SPI(%s) doesn't exist" % (id,))
        dev = current()
        hosts = getattr(dev, "spi_hosts", None)
        if hosts is None:
            hosts = dev.spi_hosts = {}
        obj = hosts.get(id)
        if obj is None:
            obj = hosts[id] = object.__new__(cls)
            obj._dev = dev
            obj._id = id
            obj.baudrate, obj.polarity, obj.phase, obj.bits, obj.firstbit = 500000, 0, 0, 8, 0
            obj.sck, obj.mosi, obj.miso = _DEFAULT_PINS[id]
        return obj

    def __init__(self, id, baudrate=500000, *, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None,
                 miso=None):
        self._configure(baudrate, polarity, phase, bits, firstbit, sck, mosi, miso)

    def init(self, baudrate=None, *, polarity=None, phase=None, bits=None, firstbit=None, sck=None, mosi=None,
             miso=None):
        self._configure(baudrate, polarity, phase, bits, firstbit, sck, mosi, miso)

    def _configure(self, baudrate, polarity, phase, bits, firstbit, sck, mosi, miso):
        if baudrate is not None:
            self.baudrate = baudrate
        if polarity is not None:
            self.polarity = polarity
        if phase is not None:
            self.phase = phase
        if bits is not None:
            self.bits = bits
        if firstbit is not None:
            self.firstbit = firstbit
        if sck is not None:
            self.sck = _pin_num(sck)
        if mosi is not None:
            self.mosi = _pin_num(mosi)
        if miso is not None:
            self.miso = _pin_num(miso)
        self._on = True

    def deinit(self):
        self._on = False

    def __repr__(self):
        return "SPI(id=%d, baudrate=%d, polarity=%d, phase=%d, bits=%d, firstbit=%d, sck=%d, mosi=%d, miso=%d)" % (
            self._id, self.baudrate, self.polarity, self.phase, self.bits, self.firstbit, self.sck, self.mosi,
            self.miso)

    # --- transfers (extmod/machine_spi.c) -------------------------------------
    def _transfer(self, data, out):
        if not self._on:
            raise OSError("transfer on deinitialized SPI")
        if out is not None:
            for i in range(len(out)):
                out[i] = 0xFF
        models = getattr(self._dev, "spi_models", None)
        if models is not None:
            for model in models.get(self._id, ()):
                model.spi_transfer(self, data, out)

    def write(self, buf):
        self._transfer(buf, None)

    def read(self, nbytes, write=0x00):
        out = bytearray(nbytes)
        self._transfer(bytes((write,)) * nbytes, out)
        return bytes(out)

    def readinto(self, buf, write=0x00):
        self._transfer(bytes((write,)) * len(buf), buf)

    def write_readinto(self, write_buf, read_buf):
        if len(write_buf) != len(read_buf):
            raise ValueError("buffers must be the same length")
        self._transfer(write_buf, read_buf)

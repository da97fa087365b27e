# machine.I2C and machine.SoftI2C of the emulated ESP32 port (see machine.py).
from cpsim.i2cbus import Bus, into_bytes
from cpsim.machine_pin import _pin_num
from cpsim.world import current


# --- I2C ----------------------------------------------------------------------


class _I2CBase:
    # The extmod methods every I2C object shares (extmod/machine_i2c.c).
    def scan(self):
        return self._bus.scan()

    def writeto(self, addr, buf, stop=True):
        return self._bus.write(addr, buf)

    def writevto(self, addr, vector, stop=True):
        return self._bus.writevto(addr, vector)

    def readfrom(self, addr, nbytes, stop=True):
        return self._bus.read(addr, nbytes)

    def readfrom_into(self, addr, buf, stop=True):
        self._bus.readfrom_into(addr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return self._bus.read(addr, nbytes, memaddr, addrsize)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self._bus.readfrom_into(addr, buf, memaddr, addrsize)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._bus.write(addr, buf, memaddr, addrsize)

    def deinit(self):
        pass


class I2C(_I2CBase):
    _DEFAULT_PINS = ((18, 19), (25, 26))  # (scl, sda) of I2C(0) and I2C(1)

    def __init__(self, id, *, scl=None, sda=None, freq=400000, timeout=50000):
        if not isinstance(id, int) or not 0 <= id <= 1:
            raise ValueError("I2C(%s) doesn't exist" % (id,))
        # The port keeps one peripheral per id: pins not given are the ones
        # it had last (the defaults the first time).
        dev = current()
        pins = getattr(dev, "i2c_hw_pins", None)
        if pins is None:
            pins = dev.i2c_hw_pins = {}
        d_scl, d_sda = pins.get(id) or I2C._DEFAULT_PINS[id]
        self.id = id
        self.scl = _pin_num(scl) if scl is not None else d_scl
        self.sda = _pin_num(sda) if sda is not None else d_sda
        pins[id] = (self.scl, self.sda)
        self.freq = freq
        self.timeout = timeout
        self._bus = Bus.find(current(), self.scl, self.sda, id)

    def init(self, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.__init__(self.id, scl=scl, sda=sda, freq=freq, timeout=timeout)

    def _unsupported(self, *a):
        raise OSError("I2C operation not supported")

    start = stop = readinto = write = _unsupported

    def __repr__(self):
        return "I2C(%d, scl=%d, sda=%d, freq=%d)" % (self.id, self.scl, self.sda, self.freq)


class SoftI2C(_I2CBase):
    """Bit-banged I2C: found by its (scl, sda) pins (Device.wire_i2c); bus 0
    when the device has no wiring declared. Also has the primitive
    start/write/readinto/stop operations."""

    def __init__(self, scl, sda, *, freq=400000, timeout=50000):
        self.init(scl=scl, sda=sda, freq=freq, timeout=timeout)

    def init(self, scl, sda, *, freq=400000, timeout=50000):
        self.scl = _pin_num(scl)
        self.sda = _pin_num(sda)
        self.freq = freq
        self.timeout = timeout
        self._bus = Bus.find(current(), self.scl, self.sda, 0)
        self._txn = None  # [model or None, reading, bytes written]

    def start(self):
        self._flush()
        self._txn = [None, False, None]

    def stop(self):
        self._flush()
        self._txn = None

    def _flush(self):
        t = self._txn
        if t and t[0] is not None and not t[1] and t[2]:
            t[0].i2c_write(bytes(t[2]))
        self._txn = None

    def write(self, buf):
        t = self._txn
        if t is None:
            t = self._txn = [None, False, None]
        acks = 0
        for b in bytes(buf):
            if t[2] is None:  # the address byte
                self._bus.poll()
                t[0] = self._bus.model(b >> 1)
                t[1] = bool(b & 1)
                t[2] = bytearray()
                if t[0] is None:
                    return acks
            elif t[0] is None or t[1]:
                return acks
            else:
                t[2].append(b)
            acks += 1
        return acks

    def readinto(self, buf, nack=True):
        t = self._txn
        dst = into_bytes(buf)
        if t and t[0] is not None and t[1]:
            dst[:] = t[0].i2c_read(len(dst))
        else:
            for i in range(len(dst)):
                dst[i] = 0xFF  # nobody drives SDA: the pull-up reads as ones



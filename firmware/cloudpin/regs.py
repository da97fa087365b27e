# 8-bit register access to an I2C chip through preallocated one- and
# two-byte buffers: what every chip driver (accelerometers, the AXP192)
# shares. No allocation per access.


class Registers:
    def __init__(self, i2c, address):
        self.i2c = i2c
        self.address = address
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)

    def _read8(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._b1)
        return self._b1[0]

    def _write8(self, reg, value):
        self._b1[0] = value
        self.i2c.writeto_mem(self.address, reg, self._b1)

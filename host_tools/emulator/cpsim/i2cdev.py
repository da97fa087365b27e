# Base for register-level I2C device models on the emulated bus.
# A model has an 7-bit `address` and a register file; the bus (machine.I2C)
# turns transactions into read_reg/write_reg calls, auto-incrementing the
# register pointer the way the real chip does (see autoinc()).


class I2CDeviceModel:
    address = 0x00

    def __init__(self, address=None):
        if address is not None:
            self.address = address
        self.regs = bytearray(256)
        self.device = None  # the cpsim.world.Device it is attached to
        self.nack = False  # True simulates an unplugged/dead chip (ENODEV)
        self.pointer = 0  # register address pointer, set by the first byte written
        self._rbufs = {}  # read length -> buffer reused for reads of that length

    def attach(self, device):
        self.device = device

    @property
    def clock(self):
        return self.device.world.clock

    # --- what the bus calls -------------------------------------------------
    def autoinc(self, reg):
        """Register address after one byte of a burst starting at `reg`.
        Chips differ (LIS3DH needs bit 7 of the sub-address): override."""
        return (reg + 1) & 0xFF

    def read_buffer(self, n):
        """The buffer a read of n bytes returns, reused by the next read of
        the same length (the bus copies it): a FIFO drained in bursts
        allocates nothing here."""
        out = self._rbufs.get(n)
        if out is None:
            out = self._rbufs[n] = bytearray(n)
        return out

    def read_burst(self, reg, n):
        """n bytes from `reg` on (in read_buffer(n)); the register pointer
        ends after them."""
        out = self.read_buffer(n)
        for i in range(n):
            out[i] = self.read_reg(reg & 0xFF) & 0xFF
            reg = self.autoinc(reg)
        self.pointer = reg
        return out

    def write_burst(self, reg, data, start=0):
        """data[start:] written from `reg` on; the pointer ends after them."""
        for i in range(start, len(data)):
            self.write_reg(reg & 0xFF, data[i])
            reg = self.autoinc(reg)
        self.pointer = reg

    def i2c_write(self, data):
        """One write transaction after the address byte: the first byte sets the
        register pointer, the rest are written from there."""
        if not len(data):
            return
        self.pointer = data[0]
        if len(data) > 1:
            self.write_burst(data[0], data, 1)

    def i2c_read(self, n):
        """One read transaction of n bytes from the register pointer (valid
        until the next read of n bytes: see read_buffer)."""
        return self.read_burst(self.pointer, n)

    # --- what a model overrides -----------------------------------------------
    def read_reg(self, reg):
        return self.regs[reg]

    def write_reg(self, reg, value):
        self.regs[reg] = value

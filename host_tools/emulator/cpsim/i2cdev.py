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

    def read_burst(self, reg, n):
        out = bytearray(n)
        for i in range(n):
            out[i] = self.read_reg(reg & 0xFF) & 0xFF
            reg = self.autoinc(reg)
        return out

    def write_burst(self, reg, data):
        for b in data:
            self.write_reg(reg & 0xFF, b)
            reg = self.autoinc(reg)

    # --- what a model overrides -----------------------------------------------
    def read_reg(self, reg):
        return self.regs[reg]

    def write_reg(self, reg, value):
        self.regs[reg] = value

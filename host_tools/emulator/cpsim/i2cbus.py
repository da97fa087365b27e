# The wires of one emulated I2C bus: which register models answer, and what a
# transaction does to them. machine.I2C / SoftI2C are thin wrappers over this.
import errno
import sys

_MP = sys.implementation.name == "micropython"


def nodev():
    # The port raises OSError(19) (a NACK on the address byte). CPython only
    # sets .errno with two arguments, so give it one there.
    return OSError(errno.ENODEV) if _MP else OSError(errno.ENODEV, "ENODEV")


class Bus:
    def __init__(self, device, bus_id):
        self.device = device
        self.bus_id = bus_id

    @classmethod
    def find(cls, device, scl, sda, default_id):
        """The bus whose wires are (scl, sda); `default_id` when the device
        declared no wiring (see Device.wire_i2c). None when nothing is wired
        to those pins: every address then NACKs."""
        if device.i2c_wiring:
            bus_id = device.i2c_wiring.get((scl, sda))
        else:
            bus_id = default_id
        return cls(device, bus_id)

    def model(self, addr):
        models = self.device.i2c_models.get(self.bus_id) if self.bus_id is not None else None
        m = models.get(addr) if models else None
        if m is None or m.nack:
            return None
        return m

    def poll(self):
        # Under a WallClock this runs every event that fell due (timers,
        # sensor interrupts) before the transaction sees the registers.
        self.device.world.clock.poll()

    def scan(self):
        self.poll()
        return [a for a in range(0x08, 0x78) if self.model(a) is not None]

    def write(self, addr, data):
        self.poll()
        m = self.model(addr)
        if m is None:
            raise nodev()
        m.i2c_write(data)
        return len(data)

    def read(self, addr, n):
        self.poll()
        m = self.model(addr)
        if m is None:
            raise nodev()
        return bytes(m.i2c_read(n))

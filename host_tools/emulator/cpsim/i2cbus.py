# The wires of one emulated I2C bus: which register models answer, and what a
# transaction does to them. machine.I2C / SoftI2C are thin wrappers over this.
#
# On an ESP32 the machine.I2C calls are C: handed a buffer, they allocate
# nothing. Here they run in the firmware's own heap (the VM), at the sensor's
# rate, so a transaction that hands over a bytearray or a memoryview of one
# allocates nothing either: the register address goes out of a reused
# buffer, reads are copied straight into the caller's. Buffers of wider
# items (array("h"), ...) are taken as their raw bytes, as the port's buffer
# protocol does, on a slower path that allocates.
# Names here are few on purpose: each one is interned for good in the VM at
# boot, and a badge's boot sits close to a new qstr pool (commit bb611a3).
import errno
import sys

from micropython import const

_MP = sys.implementation.name == "micropython"
_REUSED_MAX = const(32)  # longest write kept for reuse; longer ones allocate


def nodev():
    # The port raises OSError(19) (a NACK on the address byte). CPython only
    # sets .errno with two arguments, so give it one there.
    return OSError(errno.ENODEV) if _MP else OSError(errno.ENODEV, "ENODEV")


def into_bytes(buf):
    """Where a read into `buf` lands: `buf` itself when its items are bytes,
    else a byte view of its memory (len() is then its size in bytes)."""
    if not _MP:
        view = memoryview(buf).cast("B")
        if view.readonly:
            raise TypeError("object with buffer protocol required")  # what the port says
        return view
    if type(buf) is not bytearray:
        try:
            # MicroPython's memoryview has no itemsize: storing nothing
            # from bytes raises ValueError exactly when the items are wider.
            # A read-only buffer raises TypeError here, as on the port.
            buf[0:0] = b""
        except ValueError:
            import uctypes

            return uctypes.bytearray_at(uctypes.addressof(buf), len(bytes(buf)))
    return buf


def _addr_bytes(memaddr, addrsize):
    """How many bytes `memaddr` goes out as: none when there is none."""
    if memaddr is None:
        return 0
    if addrsize > 32 or addrsize % 8 or addrsize <= 0:  # extmod/machine_i2c.c
        raise ValueError("invalid addrsize")
    return addrsize // 8


class Bus:
    def __init__(self, device, bus_id):
        self.device = device
        self.bus_id = bus_id
        # Under a WallClock this runs every event that fell due (timers,
        # sensor interrupts) before a transaction sees the registers. Bound
        # once: the world keeps its clock.
        self.poll = device.world.clock.poll
        # length -> bytearray a write of that length goes out of. None while
        # a model holds one: an IRQ handler that runs inside the transaction
        # and starts its own gets a fresh buffer.
        self._reused = {}

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

    def scan(self):
        self.poll()
        return [a for a in range(0x08, 0x78) if self.model(a) is not None]

    def _open(self, addr):
        """The model at `addr`, once every event due has run (the poll may
        run an IRQ handler that uses this bus: no buffer is taken before)."""
        self.poll()
        m = self.model(addr)
        if m is None:
            raise nodev()
        return m

    def _buffer(self, n, memaddr, nbytes):
        """A buffer for nbytes of `memaddr` (most significant first) and n
        more after them, address filled in."""
        reused = self._reused
        n += nbytes
        if reused is None or n > _REUSED_MAX:
            b = bytearray(n)
        else:
            b = reused.get(n)
            if b is None:
                b = reused[n] = bytearray(n)
        for i in range(nbytes):
            b[i] = (memaddr >> (8 * (nbytes - 1 - i))) & 0xFF
        return b

    def _send(self, model, data):
        reused = self._reused
        self._reused = None
        try:
            model.i2c_write(data)
        finally:
            self._reused = reused

    def write(self, addr, buf, memaddr=None, addrsize=8):
        """One write transaction: `memaddr` if given (addrsize bits), then
        the bytes of `buf`; returns how many bytes went out."""
        na = _addr_bytes(memaddr, addrsize)
        if not _MP:
            buf = bytes(buf)
        m = self._open(addr)
        data = self._buffer(len(buf), memaddr, na)
        try:
            data[na:] = buf
        except (ValueError, NotImplementedError):  # items wider than a byte, or a list
            buf = bytes(buf)
            data = self._buffer(len(buf), memaddr, na)
            data[na:] = buf
        self._send(m, data)
        return len(data)

    def writevto(self, addr, vector):
        """One write transaction of every buffer in `vector`, back to back."""
        m = self._open(addr)
        data = None
        if _MP:  # (CPython would resize `data` for items wider than a byte)
            n = 0
            for b in vector:
                n += len(b)
            data = self._buffer(n, 0, 0)
            n = 0
            try:
                for b in vector:
                    data[n:n + len(b)] = b
                    n += len(b)
            except (ValueError, NotImplementedError):
                data = None
        if data is None:
            data = b"".join(bytes(b) for b in vector)
        self._send(m, data)
        return len(data)

    def readfrom_into(self, addr, buf, memaddr=None, addrsize=8):
        """Fill `buf` (any writable buffer, by its bytes) from one read
        transaction, after writing `memaddr` if given (addrsize bits)."""
        na = _addr_bytes(memaddr, addrsize)
        dst = buf if type(buf) is bytearray else into_bytes(buf)
        if na:
            m = self._open(addr)
            self._send(m, self._buffer(0, memaddr, na))
        m = self._open(addr)
        dst[:] = m.i2c_read(len(dst))
        self.device.i2c_rx += len(dst)  # the CPU model charges the firmware for it (cpucost)

    def read(self, addr, n, memaddr=None, addrsize=8):
        """n bytes of one read transaction (after `memaddr` as in readfrom_into)."""
        buf = bytearray(n)
        self.readfrom_into(addr, buf, memaddr, addrsize)
        return bytes(buf)

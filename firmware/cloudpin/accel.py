# What every accelerometer driver shares: the FIFO burst reader, the interrupt
# flags the app sees, the WHO_AM_I check, and make_accel() for the board layer.
#
# Drivers read their FIFO in bursts into one preallocated buffer. MicroPython
# allocates a new object for every memoryview slice, so the slices a burst
# needs (1, 2, 4 ... CHUNK frames) are made once here and a FIFO level is read
# as a sum of powers of two: no allocation per sample, few I2C transactions.
import micropython
from micropython import const
import errno
from machine import Pin

from cloudpin.regs import Registers

# Interrupt sources, as returned by int1_source() of every driver.
WATERMARK = const(1)  # FIFO holds at least the watermark
OVERRUN = const(2)  # FIFO overflowed: samples were lost
CLICK = const(4)  # hardware click/tap engine fired
DATA_READY = const(8)

_CHUNK_LOG2 = const(5)  # largest burst: 32 frames

# WHO_AM_I values of parts that share these addresses, for a useful error.
_KNOWN = ((0x33, "LIS3DH"), (0x68, "MPU6050"), (0x19, "MPU6886"), (0x70, "MPU6500"),
          (0x71, "MPU9250"), (0x12, "ICM20602"), (0x44, "LIS2DW12"))


def _part(ident):
    for v, name in _KNOWN:
        if v == ident:
            return name
    return "unknown part"


# Raw words to mg: viper, about 40x faster than the same loop as bytecode
# (0.011 vs 0.43 us per sample on the unix port). `out` must be array("h").
@micropython.viper
def le16_to_mg(buf, n: int, out, pos: int, shift: int, mg_per_digit: int):
    """n little-endian left-justified words -> (word >> shift) * mg_per_digit."""
    b = ptr8(buf)
    o = ptr16(out)
    for i in range(n):
        v = b[2 * i] | (b[2 * i + 1] << 8)
        if v & 0x8000:
            v -= 0x10000
        o[pos + i] = (v >> shift) * mg_per_digit


@micropython.viper
def be16_to_mg(buf, frames: int, stride: int, out, pos: int, fs_mg: int):
    """x,y,z big-endian words at the start of each `stride`-byte frame ->
    word * fs_mg / 32768 (|word * fs_mg| < 2**31)."""
    b = ptr8(buf)
    o = ptr16(out)
    j = 0
    for _ in range(frames):
        for _ in range(3):
            v = (b[j] << 8) | b[j + 1]
            if v & 0x8000:
                v -= 0x10000
            o[pos] = (v * fs_mg) >> 15
            pos += 1
            j += 2
        j += stride - 6


def check_id(i2c, address, reg, expected, name):
    """Read WHO_AM_I; OSError(ENODEV) if nothing answers, ValueError if another chip does."""
    buf = bytearray(1)
    try:
        i2c.readfrom_mem_into(address, reg, buf)
    except OSError as e:
        raise OSError(errno.ENODEV, "%s: no answer at I2C address 0x%02x (%s)" % (name, address, e))
    if buf[0] != expected:
        raise ValueError("%s: WHO_AM_I at 0x%02x is 0x%02x (%s), expected 0x%02x"
                         % (name, address, buf[0], _part(buf[0]), expected))


class FifoAccel(Registers):
    """Base of the drivers. A subclass sets FIFO_REG and FRAME (bytes per x,y,z
    frame as the FIFO delivers it) and implements _level() -> frames waiting
    and _convert(buf, frames, out, pos) -> writes x,y,z mg ints at out[pos:]."""

    FIFO_REG = 0
    FRAME = 6
    HAS_MOTION_WAKE = False  # an engine that raises an INT line on motion (enable_motion, motion_irq)
    # Frames at which the chip flags an overrun before any is lost (the
    # LIS3DH's OVRN_FIFO means "full": 32 unread); 0: its flag means lost.
    FULL_FRAMES = 0

    def __init__(self, i2c, address):
        Registers.__init__(self, i2c, address)
        self.odr = 0
        self.range_g = 0
        self.watermark = 0
        self.overruns = 0  # FIFO overflows seen (samples lost)
        self._buf = bytearray(self.FRAME << _CHUNK_LOG2)
        mv = memoryview(self._buf)
        self._views = [mv[: self.FRAME << i] for i in range(_CHUNK_LOG2 + 1)]

    # --- FIFO ---------------------------------------------------------------
    def fifo_level(self):
        """Frames (x,y,z samples) waiting in the FIFO."""
        return self._level()

    def read_fifo(self, out):
        """Drain the FIFO into `out` (preallocated array("h"), x,y,z
        interleaved, mg); returns the number of samples written (at most
        len(out) // 3). Allocates nothing."""
        n = self._level()
        cap = len(out) // 3
        if n > cap:
            n = cap
        done = 0
        while done < n:
            j = _CHUNK_LOG2
            while (1 << j) > n - done:
                j -= 1
            self.i2c.readfrom_mem_into(self.address, self.FIFO_REG, self._views[j])
            self._convert(self._buf, 1 << j, out, done * 3)
            done += 1 << j
        return n

    def _level(self):
        raise NotImplementedError

    def _convert(self, buf, frames, out, pos):
        raise NotImplementedError

    # --- interrupt line -----------------------------------------------------
    def attach_irq(self, pin, handler):
        """Call handler(pin) on the chip's interrupt edge (INT configured
        active-high push-pull by the driver). `pin` is a machine.Pin input."""
        pin.irq(handler=handler, trigger=Pin.IRQ_RISING)
        return pin

    def poll_ms(self):
        """How often the app must drain the FIFO when it relies on a timer:
        the watermark's worth of samples."""
        if not self.odr:
            return 0
        return int(max(self.watermark, 1) * 1000 // self.odr)


def make_accel(i2c, cfg, int_pin=None, handler=None):
    """Driver for a board's `accel` section (boards/*.json), configured with the
    board's range and step ODR. With int_pin and handler, the FIFO interrupt is
    attached too."""
    kind = cfg["type"]
    if kind == "lis3dh":
        from cloudpin.lis3dh import LIS3DH as cls
    elif kind == "mpu6886":
        from cloudpin.mpu6886 import MPU6886 as cls
    elif kind == "mpu6050":
        from cloudpin.mpu6050 import MPU6050 as cls
    else:
        raise ValueError("unknown accelerometer type %r" % kind)
    drv = cls(i2c, cfg["address"])
    drv.set_range(cfg["range_g"])
    drv.set_odr(cfg["odr"])
    if int_pin is not None and handler is not None:
        drv.attach_irq(int_pin, handler)
    return drv

# MPU6050 driver (firmware/cloudpin/mpu6050.py) against its register model
# (host_tools/emulator/cpsim/mpu6050.py) on the emulated I2C bus.
import errno
import gc
from array import array

import machine
from cpsim.world import World
from cpsim import mpu6050 as model
from cpsim.mpu6886 import MPU6886 as MPU6886Model
from cloudpin import accel
from cloudpin.mpu6050 import MPU6050
from fwcheck import raises


def pattern(t_ms):
    """Still (1 g on z) for 0.5 s, then a known shape, one value per 20 ms."""
    if t_ms < 500:
        return (0.0, 0.0, 1.0)
    k = int(t_ms // 20)
    return (((k % 7) - 3) * 0.5, (k % 3) * 0.25, 1.0 - (k % 5) * 0.1)


def expect_mg(t_ms, range_g=4):
    # Model: round(g * 32768 / fs) digits; driver: digits * fs_mg >> 15.
    out = []
    for g in pattern(t_ms):
        raw = int(round(g * 32768 / range_g))
        out.append((raw * range_g * 1000) >> 15)
    return out


def rig(model_cls=model.MPU6050, int_pin=4, source=pattern):
    w = World()
    dev = w.device("pin")
    chip = dev.attach_i2c(0, model_cls(source=source, int_pin=int_pin))
    return w, chip, machine.I2C(0)


class FakeBus:
    """Fixed register contents and an endless FIFO, for allocation counts: the
    emulated bus is host code and allocates, the driver must not."""

    def __init__(self, regs, fifo_reg, pattern):
        self.regs = regs
        self.fifo_reg = fifo_reg
        self.pattern = pattern
        self.pos = 0

    def readfrom_mem_into(self, addr, reg, buf):
        if reg == self.fifo_reg:
            p = self.pattern
            k = self.pos
            for i in range(len(buf)):
                buf[i] = p[k]
                k += 1
                if k == len(p):
                    k = 0
            self.pos = k
        else:
            r = self.regs
            for i in range(len(buf)):
                buf[i] = r[(reg + i) & 0xFF]

    def writeto_mem(self, addr, reg, buf):
        pass


def wake_on_int(w, drv, pin_no):
    """Attach what the app does on the INT edge: note the time and the
    sources, drain the FIFO. Advances 2 s (0.5 s at a time: the first edge
    lands exactly at 500 ms); returns (edge times ms, sources, mg samples)."""
    seen, flags, got = [], [], []
    out = array("h", [0] * (3 * 64))

    def on_int(pin):
        # Asserts here would only be printed (an IRQ handler's exception).
        seen.append(w.clock.now_ms())
        flags.append(drv.int1_source())
        n = drv.read_fifo(out)
        got.extend(out[: 3 * n])

    drv.attach_irq(machine.Pin(pin_no, machine.Pin.IN), on_int)
    w.advance(499)
    assert seen == [], seen
    for _ in range(4):
        w.advance(1 if not seen else 500)
    w.advance(499)
    return seen, flags, got


def reads_allocate(drv, out, reads=400):
    """Heap bytes allocated by `reads` read_fifo() calls after a warm-up."""
    n = drv.read_fifo(out)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(reads):
        drv.read_fifo(out)
    return n, gc.mem_alloc() - before


def test_who_am_i_missing_and_wrong_chip():
    w, chip, i2c = rig()
    chip.nack = True
    e = raises(OSError, MPU6050, i2c, 0x68)
    assert e.args[0] == errno.ENODEV, e.args
    assert "MPU6050" in str(e) and "0x68" in str(e), str(e)
    chip.nack = False
    assert MPU6050(i2c, 0x68).odr == 50
    w2 = World()
    d2 = w2.device("other")
    d2.attach_i2c(0, MPU6886Model())
    e = raises(ValueError, MPU6050, machine.I2C(0), 0x68)
    assert "0x19" in str(e) and "MPU6886" in str(e), str(e)


def test_odr_range_and_power_modes_in_registers():
    w, chip, i2c = rig()
    drv = MPU6050(i2c)
    assert drv.set_odr(50) == 50
    assert drv.set_range(4) == 4
    r = chip.regs
    assert r[model.SMPLRT_DIV] == 19 and r[model.CONFIG] & 7 == 4  # 1 kHz / 20, 21 Hz DLPF
    assert r[model.ACCEL_CONFIG] == 0x08
    assert r[model.PWR_MGMT_1] & (model.SLEEP | model.CYCLE) == 0
    assert r[model.PWR_MGMT_2] == 0x07  # gyros in standby
    assert chip.period_us() == 20000
    assert drv.set_odr(500) == 500 and r[model.SMPLRT_DIV] == 1 and r[model.CONFIG] & 7 == 1
    assert drv.set_odr(20, cycle=True) == 20
    assert r[model.PWR_MGMT_1] & model.CYCLE and r[model.PWR_MGMT_2] >> 6 == 2
    assert chip.period_us() == 50000
    raises(ValueError, lambda: drv.set_odr(50, cycle=True))  # cycle mode tops out at 40 Hz
    raises(ValueError, drv.set_range, 3)
    drv.set_odr(50)
    n0 = chip.samples
    drv.power_down()
    assert r[model.PWR_MGMT_1] & model.SLEEP
    w.advance(1000)
    drv.fifo_level()  # a transaction: the model catches up
    assert chip.samples == n0


def test_fifo_burst_returns_the_recording_in_mg():
    w, chip, i2c = rig()
    drv = MPU6050(i2c)
    drv.set_range(4)
    drv.set_odr(50)  # t = 0: samples at 20, 40, ... ms
    drv.enable_fifo(25)
    out = array("h", [0] * (3 * 64))
    got = []
    for _ in range(4):
        w.advance(500)
        n = drv.read_fifo(out)
        assert n == 25, n
        got.extend(out[: 3 * n])
    assert len(got) == 3 * 100
    for k in range(100):
        want = expect_mg((k + 1) * 20)
        for a in range(3):
            assert abs(got[3 * k + a] - want[a]) <= 1, (k, got[3 * k: 3 * k + 3], want)
    assert got[2] == 1000 and got[0] == 0  # still: 1 g on z
    assert drv.overruns == 0 and drv.fifo_level() == 0


def test_overflow_interrupt_at_the_171st_frame_then_fifo_reset():
    w, chip, i2c = rig()
    drv = MPU6050(i2c)
    drv.set_range(4)
    drv.set_odr(50)
    drv.enable_fifo(25)
    assert drv.poll_ms() == 500  # the app drains on a timer instead of a watermark
    seen = []
    drv.attach_irq(machine.Pin(4, machine.Pin.IN), lambda p: seen.append(w.clock.now_ms()))
    w.advance(3419)
    assert seen == [] and drv.int1_source() == accel.DATA_READY
    w.advance(1)
    # 1024 bytes hold 170 six-byte frames; the 171st overflows at 171 * 20 ms.
    assert seen == [3420], seen
    out = array("h", [0] * (3 * 32))
    assert drv.read_fifo(out) == 0  # frames misaligned: the driver resets the FIFO
    assert drv.overruns == 1 and chip.fifo_count == 0
    assert machine.Pin(4).value() == 0  # reading INT_STATUS released the latched INT
    w.advance(100)
    assert drv.read_fifo(out) == 5
    for k in range(5):
        assert abs(out[3 * k] - expect_mg(3420 + 20 * (k + 1))[0]) <= 1


def mpu_fifo_allocation(driver_cls, who_am_i, frame_bytes):
    """(samples per read, heap bytes over 400 reads) for an MPU driver reading
    25 frames of +1 g, -1 g, +2 g (at 4 g) per call from a FakeBus; the out
    array for checking the values."""
    regs = bytearray(256)
    regs[0x75] = who_am_i
    regs[0x72], regs[0x73] = 0, 25 * frame_bytes  # FIFO_COUNTH/L
    frame = bytes((0x20, 0x00, 0xE0, 0x00, 0x40, 0x00)) + bytes(frame_bytes - 6)
    drv = driver_cls(FakeBus(regs, 0x74, frame), 0x68)
    drv.set_range(4)
    drv.enable_fifo(25)
    out = array("h", [0] * (3 * 32))
    return reads_allocate(drv, out), out


def test_mp_read_fifo_allocates_nothing():
    result, out = mpu_fifo_allocation(MPU6050, 0x68, 6)
    assert result == (25, 0), result
    assert list(out[:6]) == [1000, -1000, 2000, 1000, -1000, 2000]

# LIS3DH driver (firmware/cloudpin/lis3dh.py) against the LIS3DH register
# model (host_tools/emulator/cpsim/lis3dh.py) on the emulated I2C bus.
import errno
from array import array

import machine
from cpsim import lis3dh as model
from cpsim.mpu6050 import MPU6050 as OtherChip
from cpsim.world import World
from cloudpin import accel
from cloudpin import lis3dh
from cloudpin.lis3dh import LIS3DH
from test_drv_mpu6050 import FakeBus, pattern, raises, reads_allocate, wake_on_int

INT1 = 34  # reference pin: LIS3DH INT1 on G34, INT2 on G39
INT2 = 39


class Slots:
    """pattern() (one value per 20 ms slot) as a recording source: the mean
    over a sample period aligned on the slots is the value of its slot."""

    def mean(self, t0_ms, t1_ms):
        return pattern((t0_ms + t1_ms) / 2)


class Impulse:
    """Still (1 g on z) plus +dz g between t_on and t_off ms: a tap."""

    def __init__(self, t_on, t_off, dz):
        self.t_on, self.t_off, self.dz = t_on, t_off, dz

    def mean(self, t0_ms, t1_ms):
        overlap = min(t1_ms, self.t_off) - max(t0_ms, self.t_on)
        z = 1.0 + (self.dz * overlap / (t1_ms - t0_ms) if overlap > 0 else 0.0)
        return (0.0, 0.0, z)


def rig(source=None, address=0x18):
    w = World()
    dev = w.device("pin")
    chip = dev.attach_i2c(0, model.LIS3DH(source=source or Slots(), int1=INT1, int2=INT2, address=address))
    return w, chip, machine.I2C(0)


def expect_mg(t_ms, sens=8):
    # Model: round(g * 1000 / sens) digits (normal mode, +-4 g: 8 mg/digit).
    return [int(round(g * 1000 / sens)) * sens for g in pattern(t_ms)]


def test_who_am_i_missing_and_wrong_chip():
    w, chip, i2c = rig(address=0x19)  # SA0 high: the driver asks 0x18
    e = raises(OSError, LIS3DH, i2c, 0x18)
    assert e.args[0] == errno.ENODEV and "0x18" in str(e), e.args
    assert LIS3DH(i2c, 0x19).odr == 50
    w2 = World()
    w2.device("other").attach_i2c(0, OtherChip(address=0x18))
    e = raises(ValueError, LIS3DH, machine.I2C(0), 0x18)
    assert "0x33" in str(e), str(e)


def test_odr_range_mode_and_fifo_registers():
    w, chip, i2c = rig()
    drv = accel.make_accel(i2c, {"type": "lis3dh", "address": 24, "int1": INT1, "int2": INT2,
                                 "odr": 50, "range_g": 4, "tap_odr": 400})
    r = chip.regs
    assert r[0x20] == 0x47  # CTRL_REG1: ODR 50 Hz, normal mode, x y z on
    assert r[0x23] == 0x90  # CTRL_REG4: BDU, FS +-4 g, HR off
    assert drv.set_odr(20) == 25 and r[0x20] >> 4 == 3  # the nearest rate
    assert drv.set_odr(500) == 400 and r[0x20] >> 4 == 7  # not 1344 Hz, the next one up
    assert drv.set_odr(1100) == 1344 and r[0x20] >> 4 == 9  # normal mode's top rate is code 9
    assert drv.set_odr(400) == 400 and r[0x20] >> 4 == 7
    drv.set_mode(lis3dh.LOW_POWER)
    assert r[0x20] & 0x08 and drv.set_odr(1200) == 1600 and r[0x20] >> 4 == 8
    drv.set_mode(lis3dh.NORMAL)
    assert drv.set_odr(50) == 50 and not r[0x20] & 0x08
    raises(ValueError, drv.set_range, 6)
    assert drv.enable_fifo(25) == 25
    assert r[0x24] & 0x40 and r[0x2E] == 0x80 | 24  # FIFO_EN; stream mode, FTH
    assert r[0x22] & 0x04  # CTRL_REG3.I1_WTM
    assert r[0x25] & 0x02 == 0  # INT_POLARITY: active high, as attach_irq expects
    drv.power_down()
    assert r[0x20] >> 4 == 0


def test_watermark_interrupt_and_fifo_burst():
    w, chip, i2c = rig()
    drv = LIS3DH(i2c)  # ODR 50 Hz from t = 0: samples at 20, 40, ... ms
    drv.set_range(4)
    drv.enable_fifo(25)
    seen, flags, got = wake_on_int(w, drv, INT1)
    assert seen == [500, 1000, 1500, 2000], seen
    assert flags == [accel.WATERMARK] * 4, flags
    assert len(got) == 3 * 100
    for k in range(100):
        want = expect_mg(20 * k + 10)  # sample k+1 averages slot k
        assert got[3 * k: 3 * k + 3] == want, (k, got[3 * k: 3 * k + 3], want)
    assert got[2] == 1000 and machine.Pin(INT1).value() == 0


def test_full_fifo_reports_overrun_and_the_last_32_samples():
    w, chip, i2c = rig()
    drv = LIS3DH(i2c)
    drv.set_range(4)
    drv.enable_fifo(25)
    w.advance(2000)  # 100 samples, nobody reading
    out = array("h", [0] * (3 * 40))
    assert drv.read_fifo(out) == 32
    assert drv.overruns == 1
    for k in range(32):
        assert list(out[3 * k: 3 * k + 3]) == expect_mg(20 * (68 + k) + 10), k
    assert drv.fifo_level() == 0


def test_click_engine_fires_on_an_impulse():
    w, chip, i2c = rig(Impulse(1000.0, 1005.0, 2.0))  # a 5 ms, +2 g tap at t = 1 s
    drv = LIS3DH(i2c)
    drv.set_range(4)
    drv.set_odr(400)  # samples every 2.5 ms from t = 0
    regs = drv.enable_click(1500, 20, 50, 100, single=True, axes="z", pin=2)
    r = chip.regs
    assert regs == (0x80 | 47, 8, 20, 40)  # 1500 mg / 32 mg; ms * 400 Hz; latched
    assert (r[0x3A], r[0x3B], r[0x3C], r[0x3D]) == regs
    assert r[0x38] == 0x10 and r[0x21] & 0x04  # CLICK_CFG.ZS; CTRL_REG2.HPCLICK
    assert r[0x25] & 0x80 and not r[0x22] & 0x80  # I2_CLICK, not I1_CLICK
    taps = []
    drv.attach_irq(machine.Pin(INT2, machine.Pin.IN), lambda p: taps.append(w.clock.now_us()))
    w.advance(990)
    assert taps == [] and drv.read_click() is None
    w.advance(30)
    # The high-passed z is over 1.47 g for the samples at 1002.5 and 1005 ms;
    # the click ends (and INT2 rises) when it drops back, at 1007.5 ms.
    assert taps == [1007500], taps
    assert machine.Pin(INT2).value() == 1  # latched until CLICK_SRC is read
    assert drv.read_click() == ("z", 1, False)
    assert machine.Pin(INT2).value() == 0 and drv.read_click() is None
    drv.set_odr(200)
    assert chip.regs[0x3B] == 4  # TIME_LIMIT follows the ODR: 20 ms at 200 Hz
    drv.set_range(8)
    assert chip.regs[0x3A] == 0x80 | 24  # CLICK_THS follows the range: 1500 / 62


def test_wake_on_motion_routes_ia1_to_int1_in_place_of_the_watermark():
    w, chip, i2c = rig(Impulse(1000.0, 1010.0, 0.5))  # a 10 ms, +0.5 g jolt at t = 1 s
    drv = LIS3DH(i2c)
    drv.set_range(4)
    drv.set_odr(400)
    drv.enable_fifo(24)
    r = chip.regs
    assert drv.enable_motion(64, 5) == (2, 2)  # 64 mg / 32 mg; 5 ms at 400 Hz
    assert (r[0x32], r[0x33]) == (2, 2) and r[0x21] & 0x01 and r[0x24] & 0x08  # HP_IA1, LIR_INT1
    assert r[0x30] == 0 and r[0x22] == 0x04  # not armed: INT1 is the watermark's
    wakes = []
    drv.attach_irq(machine.Pin(INT1, machine.Pin.IN), lambda p: wakes.append(w.clock.now_us()))
    w.advance(500)
    n = len(wakes)
    assert n == 1 and machine.Pin(INT1).value() == 1  # the watermark, up until the FIFO is read
    drv.watermark_irq(False)
    drv.motion_irq(True)
    assert r[0x30] == 0x2A and r[0x22] == 0x40  # X/Y/Z high, OR; I1_IA1 alone
    w.advance(480)
    assert len(wakes) == n and not drv.read_motion()  # still: INT1 stays low
    w.advance(40)
    assert len(wakes) == n + 1 and 1000000 < wakes[-1] <= 1010000, wakes[n:]
    assert machine.Pin(INT1).value() == 1  # latched
    assert drv.read_motion() and machine.Pin(INT1).value() == 0
    drv.motion_irq(False)
    drv.watermark_irq(True)
    assert r[0x30] == 0 and r[0x22] == 0x04
    drv.set_range(8)
    assert r[0x32] == 1  # INT1_THS follows the range: 64 / 62
    drv.set_odr(100)
    assert r[0x33] == 1  # INT1_DURATION follows the ODR: 5 ms at 100 Hz, rounded


def test_mp_read_fifo_allocates_nothing():
    regs = bytearray(256)
    regs[0x0F] = 0x33
    regs[0x2F] = 0x80 | 25  # FIFO_SRC_REG: WTM, 25 samples
    # +1 g, -1 g, +2 g at +-4 g normal mode: 125, -125, 250 digits << 6, little-endian
    frame = bytes((0x40, 0x1F, 0xC0, 0xE0, 0x80, 0x3E))
    drv = LIS3DH(FakeBus(regs, 0x28 | 0x80, frame), 0x18)
    drv.set_range(4)
    drv.enable_fifo(25)
    out = array("h", [0] * (3 * 32))
    result = reads_allocate(drv, out)
    assert result == (25, 0), result
    assert list(out[72:75]) == [1000, -1000, 2000]

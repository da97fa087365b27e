# MPU6886 driver (firmware/cloudpin/mpu6886.py) against its register model
# (host_tools/emulator/cpsim/mpu6886.py) on the emulated I2C bus.
import errno
from array import array

import machine
from cpsim import mpu6050 as base
from cpsim import mpu6886 as model
from cpsim.recording import Rest
from cpsim.world import World
from cloudpin import accel
from cloudpin.mpu6886 import MPU6886
from test_drv_mpu6050 import expect_mg, mpu_fifo_allocation, raises, rig, wake_on_int

INT = 35  # M5StickC Plus: MPU6886 INT on G35


def test_who_am_i_missing_and_wrong_chip():
    w = World()
    w.device("empty")
    e = raises(OSError, MPU6886, machine.I2C(0), 0x68)
    assert e.args[0] == errno.ENODEV, e.args
    rig(base.MPU6050)
    e = raises(ValueError, MPU6886, machine.I2C(0), 0x68)
    assert "MPU6050" in str(e) and "0x19" in str(e), str(e)


def test_board_config_programs_odr_range_and_gyro_standby():
    w, chip, i2c = rig(model.MPU6886, INT)
    cfg = {"type": "mpu6886", "address": 104, "int1": INT, "odr": 50, "range_g": 4, "tap_odr": 500}
    drv = accel.make_accel(i2c, cfg)
    assert isinstance(drv, MPU6886) and drv.odr == 50 and drv.range_g == 4
    r = chip.regs
    assert r[base.SMPLRT_DIV] == 19 and r[base.CONFIG] & 7 == 1  # 1 kHz clock / 20
    assert r[model.ACCEL_CONFIG2] == 4  # 21.2 Hz low-pass: below 25 Hz Nyquist
    assert r[base.ACCEL_CONFIG] == 0x08  # +-4 g
    assert r[base.PWR_MGMT_1] & (base.SLEEP | base.CYCLE) == 0 and r[base.PWR_MGMT_2] == 0x07
    assert chip.period_us() == 20000
    assert drv.set_odr(cfg["tap_odr"]) == 500
    assert r[base.SMPLRT_DIV] == 1 and r[model.ACCEL_CONFIG2] == 1 and chip.period_us() == 2000
    assert drv.set_odr(300) == 1000 / 3  # nearest divider, reported exactly
    drv.power_down()
    assert r[base.PWR_MGMT_1] & base.SLEEP


def test_watermark_interrupt_and_fifo_contents():
    w, chip, i2c = rig(model.MPU6886, INT)
    drv = MPU6886(i2c)
    drv.set_range(4)
    drv.set_odr(50)  # t = 0: samples at 20, 40, ... ms
    assert drv.enable_fifo(25) == 25
    assert model.MPU6886.watermark_bytes(chip) == 25 * 8  # 8-byte frames: accel + temp
    seen, flags, got = wake_on_int(w, drv, INT)
    assert seen == [500, 1000, 1500, 2000], seen
    assert flags == [accel.WATERMARK | accel.DATA_READY] * 4, flags
    assert len(got) == 3 * 100
    for k in range(100):
        want = expect_mg((k + 1) * 20)
        assert [abs(got[3 * k + a] - want[a]) <= 1 for a in range(3)] == [True] * 3, (k, got[3 * k: 3 * k + 3], want)
    assert machine.Pin(INT).value() == 0


def test_overflow_keeps_frames_aligned():
    w, chip, i2c = rig(model.MPU6886, INT)
    drv = MPU6886(i2c)
    drv.set_range(4)
    drv.set_odr(50)
    drv.enable_fifo(25)
    w.advance(3000)  # 150 samples into a 128-frame FIFO, nobody reading
    out = array("h", [0] * (3 * 128))
    assert drv.read_fifo(out) == 128
    assert drv.overruns == 1
    for k in range(128):
        want = expect_mg((150 - 127 + k) * 20)
        assert abs(out[3 * k] - want[0]) <= 1 and abs(out[3 * k + 2] - want[2]) <= 1, k


def test_mp_read_fifo_allocates_nothing():
    result, out = mpu_fifo_allocation(MPU6886, 0x19, 8)  # accel + temp frames
    assert result == (25, 0), result
    assert list(out[72:75]) == [1000, -1000, 2000]


# --- wake-on-motion (DS-000193 "Wake-on-Motion Interrupt"; cpsim/mpu6886.py) ---
class _Moves:
    """1 g on z; x steps by `step_g` at each of `at_ms` (held after), or
    ramps by `ramp_g_per_s` from `ramp_ms` on."""

    def __init__(self, at_ms=(), step_g=0.0, ramp_ms=None, ramp_g_per_s=0.0):
        self.at_ms, self.step_g, self.ramp_ms, self.ramp = at_ms, step_g, ramp_ms, ramp_g_per_s

    def __call__(self, t_ms):
        x = sum(self.step_g for t in self.at_ms if t_ms >= t)
        if self.ramp_ms is not None and t_ms > self.ramp_ms:
            x += self.ramp * (t_ms - self.ramp_ms) / 1000.0
        return (x, 0.0, 1.0)


def _dozing(source, odr=500, mg=16):
    """A driver at `odr` with the FIFO on and INT given to the engine, as
    the doze leaves it; (world, chip, driver, INT edge times in ms)."""
    w, chip, i2c = rig(model.MPU6886, INT, source=source)
    drv = MPU6886(i2c)
    drv.set_range(4)
    drv.set_odr(odr)
    drv.enable_fifo(24)
    edges = []
    drv.attach_irq(machine.Pin(INT, machine.Pin.IN), lambda p: edges.append(w.clock.now_us() / 1000))
    ths = drv.enable_motion(mg)
    drv.motion_irq(True)
    return w, chip, drv, edges, ths


def test_wake_on_motion_threshold_is_4_mg_steps_and_strictly_exceeded():
    assert _dozing(Rest())[4] == 4  # 16 mg
    assert _dozing(Rest(), mg=18)[4] == 5 and _dozing(Rest(), mg=1)[4] == 1 and _dozing(Rest(), mg=5000)[4] == 255
    # a 16 mg step (in digits at 4 g: 131.07 -> 131 = 15.99 mg) does not pass 16 mg; 17 mg does
    for step_g, fires in ((0.016, False), (0.017, True)):
        w, chip, drv, edges, _ = _dozing(_Moves((1001,), step_g))
        w.advance(1500)
        assert bool(edges) == fires, (step_g, edges)
        assert drv.read_motion() == fires and not drv.read_motion()  # read: released


def test_wake_on_motion_compares_each_sample_with_the_one_before():
    # 2 g/s is 4 mg per 2 ms sample: over a second x moves 2 g, never 16 mg at once
    w, chip, drv, edges, _ = _dozing(_Moves(ramp_ms=500, ramp_g_per_s=2.0))
    w.advance(2000)
    assert edges == [] and not drv.read_motion()
    # the same ramp at 125 Hz is 16 mg per 8 ms sample: still not past 16 mg; 2.5 g/s is 20 mg: fires
    w, chip, drv, edges, _ = _dozing(_Moves(ramp_ms=500, ramp_g_per_s=2.5), odr=125)
    w.advance(600)
    assert len(edges) == 1 and 500 < edges[0] <= 516, edges
    # a jolt fires at the sample that holds it (samples every 2 ms: 1002 ms), INT latched
    w, chip, drv, edges, _ = _dozing(_Moves((1001,), 0.3))
    w.advance(1001.9)
    assert edges == []
    w.advance(0.1)
    assert edges == [1002.0] and machine.Pin(INT).value() == 1
    w.advance(100)
    assert edges == [1002.0] and machine.Pin(INT).value() == 1  # held until INT_STATUS is read
    assert drv.read_motion() and machine.Pin(INT).value() == 0


def test_wake_on_motion_needs_a_sample_since_arming_and_leaves_int_when_disarmed():
    # armed just after the step: the sample before it was not the engine's
    w, chip, i2c = rig(model.MPU6886, INT, source=_Moves((1001,), 0.3))
    drv = MPU6886(i2c)
    drv.set_range(4)
    drv.set_odr(500)
    drv.enable_motion(16)
    w.advance(1001.5)
    drv.motion_irq(True)  # the next sample (1002 ms) is the first the engine sees
    w.advance(100)
    assert not drv.read_motion()
    drv.motion_irq(False)
    assert not chip.wom_armed() and chip.regs[0x38] == 0  # (attach_irq never ran: no overflow alarm)


def test_dozing_the_fifo_runs_on_and_keeps_the_touch_before_the_wake():
    # awake: watermark on INT; dozing: the engine's, the FIFO overwritten in place
    w, chip, drv, edges, _ = _dozing(_Moves((3001,), 0.5))
    w.advance(3002)
    assert len(edges) == 1 and drv.read_motion() and drv.overruns == 1  # overflowed while dozing
    drv.motion_irq(False)  # awake again: INT is the watermark's and the overflow's
    assert not chip.wom_armed() and chip.watermark_bytes() == 24 * 8 and chip.regs[0x38] == 0x10
    out = array("h", [0] * (3 * 128))
    n = drv.read_fifo(out)
    assert n == 128  # 1 KB: the 256 ms before the wake
    xs = [out[3 * k] for k in range(n)]
    assert xs[-1] == 500 and xs[-2] == 0 and max(xs[:-1]) == 0, xs[-4:]

# MPU6886 driver (firmware/cloudpin/mpu6886.py) against its register model
# (host_tools/emulator/cpsim/mpu6886.py) on the emulated I2C bus.
import errno
from array import array

import machine
from cpsim import mpu6050 as base
from cpsim import mpu6886 as model
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

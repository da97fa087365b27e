# Heap the emulated accelerometers (cpsim/lis3dh.py, mpu6050.py, mpu6886.py)
# take per sample, driven as the firmware drives them: board accel section,
# the motion service's set-up (tap rate, FIFO watermark interrupt, LIS3DH
# click engine on INT2), FIFO drained in bursts by the firmware driver on
# each interrupt; then the app stopped (Ctrl-C on a virtual badge) while the
# sensor runs on. On a pin the sensor is silicon and allocates nothing; in
# the VM its model is Python in the firmware's heap, and what it allocates
# at 400 Hz lands between the app's objects and fragments that heap.
#
# The model alone is measured:
# - ModelBus is the two machine.I2C calls the drivers make, straight onto the
#   model (the emulated bus and a whole pin are measured in
#   test_emu_i2c_alloc.py);
# - the models re-arm one cpsim.clock.Event each, asking for an event per INT
#   edge, or per 64 samples of click look-ahead, never per sample: counted in
#   test_clock_events_come_per_interrupt_not_per_sample.
# - the recording is longer than the run: looping reopens the file (once
#   per pass over it, not per sample).
import gc
from array import array

import machine
from cpsim.clock import SimClock
from cpsim.world import World

# Accel sections of boards/cloudpin_ref.json, m5stickc_plus.json, devkitc_mpu6050.json.
LIS3DH_CFG = {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400}
MPU6886_CFG = {"type": "mpu6886", "address": 104, "int1": 35, "odr": 50, "range_g": 4, "tap_odr": 500}
MPU6050_CFG = {"type": "mpu6050", "address": 104, "int1": 4, "odr": 50, "range_g": 4, "tap_odr": 500}
WATERMARK = 24  # cloudpin.motion's FIFO interrupt level
RUN_MS = 10000


class ModelBus:
    """readfrom_mem_into / writeto_mem of machine.I2C, onto one model."""

    def __init__(self, model):
        self.model = model
        self.cmd = bytearray(1)
        self.cmd2 = bytearray(2)

    def readfrom_mem_into(self, addr, reg, buf):
        self.cmd[0] = reg
        self.model.i2c_write(self.cmd)
        data = self.model.i2c_read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto_mem(self, addr, reg, buf):
        if len(buf) == 1:  # the drivers' _write8
            self.cmd2[0], self.cmd2[1] = reg, buf[0]
            self.model.i2c_write(self.cmd2)
        else:
            self.model.i2c_write(bytes((reg,)) + bytes(buf))


class CountingClock(SimClock):
    def __init__(self):
        SimClock.__init__(self)
        self.scheduled = 0

    def call_at(self, t_us, callback):
        self.scheduled += 1
        return SimClock.call_at(self, t_us, callback)


def _csv(name, seconds):
    """A walk (2 steps/s on z) at 100 Hz with a 3 g, 10 ms knock on x every 2.5 s."""
    import math

    with open(name, "w") as f:
        f.write("t_ms,x,y,z\n")
        for i in range(seconds * 100):
            t = i * 10
            z = 1.0 + 0.3 * math.sin(2 * math.pi * 2 * t / 1000.0)
            x = 3.0 if t % 2500 in (1250, 1260) else 0.01
            f.write("%d,%.4f,%.4f,%.4f\n" % (t, x, 0.02, z))


def _source(kind):
    from cpsim.recording import Recording, Rest

    if kind == "rest":
        return Rest()
    _csv("walk.csv", 3 * RUN_MS // 1000)
    return Recording("walk.csv", loop=True)


def _pin(cfg, source, clock):
    """World, chip model, firmware driver set up as cloudpin.motion does, and
    the interrupt flag its handlers raise."""
    from cloudpin.accel import make_accel

    w = World(clock)
    dev = w.device("pin")
    kind = cfg["type"]
    if kind == "lis3dh":
        from cpsim.lis3dh import LIS3DH

        chip = LIS3DH(source, address=cfg["address"], int1=cfg["int1"], int2=cfg["int2"])
    elif kind == "mpu6886":
        from cpsim.mpu6886 import MPU6886

        chip = MPU6886(source, int_pin=cfg["int1"], address=cfg["address"])
    else:
        from cpsim.mpu6050 import MPU6050

        chip = MPU6050(source, int_pin=cfg["int1"], address=cfg["address"])
    dev.attach_i2c(0, chip)
    drv = make_accel(ModelBus(chip), cfg)
    drv.set_odr(cfg["tap_odr"])
    drv.enable_fifo(WATERMARK)
    flag = [0]

    def on_int(pin):
        flag[0] = 1

    if drv.HAS_CLICK and cfg.get("int2") is not None:
        drv.enable_click(800, 15, 30, 0, pin=2)
        drv.attach_irq(machine.Pin(cfg["int2"], machine.Pin.IN), on_int)
    drv.attach_irq(machine.Pin(cfg["int1"], machine.Pin.IN), on_int)
    return w, chip, drv, flag


def _run_app(w, drv, flag, out, ms, step_ms=20):
    """The app: wake every step, drain the FIFO when an interrupt came (or
    on every wake for a chip without a watermark interrupt: MPU6050)."""
    for _ in range(ms // step_ms):
        w.advance(step_ms)
        if flag[0] or not drv.HAS_WATERMARK_IRQ:
            flag[0] = 0
            drv.int1_source()
            while drv.read_fifo(out) == len(out) // 3:
                pass
            drv.clear_interrupt()


def _run_stopped(w, drv, ms, step_ms=250):
    """The app stopped: the sensor runs on, then one transaction looks."""
    for _ in range(ms // step_ms):
        w.advance(step_ms)
    drv.fifo_level()


def _heap_per_phase(cfg, source_kind):
    """[(heap growth, samples made)] for 10 s of the app running, then 10 s
    stopped, after a warm-up that has made every burst size once."""
    w, chip, drv, flag = _pin(cfg, _source(source_kind), SimClock())
    out = array("h", [0] * (3 * 32))
    for n in (1, 2, 4, 8, 16, 32):
        w.advance(n * 1000 // cfg["tap_odr"] + 1)
        drv.read_fifo(out)
    _run_app(w, drv, flag, out, 1000)
    result = []
    for phase in (_run_app, _run_stopped):
        s0 = chip.samples
        gc.collect()
        before = gc.mem_alloc()
        if phase is _run_app:
            _run_app(w, drv, flag, out, RUN_MS)
        else:
            _run_stopped(w, drv, RUN_MS)
        result.append((gc.mem_alloc() - before, chip.samples - s0))
    return result


def test_mp_lis3dh_replaying_a_recording_allocates_nothing_per_sample():
    (app, n_app), (stopped, n_stopped) = _heap_per_phase(LIS3DH_CFG, "recording")
    # 400 Hz, and every sample through the click engine even with nobody reading.
    assert n_app >= 3990 and n_stopped >= 3990, (n_app, n_stopped)
    assert (app, stopped) == (0, 0), (app, stopped)


def test_mp_lis3dh_at_rest_allocates_nothing_per_sample():
    (app, n_app), (stopped, n_stopped) = _heap_per_phase(LIS3DH_CFG, "rest")
    assert n_app >= 3990 and n_stopped >= 3990, (n_app, n_stopped)
    assert (app, stopped) == (0, 0), (app, stopped)


def test_mp_mpu6886_allocates_nothing_per_sample():
    for source in ("recording", "rest"):
        (app, n_app), (stopped, n_stopped) = _heap_per_phase(MPU6886_CFG, source)
        assert n_app >= 4990 and n_stopped >= 4990, (source, n_app, n_stopped)
        assert (app, stopped) == (0, 0), (source, app, stopped)


def test_mp_mpu6050_allocates_nothing_per_sample():
    for source in ("recording", "rest"):
        (app, n_app), (stopped, n_stopped) = _heap_per_phase(MPU6050_CFG, source)
        assert n_app >= 4990 and n_stopped >= 4990, (source, n_app, n_stopped)
        assert (app, stopped) == (0, 0), (source, app, stopped)


def test_clock_events_come_per_interrupt_not_per_sample():
    # Under the real SimClock every event is a heap tuple: the LIS3DH's click
    # engine used to take one per sample. Now: per watermark and drain while
    # the app runs; per 64 samples of look-ahead while it is stopped, and
    # none once both INT lines are held (FIFO full, latched click unread:
    # the recording has a knock every 2.5 s).
    for source in ("rest", "recording"):
        clock = CountingClock()
        w, chip, drv, flag = _pin(LIS3DH_CFG, _source(source), clock)
        out = array("h", [0] * (3 * 32))
        _run_app(w, drv, flag, out, 1000)
        s0, e0 = chip.samples, clock.scheduled
        _run_app(w, drv, flag, out, RUN_MS)
        samples, events = chip.samples - s0, clock.scheduled - e0
        assert samples >= 3990 and events <= samples // 6, (source, samples, events)
        e0 = clock.scheduled
        _run_stopped(w, drv, RUN_MS // 2)
        assert clock.scheduled - e0 <= RUN_MS // 2 * 400 // 1000 // 64 + 2, (source, clock.scheduled - e0)
        e0 = clock.scheduled
        _run_stopped(w, drv, RUN_MS // 2)
        if source == "recording":
            assert clock.scheduled == e0, (source, clock.scheduled - e0)

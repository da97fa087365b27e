# The motion pipeline end to end on emulated parts: board layer -> LIS3DH /
# MPU6886 driver -> register model on the emulated I2C bus -> FIFO bursts ->
# step counter and tap detector.
import gc
import math

from cloudpin import board as board_layer
from cloudpin.log import Logger
from cloudpin.motion import MotionService
from cpsim.world import World

_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 8, "tap_odr": 400},
}


class Walk:
    """Walking at `cadence` steps/s from walk_from_ms, plus sharp taps (a 5 ms
    half-sine of `tap_g` on x) at the given times: what the pin feels, in g."""

    def __init__(self, cadence=2.0, walk_from_ms=0, walk_to_ms=10 ** 9, taps=(), tap_g=4.0, edge_on=False):
        self.f = cadence
        self.t0 = walk_from_ms
        self.t1 = walk_to_ms
        self.taps = taps
        self.tap_g = tap_g
        self.edge_on = edge_on  # the touch shared equally by x, y and z

    def at(self, t):
        z = 1.0
        if self.t0 <= t < self.t1:
            ph = 2 * math.pi * self.f * (t - self.t0) / 1000.0
            # left and right steps differ a little, as on a real body
            z += 0.30 * math.sin(ph) + 0.05 * math.sin(ph / 2)
        x = 0.0
        for tt in self.taps:
            if tt <= t < tt + 5:
                x += self.tap_g * math.sin(math.pi * (t - tt) / 5.0)
        if self.edge_on:
            return (x, 0.02 + x, z + x)
        return (x, 0.02, z)

    def mean(self, t0, t1):
        # the sensor averages over its output period
        n = 4
        sx = sy = sz = 0.0
        for i in range(n):
            x, y, z = self.at(t0 + (t1 - t0) * (i + 0.5) / n)
            sx += x
            sy += y
            sz += z
        return (sx / n, sy / n, sz / n)


def _pin(source, accel="lis3dh"):
    from cpsim.lis3dh import LIS3DH
    from cpsim.mpu6886 import MPU6886

    world = World()
    dev = world.device("p1")
    b = dict(_BOARD)
    if accel == "lis3dh":
        dev.attach_i2c(0, LIS3DH(source=source, int1=34, int2=39))
    else:
        b["accel"] = {"type": "mpu6886", "address": 104, "int1": 35, "odr": 50, "range_g": 8, "tap_odr": 500}
        dev.attach_i2c(0, MPU6886(source=source, int_pin=35))
    lines = []
    log = Logger("motion", sink=lines.append)
    hw = board_layer.build(b, log, wdt_timeout_ms=0, with_ble=False)
    taps = []
    svc = MotionService(hw, log, on_tap=lambda t, mg: taps.append((t, mg)), ticks_ms=world.clock.now_ms)
    return world, svc, taps, lines


def _run(world, svc, ms, step_ms=50, until=None):
    """Advance the sim clock, draining as the app does after each wake-up;
    returns the step count at `until` ms (sim time)."""
    svc.setup()
    at = None
    for _ in range(ms // step_ms):
        world.advance(step_ms)
        svc.drain()
        if until is not None and at is None and world.clock.now_ms() >= until:
            at = svc.steps.steps
    return at


def test_counts_a_walk_and_finds_taps_through_the_lis3dh():
    world, svc, taps, lines = _pin(Walk(cadence=2.0, walk_from_ms=2000, walk_to_ms=32000, taps=(35000, 36500)))
    at_stop = _run(world, svc, 40000, until=32000)
    # 30 s at 2 steps/s; the counter confirms a walk within a few seconds and
    # credits the lead-in, so nearly all 60 are counted, and few after the stop.
    assert 56 <= at_stop <= 62, at_stop
    assert svc.steps.steps <= 63, svc.steps.steps
    assert len(taps) == 2, (taps, lines[-5:])
    assert abs(taps[0][0] - 35000) <= 20 and abs(taps[1][0] - 36500) <= 20, taps
    assert taps[0][1] >= 800  # strength in mg: at least the threshold
    assert svc._hw_click and svc.clicks == 2  # the click engine is armed (it wakes a doze) and saw them


def test_the_lis3dh_board_finds_a_touch_its_click_engine_misses():
    # An edge-on touch: ~1.3 g in all, ~0.75 g peak on each axis, 5 ms; after the
    # sensor's averaging each axis stays under the click engine's 560 mg while
    # the magnitude passes the software detector's 800 mg. The software
    # detector runs on every burst, so it is a tap; the click engine never fires.
    world, svc, taps, lines = _pin(Walk(walk_from_ms=10 ** 9, taps=(3000, 6000), tap_g=0.75, edge_on=True))
    _run(world, svc, 8000)
    assert [abs(t - tt) <= 20 for (t, _), tt in zip(taps, (3000, 6000))] == [True, True], taps
    assert svc.clicks == 0 and svc.hw.accel.read_click() is None  # the engine stayed quiet


def test_a_wake_drains_at_once_so_the_tasks_that_woke_with_it_cannot_overrun_the_fifo():
    # the watermark (24 samples, 60 ms at 400 Hz) woke the pin at 60 ms; the
    # other tasks take 50 ms before the motion task: the FIFO (32 samples,
    # 80 ms) would overflow at 80 ms. The power service calls kick() first.
    world, svc, taps, lines = _pin(Walk(cadence=2.0))
    svc.setup()
    world.advance(60)
    svc.kick()
    world.advance(50)
    svc.drain()  # the motion task, at last
    assert svc.overruns == 0, lines[-3:]
    world.advance(20)
    svc.drain()
    assert svc.overruns == 0 and svc.steps is not None


def test_resting_pin_counts_nothing_and_taps_nothing():
    world, svc, taps, lines = _pin(Walk(walk_from_ms=10 ** 9))
    _run(world, svc, 20000)
    assert svc.steps.steps == 0 and taps == []


def test_mpu6886_board_uses_software_taps():
    world, svc, taps, lines = _pin(Walk(cadence=1.8, walk_from_ms=0, walk_to_ms=20000, taps=(22000,)), accel="mpu6886")
    _run(world, svc, 24000)
    assert not svc._hw_click
    assert 30 <= svc.steps.steps <= 38, svc.steps.steps
    assert len(taps) == 1 and abs(taps[0][0] - 22000) <= 20, taps


def test_mp_pipeline_allocates_nothing_per_sample():
    from array import array
    from cloudpin.motion import MotionPipeline

    walk = Walk(cadence=2.0)
    buf = array("h", bytes(2 * 3 * 32))
    for i in range(32):
        x, y, z = walk.at(i * 2.5)
        buf[3 * i], buf[3 * i + 1], buf[3 * i + 2] = int(x * 1000), int(y * 1000), int(z * 1000)
    p = MotionPipeline(400)
    for k in range(20):
        p.process(buf, 32, k * 80)  # warm up: buffers filled
    gc.collect()
    start = gc.mem_alloc()
    for k in range(20, 420):  # 12,800 samples
        p.process(buf, 32, k * 80)
    assert gc.mem_alloc() == start, gc.mem_alloc() - start


def _late_drain(late_ms):
    # a touch at 3000 ms read by the drain at 3010 (its judging still under
    # way); the next drain `late_ms` after that one, where the watermark's
    # would have been at 60
    world, svc, taps, lines = _pin(Walk(walk_from_ms=10 ** 9, taps=(3000,)))
    svc.setup()
    for _ in range(3010 // 50):
        world.advance(50)
        svc.drain()
    world.advance(3010 - world.clock.now_ms())
    svc.drain()
    world.advance(late_ms)
    svc.drain()
    for _ in range(40):
        world.advance(50)
        svc.drain()
    return svc, taps, lines


def test_a_fifo_drained_just_as_it_fills_goes_on_across_the_seam():
    # The LIS3DH flags OVRN_FIFO as soon as 32 samples wait (80 ms at 400 Hz),
    # before any is lost: a wake-up a few ms late is not an overrun, and the
    # touch being judged is still found.
    svc, taps, lines = _late_drain(82)
    assert svc.overruns == 1 and svc.seams == 1, (svc.overruns, svc.seams)
    assert [abs(t - 3000) <= 20 for t, _ in taps] == [True], (taps, lines[-5:])
    assert not any("fifo overrun" in ln for ln in lines), lines[-5:]


def test_a_fifo_drained_well_after_it_filled_restarts_the_detector():
    # 40 ms past full: 16 samples lost, the filters' history does not join up
    svc, taps, lines = _late_drain(120)
    assert svc.overruns == 1 and svc.seams == 0, (svc.overruns, svc.seams)
    assert any("fifo overrun 1" in ln for ln in lines), lines[-5:]

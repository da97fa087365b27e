# Step counter on synthetic signals, in both runtimes. Signals are built from
# integer sine tables so CPython and MicroPython feed identical samples.
import gc
import math

from cloudpin.steps import StepCounter


def _walk(sc, seconds, odr, step_hz=2.0, amp=350, axis=(0, 0, 1000), swing=0, seed=1):
    """Feed a walk: a vertical bounce at step_hz (heel strikes, one per step),
    a weaker stride component at step_hz/2 (left/right asymmetry) and, with
    `swing`, a lanyard swing that rotates gravity between x and z."""
    n = int(seconds * odr)
    r = seed
    for i in range(n):
        t = i / odr
        bounce = amp * math.sin(2 * math.pi * step_hz * t) + 0.3 * amp * math.sin(math.pi * step_hz * t)
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        noise = (r >> 16) % 41 - 20
        gx, gy, gz = axis
        if swing:
            a = swing * math.sin(2 * math.pi * 0.7 * t)
            ca = math.cos(a)
            sa = math.sin(a)
            gx, gz = gx * ca - gz * sa, gx * sa + gz * ca
        norm = math.sqrt(gx * gx + gy * gy + gz * gz)
        k = (norm + bounce) / norm
        sc.feed(int(gx * k) + noise, int(gy * k), int(gz * k))


def _rest(sc, seconds, odr, noise=15, seed=3):
    r = seed
    for _ in range(int(seconds * odr)):
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        sc.feed((r >> 8) % (2 * noise + 1) - noise, (r >> 12) % (2 * noise + 1) - noise, 1000 + (r >> 16) % (2 * noise + 1) - noise)


def test_counts_a_two_hertz_walk():
    sc = StepCounter(50)
    _rest(sc, 3, 50)
    _walk(sc, 60, 50)
    _rest(sc, 5, 50)
    # 120 true steps; the walk's last second may be lost or gained at the edges
    assert 117 <= sc.steps <= 123, sc.steps


def test_works_at_every_supported_rate():
    for odr in (12.5, 25, 50, 100):
        sc = StepCounter(odr)
        _rest(sc, 3, odr)
        _walk(sc, 40, odr, step_hz=1.8)
        _rest(sc, 3, odr)
        assert 69 <= sc.steps <= 75, (odr, sc.steps)


def test_orientation_and_lanyard_swing_do_not_matter():
    counts = []
    for axis in ((0, 0, 1000), (1000, 0, 0), (0, -707, 707), (577, 577, -577)):
        sc = StepCounter(25)
        _rest(sc, 3, 25)
        _walk(sc, 40, 25, axis=axis, swing=0.6)
        _rest(sc, 3, 25)
        counts.append(sc.steps)
    assert max(counts) - min(counts) <= 2, counts
    assert 77 <= counts[0] <= 83, counts


def _bumps(sc, seconds, odr, step_hz, stride_amp=0.0, amp=300):
    """Vertical bounce with one smooth bump per step; with `stride_amp`, every
    other step is that much weaker (a limp, or a wrist seeing one arm)."""
    for i in range(int(seconds * odr)):
        t = i / odr
        ph = step_hz * t
        k = 1.0 - stride_amp * (int(ph) & 1)
        sc.feed(0, 0, 1000 + int(amp * k * math.cos(2 * math.pi * ph)))


def test_slow_stroll_is_one_step_per_period():
    # 66 steps/min: a period of 0.91 s with nothing at half of it is a slow
    # step, not a fast stride (which would count 132/min)
    sc = StepCounter(25)
    _rest(sc, 3, 25)
    _bumps(sc, 60, 25, 1.1)
    _rest(sc, 3, 25)
    assert 62 <= sc.steps <= 70, sc.steps


def test_uneven_steps_are_a_stride_with_two_steps():
    # 144 steps/min with every other step much weaker: the period is the
    # stride (0.83 s, below 0.95 s) and it repeats at half of it: 2 steps
    sc = StepCounter(25)
    _rest(sc, 3, 25)
    _bumps(sc, 60, 25, 2.4, stride_amp=0.6)
    _rest(sc, 3, 25)
    assert 138 <= sc.steps <= 150, sc.steps


def test_fast_even_walk_counts_each_step():
    # 130 steps/min, all steps alike: the period is the step (0.46 s)
    sc = StepCounter(50)
    _rest(sc, 3, 50)
    _bumps(sc, 40, 50, 130 / 60)
    _rest(sc, 3, 50)
    assert 83 <= sc.steps <= 90, sc.steps


def test_nothing_counted_at_rest_or_in_noise():
    sc = StepCounter(50)
    _rest(sc, 60, 50)
    assert sc.steps == 0
    sc = StepCounter(50)
    _rest(sc, 60, 50, noise=150)  # vibration: strong but random
    assert sc.steps == 0, sc.steps


def test_periodicity_is_reported_and_quiet_rhythm_is_not_walking():
    sc = StepCounter(50)
    _rest(sc, 3, 50)
    _walk(sc, 20, 50)
    assert sc.walking and sc.periodicity > 800, sc.periodicity
    _rest(sc, 10, 50, noise=150)
    assert not sc.walking and sc.periodicity < 512, sc.periodicity
    # The same perfect rhythm, but a hand tapping on a steering wheel weak:
    # below the rms floor it is not walking; a little louder it is.
    for amp, walks in ((60, False), (120, True)):
        sc = StepCounter(50)
        _rest(sc, 3, 50, noise=2)
        _walk(sc, 30, 50, amp=amp)
        assert sc.walking is walks and (sc.steps > 50) is walks, (amp, sc.steps)


def test_isolated_bumps_are_not_steps():
    sc = StepCounter(50)
    for k in range(10):
        _rest(sc, 2.3 + 0.4 * (k % 3), 50, seed=k + 5)
        for v in (1800, 2500, 600, 300):  # a knock: a few samples of a few g
            sc.feed(0, 0, v)
    _rest(sc, 5, 50)
    assert sc.steps == 0, sc.steps


def test_fifo_batch_equals_sample_by_sample():
    import array

    odr = 25
    a = StepCounter(odr)
    b = StepCounter(odr)
    raw = array.array("h", bytes(6 * 25))
    for block in range(48):
        for i in range(25):
            t = (block * 25 + i) / odr
            z = 1000 + int(350 * math.sin(2 * math.pi * 2 * t) + 100 * math.sin(math.pi * 2 * t))
            raw[3 * i] = 16 * 10  # LIS3DH style: mg << 4 (high-res, +-2 g)
            raw[3 * i + 1] = 0
            raw[3 * i + 2] = 16 * z
            a.feed(10, 0, z)
        b.feed_fifo(bytes(raw), 25, 1, 4)
    assert a.steps == b.steps and a.steps > 80, (a.steps, b.steps)


def test_plain_and_fast_kernels_agree():
    a = StepCounter(50, fast=False)
    b = StepCounter(50, fast=True)
    for sc in (a, b):
        _walk(sc, 30, 50, step_hz=1.7, swing=0.4)
    assert a.steps == b.steps and a.steps > 40, (a.steps, b.steps)


def test_mp_no_heap_allocation_per_sample():
    odr = 50
    sc = StepCounter(odr)
    # precomputed walk samples, so the loop itself allocates nothing
    import array

    zs = array.array("h", [1000 + int(350 * math.sin(2 * math.pi * 2 * i / odr) + 100 * math.sin(math.pi * 2 * i / odr)) for i in range(100)])
    feed = sc.feed
    for i in range(500):  # warm up: fill the window, start walking
        feed(5, -3, zs[i % 100])
    gc.collect()
    before = gc.mem_alloc()
    for i in range(10000):
        feed(5, -3, zs[i % 100])
    after = gc.mem_alloc()
    assert sc.walking and sc.steps > 350, sc.steps
    assert after == before, after - before


def test_mp_fifo_path_allocates_nothing():
    sc = StepCounter(100)
    buf = bytearray(6 * 32)
    for i in range(32):
        buf[6 * i + 4] = 0xE8  # z = 1000 mg
        buf[6 * i + 5] = 0x03
    sc.feed_fifo(buf, 32)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(320):  # 10,240 samples
        sc.feed_fifo(buf, 32)
    assert gc.mem_alloc() == before, gc.mem_alloc() - before

# When the LIS3DH model's INT lines move (cpsim/lis3dh.py). The model plans
# one clock event at the sample where a line changes and computes nothing in
# between; for the click engine it runs a copy ahead of time. These tests
# hold it to the sample-exact edges a model that looked at every sample gives.
ADDR = 0x18
INT1 = 34
INT2 = 39


def _knocks(name, at_ms, g=2.0, length_ms=5, seconds=4):
    """1 kHz still pin (1 g on z) with a +g knock on z at each of at_ms."""
    with open(name, "w") as f:
        f.write("t_ms,x,y,z\n")
        for t in range(seconds * 1000 + 1):
            z = 1.0
            for t0 in at_ms:
                if t0 <= t <= t0 + length_ms:
                    z += g
            f.write("%d,0,0,%.4f\n" % (t, z))


def _rig(name, clicks=None, src=0x39):
    """World, chip, I2C and the INT edges seen [(t_us, pin, level)]. With a
    `clicks` list, a rising edge reads register `src` (CLICK_SRC, or an
    INTx_SRC) into it at once (as the app does on its interrupt), which also
    releases a latched line."""
    import machine
    from cpsim.lis3dh import LIS3DH
    from cpsim.recording import Recording
    from cpsim.world import World

    w = World()
    dev = w.device("a")
    chip = dev.attach_i2c(0, LIS3DH(Recording(name), int1=INT1, int2=INT2))
    i2c = machine.I2C(0)
    edges = []

    def watch(pin_no):
        def on_edge(p):
            edges.append((w.clock.now_us(), pin_no, p.value()))
            if clicks is not None and p.value():
                clicks.append((w.clock.now_us(), _r(i2c, src)))

        machine.Pin(pin_no, machine.Pin.IN).irq(on_edge, machine.Pin.IRQ_RISING | machine.Pin.IRQ_FALLING)

    watch(INT1)
    watch(INT2)
    return w, chip, i2c, edges


def _w(i2c, reg, val):
    i2c.writeto_mem(ADDR, reg, bytes((val,)))


def _r(i2c, reg):
    return i2c.readfrom_mem(ADDR, reg, 1)[0]


def _click_setup(i2c, ths, latched, pin, latency=20):
    _w(i2c, 0x20, 0x77)  # 400 Hz: a sample every 2.5 ms
    _w(i2c, 0x23, 0x00)  # +-2 g: CLICK_THS LSB 16 mg
    _w(i2c, 0x21, 0x04)  # HPCLICK
    _r(i2c, 0x26)  # REFERENCE: settle the high-pass
    _w(i2c, 0x38, 0x10)  # single click on Z
    _w(i2c, 0x3A, (0x80 if latched else 0) | ths)
    _w(i2c, 0x3B, 10)  # TIME_LIMIT
    _w(i2c, 0x3C, latency)  # TIME_LATENCY
    if pin == 1:
        _w(i2c, 0x22, 0x80)  # I1_CLICK
    else:
        _w(i2c, 0x25, 0x80)  # I2_CLICK


def _scenario(name, setup, watched, ms=3000, src=0x39):
    """INT edges and clicks read over `ms`. watched: a bus transaction at
    every sample (a model that looks at each sample), else the clock runs in
    long strides."""
    clicks = []
    w, chip, i2c, edges = _rig(name, clicks, src)
    setup(i2c)
    stride = 2.5 if watched else 97.5
    t = 0.0
    while t < ms:
        w.advance(stride)
        t += stride
        if watched:
            _r(i2c, 0x0F)  # WHO_AM_I: a transaction that changes nothing
    return edges, clicks


def test_click_edges_match_a_model_watching_every_sample():
    _knocks("k.csv", (400, 900, 960, 1700, 2500), g=1.5)
    setups = (
        lambda i2c: _click_setup(i2c, 40, latched=True, pin=2),  # the firmware's: latched on INT2
        lambda i2c: _click_setup(i2c, 40, latched=False, pin=1, latency=8),  # pulses on INT1
        lambda i2c: _click_setup(i2c, 40, latched=False, pin=2, latency=120),  # latency over the 2nd knock
    )
    for i, setup in enumerate(setups):
        lazy = _scenario("k.csv", setup, watched=False)
        every = _scenario("k.csv", setup, watched=True)
        assert lazy == every, (i, lazy, every)
        assert len([e for e in lazy[0] if e[2] == 1]) >= 3, (i, lazy)


def test_non_latched_click_pulses_for_the_latency():
    _knocks("k.csv", (500,), g=2.0)
    w, chip, i2c, edges = _rig("k.csv")
    _click_setup(i2c, 40, latched=False, pin=1, latency=12)
    w.advance(1000)
    assert [e[1:] for e in edges] == [(INT1, 1), (INT1, 0)], edges
    rise, fall = edges[0][0], edges[1][0]
    assert 500000 < rise < 520000 and rise % 2500 == 0, rise
    assert fall - rise == 12 * 2500, edges  # TIME_LATENCY samples of 1/ODR
    assert _r(i2c, 0x39) == 0x40 | 0x10 | 0x04  # CLICK_SRC stays until read


def test_threshold_written_while_looking_ahead_takes_effect_at_once():
    _knocks("k.csv", (500,), g=1.5)
    # Too high a threshold for this knock; lowered 10 ms before it, when the
    # look-ahead has already run past the knock with the old one.
    w, chip, i2c, edges = _rig("k.csv")
    _click_setup(i2c, 127, latched=True, pin=2)
    w.advance(490)
    assert edges == []
    _w(i2c, 0x3A, 0x80 | 40)
    w.advance(510)
    assert len(edges) == 1 and 500000 < edges[0][0] < 520000, edges
    # And the other way: a click found ahead no longer fires once the
    # threshold is raised before it.
    w, chip, i2c, edges = _rig("k.csv")
    _click_setup(i2c, 40, latched=True, pin=2)
    w.advance(490)
    _w(i2c, 0x3A, 0x80 | 127)
    w.advance(510)
    assert edges == [] and _r(i2c, 0x39) == 0, edges


def test_data_ready_on_int1_rises_one_sample_after_a_read():
    _knocks("k.csv", ())
    w, chip, i2c, edges = _rig("k.csv")
    _w(i2c, 0x20, 0x57)  # 100 Hz: samples at 10, 20, ... ms
    _w(i2c, 0x22, 0x10)  # I1_ZYXDA
    w.advance(15)
    assert edges == [(10000, INT1, 1)], edges
    i2c.readfrom_mem(ADDR, 0x80 | 0x28, 6)  # the data: clears ZYXDA
    assert edges[1:] == [(15000, INT1, 0)], edges
    w.advance(100)  # nobody reads: the line stays up
    assert edges[2:] == [(20000, INT1, 1)], edges


# --- inertial interrupt generators IA1 / IA2 (INT1_CFG 0x30 .. INT2_DURATION 0x37)

def _ia_setup(i2c, gen, cfg, ths, dur, latched, pin, hp, fs=1):
    """Generator gen (1 or 2) at 400 Hz, +-2/4 g (fs 0/1), routed to INT pin."""
    base = 0x30 if gen == 1 else 0x34
    _w(i2c, 0x20, 0x77)
    _w(i2c, 0x23, fs << 4)
    _w(i2c, 0x21, (1 if gen == 1 else 2) if hp else 0)  # HP_IA1 / HP_IA2
    _r(i2c, 0x26)  # REFERENCE: settle the high-pass
    _w(i2c, 0x24, (0x08 if gen == 1 else 0x02) if latched else 0)  # LIR_INT1 / LIR_INT2
    _w(i2c, base + 2, ths)
    _w(i2c, base + 3, dur)
    _w(i2c, base, cfg)
    route = 0x40 if gen == 1 else 0x20
    _w(i2c, 0x22 if pin == 1 else 0x25, route)


def test_inertial_edges_match_a_model_watching_every_sample():
    _knocks("k.csv", (400, 900, 960, 1700, 2500), g=1.5, length_ms=12)
    setups = (
        # the firmware's wake-on-motion: IA1 high-passed, any axis high, latched on INT1
        (0x31, lambda i2c: _ia_setup(i2c, 1, 0x2A, 2, 0, latched=True, pin=1, hp=True)),
        # not latched, on INT2, 3 samples in a row
        (0x31, lambda i2c: _ia_setup(i2c, 1, 0x2A, 12, 3, latched=False, pin=2, hp=True)),
        # IA2 on the raw data: Z high past 1.5 g, not latched, on INT1
        (0x35, lambda i2c: _ia_setup(i2c, 2, 0x20, 47, 0, latched=False, pin=1, hp=False)),
        # IA2 latched on INT2, AND of Z high and X low (the knock is on z)
        (0x35, lambda i2c: _ia_setup(i2c, 2, 0x80 | 0x20 | 0x01, 47, 1, latched=True, pin=2, hp=False)),
    )
    for i, (src, setup) in enumerate(setups):
        lazy = _scenario("k.csv", setup, watched=False, src=src)
        every = _scenario("k.csv", setup, watched=True, src=src)
        assert lazy == every, (i, lazy, every)
        rises = [e for e in lazy[0] if e[2] == 1]
        assert len(rises) >= 4, (i, lazy)
        # every rise comes with a knock, within its length and the filter's ring
        for t, _, _ in rises:
            assert any(k * 1000 <= t <= (k + 100) * 1000 for k in (400, 900, 960, 1700, 2500)), (i, t)


def test_inertial_duration_threshold_lsb_and_latch():
    # a 1 g, 10 ms knock on z over rest (z 1 g -> 2 g): 4 samples at 400 Hz
    _knocks("k.csv", (500,), g=1.0, length_ms=10)
    pulses = []
    for dur in (0, 2, 6):
        w, chip, i2c, edges = _rig("k.csv")
        _ia_setup(i2c, 1, 0x20, 47, dur, latched=False, pin=1, hp=False)  # Z high past 47 x 32 mg
        w.advance(1000)
        pulses.append(edges)
    (r0, f0), (r2, f2) = [[e[0] for e in p] for p in pulses[:2]]
    none = pulses[2]
    assert 500000 <= r0 <= 505000 and r2 - r0 == 2 * 2500, (r0, r2)  # DURATION: samples of 1/ODR
    assert f2 == f0 and 3 * 2500 <= f0 - r0 <= 5 * 2500, (r0, f0, f2)  # falls when the knock ends
    assert none == [], none  # longer than the knock: never
    # the threshold's LSB follows the full scale: 47 LSB is 752 mg at +-2 g,
    # under the resting 1 g on z: up at the first sample
    w, chip, i2c, edges = _rig("k.csv")
    _ia_setup(i2c, 1, 0x20, 47, 0, latched=True, pin=1, hp=False, fs=0)
    w.advance(100)
    assert [e[1:] for e in edges] == [(INT1, 1)] and edges[0][0] <= 2500, edges
    # latched: up until INT1_SRC is read, which reports IA and ZH
    w.advance(500)
    assert len(edges) == 1
    assert _r(i2c, 0x31) == 0x40 | 0x20
    assert edges[1:2] == [(w.clock.now_us(), INT1, 0)], edges
    # the condition still holds: up again at the next sample
    w.advance(5)
    assert [e[1:] for e in edges[2:]] == [(INT1, 1)], edges


def test_inertial_high_pass_ignores_gravity_and_sees_the_jolt():
    _knocks("k.csv", (500,), g=0.5, length_ms=10)
    w, chip, i2c, edges = _rig("k.csv")
    # 64 mg at +-4 g: far under the resting 1 g, over the filtered knock
    _ia_setup(i2c, 1, 0x2A, 2, 0, latched=True, pin=1, hp=True)
    w.advance(490)
    assert edges == [] and _r(i2c, 0x31) == 0
    w.advance(20)
    assert [e[1:] for e in edges] == [(INT1, 1)] and 500000 <= edges[0][0] <= 505000, edges
    assert _r(i2c, 0x31) & 0x60 == 0x60  # IA, ZH
    # unfiltered, the same threshold is under gravity at once
    w, chip, i2c, edges = _rig("k.csv")
    _ia_setup(i2c, 1, 0x2A, 2, 0, latched=True, pin=1, hp=False)
    w.advance(10)
    assert [e[1:] for e in edges] == [(INT1, 1)], edges


def test_engines_see_the_converters_saturated_values():
    # A 3 ms, +9 g knock at +-4 g: the converter gives 4 g for it (datasheet
    # figure 1: the engines work on its output). The high-pass answers the
    # 3 g step's end with an undershoot of ~0.4 g, under the 560 mg click
    # threshold within TIME_LIMIT: one click. Unsaturated (10 g), the
    # undershoot stays past 560 mg for longer than TIME_LIMIT: none.
    _knocks("k.csv", (500,), g=9.0, length_ms=3)
    clicks = []
    w, chip, i2c, edges = _rig("k.csv", clicks)
    _w(i2c, 0x20, 0x77)  # 400 Hz
    _w(i2c, 0x23, 0x10)  # +-4 g: CLICK_THS LSB 32 mg
    _w(i2c, 0x21, 0x04)  # HPCLICK
    _r(i2c, 0x26)
    _w(i2c, 0x38, 0x10)
    _w(i2c, 0x3A, 0x80 | 18)  # 576 mg, latched
    _w(i2c, 0x3B, 6)  # TIME_LIMIT 15 ms
    _w(i2c, 0x3C, 12)  # TIME_LATENCY 30 ms
    _w(i2c, 0x25, 0x80)  # I2_CLICK
    w.advance(1000)
    assert len(clicks) == 1 and 500000 < clicks[0][0] < 530000, (clicks, edges)
    assert clicks[0][1] & 0x44 == 0x44  # IA, Z

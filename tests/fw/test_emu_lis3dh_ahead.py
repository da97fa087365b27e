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


def _rig(name, clicks=None):
    """World, chip, I2C and the INT edges seen [(t_us, pin, level)]. With a
    `clicks` list, a rising edge reads CLICK_SRC into it at once (as the app
    does on its click interrupt), which also releases a latched line."""
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
                clicks.append((w.clock.now_us(), _r(i2c, 0x39)))

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


def _scenario(name, setup, watched, ms=3000):
    """INT edges and clicks read over `ms`. watched: a bus transaction at
    every sample (a model that looks at each sample), else the clock runs in
    long strides."""
    clicks = []
    w, chip, i2c, edges = _rig(name, clicks)
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

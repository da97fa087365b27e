# The LIS3DH register model (cpsim/lis3dh.py) behind the emulated machine.I2C:
# datasheet register behaviour, FIFO timing on the sim clock, resampled
# recordings and the click engine.
import struct

ADDR = 0x18


def _rig(source=None, sa0=0, int1=34):
    import machine
    from cpsim.lis3dh import LIS3DH
    from cpsim.recording import Rest
    from cpsim.world import World

    w = World()
    dev = w.device("a")
    dev.wire_i2c(0, 22, 21)
    chip = dev.attach_i2c(0, LIS3DH(source if source is not None else Rest(noise_g=0), sa0=sa0, int1=int1))
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    return w, dev, chip, i2c


def _w(i2c, reg, val, addr=ADDR):
    i2c.writeto_mem(addr, reg, bytes((val,)))


def _r(i2c, reg, addr=ADDR):
    return i2c.readfrom_mem(addr, reg, 1)[0]


def _xyz(i2c, n=1):
    """n samples from a 6*n-byte burst at OUT_X_L with auto-increment."""
    raw = i2c.readfrom_mem(ADDR, 0x80 | 0x28, 6 * n)
    return [struct.unpack_from("<hhh", raw, 6 * i) for i in range(n)]


def _csv(name, rows):
    with open(name, "w") as f:
        f.write("t_ms,x,y,z\n")
        for r in rows:
            f.write("%d,%.4f,%.4f,%.4f\n" % r)


def test_identity_address_and_missing_chip():
    import errno

    w, dev, chip, i2c = _rig(sa0=1)
    assert i2c.scan() == [0x19]
    assert _r(i2c, 0x0F, 0x19) == 0x33
    assert _r(i2c, 0x20, 0x19) == 0x07  # CTRL_REG1 power-on value
    try:
        _r(i2c, 0x0F, ADDR)
    except OSError as e:
        assert e.errno == errno.ENODEV
    else:
        raise AssertionError("no ENODEV")


def test_resolution_and_range_set_the_sensitivity():
    from cpsim.recording import Rest

    w, dev, chip, i2c = _rig(Rest((0.5, -0.25, 1.0), noise_g=0))
    _w(i2c, 0x20, 0x57)  # 100 Hz, x/y/z on, normal mode
    _w(i2c, 0x23, 0x08)  # HR, +-2 g: 1 mg/digit, 12 bits left-justified
    w.advance(10)
    assert _r(i2c, 0x27) & 0x08  # ZYXDA
    assert _xyz(i2c) == [(500 << 4, -250 << 4, 1000 << 4)]
    assert not _r(i2c, 0x27) & 0x08  # cleared by reading the data
    _w(i2c, 0x23, 0x28)  # HR, +-8 g: 4 mg/digit
    w.advance(10)
    assert _xyz(i2c) == [(125 << 4, round(-62.5) << 4, 250 << 4)]
    _w(i2c, 0x20, 0x5F)  # low-power: 8 bits
    _w(i2c, 0x23, 0x30)  # +-16 g: 192 mg/digit
    w.advance(10)
    assert _xyz(i2c) == [(3 << 8, -1 << 8, 5 << 8)]
    # Without the sub-address MSB the pointer stays on one register.
    assert i2c.readfrom_mem(ADDR, 0x28, 3) == b"\x00\x00\x00"
    assert i2c.readfrom_mem(ADDR, 0x29, 2) == b"\x03\x03"


def test_odr_sets_the_sample_times():
    w, dev, chip, i2c = _rig()
    _w(i2c, 0x20, 0x27)  # 10 Hz
    w.advance(99)
    assert not _r(i2c, 0x27) & 0x08
    w.advance(1)
    assert _r(i2c, 0x27) & 0x08
    _w(i2c, 0x24, 0x40)  # FIFO on
    _w(i2c, 0x2E, 0x80)  # stream mode
    w.advance(1000)
    assert _r(i2c, 0x2F) & 0x1F == 10
    _w(i2c, 0x20, 0x47)  # 50 Hz
    w.advance(100)
    assert _r(i2c, 0x2F) & 0x1F == 15


def test_fifo_watermark_raises_int1_at_the_right_time():
    import machine

    w, dev, chip, i2c = _rig()
    edges = []
    pin = machine.Pin(34, machine.Pin.IN)
    pin.irq(lambda p: edges.append((w.clock.now_ms(), p.value())), machine.Pin.IRQ_RISING | machine.Pin.IRQ_FALLING)
    _w(i2c, 0x20, 0x47)  # 50 Hz: a sample every 20 ms
    _w(i2c, 0x24, 0x40)  # FIFO_EN
    _w(i2c, 0x2E, 0x80 | 9)  # stream mode, watermark FTH = 9: 10 samples
    _w(i2c, 0x22, 0x04)  # I1_WTM
    w.advance(150)
    assert _r(i2c, 0x2F) == 7 and edges == []
    w.advance(150)
    assert edges == [(200, 1)], edges
    assert _r(i2c, 0x2F) == 0x80 | 15  # WTM, 15 samples by 300 ms
    _xyz(i2c, 10)
    assert edges == [(200, 1), (300, 0)], edges
    assert _r(i2c, 0x2F) == 5
    w.advance(200)
    assert edges[2:] == [(400, 1)], edges
    # Active-low polarity turns the line over.
    _w(i2c, 0x25, 0x02)
    assert pin.value() == 0


def test_fifo_burst_read_returns_the_resampled_recording():
    from cpsim.recording import Recording

    # 100 Hz recording: x ramps 1 g per second, z falls 0.5 g per second.
    _csv("ramp.csv", [(t, t / 1000.0, -0.5, 1 - t / 2000.0) for t in range(0, 1201, 10)])
    w, dev, chip, i2c = _rig(Recording("ramp.csv"))
    _w(i2c, 0x23, 0x08)  # HR +-2 g: 1 mg/digit
    _w(i2c, 0x24, 0x40)
    _w(i2c, 0x2E, 0x40)  # FIFO mode
    _w(i2c, 0x20, 0x37)  # 25 Hz: each output is the mean over its 40 ms
    w.advance(1000)
    assert _r(i2c, 0x2F) == 0x80 | 25
    got = _xyz(i2c, 25)
    for k, (x, y, z) in enumerate(got):
        mid = 40 * (k + 1) - 20  # a ramp's mean over a window is its middle
        assert abs((x >> 4) - mid) <= 1, (k, x >> 4, mid)
        assert y >> 4 == -500
        assert abs((z >> 4) - (1000 - mid / 2)) <= 1, (k, z >> 4)
    assert _r(i2c, 0x2F) & 0x20  # EMPTY
    # FIFO mode stops when full: 32 samples kept from t = 1040 ms on.
    w.advance(2000)
    assert _r(i2c, 0x2F) == 0xC0 | 31  # WTM, OVRN_FIFO (32 stored)
    assert abs((_xyz(i2c)[0][0] >> 4) - 1020) <= 1


def _click_rig(impulse):
    from cpsim.recording import Recording

    rows = [(t, 0.0, 0.0, 1.0 + (2.0 if impulse and 500 <= t <= 505 else 0.0)) for t in range(0, 1001)]
    _csv("tap.csv", rows)
    w, dev, chip, i2c = _rig(Recording("tap.csv"))
    _w(i2c, 0x20, 0x77)  # 400 Hz
    _w(i2c, 0x21, 0x04)  # HPCLICK: click sees the high-passed signal
    _w(i2c, 0x38, 0x10)  # single click on Z
    _w(i2c, 0x3A, 0x80 | 40)  # latched, 40 x 16 mg = 0.64 g
    _w(i2c, 0x3B, 10)  # TIME_LIMIT 25 ms
    _w(i2c, 0x3C, 20)  # TIME_LATENCY
    _w(i2c, 0x22, 0x80)  # I1_CLICK
    return w, i2c


def test_click_engine_fires_on_an_impulse():
    import machine

    w, i2c = _click_rig(impulse=True)
    hits = []
    machine.Pin(34, machine.Pin.IN).irq(lambda p: hits.append(w.clock.now_ms()), machine.Pin.IRQ_RISING)
    w.advance(450)
    assert hits == [] and _r(i2c, 0x39) == 0
    w.advance(550)
    assert len(hits) == 1 and 500 < hits[0] < 520, hits
    assert machine.Pin(34).value() == 1  # latched until CLICK_SRC is read
    assert _r(i2c, 0x39) == 0x40 | 0x10 | 0x04  # IA, SCLICK, Z, positive
    assert machine.Pin(34).value() == 0
    assert _r(i2c, 0x39) == 0


def test_click_engine_quiet_on_a_resting_pin():
    import machine

    w, i2c = _click_rig(impulse=False)
    hits = []
    machine.Pin(34, machine.Pin.IN).irq(lambda p: hits.append(1))
    w.advance(1000)
    assert hits == [] and _r(i2c, 0x39) == 0

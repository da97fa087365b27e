# The shared simulated radio: advertising reaches scanning pins with each
# link's RSSI, on the simulated clock, as MicroPython's ESP32 port reports it.
from cpsim.world import World
from cpsim.blelog import IrqLog, ble_of

_FULL = (100000, 100000)  # scan interval == window: hears every advertising event


def _pins(n=2):
    w = World()
    bles = [ble_of(w.device("p%d" % i)) for i in range(n)]
    logs = [IrqLog(b) for b in bles]
    for b in bles:
        b.active(True)
    return w, bles, logs


def test_two_pins_see_each_other_with_configured_rssi():
    w, (a, b), (la, lb) = _pins()
    w.radio.set_rssi(w.devices[0], w.devices[1], -55)
    a.gap_advertise(100000, b"\x02\x01\x06\x03\xff\xaa\xbb")
    b.gap_advertise(100000, b"\x02\x01\x06")
    a.gap_scan(1000, *_FULL)
    b.gap_scan(1000, *_FULL)
    w.advance(1000)
    for log, peer, data in ((la, b, b"\x02\x01\x06"), (lb, a, b"\x02\x01\x06\x03\xff\xaa\xbb")):
        seen = log.of(5)
        assert 8 <= len(seen) <= 10, len(seen)  # every 100 ms + advDelay 0-10 ms
        for addr_type, addr, adv_type, rssi, adv_data in seen:
            assert (addr_type, addr) == peer.config("mac")  # never its own packets
            assert (adv_type, rssi, adv_data) == (0, -55, data)
        assert log.of(6) == [()]


def test_out_of_range_pins_are_not_heard():
    w, (a, b, c), (la, lb, lc) = _pins(3)
    pa, pb, pc = w.devices
    w.radio.set_rssi(pa, pb, -100)  # below the -97 dBm sensitivity
    w.radio.set_distance(pa, pc, 10)  # log-distance: -59 - 20 * log10(10)
    a.gap_advertise(100000, b"x")
    b.gap_scan(500, *_FULL)
    c.gap_scan(500, *_FULL)
    w.advance(600)
    assert lb.of(5) == []
    assert lc.of(5) and set(r[3] for r in lc.of(5)) == {-79}
    assert w.radio.rssi(pa, pc) == w.radio.rssi(pc, pa) == -79
    w.radio.set_distance(pa, pc, None)
    w.radio.set_position(pa, 0, 0)
    w.radio.set_position(pc, 300, 400)  # 500 m: far out of range
    assert not w.radio.hears(pa, pc)
    assert w.radio.rssi(pa, pb) == -100 and w.radio.rssi(pb, pc) == w.radio.default_rssi


def test_scan_done_fires_when_the_duration_ends():
    w, (a, b), (la, lb) = _pins()
    a.gap_advertise(50000, b"x")
    b.gap_scan(300, *_FULL)
    w.advance(1000)
    assert lb.times(6) == [300]
    assert lb.of(6) == [()]
    assert max(lb.times(5)) <= 300
    b.gap_scan(0, *_FULL)  # 0 = until stopped
    w.advance(2000)
    assert lb.times(6) == [300]
    b.gap_scan(None)
    assert lb.times(6) == [300, 3000]
    b.gap_scan(None)  # not scanning: no second event
    assert len(lb.of(6)) == 2


def test_active_scan_gets_the_scan_response():
    w, (a, b, c), (la, lb, lc) = _pins(3)
    a.gap_advertise(100000, b"\x02\x01\x06", resp_data=b"\x05\x09pin1")
    b.gap_scan(250, 100000, 100000, True)
    c.gap_scan(250, *_FULL)  # passive
    w.advance(300)
    kinds = [(r[2], r[4]) for r in lb.of(5)]
    assert kinds[:2] == [(0, b"\x02\x01\x06"), (4, b"\x05\x09pin1")], kinds
    assert all(r[2] == 0 for r in lc.of(5))
    # NimBLE advertises MicroPython's connectable=False as ADV_SCAN_IND
    lb.clear()
    a.gap_advertise(100000, connectable=False)  # keeps the previous adv data
    b.gap_scan(250, 100000, 100000, True)
    w.advance(300)
    assert [(r[2], r[4]) for r in lb.of(5)][:2] == [(2, b"\x02\x01\x06"), (4, b"\x05\x09pin1")]


def test_gap_advertise_none_stops_and_window_limits_what_is_heard():
    w, (a, b), (la, lb) = _pins()
    a.gap_advertise(100000, b"x")
    b.gap_scan(0, *_FULL)
    w.advance(500)
    a.gap_advertise(None)
    n = len(lb.of(5))
    w.advance(1000)
    assert n >= 4 and len(lb.of(5)) == n
    b.gap_scan(None)
    lb.clear()
    a.gap_advertise(100000)
    b.gap_scan(5120)  # default 11.25 ms window every 1.28 s: about 1 in 100 events
    w.advance(5200)
    assert len(lb.of(5)) < 10


def test_injected_advertisement_reaches_scanning_handlers_as_is():
    w, (a, b), (la, lb) = _pins()
    junk = b"\x1f\xff" + bytes(range(29))  # a length byte that lies, 31 bytes in all
    assert w.radio.inject_advertisement(b"\xc0\x01\x02\x03\x04\x05", junk) == 0  # nobody scanning
    b.gap_scan(0, *_FULL)
    assert w.radio.inject_advertisement(b"\xc0\x01\x02\x03\x04\x05", junk, rssi=-70) == 1
    assert lb.of(5) == [(1, b"\xc0\x01\x02\x03\x04\x05", 0, -70, junk)]
    assert w.radio.inject_advertisement(b"\x01" * 6, b"", adv_type=4) == 0  # passive: no SCAN_RSP
    assert w.radio.inject_advertisement(b"\x01" * 6, b"", rssi=-120) == 0
    for bad in ((b"\x01" * 5, b""), (b"\x01" * 6, bytes(32))):
        try:
            w.radio.inject_advertisement(*bad)
            assert False
        except ValueError:
            pass


def test_views_die_when_the_handler_returns():
    w, (a, b), (la, lb) = _pins()
    kept = []
    b.irq(lambda e, d: kept.append((d[1], bytes(d[1]), d[4], bytes(d[4]))) if e == 5 else None)
    b.gap_scan(0, *_FULL)
    w.radio.inject_advertisement(b"\xc0\x01\x02\x03\x04\x05", b"\x02\x01\x06")
    addr, addr_copy, data, data_copy = kept[0]
    assert addr_copy == b"\xc0\x01\x02\x03\x04\x05" and data_copy == b"\x02\x01\x06"
    assert bytes(addr) != addr_copy and bytes(data) != data_copy  # stale, as on the board


def test_rssi_jitter_is_seeded():
    runs = []
    for _ in range(2):
        w, (a, b), (la, lb) = _pins()
        rs = []
        b.irq(lambda e, d: rs.append(d[3]) if e == 5 else None)
        w.radio.jitter_db = 4
        a.gap_advertise(20000, b"x")
        b.gap_scan(0, 20000, 20000)
        w.advance(2000)
        runs.append(rs)
    rs = runs[0]
    assert runs[0] == runs[1] and len(rs) > 50
    mean = sum(rs) / len(rs)
    assert len(set(rs)) > 5 and -62 < mean < -58, (mean, set(rs))

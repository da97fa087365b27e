# Three of the radio model's rules (issue 8, "A radio model for a hall") that
# no other test pinned down: each pin's own TX power, a connection's events
# taking radio time from the scanning of the pin that holds it, and write
# commands (not only notifications) running out of NimBLE's host buffers.
import errno

from cpsim.world import World
from cpsim.blelog import IrqLog, ble_of
from cpsim import link as L
from cpsim import linkbudget
from test_emu_ble_limits import _connected

_FULL = (100000, 100000)  # scan interval == window: always listening


def test_each_pin_transmits_at_its_own_power():
    w = World()
    w.radio.fading = False
    a, b, c = w.device("a"), w.device("b"), w.device("c")
    c.ble_tx_dbm = 9  # a board's property: MicroPython has no call to set it
    for dev, x in ((a, 0), (b, 20), (c, 40)):
        w.radio.set_position(dev, x, 0)  # 20 m apart in a line, no bodies
    assert w.radio.rssi(a, b) == w.radio.rssi(b, a)  # both at the default +3 dBm
    assert w.radio.station(a).tx_dbm == linkbudget.TX_DBM == 3
    assert w.radio.rssi(c, b) == w.radio.rssi(b, c) + 6  # c sends 6 dB stronger, hears the same
    before = w.radio.rssi(a, b)
    w.radio.set_tx_power(a, -12)
    assert w.radio.rssi(a, b) == before - 15 and w.radio.rssi(b, a) == before
    # what b decodes follows: a at -12 dBm is below b's sensitivity 20 m away
    assert w.radio.hears(b, a) and not w.radio.hears(a, b), (w.radio.rssi(a, b), w.radio.rssi(b, a))
    ba, bb = ble_of(a), ble_of(b)
    lb = IrqLog(bb)
    ba.active(True)
    bb.active(True)
    ba.gap_advertise(20000, b"\x02\x01\x06")
    bb.gap_scan(1000, *_FULL)
    w.advance(1100)
    assert lb.of(5) == [] and b.acct.counts["radio.lost_weak"] > 0
    w.radio.set_tx_power(a, 3)
    bb.gap_scan(1000, *_FULL)
    w.advance(1100)
    assert len(lb.of(5)) >= 30 and {r[3] for r in lb.of(5)} == {before}


def _scan_while(w, scanners, ms):
    start = [s.acct.counts.get("radio.rx_packets", 0) for s in scanners]
    w.advance(ms)
    return [s.acct.counts.get("radio.rx_packets", 0) - n for s, n in zip(scanners, start)]


def test_a_connections_events_take_radio_time_from_its_scanning():
    w = World()
    w.radio.fading = False
    per, cen, other, adv = (w.device(n) for n in ("per", "cen", "other", "adv"))
    bles = [ble_of(d) for d in (per, cen, other, adv)]
    for b in bles:
        b.active(True)
    bp, bc, bo, ba = bles
    IrqLog(bp)
    lc = IrqLog(bc)
    bp.gap_advertise(100000, b"\x02\x01\x06")
    bc.gap_connect(*bp.config("mac"))
    w.advance(300)
    assert lc.of(7), "no connection"  # _IRQ_PERIPHERAL_CONNECT
    bc.irq(None)  # the counters are enough; no handler time
    bo.irq(None)
    ba.gap_advertise(20000, b"x" * 31)  # the fastest legacy interval
    bc.gap_scan(0, *_FULL)
    bo.gap_scan(0, *_FULL)
    heard_connected, heard_free = _scan_while(w, (cen, other), 10000)
    assert heard_free >= 350, heard_free
    # 1 ms of every 30 ms link interval (plus a packet's length) the central
    # is in its connection event and hears nothing: ~3-6% of the packets
    assert 0.90 * heard_free < heard_connected < 0.985 * heard_free, (heard_connected, heard_free)
    assert cen.acct.counts["radio.lost_busy"] > 0
    assert other.acct.counts.get("radio.lost_busy", 0) == 0


def test_write_command_floods_run_out_of_host_buffers():
    w, a, b, la, lb, h = _connected()  # b connected to a's characteristic
    sent = 0
    e = None
    for i in range(200):
        try:
            b.gattc_write(0, h, bytes((i,)))  # a write command: no response, no procedure
        except OSError as x:
            e = x
            break
        sent += 1
    assert e is not None and e.args[0] == errno.ENOMEM, e  # ble_hs_mbuf_from_flat() found no buffer
    assert sent == L.MBUFS
    w.advance(31)  # one connection event later: only that event's packets went
    got = len(la.of(3))  # _IRQ_GATTS_WRITE
    assert 1 <= got <= L.PACKETS_PER_EVENT, got
    b.gattc_write(0, h, b"\xff")  # their buffers are free again
    w.advance(500)
    assert len(la.of(3)) == sent + 1

# The ESP32's limits as MicroPython's esp32 port builds NimBLE: connections,
# GATT client procedures, host buffers, pairing and the key store's events.
import errno

import bluetooth
from cpsim.world import World
from cpsim.blelog import IrqLog, ble_of
from cpsim import link as L
from cpsim import blegattc
from fwcheck import raises

_SVC = bluetooth.UUID(0xFFF0)
_CHR = bluetooth.UUID(0xFFF1)
_RWN = bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_INDICATE


def _errno(fn, *args):
    return raises(OSError, fn, *args).args[0]


def _connected(w=None):
    """Peripheral a serves one characteristic; central b connects (30 ms events)."""
    w = w or World()
    a, b = ble_of(w.device("a")), ble_of(w.device("b"))
    la, lb = IrqLog(a), IrqLog(b)
    a.active(True)
    b.active(True)
    ((h,),) = a.gatts_register_services(((_SVC, ((_CHR, _RWN),)),))
    a.gap_advertise(100000, b"\x02\x01\x06")
    b.gap_connect(*a.config("mac"))
    w.advance(300)
    assert lb.of(7) and la.of(1)
    return w, a, b, la, lb, h


def test_gatt_client_procedures_are_capped_at_four():
    w, a, b, la, lb, h = _connected()
    for _ in range(blegattc.MAX_PROCS):
        b.gattc_read(0, h)
    assert _errno(b.gattc_read, 0, h) == errno.ENOMEM  # ble_gattc_proc_alloc() failed
    assert _errno(b.gattc_write, 0, h, b"x", 1) == errno.ENOMEM
    assert _errno(b.gattc_discover_services, 0) == errno.ENOMEM
    b.gattc_write(0, h, b"x")  # a write command is no procedure
    w.advance(500)
    assert len(lb.of(16)) == 4
    b.gattc_read(0, h)  # freed as they completed
    a.gatts_indicate(0, h, b"1")  # the server's indications come from the same pool
    w.advance(200)
    assert len(lb.of(16)) == 5 and la.of(20) == [(0, h, 0)]


def test_notification_floods_run_out_of_buffers():
    w, a, b, la, lb, h = _connected()
    sent = 0
    try:
        for i in range(200):
            a.gatts_notify(0, h, bytes((i,)))
            sent += 1
        assert False, "never ran out"
    except OSError as e:
        assert e.errno == errno.ENOMEM  # ble_hs_mbuf_from_flat() found no buffer
    assert sent == L.MBUFS
    w.advance(31)  # one connection event later: only that event's packets went
    got = len(lb.of(18))
    assert 1 <= got <= L.PACKETS_PER_EVENT, got
    a.gatts_notify(0, h, b"again")  # and their buffers are free again
    w.advance(500)
    assert len(lb.of(18)) == sent + 1 and [d[2] for d in lb.of(18)][:3] == [b"\x00", b"\x01", b"\x02"]


def test_three_connections_at_most():
    w = World()
    c = ble_of(w.device("central"))
    lc = IrqLog(c)
    c.active(True)
    peers = []
    for i in range(4):
        p = ble_of(w.device("p%d" % i))
        p.active(True)
        p.gap_advertise(50000, b"x")
        peers.append(p)
    for p in peers[:3]:
        c.gap_connect(*p.config("mac"))
        w.advance(300)
    assert len(lc.of(7)) == 3
    # BTDM_CTRL_BLE_MAX_CONN: the controller refuses, and its HCI error is EIO
    assert _errno(c.gap_connect, *peers[3].config("mac")) == errno.EIO


def test_pairing_takes_round_trips_and_bonding_asks_the_store():
    w, a, b, la, lb, h = _connected()
    a.config(bond=True)
    b.config(bond=True)
    la.clear()
    lb.clear()
    b.gap_pair(0)
    assert lb.kinds() == [29]  # the initiator looks for a stored bond first
    assert lb.of(29)[0][:2] == (2, 0) and len(lb.of(29)[0][2]) == 7
    assert _errno(b.gap_pair, 0) == errno.EALREADY
    w.advance(70)  # one round trip: the old emulator had finished here
    assert lb.of(28) == [] and la.of(28) == []
    w.advance(400)
    assert lb.of(28) == [(0, 1, 0, 1, 16)] and la.of(28) == [(0, 1, 0, 1, 16)]
    for log in (la, lb):
        assert log.kinds()[-3:] == [30, 30, 28]  # our keys, the peer's keys, then the update
        assert [d[0] for d in log.of(30)] == [1, 2] and len(log.of(30)[0][2]) == 80


def test_pairing_cut_by_a_lost_link_reports_nothing():
    w, a, b, la, lb, h = _connected()
    b.gap_pair(0)
    w.advance(40)
    w.radio.set_rssi(w.devices[0], w.devices[1], -120)
    w.advance(4000)
    assert lb.of(8) and lb.of(28) == [] and la.of(28) == []


def test_active_true_loads_the_key_store_through_the_handler():
    w = World()
    ble = ble_of(w.device("a"))
    log = IrqLog(ble)
    ble.active(True)
    # no IRK stored: NimBLE makes one and offers it; the store keeps nothing
    assert log.kinds() == [29, 30]
    assert log.of(29) == [(10, 0, b"irk")]
    kind, key, irk = log.of(30)[0]
    assert (kind, key, len(irk)) == (10, b"irk", 16)

    stored = {}

    def store(event, data):
        if event == 29:
            return stored.get((data[0], data[1]))
        if event == 30:
            stored[(data[0], 0)] = bytes(data[2])
            return True
        return None

    ble.irq(store)
    ble.active(True)
    assert len(stored[(10, 0)]) == 16
    seen = []
    stored[(2, 0)] = bytes(80)  # one bonded peer
    ble.irq(lambda e, d: seen.append((e, d[0], d[1])) or store(e, d))
    ble.active(True)
    # the IRK came from the store; then the peers' keys are read by index
    assert seen == [(29, 10, 0), (29, 2, 0), (29, 2, 1)]


def test_a_handler_that_raises_on_unknown_events_is_gone_after_active():
    w = World()
    ble = ble_of(w.device("a"))

    def strict(event, data):
        if event != 5:
            raise ValueError("unexpected event %d" % event)

    ble.irq(strict)
    ble.active(True)
    assert ble._handler is None  # unregistered, as on the pin


def test_gap_name_default():
    w = World()
    ble = ble_of(w.device("a"))
    assert ble.config("gap_name") == b"MPY ESP32"


def test_a_weak_link_loses_connection_events():
    # data packets fade and meet the sensitivity edge too: lost events are
    # retried at the next one, so a weak link is slow (the old link was
    # perfect down to -97 dBm)
    took = []
    for rssi in (-60, -97):
        w, a, b, la, lb, h = _connected()
        w.radio.set_rssi(w.devices[0], w.devices[1], rssi)
        t0 = w.clock.now_ms()
        for i in range(10):
            b.gattc_read(0, h)
            while len(lb.of(16)) <= i:
                w.advance(30)
        took.append(w.clock.now_ms() - t0)
    assert took[1] > 1.3 * took[0] and lb.of(16)[-1] == (0, h, 0), took


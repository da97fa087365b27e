# Connections over shared air (cpsim/airclient.py), loaded with the first one:
# a host-side central (host_tools/air/central.py) that connects to this badge
# becomes a local cpsim.link.Link between the badge's BLE and a RemoteCentral
# standing in for it, so the badge's GATT server answers it exactly as it
# answers an emulated pin (same connection events, ATT one-at-a-time, buffers).
# Frames (after the length byte; cid is the hub's connection number):
#   hub -> VM  C cid atype addr(6)     a central connects (sent while we advertise)
#              Q cid h(2)              read h
#              W cid mode h(2) data    write h (mode 1: with response)
#              X cid                   the central disconnects
#   VM -> hub  c cid status            0 connected, 1 refused
#              v cid status h(2) data  read result (status: ATT error or 0)
#              w cid status h(2)       write result (mode 1)
#              n cid h(2) data         notification or indication from the badge
#              x cid                   the link closed
from cpsim.blegatts import serve_read, serve_write
from cpsim.link import Link

CONN_ITVL_US = 30000  # a phone's usual connection interval (Android's default 30-50 ms)
MAX_CONNECTIONS = 3


class RemoteCentral:
    """What cpsim.link needs of the central end, forwarding to the hub."""

    def __init__(self, air, cid, atype, addr):
        self._air = air
        self._cid = cid
        self._dev = None
        self._st = air.station(None)
        self._gen = 0
        self._mbufs = 0
        self.addr = (atype, addr)

    def _connected(self, link):
        return self._cid

    def _irq_addr(self, event, conn, addr_type, addr):
        pass

    def _irq_data(self, event, conn, h, data):
        if event in (18, 19):  # notify, indicate
            self._air._send(b"n" + bytes((self._cid, h & 0xFF, h >> 8)) + bytes(data))

    def _irq(self, event, data):
        pass

    def _closed(self, link, side, irq):
        self._air._links.pop(self._cid, None)
        self._air._send(b"x" + bytes((self._cid,)))


def frame(air, b, i, n):
    """Handle a connection frame at b[i + 1:i + 1 + n] (kind already checked)."""
    kind, cid = b[i + 1], b[i + 2]
    ble = air._ble
    links = air._links
    if kind == 0x43:  # C
        if n < 9 or ble is None or not ble._active or not ble._adv_on or ble._adv_type != 0 \
                or len(ble._conns) >= MAX_CONNECTIONS or cid in links:
            air._send(b"c" + bytes((cid, 1)))
            return
        rc = RemoteCentral(air, cid, b[i + 3], bytes(b[i + 4:i + 10]))
        air.stop_adv(ble)  # NimBLE: a connection ends connectable advertising
        link = Link(air, rc, ble, CONN_ITVL_US, air.clock.now_us(), (rc.addr, ble._adv_address()))
        links[cid] = link
        link.start((rc._gen, ble._gen))
        air._send(b"c" + bytes((cid, 0)))
        return
    link = links.get(cid)
    if link is None or n < 2:
        return
    if kind == 0x58:  # X
        link.terminate(0)
    elif kind == 0x51 and n >= 4:  # Q
        h = b[i + 3] | b[i + 4] << 8

        def on_tx():
            err, v = serve_read(link.ends[1], link, 1, h)
            air._send(b"v" + bytes((cid, err, h & 0xFF, h >> 8)) + (b"" if err else bytes(v)))

        link.transact(0, 0, on_tx, lambda st: air._send(b"v" + bytes((cid, st & 0xFF, h & 0xFF, h >> 8))))
    elif kind == 0x57 and n >= 5:  # W
        mode, h = b[i + 3], b[i + 4] | b[i + 5] << 8
        data = bytes(b[i + 6:i + 1 + n])[: link.mtu - 3]
        if mode == 0:
            link.post(0, lambda: serve_write(link.ends[1], link, 1, h, data))
            return

        def on_wtx():
            err = serve_write(link.ends[1], link, 1, h, data)
            air._send(b"w" + bytes((cid, err, h & 0xFF, h >> 8)))

        link.transact(0, 0, on_wtx, lambda st: air._send(b"w" + bytes((cid, st & 0xFF, h & 0xFF, h >> 8))))

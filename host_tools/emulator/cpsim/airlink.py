# Connections over shared air (cpsim/airclient.py), loaded with the first one.
# Whatever is at the other end (a host-side central, host_tools/air/central.py,
# or a pin in another VM), this VM's side is a local cpsim.link.Link between
# its BLE and a RemoteEnd standing in for the peer, so the firmware gets the
# same IRQ tuples, connection-event timing, one-at-a-time ATT, host buffers
# and link limits as between two emulated pins in one process. What crosses
# the hub is the ATT traffic: a request is answered by the peer's own GATT
# server code (cpsim.blegatts) at ITS connection event, and the answer
# reaches the firmware here at the next connection event after it arrives.
#
# Frames (after the length byte; cid is the hub's number for this link in
# this VM; h and mtu are 2 bytes LE, itvl 4 bytes LE). To this VM:
#   C cid atype addr(6) [itvl]   a central connects to us (we advertise)
#   P cid status atype addr(6) itvl
#                                our gap_connect reached the peer (status 0)
#   Q cid h / W cid mode h data  the peer reads / writes our server
#   D cid event start end uuid   the peer discovers (9 services, 11
#                                characteristics, 13 descriptors; uuid raw or none)
#   M cid mtu                    the peer exchanges MTU (its preferred one)
#   v cid status h data / w cid status h
#                                the result of our read / write
#   e cid event ...numbers uuid  one discovery result; d cid event status(2): done
#   m cid mtu                    our MTU exchange's result
#   n cid h data / N cid h data  the peer notifies / indicates
#   X cid                        the peer ends the link
#   L cid lost                   the hub's air: 1 the peer is out of range or
#                                gone (supervision will close the link), 0 back
#   Y cid bond / y cid bond      the peer asks to pair (its gap_pair: SMP's
#                                pairing request) / answers ours (pairing
#                                response); bond 1 if that end bonds
#   Z cid bonded                 the pairing the peer started ended: the link
#                                is encrypted (bonded 1: both ends keep keys)
# From this VM the same kinds go the other way (c cid status: 0 connected, 1
# refused, answers a C; x cid: our side closed), and
#   K own_atype own(6) atype addr(6) itvl   gap_connect: initiate to addr
#   k                                       stop initiating
# The hub relays between two VMs; a host central speaks C Q W X / c v w n x.
from cpsim.blegatts import serve_read, serve_write, server
from cpsim.link import Link, STATUS_NOT_CONNECTED

CONN_ITVL_US = 30000  # a phone's usual connection interval (Android's default 30-50 ms)
MAX_CONNECTIONS = 3
_NUMS = {9: 2, 11: 3, 13: 1}  # handles a discovery result carries: (start, end), (end, value, props), (handle)


def _u16(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF))


class RemoteEnd:
    """What cpsim.link needs of the far end, forwarding to the hub."""

    def __init__(self, air, cid, atype, addr):
        self._air = air
        self._cid = cid
        self._dev = None
        self._st = air.station(None)
        self._gen = 0
        self._mbufs = 0
        self._lost = False  # the hub says the peer is out of range or gone
        self.paced = True  # sends its write commands at its own connection events (a VM)
        self.addr = (atype, addr)

    def _connected(self, link):
        return self._cid

    def _irq_addr(self, event, conn, addr_type, addr):
        pass

    def _irq_data(self, event, conn, h, data):
        if event in (18, 19):  # our server notifies, indicates
            self._air._send((b"n" if event == 18 else b"N") + bytes((self._cid,)) + _u16(h) + bytes(data))

    def _irq(self, event, data):
        pass

    def _closed(self, link, side, irq):
        self._air._links.pop(self._cid, None)
        self._air._send(b"x" + bytes((self._cid,)))  # a host central waits for it; the hub drops a VM's echo


class AirLink(Link):
    """A Link whose far end is across the hub: in range while the hub says so;
    its GATT client requests (cpsim.blegattc calls gattc) go as frames."""

    remote = True

    def __init__(self, air, ble, peer, central, interval_us, addrs):
        ends = (ble, peer) if central else (peer, ble)
        Link.__init__(self, air, ends[0], ends[1], interval_us, air.clock.now_us(), addrs)
        self.air = air
        self.peer = peer
        self.pending = []  # our requests in flight, oldest first: [kind, on_reply(frame bytes), on_fail(status)]

    def in_range(self):
        return not self.peer._lost

    def event_ok(self):
        return self.alive()  # the hub's air decides range; fading is not relayed

    def gattc(self, ble, kind, conn, args, done):
        # Our request's PDU and the answer's are charged to this VM's radio
        # (the peer's VM charges its own side): the same sizes as between two
        # pins in one process (cpsim.blegattc).
        cid = bytes((self.peer._cid,))
        air = self.air
        if kind == b"Q":
            h = args
            self._request(ble, b"Q" + cid + _u16(h), 3)

            def reply(p):
                err = p[2]
                if not err:
                    ble._irq_data(15, conn, h, p[5:])
                ble._irq(16, (conn, h, 0x100 + err if err else 0))

            self._expect(b"v", done, reply, lambda st: ble._irq(16, (conn, h, st)),
                         rsp_bytes=lambda p: 1 + (0 if p[2] else len(p) - 5))  # Read Response / Error
        elif kind == b"W":
            mode, h, data = args
            if not mode:  # a write command: cpsim.link.post charged it as it went
                air._send(b"W" + cid + bytes((mode,)) + _u16(h) + bytes(data))
                return
            self._request(ble, b"W" + cid + bytes((mode,)) + _u16(h) + bytes(data), 3 + len(data))
            self._expect(b"w", done, lambda p: ble._irq(17, (conn, h, 0x100 + p[2] if p[2] else 0)),
                         lambda st: ble._irq(17, (conn, h, st)), rsp_bytes=1)
        elif kind == b"M":
            self._request(ble, b"M" + cid + _u16(args), 3)

            def mtu(p):
                self.mtu = p[2] | p[3] << 8
                ble._irq(21, (conn, self.mtu))

            self._expect(b"m", done, mtu, None, rsp_bytes=3)
        else:  # D
            event, start, end, raw = args
            self._request(ble, b"D" + cid + bytes((event,)) + _u16(start) + _u16(end) + (raw or b""), 7)

            def found(p):
                if p[:1] == b"e":
                    nums = [conn]
                    j = 3
                    for _ in range(_NUMS[event]):
                        nums.append(p[j] | p[j + 1] << 8)
                        j += 2
                    ble._irq_uuid(event, tuple(nums), bytes(p[j:]))
                else:
                    _end_discovery(ble, event, conn, p[3] | p[4] << 8)

            self._expect(b"d", done, found, lambda st: _end_discovery(ble, event, conn, st), b"e", 20)

    def _request(self, ble, frame, att_bytes):
        self.charge(self.side_of(ble), att_bytes)
        self.air._send(frame)

    def _expect(self, kind, done, on_reply, on_fail, also=b"", rsp_bytes=0):
        def fail(st):
            done()
            if on_fail is not None:
                on_fail(st)

        self.pending.append((kind + also, done, on_reply, fail, rsp_bytes))

    def reply(self, p):
        """A result frame for our oldest request: run it at our next
        connection event (the ATT response's), in order."""
        q = self.pending
        if not q or p[:1] not in q[0][0]:
            return  # nothing asked (a late answer after the link closed): dropped
        op = q[0]
        last = p[:1] != b"e"
        if last:
            q.pop(0)
        data = bytes(p)

        def run():
            if last:
                op[1]()  # the procedure is back in the pool before its IRQ, as in cpsim.blegattc
            peer = self.side_of(self.peer)
            if self.open[1 - peer]:
                if last:
                    n = op[4]
                    self.charge(peer, n(data) if callable(n) else n)
                op[2](data)

        self.air.clock.call_at(self.next_event(), run)

    def received(self, kind, h, data):
        """The peer's notification (n) or indication (N) of `data` at `h`:
        its PDU, and our confirmation of an indication, on our radio."""
        peer = self.side_of(self.peer)
        self.charge(peer, 3 + len(data))
        if kind == 0x4E:
            self.charge(1 - peer, 1)
        self.ends[1 - peer]._irq_data(18 if kind == 0x6E else 19, self.handles[1 - peer], h, data)

    def close(self, side, irq):
        Link.close(self, side, irq)
        if self.ends[side] is not self.peer and self.pending:
            ops = self.pending[:]
            del self.pending[:]
            for op in ops:
                if irq:
                    op[3](STATUS_NOT_CONNECTED)
                else:
                    op[1]()


def pair(ble, link, side):
    """gap_pair on a link across the hub (cpsim.blegattc.pair asked our
    store first): the SMP exchange's first round trip takes our bond flag to
    the peer (Y) and brings its own back (y); the other round trips run at
    our connection events, as between two pins in one process; at the end
    the peer is told (Z), and each end raises what blegattc.encrypted says
    (the peer at its next connection event). A link lost meanwhile ends it
    with no event on either side. While the answer is awaited, link.pairing
    holds what takes it (no new names: the VM's qstr pools, docs/heap.md)."""
    from cpsim.blegattc import PAIRING_ROUND_TRIPS, encrypted, pairing

    cid = bytes((link.peer._cid,))

    def on_reply(bond):
        bonded = 1 if ble._bond and bond else 0

        def end():
            link.air._send(b"Z" + cid + bytes((bonded,)))
            encrypted(ble, link, side, bonded)

        pairing(link, side, PAIRING_ROUND_TRIPS - 1, end)

    link.pairing = on_reply
    link.air._send(b"Y" + cid + bytes((1 if ble._bond else 0,)))


def _end_discovery(ble, event, conn, status):
    if event == 11:
        ble._chr_disc = False
    ble._irq(event + 1, (conn, status))


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
        itvl = int.from_bytes(bytes(b[i + 10:i + 14]), "little") if n >= 13 else CONN_ITVL_US
        rc = RemoteEnd(air, cid, b[i + 3], bytes(b[i + 4:i + 10]))
        rc.paced = n >= 13  # a VM (the hub gives its interval); a host central has none
        air.stop_adv(ble)  # NimBLE: a connection ends connectable advertising
        link = AirLink(air, ble, rc, False, itvl, (rc.addr, ble._adv_address()))
        links[cid] = link
        link.start((rc._gen, ble._gen))
        air._send(b"c" + bytes((cid, 0)))
        return
    if kind == 0x50:  # P: our gap_connect got through
        if n < 14 or b[i + 3]:
            return  # refused: the local scan goes on until its timeout, as NimBLE's
        addr = (b[i + 4], bytes(b[i + 5:i + 11]))
        if ble is None or ble._connecting != addr or cid in links:
            air._send(b"x" + bytes((cid,)))  # given up meanwhile: end it at once
            return
        own = ble._conn_own
        ble._connect_end()
        rp = RemoteEnd(air, cid, addr[0], addr[1])
        rp.paced = True
        link = AirLink(air, ble, rp, True, int.from_bytes(bytes(b[i + 11:i + 15]), "little"), (own, addr))
        links[cid] = link
        link.start((ble._gen, rp._gen))
        return
    link = links.get(cid)
    if link is None or n < 2:
        return
    peer = link.peer
    side = 1 - link.side_of(peer)  # ours
    if kind == 0x58:  # X
        link.terminate(1 - side)
    elif kind == 0x4C and n >= 3:  # L
        peer._lost = bool(b[i + 3])
        link.range_changed()
    elif kind in b"vwedm":
        link.reply(b[i + 1:i + 1 + n])
    elif kind in b"nN" and n >= 4:
        link.received(kind, b[i + 3] | b[i + 4] << 8, bytes(b[i + 5:i + 1 + n]))
    elif kind == 0x51 and n >= 4:  # Q
        h = b[i + 3] | b[i + 4] << 8

        def on_tx():
            err, v = serve_read(ble, link, side, h)
            link.charge(side, 1 + (0 if err else len(v[: link.mtu - 1])))  # Read Response / Error
            air._send(b"v" + bytes((cid, err)) + _u16(h) + (b"" if err else bytes(v)))

        link.transact(1 - side, 0, on_tx, lambda st: air._send(b"v" + bytes((cid, st & 0xFF)) + _u16(h)), 3)
    elif kind == 0x57 and n >= 5:  # W
        mode, h = b[i + 3], b[i + 4] | b[i + 5] << 8
        data = bytes(b[i + 6:i + 1 + n])[: link.mtu - 3]
        if mode == 0:
            if peer.paced:
                link.charge(1 - side, 3 + len(data))
                serve_write(ble, link, side, h, data)  # a VM peer sent it at its own connection event
            else:
                try:  # a host central does not pace: its packets go at our events
                    link.post(1 - side, lambda: serve_write(ble, link, side, h, data), 3 + len(data))
                except OSError:
                    pass  # ENOMEM: the central's flood outran the buffers; the packet is lost
            return

        def on_wtx():
            err = serve_write(ble, link, side, h, data)
            air._send(b"w" + bytes((cid, err)) + _u16(h))

        link.transact(1 - side, 0, on_wtx, lambda st: air._send(b"w" + bytes((cid, st & 0xFF)) + _u16(h)),
                      3 + len(data), 1)
    elif kind == 0x44 and n >= 7:  # D
        from cpsim.blegattc import discovered

        event, start, end = b[i + 3], b[i + 4] | b[i + 5] << 8, b[i + 6] | b[i + 7] << 8
        raw = bytes(b[i + 8:i + 1 + n]) or None

        def on_dtx():
            found, status = discovered(server(ble), event, 0, start, end, raw)
            for nums, u in found:
                out = b"e" + bytes((cid, event))
                for v in nums[1:]:
                    out += _u16(v)
                air._send(out + bytes(u))
            air._send(b"d" + bytes((cid, event)) + _u16(status))

        link.transact(1 - side, 0, on_dtx, lambda st: air._send(b"d" + bytes((cid, event)) + _u16(st)), 7, 20)
    elif kind == 0x59 and n >= 3:  # Y: the peer starts pairing; we answer at our connection event
        link.pairing = True
        bond = bytes((1 if ble._bond else 0,))
        link.transact(1 - side, 2, lambda: air._send(b"y" + bytes((cid,)) + bond), lambda st: None)
    elif kind == 0x79 and n >= 3:  # y: the answer to our gap_pair (pair() left its taker in link.pairing)
        on_reply = link.pairing
        if callable(on_reply):
            link.pairing = True
            bond = b[i + 3]
            air.clock.call_at(link.next_event(), lambda: on_reply(bond) if link.alive() else None)
    elif kind == 0x5A and n >= 3 and link.pairing is True:  # Z: the pairing the peer started ended
        from cpsim.blegattc import encrypted

        bond = 1 if b[i + 3] and ble._bond else 0

        def done():
            if link.alive():
                link.pairing = False
                link.encrypted = True
                encrypted(ble, link, side, bond)

        air.clock.call_at(link.next_event(), done)
    elif kind == 0x4D and n >= 4:  # M
        theirs = b[i + 3] | b[i + 4] << 8

        def on_mtx():
            link.mtu = mtu = max(23, min(theirs, ble._mtu))
            ble._irq(21, (link.handles[side], mtu))
            air._send(b"m" + bytes((cid,)) + _u16(mtu))

        link.transact(1 - side, 0, on_mtx, lambda st: None, 3, 3)

# One BLE connection between two emulated pins (see cpsim.radio), loaded
# with the first connection. Side 0 is the central, side 1 the peripheral.
# Traffic moves at connection events (anchor + k * interval) and only while
# both ends are up and hear each other; a link that has been silent for the
# supervision timeout is closed on whichever ends are still open.

SUPERVISION_TIMEOUT_US = 2560000  # NimBLE BLE_GAP_INITIAL_SUPERVISION_TIMEOUT, 256 x 10 ms
STATUS_NOT_CONNECTED = 7  # BLE_HS_ENOTCONN: status of procedures cut by a disconnect

_SUP_TICK_US = SUPERVISION_TIMEOUT_US // 4


class Link:
    def __init__(self, radio, central, periph, interval_us, anchor_us, addrs):
        self.radio = radio
        self.ends = (central, periph)
        self.addrs = addrs  # each end's (addr_type, addr) as the other sees it
        self.handles = [0, 0]
        self.open = [False, False]
        self.closing = [False, False]
        self.interval = interval_us
        self.anchor = anchor_us
        self.mtu = 23
        self.mtu_sent = [False, False]
        self.cccd = ({}, {})  # per server side: value handle -> subscription bits
        self.encrypted = False
        self.lost_since = None
        self._q = ([], [], [], [])  # [side * 2 + kind]: kind 0 ATT requests, 1 indications

    def side_of(self, ble):
        return 0 if self.ends[0] is ble else 1

    def start(self, gens):
        c, p = self.ends
        if c._gen != gens[0] or p._gen != gens[1]:
            return  # one end went down during the connect handshake
        self.handles[0] = c._connected(self)
        self.handles[1] = p._connected(self)
        self.open[0] = self.open[1] = True
        self.radio.links.append(self)
        self._later(_SUP_TICK_US, self._supervise)
        c._irq_addr(7, self.handles[0], self.addrs[1][0], self.addrs[1][1])
        p._irq_addr(1, self.handles[1], self.addrs[0][0], self.addrs[0][1])

    # --- timing -------------------------------------------------------------
    def _now(self):
        return self.radio.clock.now_us()

    def _later(self, us, fn):
        self.radio.clock.call_at(self._now() + us, fn)

    def next_event(self):
        t = self._now()
        a = self.anchor
        if t < a:
            return a
        return a + ((t - a) // self.interval + 1) * self.interval

    def in_range(self):
        return self.radio.hears(self.ends[0]._dev, self.ends[1]._dev)

    def alive(self):
        return self.open[0] and self.open[1] and self.in_range()

    # --- traffic ------------------------------------------------------------
    def post(self, from_side, fn):
        """Run fn() at the other end at the next connection event it hears
        (notifications, write commands)."""
        to = 1 - from_side
        self.radio.clock.call_at(self.next_event(), lambda: self._deliver(to, fn))

    def _deliver(self, to, fn):
        if not self.open[to]:
            return
        if not self.alive():
            self._later(self.interval, lambda: self._deliver(to, fn))
            return
        fn()

    def transact(self, side, kind, on_tx, on_fail):
        """A request from `side` answered one connection event later, one at a
        time per side and kind as ATT requires: on_tx() runs at the other end
        when the request arrives and returns what runs back at `side` when the
        response arrives (or None); on_fail(status) runs instead if the link
        closes first."""
        q = self._q[side * 2 + kind]
        q.append((on_tx, on_fail))
        if len(q) == 1:
            self._tx_next(side, kind)

    def _tx_next(self, side, kind):
        self.radio.clock.call_at(self.next_event(), lambda: self._tx(side, kind))

    def _tx(self, side, kind):
        q = self._q[side * 2 + kind]
        if not q:
            return
        if not self.alive():
            self._later(self.interval, lambda: self._tx(side, kind))
            return
        resp = q[0][0]()
        self._later(self.interval, lambda: self._rx(side, kind, resp))

    def _rx(self, side, kind, resp):
        q = self._q[side * 2 + kind]
        if not q:
            return  # failed by a close meanwhile
        if not self.alive():
            self._later(self.interval, lambda: self._rx(side, kind, resp))
            return
        q.pop(0)
        if resp is not None:
            resp()
        if q:
            self._tx_next(side, kind)

    # --- ending ---------------------------------------------------------------
    def terminate(self, side):
        """gap_disconnect from `side`: both ends close at the next event if the
        peer hears it. False if a terminate is already under way."""
        if self.closing[side] or not self.open[side]:
            return False
        self.closing[side] = True
        self.radio.clock.call_at(self.next_event(), lambda: self._terminate_now(side))
        return True

    def _terminate_now(self, side):
        heard = self.alive()
        self.close(side, True)
        if heard:
            self.close(1 - side, True)

    def drop(self, side, graceful):
        """`side`'s stack goes down without events of its own; a graceful stop
        tells the peer at the next event, otherwise the peer times out."""
        heard = self.open[1 - side] and self.in_range()
        self.close(side, False)
        other = 1 - side
        if graceful and heard:
            self.radio.clock.call_at(self.next_event(), lambda: self.in_range() and self.close(other, True))
        elif self.lost_since is None:
            self.lost_since = self._now()

    def close(self, side, irq):
        if not self.open[side]:
            return
        self.open[side] = False
        for kind in (0, 1):
            q = self._q[side * 2 + kind]
            ops = q[:]
            del q[:]
            if irq:
                for op in ops:
                    op[1](STATUS_NOT_CONNECTED)
        self.ends[side]._closed(self, side, irq)
        if not self.open[1 - side] and self in self.radio.links:
            self.radio.links.remove(self)

    def range_changed(self):
        if self.lost_since is None and not self.alive():
            self.lost_since = self._now()

    def _supervise(self):
        if not (self.open[0] or self.open[1]):
            return
        now = self._now()
        if self.alive():
            self.lost_since = None
        elif self.lost_since is None:
            self.lost_since = now
        elif now - self.lost_since >= SUPERVISION_TIMEOUT_US:
            self.close(0, True)
            self.close(1, True)
            return
        self._later(_SUP_TICK_US, self._supervise)

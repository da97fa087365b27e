# One BLE connection between two emulated pins (see cpsim.radio), loaded
# with the first connection. Side 0 is the central, side 1 the peripheral.
# Traffic moves at connection events (anchor + k * interval) and only while
# both ends are up and the event gets through.

# Each connection event takes cpsim.radio.CONN_EVENT_US of both ends' radio
# time (they hear no advertising meanwhile), gets through or not as one draw
# of the pair's fading and the PER edge (cpsim.radio.event_ok, the model
# advertising packets fade by: a lost event is retried at the next, the link
# layer's acknowledgement), and carries at most
# PACKETS_PER_EVENT data packets each way; a notification or write command
# holds one of the sender's MBUFS host buffers until its packet is sent, and
# a send with none free raises ENOMEM, as ble_hs_mbuf_from_flat() failing
# does in modbluetooth_nimble.c.
#
# Supervision (Core spec Vol 6 Part B 4.5.2): a link ends when no event got
# through for the supervision timeout, on whichever ends are still open. An
# idle link has an event every interval too (an empty packet each way): those
# are drawn in arrears (catch_up: every SUP_TICK, before a pair's mean changes
# and before an end closes), each one draw as a traffic event is. So a link
# at the edge of range loses events and retries, and ends only after a run
# of lost events as long as the timeout; out of range it ends after exactly
# the timeout from its last event through. The timeout: MicroPython's
# gap_connect asks NimBLE for BLE_GAP_INITIAL_SUPERVISION_TIMEOUT
# (extmod/nimble/modbluetooth_nimble.c, mp_bluetooth_gap_peripheral_connect),
# 0x100 x 10 ms in NimBLE's ble_gap.h.
import errno

from bluetooth import _err

SUPERVISION_TIMEOUT_US = 2560000  # NimBLE BLE_GAP_INITIAL_SUPERVISION_TIMEOUT, 256 x 10 ms (above)
STATUS_NOT_CONNECTED = 7  # BLE_HS_ENOTCONN: status of procedures cut by a disconnect
# ESP-IDF CONFIG_BT_NIMBLE_MSYS_1_BLOCK_COUNT default: the host's pool for
# outgoing ATT packets (incoming traffic shares it, so this is an upper bound)
MBUFS = 24
# 27-byte LL packets: 328 us + T_IFS + an 80 us empty reply + T_IFS each; the
# ESP32 controller's event length is not documented: ~3 ms, 4 packets (estimate)
PACKETS_PER_EVENT = 4
_EMPTY_PDU_US = 80  # a packet without payload: the keep-alive of each event
LL_PAYLOAD = 27  # LL data payload without Data Length Extension (Core spec Vol 6 Part B 2.4)
_L2CAP_HDR = 4  # length + channel id before the ATT PDU (Vol 3 Part A 3.1)


def att_air_us(att_bytes):
    """Air time (us) of an ATT PDU of att_bytes carried in LL data packets of
    at most LL_PAYLOAD bytes: each packet is preamble 1 + access address 4 +
    header 2 + payload + CRC 3 bytes at 1 Mbit/s (Vol 6 Part B 2.1, 2.4)."""
    n = att_bytes + _L2CAP_HDR
    packets = (n + LL_PAYLOAD - 1) // LL_PAYLOAD
    return (10 * packets + n) * 8

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
        self.number = radio.link_number()  # + the event's: its draw (cpsim.radio.event_ok)
        self.last_ok = anchor_us  # the last event that got through (the first: CONNECT_IND's)
        self._drawn = anchor_us  # events up to here are drawn
        self.pairing = False
        # [side * 3 + kind]: kind 0 ATT requests, 1 indications, 2 pairing (SMP)
        self._q = ([], [], [], [], [], [])
        self._slot = [[0, 0], [0, 0]]  # per sending side: [event time, packets queued in it]

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
        self.t_open = self._now()
        for b in (c, p):
            b._st.links.append(self)
            _acct_links(b)
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

    def event_ok(self, t=None):
        """Both ends up, and the connection event at `t` (now) got its packets
        through the fading and the sensitivity edge (else: the next event).
        One draw an event: whoever asks about it hears the same."""
        if t is None:
            t = self._now()
        k = (t - self.anchor) // self.interval
        if self.open[0] and self.open[1] and self.radio.event_ok(self.ends[0]._dev, self.ends[1]._dev,
                                                                 (self.number + k) & 0xFFFFFF):
            if t > self.last_ok:
                self.last_ok = t
            return True
        return False

    # --- traffic ------------------------------------------------------------
    def charge(self, from_side, att_bytes):
        """An ATT PDU of att_bytes went from `from_side` to the other end: its
        LL packets' air time on both ends' accounts (beyond the empty packet
        each connection event costs, _account)."""
        us = att_air_us(att_bytes)
        for side, key in ((from_side, "air.tx"), (1 - from_side, "air.rx")):
            a = self.ends[side]._st.acct
            if a is not None:
                a.add_us(key, us)

    def post(self, from_side, fn, att_bytes=0):
        """Run fn() at the other end when its packet goes: at the next
        connection event with room, one that the peer hears (notifications,
        write commands: an ATT PDU of att_bytes, charged when it goes).
        Raises ENOMEM when the sender's buffers are all held."""
        ble = self.ends[from_side]
        if ble._mbufs >= MBUFS:
            raise _err(errno.ENOMEM)
        ble._mbufs += 1
        t = self.next_event()
        sl = self._slot[from_side]
        if sl[0] >= t:
            t = sl[0]
            if sl[1] >= PACKETS_PER_EVENT:
                t += self.interval
                sl[1] = 0
        else:
            sl[1] = 0
        sl[0] = t
        sl[1] += 1
        gen = ble._gen
        self.radio.clock.call_at(t, lambda: self._deliver(from_side, fn, gen, att_bytes))

    def _deliver(self, frm, fn, gen, att_bytes=0):
        to = 1 - frm
        if self.open[to] and self.open[frm] and not self.event_ok():
            self._later(self.interval, lambda: self._deliver(frm, fn, gen, att_bytes))
            return
        ble = self.ends[frm]
        if ble._gen == gen:
            ble._mbufs -= 1
        if self.open[to] and self.open[frm]:
            if att_bytes:
                self.charge(frm, att_bytes)
            fn()

    def transact(self, side, kind, on_tx, on_fail, req_bytes=0, rsp_bytes=0):
        """A request from `side` answered one connection event later, one at a
        time per side and kind as ATT requires: on_tx() runs at the other end
        when the request arrives and returns what runs back at `side` when the
        response arrives (or None); on_fail(status) runs instead if the link
        closes first. req_bytes and rsp_bytes: the ATT PDUs' sizes, charged as
        they go (on_tx may charge a response whose size it alone knows)."""
        q = self._q[side * 3 + kind]
        q.append((on_tx, on_fail, req_bytes, rsp_bytes))
        if len(q) == 1:
            self._tx_next(side, kind)

    def _tx_next(self, side, kind):
        self.radio.clock.call_at(self.next_event(), lambda: self._tx(side, kind))

    def _tx(self, side, kind):
        q = self._q[side * 3 + kind]
        if not q:
            return
        if not self.event_ok():
            self._later(self.interval, lambda: self._tx(side, kind))
            return
        if q[0][2]:
            self.charge(side, q[0][2])
        resp = q[0][0]()
        self._later(self.interval, lambda: self._rx(side, kind, resp))

    def _rx(self, side, kind, resp):
        q = self._q[side * 3 + kind]
        if not q:
            return  # failed by a close meanwhile
        if not self.event_ok():
            self._later(self.interval, lambda: self._rx(side, kind, resp))
            return
        op = q.pop(0)
        if op[3]:
            self.charge(1 - side, op[3])
        more = bool(q)  # a request made by resp()'s IRQ handler finds q empty and starts itself
        if resp is not None:
            resp()
        if more:
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

    def drop(self, side, graceful, irq=False):
        """`side`'s stack goes down (with its own disconnect events if `irq`);
        a graceful stop tells the peer at the next event, otherwise the peer
        times out."""
        heard = self.open[1 - side] and self.in_range()
        self.close(side, irq)
        other = 1 - side
        if graceful and heard:
            self.radio.clock.call_at(self.next_event(), lambda: self.in_range() and self.close(other, True))
        # (otherwise no event gets through from now: the peer times out)

    def close(self, side, irq):
        if not self.open[side]:
            return
        if self.open[1 - side]:
            self.catch_up()  # the events while both were up
        self.open[side] = False
        end = self.ends[side]
        if self in end._st.links:
            end._st.links.remove(self)
            self._account(end)
            _acct_links(end)
        for kind in (0, 1, 2):
            q = self._q[side * 3 + kind]
            ops = q[:]
            del q[:]
            if irq:
                for op in ops:
                    op[1](STATUS_NOT_CONNECTED)
        end._closed(self, side, irq)
        if not self.open[1 - side] and self in self.radio.links:
            self.radio.links.remove(self)

    def _account(self, end):
        # every connection event: an empty packet each way, at least
        a = end._st.acct
        if a is not None:
            n = (self._now() - self.anchor) // self.interval + 1
            if n > 0:
                a.add_us("air.tx", n * _EMPTY_PDU_US)
                a.add_us("air.rx", n * _EMPTY_PDU_US)

    def range_changed(self):
        pass  # (catch_up ran before the change)

    def _event_at(self, t):
        if type(self).event_ok is Link.event_ok:
            self.event_ok(t)
        elif self.event_ok():  # (a subclass's own rule, e.g. cpsim.airlink's: the hub's say)
            self.last_ok = t

    def catch_up(self):
        """Draw the connection events up to now that no traffic drew (an idle
        link's empty packets), each as event_ok() does."""
        now = self._now()
        t = self._drawn + self.interval
        if t > now:
            return
        while t <= now:
            self._event_at(t)
            t += self.interval
        self._drawn = t - self.interval

    def _supervise(self):
        if not (self.open[0] or self.open[1]):
            return
        self.catch_up()
        now = self._now()
        due = self.last_ok + SUPERVISION_TIMEOUT_US
        if now >= due:
            self.close(0, True)
            self.close(1, True)
            return
        self._later(min(due - now, _SUP_TICK_US), self._supervise)


def _acct_links(ble):
    a = ble._st.acct
    if a is not None:
        a.state("radio_conn", str(len(ble._st.links)))

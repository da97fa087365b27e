# Meet and greet on the radio: a tap turns the radio on (already when the
# detector first suspects it: bus.TAP_SUSPECT), the pin advertises TAP frames
# and scans, picks its partner (tapmatch), swaps friend records
# over GATT (exchange), commits them in the friend store and publishes
# bus.FRIEND; then the radio goes back to sleep. While a friendship is not
# settled on both pins (pending), short reconciliation windows on the wall
# clock let the pins finish it. Design and numbers: docs/meet-and-greet.md.
#
# Log lines the simulator parses (logger "meet", so each line reads
# "I <t> meet friend ..."; keep them exact):
#   friend slot=<n> fk=<8 hex> t_ms=<ticks>
#   pending slot=<n> fk=<8 hex>
#   reconciled fk=<8 hex>
#   tap again reason=<word>          (WARNING)
#   radio_on_ms=<n>                  (once per tap window)
# (other lines, e.g. a radio started on a suspicion that was cancelled, log
# under "meet.radio")
import asyncio
import binascii
import os
import sys
import time

import bluetooth
from micropython import const

from cloudpin import bus as topics
from cloudpin.social import advert, exchange as ex, pending as pend, tapmatch as tm

SERVICE = bluetooth.UUID("6c1f0001-2b8e-4a61-9b1c-c10dd0f1e2d1")
CHAR = bluetooth.UUID("6c1f0002-2b8e-4a61-9b1c-c10dd0f1e2d1")
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_VALUE_LEN = const(244)  # the largest write after an MTU exchange (MTU 247 - 3)

ADV_MS = const(40)  # tap frames every 40 ms (+0-10 ms advDelay) during a window
SCAN_US = const(40000)  # listen all the time (window = interval), channels in turn
COLLECT_MS = const(400)  # frames heard before choosing (4 refreshes)
MUTUAL_MS = const(800)  # how long the chosen partner has to name us
_CROWDED_MS = const(400)  # a crowded choice is tried again this long (others name theirs)
CONNECT_MS = const(1200)
OP_MS = const(800)  # each GATT step
SERVE_MS = const(2500)  # a responder waits this long for the initiator's exchange
# A radio started on a suspicion waits this long for the TAP that confirms it
# (the detector decides ahead_ms after the peak, ~latency_ms after the
# suspicion; the FIFO burst that carries it comes up to 60 ms later).
_CONFIRM_MS = const(600)
RECON_WINDOW_MS = const(2000)  # a reconciliation window at least (cloudpin.social.recon)
ANSWER_FOR_S = const(600)  # how long an unconfirmed or sent-only entry keeps us answering
# A pending peer never met again is dropped (never committed) once its
# answerer cannot be left: the answering side's entry lives ANSWER_FOR_S on
# its clock, up to 1.2% (two RC clocks, docs/clock.md) and 2 s (whole
# seconds read, entries a second apart) longer on ours. Asking for longer
# costs 200 s of radio an hour with nobody to answer (docs/power.md).
RECON_GIVE_UP_S = const(610)
_INBOX = const(16)
_LINKS = const(3)  # the ESP32 controller's links (BTDM_CTRL_BLE_MAX_CONN): reassemblies kept at most


def fk8(fk):
    return binascii.hexlify(bytes(fk[:4])).decode()


def _lower(a, b):
    for i in range(advert.RID_LEN):
        if a[i] != b[i]:
            return a[i] < b[i]
    return False


class TapAgain(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Meet:
    name = "meet"

    def __init__(self, owner, bus, log, friends, keys, card, tx_power=3, pending=None, unix=time.time):
        """`keys`: (friend key, tap key) from advert.derive_keys; `card`:
        the owner's public card; `friends`: the opened friends.Friends."""
        self.owner = owner
        self.bus = bus
        self.log = log  # its name is "meet": the simulator parses its lines
        self.rlog = log.child(log.name + ".radio")  # other lines, under another name
        self.friends = friends
        self.fk, self.tk = keys
        self.tx_power = tx_power
        self.unix = unix
        self.pending = pending if pending is not None else pend.Pending(log)
        self.adv_frames = advert.Advertiser(self.fk, self.tk)
        self.mac = advert.TapMac(self.tk)
        self.match = tm.TapMatch(self.adv_frames.rid)
        self.record = ex.plain_record(self.fk, card)
        self.recon_keys = ex.recon_keys(self.fk)
        self._frame = advert.Frame()
        self._e0 = self._e1 = 0
        self.adv = owner.advertiser()
        self.scan = owner.scanner()
        self.central = owner.central()
        server = owner.server()
        self.server = server
        self.svc = server.service(SERVICE, ((CHAR, _FLAG_WRITE | _FLAG_NOTIFY, _VALUE_LEN),), on_write=self._on_write)
        server.links(on_connect=self._on_connect, on_disconnect=self._on_disconnect)
        self._inbox = []  # (conn, value) written by centrals, from IRQ context
        self._reasm = {}  # conn -> exchange.Reassembler of the link's messages
        self._in_flag = asyncio.ThreadSafeFlag()
        self._tap_ev = asyncio.Event()  # set from the bus (a task), never from an IRQ
        self._t_tap = None
        self._t_suspect = None  # a suspected tap the radio is started for
        self._cancelled = False  # ... and the detector cancelled it (both set _tap_ev)
        self._serving = False  # accept writes only inside a window
        self._unsettled = False  # this window left an entry in the pending store
        self._watch = -1  # the link a responder is serving
        self._lost = []  # conns that dropped
        # reconciliation: RIDs of the peers we hold pending (two a peer: the
        # epochs held), where we heard them, and the next window's length
        self._recon_rids = []
        self._recon_seen = []
        self._recon_ms = RECON_WINDOW_MS
        self._recon_t = time.ticks_add(time.ticks_ms(), -1000)  # when the last one was tried
        # counters (status line, tests)
        self.taps = 0
        self.made = 0
        self.again = 0
        self.radio_on_ms = 0
        self.suspects = 0  # radio starts on a suspicion...
        self.cancels = 0  # ... that the detector cancelled
        bus.subscribe(topics.TAP, self._on_tap)
        bus.subscribe(topics.TAP_SUSPECT, self._on_suspect)

    # -- events from the app and the stack ---------------------------------

    def _on_tap(self, t_ms, mg):
        if self._t_tap is None:  # a tap during a window is part of that window
            self._t_tap = t_ms
            self._tap_ev.set()

    def _on_suspect(self, t_ms, on):
        # The radio takes ~250 ms to start, about as long as the detector
        # waits to confirm a suspicion: start it now, advertise only on TAP.
        if on:
            if self._t_tap is None and self._t_suspect is None:
                self._t_suspect = t_ms
                self._cancelled = False
                self._tap_ev.set()
        elif t_ms == self._t_suspect:
            self._cancelled = True
            self._tap_ev.set()

    def _on_write(self, conn, handle, value):
        if self._serving and len(self._inbox) < _INBOX:
            self._inbox.append((conn, value))
            self._in_flag.set()

    def _on_connect(self, conn, addr_type, addr):
        # NimBLE reuses a handle once its link is gone: a new link on it
        # starts clean (a stranger's link that dropped, its half message and
        # its writes still queued, must not end or garble our partner's). A
        # dropped link keeps its reassembly and queued writes until then: the
        # initiator hangs up right after its CONFIRM, which is still queued.
        if conn in self._lost:
            self._lost.remove(conn)
        self._reasm.pop(conn, None)
        i = 0
        while i < len(self._inbox):
            if self._inbox[i][0] == conn:
                self._inbox.pop(i)
            else:
                i += 1

    def _on_disconnect(self, conn):
        self._lost.append(conn)
        self._in_flag.set()

    def _on_report(self, addr_type, addr, adv_type, rssi, adv_data):
        # IRQ context, per scan result: decode, check, match; no allocation
        f = self._frame
        if advert.decode(adv_data, f) != advert.KIND_TAP:
            return
        if not (self.mac.check(f, self._e0) or self.mac.check(f, self._e1)):
            return
        if f.tap_age_ms != advert.TAP_AGE_MAX:
            self.match.seen(f, rssi, time.ticks_ms(), addr_type, addr)
        for i in range(len(self._recon_rids)):
            if f.rid == self._recon_rids[i] and self._recon_seen[i >> 1] is None:
                self._recon_seen[i >> 1] = (addr_type, bytes(addr))

    # -- the service -------------------------------------------------------

    async def run(self):
        self._expire()
        while True:
            if self._t_tap is None and self._t_suspect is None:
                wait_ms = self._recon_wait_ms()
                try:
                    if wait_ms is None:
                        await self._tap_ev.wait()
                    else:
                        await asyncio.wait_for_ms(self._tap_ev.wait(), wait_ms)
                except asyncio.TimeoutError:
                    await self._window(False)
                    continue  # (a tap that ended it early: its window next)
                self._tap_ev.clear()
            if self._t_tap is not None or self._t_suspect is not None:
                await self._window(True)

    def _limit(self, e):
        return RECON_GIVE_UP_S if e["state"] == pend.PENDING else ANSWER_FOR_S

    def _expire(self):
        now = self.unix()
        for e in list(self.pending.entries):
            if now - e["t"] > self._limit(e):
                self.pending.entries.remove(e)
                self.pending.save()

    def _recon_wait_ms(self):
        """ms until the next reconciliation window (its length goes in
        _recon_ms), None if nothing is unsettled."""
        self._expire()
        if not self.pending.entries:
            return None
        r = self._recon()
        if r is None:
            return RECON_WINDOW_MS * 15  # (try again in half a minute)
        now = self.unix()
        wait = None
        for e in self.pending.entries:
            age = now - e["t"]
            w, n = r.window(age)
            left_ms = (self._limit(e) + 1 - age) * 1000  # until _expire drops it
            if w >= left_ms:
                w, n = left_ms, 0  # none of its windows opens before: wake to drop it, radio off
            if wait is None or w < wait:
                wait, self._recon_ms = w, n
        since = time.ticks_diff(time.ticks_ms(), self._recon_t)
        if wait == 0 and since < 1000:
            wait = 1000 - since  # one tried just now found the radio busy: again in a second, not at once
        return wait

    def _again(self, reason):
        self.again += 1
        self.log.warning("tap again reason=%s" % reason)
        self.bus.publish(topics.TAP_AGAIN, reason)

    def _epochs(self):
        now = self.unix()
        e = advert.epoch_of(now)
        if e != self.adv_frames.epoch:
            self.adv_frames.rotate(e)
            self.owner.new_address()
        self._e0, self._e1 = advert.epochs_held(now)

    async def _confirmed(self, deadline):
        """The tap time once the suspicion is confirmed (or any TAP came),
        None if it was cancelled or nothing came by `deadline` (ticks)."""
        while self._t_tap is None and not self._cancelled:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return None
            self._tap_ev.clear()
            try:
                await asyncio.wait_for_ms(self._tap_ev.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self._t_tap

    async def _window(self, tap):
        """tap: a tap window (for a tap, or a suspected one); else a
        reconciliation window."""
        t_on = time.ticks_ms()
        if not tap:
            if not self._recon_ms:  # the wait was for an entry to expire, not a window
                self._expire()
                return
            self._recon_t = t_on
        from cloudpin.ble.radio import RadioError

        t_tap = None
        if tap and self._t_tap is None:
            if self._cancelled:  # cancelled before this task ran: no radio
                self._t_suspect = None
                return
            self.suspects += 1
        try:
            await self.owner.acquire("meet")
        except RadioError:
            if tap:
                if self._t_tap is not None:
                    self._again("radio")
                self._t_tap = self._t_suspect = None
            return
        try:
            if tap:
                t_tap = await self._confirmed(time.ticks_add(t_on, _CONFIRM_MS))
                if t_tap is None:
                    self.cancels += 1
                    return  # a rattle, not a touch: the radio goes off again
            self._epochs()
            self._inbox = []
            self._lost = []
            self._serving = True
            self._unsettled = False
            self._watch = -1
            if t_tap is not None:
                self.taps += 1
                reason = None
                try:
                    await self._tap(t_tap)
                except TapAgain as e:
                    reason = e.reason
                made = self.made
                if self._unsettled and self.pending.entries:
                    # the link dropped mid-exchange: the partner is still
                    # there, so settle now (both pins come here)
                    self.scan.stop()
                    self.adv.stop()
                    await self._reconcile()
                if reason is not None and self.made == made:
                    self._again(reason)  # (not if reconciliation made the friend)
            else:
                await self._reconcile(self._recon_ms, True)
        finally:
            self._serving = False
            self.scan.stop()
            self.adv.stop()
            for c in list(self.server.connected):
                self.server.disconnect(c)
            self.owner.release("meet")
            if tap:
                self._t_tap = self._t_suspect = None
            on_ms = time.ticks_diff(time.ticks_ms(), t_on)
            self.radio_on_ms += on_ms
            if t_tap is not None:
                self.log.info("radio_on_ms=%d" % on_ms)
            elif tap:
                self.rlog.info("suspect cancelled on_ms=%d" % on_ms)
            else:
                self.rlog.info("window on_ms=%d" % on_ms)

    # -- the tap window ----------------------------------------------------

    def _tap_frame(self, t_tap, peer):
        return self.adv_frames.tap(time.ticks_diff(time.ticks_ms(), t_tap), peer, self.tx_power)

    async def _advertise_until(self, deadline, t_tap, peer):
        """Refresh the tap age every REFRESH_MS until `deadline` (ticks).
        A central that connects ends our advertising (NimBLE); it is taken up
        again at the next refresh: the partner must keep hearing our frames
        (whom we name) whoever connected, a stranger or a replaying attacker
        as much as the partner."""
        while True:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return
            self._advertise(t_tap, peer)
            await asyncio.sleep_ms(min(tm.REFRESH_MS, left))

    def _advertise(self, t_tap, peer):
        try:
            self.adv.update(self._tap_frame(t_tap, peer))
        except OSError:
            pass  # no room for another link (NimBLE refuses connectable advertising then)

    async def _tap(self, t_tap):
        m = self.match
        m.start(t_tap)
        self._recon_rids = []
        self.adv.start(self._tap_frame(t_tap, None), ADV_MS, connectable=True)
        self.scan.start(self._on_report, 0, SCAN_US, SCAN_US, take=True)  # an update window gives way
        await self._advertise_until(time.ticks_add(time.ticks_ms(), COLLECT_MS), t_tap, None)
        c = m.choose()
        # Crowded: other tappers near us are choosing too, at about our
        # moment; those that name another pin stop standing in the way.
        # Alone with a tapper of our moment kept (within 60 dB): it may be our
        # partner a little past the bound, which takes it once it names us.
        wait = time.ticks_add(time.ticks_ms(), _CROWDED_MS)
        while (c == tm.CROWDED or c == tm.ALONE and m.count) and not m.overflow \
                and time.ticks_diff(wait, time.ticks_ms()) > 0:
            await self._advertise_until(time.ticks_add(time.ticks_ms(), tm.REFRESH_MS), t_tap, None)
            c = m.choose()
        if c < 0:
            raise TapAgain(tm.REASONS[c])
        peer_rid = bytes(m.rid(c))
        initiator = _lower(self.adv_frames.rid, peer_rid)
        deadline = time.ticks_add(time.ticks_ms(), MUTUAL_MS)
        while True:
            await self._advertise_until(time.ticks_add(time.ticks_ms(), tm.REFRESH_MS), t_tap, peer_rid)
            d = m.decide()
            if d >= 0:
                break
            if not initiator and self._inbox:
                break  # the partner connected: its HELLO says it chose us
            if d != tm.ONE_SIDED or time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise TapAgain(tm.REASONS[d])
        if initiator:
            # let our naming reach the partner before we go quiet
            await self._advertise_until(time.ticks_add(time.ticks_ms(), tm.REFRESH_MS), t_tap, peer_rid)
            self.scan.stop()
            self.adv.stop()
            await self._initiate(m.addr_types[c], bytes(m.addr(c)), peer_rid)
        else:
            self.scan.stop()
            await self._respond(peer_rid, t_tap)

    # -- GATT: initiator (central) -----------------------------------------

    async def _connect(self, addr_type, addr):
        from cloudpin.ble.central import GattError

        try:
            conn = await self.central.connect(addr_type, addr, CONNECT_MS)
        except GattError:
            return None, 0
        try:
            h = (await conn.discover(SERVICE, (CHAR,), OP_MS))[0]
            try:
                await conn.exchange_mtu(OP_MS)
            except GattError:
                pass  # 20-byte fragments then
            await conn.subscribe(h, False, OP_MS)
        except GattError:
            await self._disconnect(conn)
            return None, 0
        return conn, h

    async def _disconnect(self, conn):
        from cloudpin.ble.central import GattError

        try:
            await conn.disconnect()
        except GattError:
            pass

    async def _send(self, conn, h, msg):
        for frag in ex.fragments(msg, conn.mtu - 3):
            await conn.write(h, frag, True, OP_MS)

    async def _recv(self, conn, h):
        r = ex.Reassembler()
        while True:
            _, value = await conn.notified(h, OP_MS)
            got = r.feed(value)
            if got == ex.REJECT:
                return None
            if got == 1:
                return bytes(r.message())

    async def _initiate(self, addr_type, addr, peer_rid):
        from cloudpin.ble.central import GattError

        conn, h = await self._connect(addr_type, addr)
        if conn is None:
            raise TapAgain("link")
        ini = ex.Initiator(self.tk, self.adv_frames.rid, peer_rid, self.record,
                           self.friends.room() > 0 and self.pending.room() > 0, os.urandom(16))
        sent_record = committed = False
        try:
            await self._send(conn, h, ini.hello())
            code = ini.receive(await self._recv(conn, h))
            if code == ex.FULL:
                raise TapAgain("full")
            if code != ex.SEND:
                raise TapAgain("refused")
            await self._send(conn, h, ini.out)
            sent_record = True
            code = ini.receive(await self._recv(conn, h))
            if code != ex.COMMIT:
                raise TapAgain("refused")
            # Committed before CONFIRM goes: the peer holds us pending until
            # it arrives, so the only half state is reconciled later.
            self.pending.put(pend.UNCONFIRMED, self.unix(), ini.peer_fk)
            self._unsettled = True
            self._commit(ini.peer_fk, ini.peer_card)
            committed = True
            await self._send(conn, h, ini.out)
            self.pending.drop(ini.peer_fk)
        except GattError:
            if not committed:
                if sent_record:
                    self.pending.put(pend.SENT, self.unix())  # the peer may hold us pending
                    self._unsettled = True
                raise TapAgain("link")
        finally:
            await self._disconnect(conn)

    # -- GATT: responder (server) ------------------------------------------

    async def _next_message(self, deadline):
        """(conn, message bytes) from a central, None at the deadline or if
        the watched link dropped."""
        reasm = self._reasm
        while True:
            while self._inbox:
                conn, value = self._inbox.pop(0)
                r = reasm.get(conn)
                if r is None:
                    if len(reasm) >= _LINKS:  # only links gone for good are left here
                        for c in list(reasm):
                            if c not in self.server.connected:
                                del reasm[c]
                        if len(reasm) >= _LINKS:
                            continue
                    r = reasm[conn] = ex.Reassembler()
                if r.feed(value) == 1:
                    return conn, bytes(r.message())
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0 or self._watch in self._lost:
                return None
            self._in_flag.clear()
            if self._inbox:
                continue
            try:
                await asyncio.wait_for_ms(self._in_flag.wait(), left)
            except asyncio.TimeoutError:
                return None

    def _notify(self, conn, msg):
        handles = self.svc.handles
        if handles is None:
            return False
        for frag in ex.fragments(msg, self.server.mtu(conn) - 3):
            if not self.server.notify(conn, self.svc.handles[0], frag):
                return False
        return True

    async def _respond(self, peer_rid, t_tap):
        deadline = time.ticks_add(time.ticks_ms(), SERVE_MS)
        res = ex.Responder(self.tk, self.adv_frames.rid, self.record,
                           self.friends.room() > 0 and self.pending.room() > 0, os.urandom(16))
        self._reasm = {}
        who = None
        stored = False
        self._watch = -1
        refresh = time.ticks_ms()
        while True:
            if who is None:
                # until the partner's HELLO: our frames (naming it) stay on
                # the air, refreshed every REFRESH_MS (not per message: a
                # flood of writes must not become a flood of gap_advertise)
                # so that it can decide and find us
                if time.ticks_diff(time.ticks_ms(), refresh) >= 0:
                    self._advertise(t_tap, peer_rid)
                    refresh = time.ticks_add(time.ticks_ms(), tm.REFRESH_MS)
                until = refresh if time.ticks_diff(deadline, refresh) > 0 else deadline
                got = await self._next_message(until)
                if got is None and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                    continue
            else:
                got = await self._next_message(deadline)
            self._watch = -1 if who is None else who
            if got is None:
                raise TapAgain("link" if who is not None else "one_sided")
            conn, msg = got
            if who is not None and conn != who:
                continue
            if who is None and msg and msg[0] == ex.T_QUERY:
                self._answer(conn, msg)
                continue
            code = res.receive(msg)
            if code == ex.REJECT:
                continue
            if who is None:
                if res.peer_rid != peer_rid:  # a HELLO from a pin we did not choose
                    self.server.disconnect(conn)
                    res = ex.Responder(self.tk, self.adv_frames.rid, self.record,
                                       self.friends.room() > 0 and self.pending.room() > 0, os.urandom(16))
                    continue
                who = conn
                self._watch = conn
                self.adv.stop()  # found: the air is the link's now
            if code == ex.STORE_PENDING:
                if not self.pending.put(pend.PENDING, self.unix(), res.peer_fk, res.peer_card):
                    raise TapAgain("full")
                stored = True
                self._unsettled = True
                self.log.info("pending slot=%d fk=%s" % (len(self.pending.entries) - 1, fk8(res.peer_fk)))
            if res.out is not None and not self._notify(conn, res.out):
                raise TapAgain("link")
            if code == ex.FULL:
                raise TapAgain("full")
            if code == ex.COMMIT and stored:
                self._commit(res.peer_fk, res.peer_card)
                self.pending.drop(res.peer_fk)
                # the initiator ends the link once its CONFIRM is acknowledged
                end = time.ticks_add(time.ticks_ms(), OP_MS)
                while who in self.server.connected and time.ticks_diff(end, time.ticks_ms()) > 0:
                    await asyncio.sleep_ms(20)
                return

    # -- committing --------------------------------------------------------

    def _commit(self, fk, card):
        slot = self.friends.add(fk, card, self.unix())
        if slot < 0:
            raise TapAgain("full")
        t = time.ticks_ms()
        self.made += 1
        self.log.info("friend slot=%d fk=%s t_ms=%d" % (slot, fk8(fk), t))
        self.bus.publish(topics.FRIEND, slot, t)
        if self._t_tap is not None:
            self.bus.publish(topics.MET, slot, self._t_tap)
        return slot

    # -- reconciliation (cloudpin.social.recon, loaded while unsettled) -----

    def _recon(self):
        # The reconciliation's code is loaded only while something is
        # unsettled (a tap carries none of it); None if it does not fit now.
        try:
            from cloudpin.social import recon

            return recon
        except MemoryError:
            self.rlog.warning("reconcile off: no heap")
            return None

    def _answer(self, conn, query):
        r = self._recon()
        return None if r is None else r.answer(self, conn, query)

    async def _reconcile(self, window_ms=RECON_WINDOW_MS, tap_ends=False):
        r = self._recon()
        if r is None:
            return
        try:
            await r.run(self, window_ms, tap_ends)
        finally:
            if not self.pending.entries and sys.implementation.name == "micropython":
                import cloudpin
                import cloudpin.social

                cloudpin.unload(cloudpin.social, ("recon",))  # its heap back until the next half friendship

    def summary(self):
        return "taps=%d made=%d again=%d radio_ms=%d" % (self.taps, self.made, self.again, self.radio_on_ms)

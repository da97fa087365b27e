# The shared 2.4 GHz air of one World: every emulated pin's bluetooth.BLE
# joins it as a Station. Advertising events put packets on the three
# advertising channels; scanners listen one channel per scan interval; each
# receiver decodes what its radio could (collisions, capture, half-duplex,
# fading, the sensitivity edge); connect requests become cpsim.link.Links.
# Everything runs on the World's clock, deterministic for a seed under CPython
# and MicroPython alike (the noise comes from hashes, cpsim.linkbudget.mix).
# docs/radio.md has the whole model, its numbers and their sources.
#
# Air, per advertising event of a pin (Bluetooth Core spec v5.4, Vol 6 Part B):
# - one PDU on each of channels 37, 38, 39 in turn (4.4.2.1), each lasting
#   (1 preamble + 4 access address + 2 header + 6 AdvA + data + 3 CRC) bytes
#   x 8 us at 1 Mbit/s (2.1): 376 us for 31 bytes of data. After each PDU the
#   controller keeps room for a SCAN_REQ/CONNECT_IND and a SCAN_RSP, T_IFS =
#   150 us apart (4.1.1), so the PDUs are ADV_SLOT() apart and the pin cannot
#   receive anything else for the whole event (half-duplex).
# - events every advInterval + advDelay, advDelay 0-10 ms random (4.4.2.2.1).
# - a scanner listens on channel 37, 38, 39 in turn, one per scan interval,
#   for `window` of each (4.4.3); the initiator of gap_connect scans 10 ms of
#   every 10 ms (modbluetooth_nimble.c: scan_itvl = scan_window = 0x0010).
# - a packet is decoded by a listening receiver iff: it was listening on that
#   channel for the whole packet and was not transmitting or in one of its
#   connection events (half-duplex); no other packet it could decode started
#   earlier and overlapped it (the receiver is locked on that one: no
#   re-synchronisation is assumed); its power is CAPTURE_DB above the sum of
#   every overlapping packet's (ESP32 datasheet, BLE receiver co-channel C/I
#   +10 dB); and it survives the packet error rate at its power (the soft
#   sensitivity edge, cpsim.linkbudget).
# - an active scanner answers a scannable PDU with a SCAN_REQ when its
#   backoff says so (Vol 6 Part B 4.4.3.2: backoffCount, upperLimit doubling
#   or halving after two failures or successes in a row). Requests to one
#   PDU collide at the advertiser (capture as above), which answers one
#   SCAN_REQ per advertising event with a SCAN_RSP that the scanner must
#   decode in turn.
# ESP32 host limits: reports reach the handler through NimBLE's discardable
# HCI event buffers (ESP-IDF CONFIG_BT_NIMBLE_TRANSPORT_EVT_DISCARD_COUNT,
# 8): the ESP32 port runs IRQ handlers synchronously on the NimBLE task
# (mpconfigport.h MICROPY_PY_BLUETOOTH_USE_SYNC_EVENTS), so while handlers
# run, reports queue there, and one arriving with all 8 taken is dropped
# (counted as radio.reports_dropped). A handler is taken to cost IRQ_US of
# the host's time per report (Device.ble_irq_us to change it per pin).
#
# Simulation shortcuts (each errs towards losing packets or is negligible):
# packets are resolved in batches every TICK_US after they end (reports arrive
# up to TICK_US late); SCAN_REQ/SCAN_RSP and CONNECT_IND do not disturb other
# receivers; connection events last CONN_EVENT_US whatever they carry.
#
# Crowd cost: each channel keeps the list of stations listening on it (a
# station joins LOOKAHEAD_US before its window, so that every PDU of an event
# finds it), so a PDU only visits receivers on its channel; pairs whose mean
# power is below CULL_DBM (nothing they send can be decoded or matter as
# interference) are skipped after one cached lookup. Pair results are cached
# per station and dropped only for the pairs of a pin that moves.
import math

from cpsim.clock import Event
from cpsim.linkbudget import LinkBudget, mix, lost_to_noise, FADES, FADE_MAX, SENSITIVITY_DBM, TX_DBM, PER_HI
from cpsim.rng import Rng

T_IFS = 150  # us, Core spec Vol 6 Part B 4.1.1
SCAN_REQ_US = (10 + 12) * 8  # ScanA + AdvA
CONNECT_IND_US = (10 + 34) * 8
CONNECT_DELAY_US = 1250  # CONNECT_IND to the first connection event: one 1.25 ms slot
CAPTURE_DB = 10  # ESP32 datasheet, BLE receiver, co-channel C/I
ADV_DELAY_US = 10000  # advDelay 0-10 ms (Core spec Vol 6 Part B 4.4.2.2.1)
CONN_EVENT_US = 1000  # a connection event's radio time: 2 x 328 us + T_IFS, rounded up
TICK_US = 5000
LOOKAHEAD_US = 5000  # longer than an advertising event's three slots
IRQ_US = 250  # host time per report: NimBLE + a short MicroPython handler at 160 MHz (estimate)
EVT_DISCARD_COUNT = 8  # ESP-IDF CONFIG_BT_NIMBLE_TRANSPORT_EVT_DISCARD_COUNT default
MAX_CONNECTIONS = 3  # classic ESP32 controller: BTDM_CTRL_BLE_MAX_CONN default 3
CULL_DBM = SENSITIVITY_DBM - CAPTURE_DB - FADE_MAX // 10 - 1
DEFAULT_DBM = -60  # mean power between stations nobody placed: "close by"

_SENS10 = SENSITIVITY_DBM * 10
_PER_HI10 = PER_HI * 10  # stronger packets never fail the PER draw
_FLOOR10 = (SENSITIVITY_DBM - CAPTURE_DB) * 10  # weaker than this neither decodes nor disturbs
_CULL10 = CULL_DBM * 10
_CAPTURE = 10 ** (CAPTURE_DB / 10)
_MAX_SPAN = 2000  # us: longer than any packet; how long resolved packets stay as interferers
_LOS = FADES[1]


def air_us(data_len):
    """Air time of a legacy advertising PDU with `data_len` bytes of data."""
    return (16 + data_len) * 8


def aloha(senders, adv_itvl_us, data_len):
    """Unslotted ALOHA for `senders` pins in range advertising every
    adv_itvl_us (+ advDelay, 5 ms on average) with data_len bytes:
    (G, exp(-2G), exp(-G)). G is the offered load per channel (one PDU per
    channel per event). A receiver keeps a packet only if no other starts in
    the 2-packet window around it, exp(-2G); capture can save it from those
    that start later (at most half of that window), so the share of packets a
    listening scanner decodes lies between exp(-2G) and exp(-G)."""
    g = senders * air_us(data_len) / (adv_itvl_us + ADV_DELAY_US / 2)
    return g, math.exp(-2 * g), math.exp(-g)


def _start(x):
    return x[0]


class Station:
    """One pin's radio in the air: where it is, what it listens to, what it
    has pending. Shared air for virtual badges can feed its own stations."""

    def __init__(self, radio, dev, sid):
        self.radio = radio
        self.dev = dev
        self.id = sid
        self.ble = None
        self.acct = dev.acct if dev is not None else None
        self.x = self.y = 0.0
        self.facing = None  # radians, or None: no body next to the antenna
        self.placed = False
        self.tx_dbm = getattr(dev, "ble_tx_dbm", TX_DBM)
        self.irq_us = getattr(dev, "ble_irq_us", IRQ_US)
        self.row = {}  # other station id -> (gain10, fade table): the pair cache
        self.pending = []  # (start, end, power10, pdu): decided once end <= resolved
        self.resolved = 0
        self.dirty = False
        self.busy = []  # [start, end] of own transmissions and advertising events
        self.links = []
        self.mode = 0  # 0 deaf, 1 scanning, 2 initiating
        self.active = False
        self.t0 = 0
        self.itvl = self.win = 1
        self.wn_join = self.wn_leave = 0
        self.ev_join = Event(self._join)
        self.ev_leave = Event(self._leave)
        self.ev_adv = Event(self._adv)
        self.hq_until = 0
        self.upper = 1  # scan backoff (Core spec Vol 6 Part B 4.4.3.2)
        self.backoff = 1
        self.streak = 0  # > 0: successes in a row, < 0: failures

    def _join(self):
        self.radio._join(self)

    def _leave(self):
        self.radio._leave(self)

    def _adv(self):
        self.radio._adv_event(self)


class Radio:
    sensitivity = SENSITIVITY_DBM
    adv_delay_us = ADV_DELAY_US

    def __init__(self, world, seed=1):
        self.world = world
        self.clock = world.clock
        self.fading = True  # per-packet fading (tests of API plumbing may switch it off)
        self.reseed(seed)
        self._stations = {}  # device -> Station
        self._by_id = []
        self._fixed = {}  # pair key -> mean dBm, set_rssi
        self._dist = {}  # pair key -> metres, set_distance
        self.listen = ([], [], [])  # stations listening (or about to) per channel 37, 38, 39
        self._dirty = []
        self._tick_ev = Event(self._tick)
        self._tick_armed = False
        self._reqs = []  # SCAN_REQs sent this tick: (pdu, scanner)
        self.scanners = []  # BLE objects scanning now (inject_advertisement)
        self.links = []  # open connections
        # f(link, server side, handle, data) for every GATT write a server
        # receives: a sniffer following connections (cpsim's own links only)
        self.sniffers = []

    def reseed(self, seed):
        """Another draw of the noise: advDelay, backoff, shadowing and fading
        all follow `seed` (before traffic: cached pairs keep their shadowing)."""
        self.rng = Rng(seed)
        self.budget = LinkBudget(seed)
        # packet numbers start at a seed-dependent point: every per-packet hash moves with it
        self._seq = mix(seed * 0x9E3779B1) & 0xFFFFFF
        self._link_no = mix(seed * 0x27D4EB2F) & 0xFFFFFF  # links are numbered likewise (link_number)

    # --- stations and the link budget -------------------------------------
    def station(self, dev):
        st = self._stations.get(dev)
        if st is None:
            st = Station(self, dev, len(self._by_id))
            self._stations[dev] = st
            self._by_id.append(st)
        return st

    def _key(self, a, b):
        ia, ib = self.station(a).id, self.station(b).id
        return ia * 1048576 + ib if ia < ib else ib * 1048576 + ia

    def set_rssi(self, a, b, rssi):
        """Fix the mean RSSI (dBm, both ways) of the pair a-b; None clears.
        Packets still fade around it unless `fading` is off."""
        self._set(self._fixed, a, b, None if rssi is None else int(rssi))

    def set_distance(self, a, b, metres):
        """Put the pair a-b `metres` apart whatever their positions, face to
        face (no body loss between them: two wearers touching pins); None
        clears."""
        self._set(self._dist, a, b, None if metres is None else float(metres))

    def _set(self, table, a, b, v):
        self._range_changing()
        k = self._key(a, b)
        if v is None:
            table.pop(k, None)
        else:
            table[k] = v
        sa, sb = self.station(a), self.station(b)
        sa.row.pop(sb.id, None)
        sb.row.pop(sa.id, None)
        self._range_changed()

    def set_position(self, dev, x, y=0.0, facing_deg=None):
        """Place a pin (metres) worn facing `facing_deg` (degrees from the x
        axis; None: no body next to it, e.g. lying on a table)."""
        self._range_changing()
        st = self.station(dev)
        st.x, st.y, st.placed = float(x), float(y), True
        st.facing = None if facing_deg is None else math.radians(facing_deg)
        by = self._by_id
        for oid in st.row:
            by[oid].row.pop(st.id, None)
        st.row = {}
        self._range_changed()

    def set_tx_power(self, dev, dbm):
        """The pin's TX power (the board's; MicroPython cannot set it)."""
        self._range_changing()
        st = self.station(dev)
        st.tx_dbm = dbm
        self._range_changed()

    def _pair(self, sa, sb):
        # (gain10, fade table) of the pair: mean power = tx + gain
        k = sa.id * 1048576 + sb.id if sa.id < sb.id else sb.id * 1048576 + sa.id
        v = self._fixed.get(k)
        d = self._dist.get(k)
        if v is not None:
            r = ((v - TX_DBM) * 10, _LOS)  # as heard from a pin of default power
        elif d is not None:
            # a pair put at a distance (two wearers touching pins) stands face
            # to face: no torso between them. Their own facings, applied along
            # an arbitrary axis, put 0-30 dB of body loss on the pair that
            # depended on which of the two the cache was filled from (the
            # link was up to 30 dB weaker one way than the other).
            r = self.budget.gain(0.0, 0.0, None if sa.facing is None else 0.0, sa.id,
                                 d, 0.0, None if sb.facing is None else math.pi, sb.id)
        elif sa.placed and sb.placed:
            r = self.budget.gain(sa.x, sa.y, sa.facing, sa.id, sb.x, sb.y, sb.facing, sb.id)
        else:
            r = ((DEFAULT_DBM - TX_DBM) * 10, _LOS)
        sa.row[sb.id] = r
        sb.row[sa.id] = r
        return r

    def rssi(self, a, b):
        """Mean RSSI (dBm) that b hears a with, before per-packet fading."""
        sa, sb = self.station(a), self.station(b)
        g = sa.row.get(sb.id)
        if g is None:
            g = self._pair(sa, sb)
        return (sa.tx_dbm * 10 + g[0] + 5) // 10

    def hears(self, a, b):
        return self.rssi(a, b) >= self.sensitivity

    def _power10(self, sa, sb, h):
        """Power (tenths of a dBm) of a packet from station sa at sb: its
        mean plus the fade that hashing h draws."""
        g = sa.row.get(sb.id)
        if g is None:
            g = self._pair(sa, sb)
        p = sa.tx_dbm * 10 + g[0]
        if self.fading:
            p += g[1][mix(h) & 255]
        return p

    def _packet10(self, sa, sb):
        """Power of the next packet from sa at sb; self._seq numbers it."""
        self._seq += 1
        return self._power10(sa, sb, self._seq * 0x9E3779B1 + sb.id)

    def sample(self, a, b):
        """RSSI (dBm) of one packet from a at b: the mean plus a fade."""
        return (self._packet10(self.station(a), self.station(b)) + 5) // 10

    def event_ok(self, a, b, n=None):
        """One connection event between a and b: did its packets get through
        the fading and the PER edge, as an advertising packet does? (One draw
        for both ways: the channel is reciprocal.) n numbers the event
        (cpsim.link: the link's number and the event's), so its fate is the
        same whoever asks and whenever; without n, the next packet number."""
        sa, sb = self.station(a), self.station(b)
        if n is None:
            p = self._packet10(sa, sb)
            n = self._seq
        else:
            p = self._power10(sa, sb, n * 0x9E3779B1 + sb.id)
        return p >= _PER_HI10 or not lost_to_noise(p, mix(n * 0x85EBCA6B + sa.id) >> 12)

    def link_number(self):
        """A new link's number for its events' draws (event_ok's n)."""
        self._link_no += 1
        return mix(self._link_no * 0x165667B1) & 0xFFFFFF

    def _range_changing(self):
        # the links' connection events so far drawn at the old means
        for link in self.links:
            link.catch_up()

    def _range_changed(self):
        for link in self.links:
            link.range_changed()

    # --- BLE objects join and leave ----------------------------------------
    def attach(self, ble):
        st = self.station(ble._dev)
        st.ble = ble
        st.irq_us = getattr(ble._dev, "ble_irq_us", IRQ_US)
        return st

    def power(self, ble, on):
        st = ble._st
        st.active = on
        if st.acct is not None:
            st.acct.state("radio", "idle" if on else "off")

    # --- advertising --------------------------------------------------------
    def start_adv(self, ble):
        self.stop_adv(ble)
        st = ble._st
        ble._adv_on = True
        self.clock.call_at(self.clock.now_us() + self._adv_delay(), st.ev_adv)
        if st.acct is not None:
            st.acct.state("radio_adv", "on")

    def stop_adv(self, ble):
        st = ble._st
        if not ble._adv_on:
            return
        if st.acct is not None:
            st.acct.state("radio_adv", "off")
        ble._adv_on = False
        self.clock.cancel(st.ev_adv)  # armed exactly while advertising

    def _adv_delay(self):
        return self.rng.next() % (self.adv_delay_us + 1) if self.adv_delay_us else 0

    def _adv_event(self, st):
        ble = st.ble
        if ble is None or not ble._adv_on:
            return
        now = self.clock.now_us()
        atype, addr = ble._adv_address()
        data = ble._adv_data
        air = air_us(len(data))
        rsp_air = air_us(len(ble._resp_data))
        slot = air + T_IFS + SCAN_REQ_US + T_IFS + rsp_air + T_IFS
        # [5]: a SCAN_REQ was answered in this event; [6] the scan response
        ev = [st, atype, addr, ble._adv_type, data, False, ble._resp_data]
        for k in (0, 1, 2):
            s = now + k * slot
            self._seq += 1
            self._emit(st, (s, s + air, k, ev, self._seq))
        if st.mode:
            busy = st.busy
            if len(busy) > 4 and busy[0][1] < now - 4 * TICK_US:
                st.busy = busy = [b for b in busy if b[1] > now - 4 * TICK_US]
            busy.append((now, now + 3 * slot))
        a = st.acct
        if a is not None:
            a.count("radio.tx_packets", 3)
            a.add_us("air.tx", 3 * air)
            a.add_us("air.rx", 3 * (slot - air))  # listening for requests
        if ble._adv_on:
            self.clock.call_at(now + ble._adv_itvl + self._adv_delay(), st.ev_adv)

    def _emit(self, st, pdu):
        """Offer a PDU (start, end, channel index, event, seq) to the
        stations listening on its channel."""
        lst = self.listen[pdu[2]]
        if not lst:
            return
        s, e, k, ev, seq = pdu
        row = st.row
        tx10 = st.tx_dbm * 10
        fading = self.fading
        h0 = seq * 0x9E3779B1
        dirty = self._dirty
        for r in lst:
            if r is st:
                continue
            rel = s - r.t0
            n = rel // r.itvl
            if n % 3 != k or rel - n * r.itvl + e - s > r.win:
                continue  # not on this channel for the whole packet
            g = row.get(r.id)
            if g is None:
                g = self._pair(st, r)
            p = tx10 + g[0]
            if p < _CULL10:
                continue
            if fading:
                h = (h0 + r.id) & 0xFFFFFFFF  # cpsim.linkbudget.mix, inlined: the hot loop
                h ^= h >> 16
                h = (h * 0x7FEB352D) & 0xFFFFFFFF
                h ^= h >> 15
                h = (h * 0x846CA68B) & 0xFFFFFFFF
                p += g[1][(h ^ (h >> 16)) & 255]
                if p < _FLOOR10:
                    continue
            r.pending.append((s, e, p, pdu))
            if not r.dirty:
                r.dirty = True
                dirty.append(r)
        if dirty and not self._tick_armed:
            self._tick_armed = True
            self.clock.call_at(e + TICK_US, self._tick_ev)

    # --- scanning and initiating: which channel lists a station is in ------
    def listen_start(self, ble, mode, itvl, win):
        """mode 1: scan (ble._scan_active says active), 2: initiate."""
        st = ble._st
        self.listen_stop(ble)
        st.mode = mode
        st.t0 = self.clock.now_us()
        st.itvl, st.win = itvl, win
        st.wn_join = st.wn_leave = 0
        st.hq_until = 0
        st.irq_us = getattr(st.dev, "ble_irq_us", IRQ_US)
        self._join(st)
        self.clock.call_at(st.t0 + win, st.ev_leave)
        if mode == 1:
            self.track(self.scanners, ble, True)
        if st.acct is not None:
            st.acct.state("radio_scan", "on")

    def listen_stop(self, ble):
        st = ble._st
        if st.mode == 0:
            return
        now = self.clock.now_us()
        for ev in (st.ev_join, st.ev_leave):  # both armed while listening
            self.clock.cancel(ev)
        for lst in self.listen:
            if st in lst:
                lst.remove(st)
        if st.acct is not None:
            rel = now - st.t0
            off = rel - (rel // st.itvl) * st.itvl
            st.acct.add_us("air.rx", off if off < st.win else st.win)  # the window in progress
            st.acct.state("radio_scan", "off")
        st.mode = 0
        st.pending = []
        self.track(self.scanners, ble, False)

    def _join(self, st):
        n = st.wn_join
        self.listen[n % 3].append(st)
        st.wn_join = n + 1
        t = st.t0 + (n + 1) * st.itvl - LOOKAHEAD_US
        now = self.clock.now_us()
        self.clock.call_at(t if t > now else now, st.ev_join)

    def _leave(self, st):
        n = st.wn_leave
        lst = self.listen[n % 3]
        if st in lst:
            lst.remove(st)
        st.wn_leave = n + 1
        if st.acct is not None:
            st.acct.add_us("air.rx", st.win)
        self.clock.call_at(st.t0 + (n + 1) * st.itvl + st.win, st.ev_leave)

    def track(self, group, ble, on):
        if ble in group:
            if not on:
                group.remove(ble)
        elif on:
            group.append(ble)

    # --- resolving what each receiver decoded ---------------------------------
    def _tick(self):
        self._tick_armed = False
        now = self.clock.now_us()
        dirty = self._dirty
        self._dirty = []
        for r in dirty:
            r.dirty = False
            self._resolve(r, now)
        if self._reqs:
            self._answer(now)
        nxt = now + TICK_US
        for r in dirty:
            if r.pending and not r.dirty:
                r.dirty = True
                self._dirty.append(r)
        if self._dirty and not self._tick_armed:
            self._tick_armed = True
            self.clock.call_at(nxt, self._tick_ev)

    def _busy(self, st, s, e):
        for b in st.busy:
            if b[0] < e and b[1] > s:
                return True
        for link in st.links:
            off = (s - link.anchor) % link.interval
            if off < CONN_EVENT_US or off + e - s > link.interval:
                return True
        return False

    def _resolve(self, r, now):
        pend = r.pending
        pend.sort(key=_start)
        if r.busy and pend:
            oldest = pend[0][0]
            r.busy = [b for b in r.busy if b[1] > oldest]
        n = len(pend)
        nc = nb = nw = ok = 0
        done = r.resolved
        r.resolved = now
        for i in range(n):
            s, e, p, pdu = pend[i]
            if e <= done or e > now:
                continue
            lost = False
            inter = 0.0
            j = i - 1
            while j >= 0:
                q = pend[j]
                if q[0] <= s - _MAX_SPAN:
                    break
                if q[1] > s:
                    if q[2] >= _SENS10 and q[0] < s:
                        lost = True  # locked on an earlier packet
                        break
                    inter += 10 ** (q[2] / 100)
                j -= 1
            j = i + 1
            while not lost and j < n and pend[j][0] < e:
                inter += 10 ** (pend[j][2] / 100)
                j += 1
            if not lost and inter and 10 ** (p / 100) < _CAPTURE * inter:
                lost = True
            if lost:
                nc += 1
                continue
            if (r.busy or r.links) and self._busy(r, s, e):
                nb += 1
                continue
            if p < _PER_HI10 and lost_to_noise(p, mix(pdu[4] * 0x85EBCA6B + r.id) >> 12):
                nw += 1
                continue
            ok += 1
            self._decoded(r, pdu, p, e)
            if r.pending is not pend:
                break  # the handler stopped the scan
        a = r.acct
        if a is not None:
            for k, v in (("radio.lost_collision", nc), ("radio.lost_busy", nb), ("radio.lost_weak", nw),
                         ("radio.rx_packets", ok)):
                if v:
                    a.count(k, v)
        if r.pending is pend:
            keep = now - _MAX_SPAN
            r.pending = [x for x in pend if x[1] > keep]

    def _decoded(self, r, pdu, p, e):
        ev = pdu[3]
        ble = r.ble
        kind = ev[3]
        if r.mode == 2:
            if kind == 0 and ble._connecting == (ev[1], ev[2]):
                self._connect_req(r, ev, e)
            return
        if r.mode != 1 or not ble._scanning:
            return
        self._report(r, e, ev[1], ev[2], kind, p, ev[4])
        if kind == 3 or not ble._scan_active or not ble._scanning:
            return
        r.backoff -= 1
        if r.backoff > 0:
            return
        t_req = e + T_IFS
        r.busy.append((t_req, t_req + SCAN_REQ_US + T_IFS + air_us(len(ev[6]))))
        if r.acct is not None:
            r.acct.count("radio.scan_req_sent")
            r.acct.add_us("air.tx", SCAN_REQ_US)
        self._reqs.append((pdu, r))

    def _answer(self, now):
        reqs = self._reqs
        self._reqs = []
        by_pdu = {}
        for pdu, r in reqs:
            by_pdu.setdefault(pdu[4], []).append((pdu, r))
        for seq in sorted(by_pdu):
            group = by_pdu[seq]
            pdu = group[0][0]
            ev = pdu[3]
            adv = ev[0]
            # each request's power at the advertiser; they overlap exactly
            powers = []
            for _, r in group:
                powers.append(self._power10(r, adv, seq * 0xC2B2AE35 + r.id))
            win = None
            if not ev[5] and adv.ble is not None and adv.ble._adv_on:
                best = max(powers)
                bi = powers.index(best)
                inter = 0.0
                for i in range(len(powers)):
                    if i != bi:
                        inter += 10 ** (powers[i] / 100)
                if (not inter or 10 ** (best / 100) >= _CAPTURE * inter) and not lost_to_noise(
                        best, mix(seq * 0x27D4EB2F + adv.id) >> 12):
                    win = group[bi][1]
            for _, r in group:
                ok = r is win and self._scan_rsp(adv, r, pdu, ev)
                self._backoff(r, ok)

    def _scan_rsp(self, adv, r, pdu, ev):
        ev[5] = True
        rsp = ev[6]
        s = pdu[1] + T_IFS + SCAN_REQ_US + T_IFS
        e = s + air_us(len(rsp))
        if adv.acct is not None:
            adv.acct.count("radio.scan_rsp_sent")
            adv.acct.add_us("air.tx", e - s)
        rel = s - r.t0
        n = rel // r.itvl
        if r.mode != 1 or not r.ble._scanning or rel - n * r.itvl + e - s > r.win:
            return False
        p = self._power10(adv, r, pdu[4] * 0x165667B1 + r.id)
        inter = 0.0
        for q in r.pending:
            if q[0] < e and q[1] > s:
                inter += 10 ** (q[2] / 100)
        if (inter and 10 ** (p / 100) < _CAPTURE * inter) or lost_to_noise(p, mix(pdu[4] * 0xD3A2646C + r.id) >> 12):
            return False
        if r.acct is not None:
            r.acct.count("radio.scan_rsp_received")
        self._report(r, e, ev[1], ev[2], 4, p, rsp)
        return True

    def _backoff(self, r, ok):
        # Core spec Vol 6 Part B 4.4.3.2
        if ok:
            r.streak = r.streak + 1 if r.streak > 0 else 1
            if r.streak == 2:
                r.upper = max(1, r.upper // 2)
                r.streak = 0
        else:
            r.streak = r.streak - 1 if r.streak < 0 else -1
            if r.streak == -2:
                r.upper = min(256, r.upper * 2)
                r.streak = 0
        r.backoff = 1 + self.rng.next() % r.upper

    def _report(self, r, t, atype, addr, kind, p10, data):
        """An advertising report for r's host, unless its event buffers are full."""
        q = r.hq_until
        if q < t:
            q = t
        if q - t >= EVT_DISCARD_COUNT * r.irq_us:
            if r.acct is not None:
                r.acct.count("radio.reports_dropped")
            return
        r.hq_until = q + r.irq_us
        r.ble._on_adv(atype, addr, kind, (p10 + 5) // 10, data)

    # --- connections ------------------------------------------------------------
    def _connect_req(self, r, ev, e):
        central, adv = r.ble, ev[0]
        periph = adv.ble
        if periph is None or not periph._adv_on or len(periph._conns) >= MAX_CONNECTIONS:
            return
        p = self._packet10(r, adv)
        if lost_to_noise(p, mix(self._seq * 0x85EBCA6B + adv.id) >> 12):
            return
        if r.acct is not None:
            r.acct.add_us("air.tx", CONNECT_IND_US)
        self._establish(central, periph, e + T_IFS + CONNECT_IND_US, (ev[1], ev[2]))

    def _establish(self, central, periph, t, periph_addr):
        from cpsim.link import Link

        own = central._conn_own
        central._connect_end()
        self.stop_adv(periph)  # NimBLE: a connection ends connectable advertising
        link = Link(self, central, periph, central._conn_itvl, t + CONNECT_DELAY_US, (own, periph_addr))
        gens = (central._gen, periph._gen)
        self.clock.call_at(t + CONNECT_DELAY_US, lambda: link.start(gens))

    # --- test helpers -------------------------------------------------------
    def inject_advertisement(self, addr, adv_data, rssi=-60, adv_type=0, addr_type=1, to=None):
        """Put a raw advertising report from a fake device on the air now: every
        scanning pin (or only Device `to`) gets _IRQ_SCAN_RESULT with exactly
        these bytes, whatever they contain (scan windows, collisions and the
        host's buffers are bypassed so that a test knows it was delivered).
        SCAN_RSP (adv_type 4) reaches active scanners only. Returns how many
        pins received it."""
        addr = bytes(addr)
        data = bytes(adv_data)
        if len(addr) != 6:
            raise ValueError("addr must be 6 bytes")
        if len(data) > 31:
            raise ValueError("legacy advertising data is at most 31 bytes")
        if rssi < self.sensitivity:
            return 0
        n = 0
        for s in tuple(self.scanners):
            if (to is not None and s._dev is not to) or not s._scanning:
                continue
            if adv_type == 4 and not s._scan_active:
                continue
            s._on_adv(addr_type, addr, adv_type, rssi, data)
            n += 1
        return n

    def reset_device(self, dev, graceful=True):
        """The pin reboots (graceful: MicroPython's soft reset deinitialises BLE,
        so peers see a disconnect at once) or loses power (graceful=False:
        peers find out by supervision timeout). Its BLE() singleton is gone."""
        ble = dev.ble_obj
        if ble is not None:
            from cpsim import blegap

            blegap.deinit(ble, graceful, False)
            dev.ble_obj = None

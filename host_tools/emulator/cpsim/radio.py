# The shared 2.4 GHz air of one World: every emulated pin's bluetooth.BLE
# joins it. It decides who hears whom (per-link RSSI), carries advertising
# packets to scanners, turns a connect request into a connection, and carries
# connection traffic one connection event at a time. Everything happens on the
# World's clock, so a test that advances a SimClock sees the same events in
# the same order every run, under CPython and under MicroPython alike.
#
# Link budget. A pair of devices gets, in this order of precedence:
#   set_rssi(a, b, dBm)          a fixed RSSI;
#   set_distance(a, b, metres)   log-distance path loss at that distance;
#   set_position(dev, x, y)      log-distance path loss at their distance;
#   otherwise default_rssi (everyone in one World is close by).
# Path loss: RSSI(d) = rssi_at_1m - 10 * path_loss_exponent * log10(d / 1 m),
# with rssi_at_1m = -59 dBm (the usual calibrated 1 m reading of a 0 dBm BLE
# transmitter, the iBeacon "measured power" convention) and exponent 2.0 (free
# space; 2.5 to 4 among people indoors: set it per World, before traffic, as
# each pair's result is kept until the next set_* call). Packets below
# `sensitivity` (-97 dBm, about the ESP32's specified BLE receiver sensitivity)
# are lost. `jitter_db` > 0 adds per-packet noise (near-normal, that standard
# deviation) from a seeded generator, so jittery runs are repeatable too.
import math
import sys
from cpsim.rng import Rng

# pairs whose RSSI is kept between set_* calls; small in the VM, whose heap is small
_CACHE_MAX = 256 if sys.implementation.name == "micropython" else 65536

CONNECT_DELAY_US = 1250  # CONNECT_IND to "connection complete": one 1.25 ms slot
MAX_CONNECTIONS = 4  # micropython ports/esp32/boards/sdkconfig.ble


class Radio:
    rssi_at_1m = -59
    path_loss_exponent = 2.0
    sensitivity = -97
    default_rssi = -60
    jitter_db = 0
    adv_delay_us = 10000  # advDelay: 0-10 ms random extra per advertising event (Core spec)

    def __init__(self, world, seed=1):
        self.world = world
        self.clock = world.clock
        self.rng = Rng(seed)
        self._fixed = {}  # pair key -> dBm
        self._dist = {}  # pair key -> metres
        self._pos = {}  # device -> (x, y)
        self._ids = {}  # device -> small int for pair keys
        self._cache = {}  # pair key -> mean RSSI, until the next set_*
        self.scanners = []  # BLE objects scanning now
        self.initiators = []  # BLE objects with a gap_connect pending
        self.links = []  # open connections

    # --- link budget ------------------------------------------------------
    def _key(self, a, b):
        ids = self._ids
        ia = ids.get(a)
        if ia is None:
            ia = ids[a] = len(ids)
        ib = ids.get(b)
        if ib is None:
            ib = ids[b] = len(ids)
        return ia * 1048576 + ib if ia < ib else ib * 1048576 + ia

    def set_rssi(self, a, b, rssi):
        """Fix the RSSI (dBm, both directions) of the link a-b; None clears."""
        self._set(self._fixed, a, b, None if rssi is None else int(rssi))

    def set_distance(self, a, b, metres):
        self._set(self._dist, a, b, None if metres is None else float(metres))

    def _set(self, table, a, b, v):
        k = self._key(a, b)
        if v is None:
            table.pop(k, None)
        else:
            table[k] = v
        self._range_changed()

    def set_position(self, dev, x, y=0.0):
        self._pos[dev] = (float(x), float(y))
        self._range_changed()

    def rssi(self, a, b):
        """The mean RSSI (dBm) that a hears b with (without jitter)."""
        k = self._key(a, b)
        c = self._cache
        v = c.get(k)
        if v is None:
            if len(c) >= _CACHE_MAX:
                c.clear()
            v = c[k] = self._model(k, a, b)
        return v

    def _model(self, k, a, b):
        v = self._fixed.get(k)
        if v is not None:
            return v
        d = self._dist.get(k)
        if d is None:
            pa = self._pos.get(a)
            pb = self._pos.get(b)
            if pa is None or pb is None:
                return self.default_rssi
            dx = pa[0] - pb[0]
            dy = pa[1] - pb[1]
            d = math.sqrt(dx * dx + dy * dy)
        if d < 0.1:
            d = 0.1
        return int(round(self.rssi_at_1m - 10.0 * self.path_loss_exponent * math.log10(d)))

    def hears(self, a, b):
        return self.rssi(a, b) >= self.sensitivity

    def sample(self, a, b):
        """RSSI of one packet: the mean plus jitter."""
        r = self.rssi(a, b)
        j = self.jitter_db
        if j:
            g = self.rng
            s = g.next() + g.next() + g.next() + g.next()
            # sum of 4 uniforms: mean 2, sd 1/sqrt(3); rescaled to sd 1
            r += int(round(j * 1.7320508 * (s / 4294967296.0 - 2.0)))
        return r

    def _range_changed(self):
        self._cache = {}
        for link in self.links:
            link.range_changed()

    # --- advertising and scanning (called by bluetooth.BLE) -----------------
    def start_adv(self, ble):
        self.stop_adv(ble)
        ble._adv_on = True
        ble._adv_cb = lambda: self._adv_event(ble)
        ble._adv_ev = self.clock.call_at(self.clock.now_us() + self._adv_delay(), ble._adv_cb)

    def stop_adv(self, ble):
        ble._adv_on = False
        if ble._adv_ev is not None:
            self.clock.cancel(ble._adv_ev)
            ble._adv_ev = None

    def _adv_delay(self):
        return self.rng.next() % (self.adv_delay_us + 1) if self.adv_delay_us else 0

    def track(self, group, ble, on):
        """Put `ble` in or out of self.scanners / self.initiators."""
        if ble in group:
            if not on:
                group.remove(ble)
        elif on:
            group.append(ble)

    def _adv_event(self, ble):
        if not ble._adv_on:
            return
        now = self.clock.now_us()
        dev = ble._dev
        atype, addr = ble._adv_address()
        kind = ble._adv_type
        data = ble._adv_data
        # initiators that start during this event's scan reports wait for the next one
        inits = tuple(self.initiators) if self.initiators else ()
        if self.scanners:
            sens = self.sensitivity
            for s in tuple(self.scanners):
                if s is ble or not s._scanning or (now - s._scan_t0) % s._scan_itvl >= s._scan_win:
                    continue
                r = self.sample(dev, s._dev)
                if r < sens:
                    continue
                s._on_adv(atype, addr, kind, r, data)
                if kind != 3 and s._scan_active and s._scanning:
                    r = self.sample(dev, s._dev)  # the SCAN_REQ/SCAN_RSP exchange
                    if r >= sens:
                        s._on_adv(atype, addr, 4, r, ble._resp_data)
        if kind == 0 and ble._adv_on and len(ble._conns) < MAX_CONNECTIONS:
            target = (atype, addr)
            for c in inits:
                if c._connecting == target and c is not ble and self.hears(dev, c._dev):
                    self._establish(c, ble, now, target)
                    return
        if ble._adv_on:
            ble._adv_ev = self.clock.call_at(now + ble._adv_itvl + self._adv_delay(), ble._adv_cb)

    def _establish(self, central, periph, now, periph_addr):
        from cpsim.link import Link

        own = central._conn_own
        central._connect_end()
        self.stop_adv(periph)  # NimBLE: a connection ends connectable advertising
        link = Link(self, central, periph, central._conn_itvl, now + CONNECT_DELAY_US, (own, periph_addr))
        gens = (central._gen, periph._gen)
        self.clock.call_at(now + CONNECT_DELAY_US, lambda: link.start(gens))

    # --- test helpers -------------------------------------------------------
    def inject_advertisement(self, addr, adv_data, rssi=-60, adv_type=0, addr_type=1, to=None):
        """Put a raw advertising report from a fake device on the air now: every
        scanning pin (or only Device `to`) gets _IRQ_SCAN_RESULT with exactly
        these bytes, whatever they contain (scan windows are ignored so that a
        test knows it was delivered). SCAN_RSP (adv_type 4) reaches active
        scanners only. Returns how many pins received it."""
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

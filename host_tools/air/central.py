"""A host-side station on the shared air: what the phone client and tests use
to see (and be seen by) virtual badges. It scans and advertises as a pin
would (through the hub's radio: same collisions, fading, RSSI), and connects
to a badge to read and write its GATT server and receive its notifications
(the badge's side of the link is a cpsim.link.Link in its VM: cpsim/airlink.py).
Handles are the badge's value handles (gatts_register_services');
discover() finds one by its characteristic's UUID."""
import hashlib
import threading
import time
from collections import namedtuple

Advert = namedtuple("Advert", "addr_type addr adv_type rssi data t")
MAX_WRITE = 20  # ATT_MTU 23 - 3: no MTU exchange over the hub


class GattError(Exception):
    """The badge answered with an ATT error (.status)."""

    def __init__(self, status, what):
        Exception.__init__(self, "%s: ATT error 0x%02x" % (what, status))
        self.status = status


class Connection:
    """A central's link to one badge (AirHub.connect makes it).

    Pairing (BLE's, not the phone service's: that one needs none,
    docs/phone-api.md): pair() starts it as a phone's OS does and a badge's
    gap_pair may start it from its side; either way the badge's VM raises
    the events a pin's NimBLE does (cpsim/airlink.py pair). `bond`: whether
    this central keeps keys (a phone does). After it, .encrypted and .bonded;
    the badge's GATT server then serves its encrypted characteristics."""

    bond = True
    encrypted = False
    bonded = None  # after a pairing: True if both ends keep the keys

    def __init__(self, hub, peer, cid):
        self.hub = hub
        self.peer = peer
        self.cid = cid
        self.state = None  # None connecting, True open, False closed or refused
        self.events = None  # its connection events on the hub's air (hub.Events)
        self._cond = threading.Condition()
        self._replies = []  # (kind, status, handle, data) of reads and writes
        self._notes = []  # (handle, data) notifications and indications
        self._found = []  # discovery results (e frames: event, numbers, uuid)
        self._done = None  # (event, status) of the last discovery (d frame)
        self._smp = None  # the badge's answer to our pair() (its bond flag)

    def _on(self, p):
        # a frame from the badge (cpsim/airlink.py), in the hub's thread
        with self._cond:
            kind = p[:1]
            if kind == b"c":
                self.state = p[2:3] == b"\x00"
            elif kind == b"x":
                self.state = False
            elif kind in (b"v", b"w") and len(p) >= 5:
                self._replies.append((kind, p[2], p[3] | p[4] << 8, bytes(p[5:])))
            elif kind == b"e" and len(p) >= 3:
                self._found.append(bytes(p[2:]))
            elif kind == b"d" and len(p) >= 5:
                self._done = (p[2], p[3] | p[4] << 8)
            elif kind in (b"n", b"N") and len(p) >= 4:
                self._notes.append((p[2] | p[3] << 8, bytes(p[4:])))
            elif kind == b"Y" and len(p) >= 3 and self.state:  # the badge's gap_pair: answer as a phone does
                self._send(b"y" + bytes((self.cid, 1 if self.bond else 0)))
            elif kind == b"y" and len(p) >= 3:
                self._smp = p[2]
            elif kind == b"Z" and len(p) >= 3:  # the pairing the badge started ended
                self.encrypted, self.bonded = True, bool(p[2])
            self._cond.notify_all()

    def wait_open(self, timeout):
        with self._cond:
            self._cond.wait_for(lambda: self.state is not None, timeout)
            return bool(self.state)

    @property
    def connected(self):
        return bool(self.state)

    def _send(self, payload):
        if not self.state:
            raise ConnectionError("not connected")
        with self.hub.lock:
            self.peer._raw(payload)

    def _wait(self, take, timeout, what):
        """Wait until take() (called under the lock) returns something other
        than None and return it; the link closing or `timeout` seconds
        passing first raise."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                got = take()
                if got is not None:
                    return got
                left = end - time.monotonic()
                if not self.state:
                    raise ConnectionError("%s: the link closed" % what)
                if left <= 0:
                    raise TimeoutError("%s: no answer in %s s" % (what, timeout))
                self._cond.wait(left)

    def _reply(self, kind, handle, timeout, what):
        def take():
            for r in self._replies:
                if r[0] == kind and r[2] == handle:
                    self._replies.remove(r)
                    return r

        r = self._wait(take, timeout, what)
        if r[1]:
            raise GattError(r[1], what)
        return r[3]

    def read(self, handle, timeout=10.0):
        """The value at `handle` (GattError if the badge refuses)."""
        self._send(b"Q" + bytes((self.cid, handle & 0xFF, handle >> 8)))
        return self._reply(b"v", handle, timeout, "read 0x%04x" % handle)

    def discover(self, uuid, timeout=10.0):
        """The value handle of the badge's characteristic `uuid` (a string
        "xxxxxxxx-xxxx-..." or an int for a 16-bit UUID), found as a phone
        does: a characteristic discovery over the whole table, answered by
        the badge's GATT server at its connection events (the D frame of
        cpsim/airlink.py). GattError 0x0A if it has none."""
        import uuid as uuidlib

        raw = int(uuid).to_bytes(2, "little") if isinstance(uuid, int) else uuidlib.UUID(uuid).bytes[::-1]
        what = "discover %s" % uuid
        with self._cond:
            self._found, self._done = [], None
        self._send(b"D" + bytes((self.cid, 11, 1, 0, 0xFF, 0xFF)) + raw)
        self._wait(lambda: self._done, timeout, what)
        with self._cond:
            found = self._found
        for e in found:  # event 11 | end(2) | value handle(2) | properties(2) | uuid
            if len(e) >= 7 and e[0] == 11 and e[7:] == raw:
                return e[3] | e[4] << 8
        raise GattError(0x0A, what)  # ATT: attribute not found

    def write(self, handle, data, response=True, timeout=10.0):
        """Write `data` (at most 20 bytes) to `handle`; with response, wait
        for the badge's answer (GattError if it refuses)."""
        data = bytes(data)
        if len(data) > MAX_WRITE:
            raise ValueError("at most %d bytes per write (ATT_MTU 23)" % MAX_WRITE)
        self._send(b"W" + bytes((self.cid, 1 if response else 0, handle & 0xFF, handle >> 8)) + data)
        if response:
            self._reply(b"w", handle, timeout, "write 0x%04x" % handle)

    def pair(self, timeout=10.0):
        """Pair with the badge (SMP, LE Secure Connections "just works"): its
        VM answers at its connection event, the exchange's remaining round
        trips take as many of this link's intervals, then the badge is told
        and raises _IRQ_ENCRYPTION_UPDATE (and, if both bond, its
        _IRQ_SET_SECRETs). Returns .bonded; ConnectionError/TimeoutError."""
        from cpsim.blegattc import PAIRING_ROUND_TRIPS

        from host_tools.air.hub import HOST_CONN_ITVL_US

        with self._cond:
            self._smp = None
        self._send(b"Y" + bytes((self.cid, 1 if self.bond else 0)))
        peer_bonds = self._wait(lambda: self._smp, timeout, "pair")
        time.sleep((PAIRING_ROUND_TRIPS - 1) * HOST_CONN_ITVL_US / 1e6)
        bonded = 1 if self.bond and peer_bonds else 0
        self._send(b"Z" + bytes((self.cid, bonded)))
        self.encrypted, self.bonded = True, bool(bonded)
        return self.bonded

    def notifications(self):
        """(handle, data) of every notification and indication so far."""
        with self._cond:
            return list(self._notes)

    def wait_notification(self, handle, timeout=10.0):
        """The next notification on `handle` not seen by this call before; None on timeout."""

        def take():
            for n in self._notes:
                if n[0] == handle:
                    self._notes.remove(n)
                    return n[1]

        try:
            return self._wait(take, timeout, "notification 0x%04x" % handle)
        except (TimeoutError, ConnectionError):
            return None

    def disconnect(self, timeout=10.0):
        if self.state:
            self._send(b"X" + bytes((self.cid,)))
            with self._cond:
                self._cond.wait_for(lambda: not self.state, timeout)
        self.hub.forget(self)


class Central:
    def __init__(self, hub, name="central"):
        self.hub = hub
        self.name = name
        self._cond = threading.Condition()
        self._adverts = []
        self._peer = hub.join(name, self._deliver)
        # a random static address of its own (top bits 11), as a phone has
        self.addr = bytes((0xC0 | (len(name) & 0x3F),)) + hashlib.sha256(name.encode()).digest()[:5]
        self._peer._addr = (1, self.addr)

    def _deliver(self, atype, addr, kind, rssi, data):
        with self._cond:
            self._adverts.append(Advert(atype, addr, kind, rssi, data, time.monotonic()))
            self._cond.notify_all()

    def scan(self, interval_us=30000, window_us=30000, active=False):
        """Listen (default: all the time, as a phone in the foreground does)."""
        if not 0 < window_us <= interval_us:
            raise ValueError("scan window must be positive and at most the interval")
        self.hub.stop_scan(self._peer)
        self.hub.scan(self._peer, interval_us, window_us, active)

    def stop_scan(self):
        self.hub.stop_scan(self._peer)

    def advertise(self, adv_data, interval_us=100000, resp_data=b"", connectable=False, addr=None, addr_type=1):
        """Advertise adv_data (legacy: at most 31 bytes) from `addr` (default
        this central's .addr); None stops."""
        addr = self.addr if addr is None else bytes(addr)
        if adv_data is None:
            self.hub.stop_adv(self._peer)
            return
        if len(adv_data) > 31 or len(resp_data) > 31 or len(addr) != 6:
            raise ValueError("legacy advertising data is at most 31 bytes, an address 6")
        self.hub.advertise(self._peer, int(interval_us), addr_type, addr, 0 if connectable else 2, adv_data,
                           resp_data)

    def connect(self, addr, timeout=10.0, addr_type=None):
        """Connect to the badge advertising connectably as `addr` (6 bytes;
        `addr_type` 0 public or 1 random, None: either, as a phone that knows
        it from its scan): initiates on the air as a pin's gap_connect does,
        so an ADV_IND of it must get through first. A Connection;
        ConnectionError if none did within `timeout` s (nobody advertises so,
        out of range, collisions) or the badge did not accept."""
        return self.hub.connect(self._peer, addr, timeout, addr_type)

    def adverts(self):
        """Every report received so far, oldest first."""
        with self._cond:
            return list(self._adverts)

    def wait_for(self, match, timeout=10.0):
        """The first report for which match(advert) is true, waiting up to
        `timeout` seconds for it; None if none came."""
        end = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for a in self._adverts[seen:]:
                    if match(a):
                        return a
                seen = len(self._adverts)
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def close(self):
        self.hub.leave(self.name, self._peer)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""The air hub: ONE emulated radio (cpsim.radio.Radio on a WallClock) in the
host process, and a Unix-domain socket that badge VMs join it through
(cpsim/airclient.py speaks the other end; the frames are described there).
Each VM, and each host-side Central, is a station of that radio: its
advertising events collide, fade and are decoded by the same model as in a
simulated hall (docs/radio.md), in real time.

A station is known by name (the badge's, e.g. "badge-2"): set_position() may
place it before its VM connects, and a VM that reboots and says hello again
takes its old place."""
import os
import secrets
import select
import socket
import stat
import sys
import tempfile
import threading
import time

from host_tools import EMULATOR_DIR

POLL_S = 0.005  # the radio resolves packets in 5 ms batches (cpsim.radio.TICK_US)
INIT_SCAN_US = 10000  # an initiator listens all the time (cpsim.blegap._INIT_SCAN_US)
HOST_CONN_ITVL_US = 30000  # a host Central's links: what the badge's VM runs them at (cpsim.airlink.CONN_ITVL_US)
# what a VM sends on a connection (cpsim/airlink.py): answers, its server's
# notifications, its side closing, its own requests to a VM peer, pairing
_CONN_KINDS = (b"c", b"v", b"w", b"n", b"N", b"x", b"X", b"Q", b"W", b"D", b"M", b"e", b"d", b"m", b"Y", b"y", b"Z")


def _cpsim():
    if str(EMULATOR_DIR) not in sys.path:
        sys.path.append(str(EMULATOR_DIR))  # cpsim, and its CPython `micropython`


def take_frames(buf, on_frame):
    """Hand on_frame the payload of each whole frame at the start of `buf`
    (a bytearray of what a socket gave), and keep only what follows them."""
    from cpsim.airclient import next_frame

    i = 0
    while i < len(buf):
        f = next_frame(buf, i, len(buf))
        if f is None:
            break
        on_frame(bytes(buf[f[0]:f[0] + f[1]]))
        i = f[0] + f[1]
    del buf[:i]


class Peer:
    """What the radio needs of a BLE object, for a station whose stack lives
    elsewhere (a VM behind the socket, or a Central): reports go to `deliver`."""

    def __init__(self, radio, dev, deliver, raw=None):
        self._dev = dev
        self._raw = raw  # sends a frame's payload to the VM (None: a host Central)
        self._cid = 0
        self._adv_on = False
        self._adv_data = self._resp_data = b""
        self._adv_type = 0
        self._adv_itvl = 100000
        self._addr = (0, bytes(6))
        self._scanning = False
        self._scan_active = False
        self._scan_params = (30000, 30000)  # (interval, window) of its scan
        self._conns = {}  # the radio's own links: unused, connections are relayed (AirHub._establish)
        self._connecting = None  # (addr_type, addr) while its VM (or host Central) initiates
        self._made = None  # a host Central's Connection its CONNECT_IND made (AirHub.connect)
        self._conn_own = (0, bytes(6))
        self._conn_itvl = 30000
        self._gen = 0
        self._deliver = deliver
        self._st = radio.attach(self)
        radio.power(self, True)

    def _adv_address(self):
        return self._addr

    def _on_adv(self, atype, addr, kind, rssi, data):
        self._deliver(atype, bytes(addr), kind, rssi, bytes(data))

    def _next_cid(self):
        self._cid = (self._cid + 1) & 0xFF
        return self._cid


class Relay:
    """One VM's end of a connection between two VMs: frames its VM sends on
    `cid` go to the other VM on its cid (both VMs run the link, the ATT
    answers and their timing: cpsim/airlink.py)."""

    def __init__(self, hub, peer, cid):
        self.hub, self.peer, self.cid = hub, peer, cid
        self.other = None  # the Relay of the far end
        self.events = None  # the pair's Events (both relays share it)
        self.lost = False  # what the VMs were last told of the pair's range

    def _on(self, p):
        # a frame from this relay's VM (the hub holds its lock)
        kind, o = p[:1], self.other
        if kind == b"c":
            if p[2:3] == b"\x00":  # the peripheral accepted: the initiator is connected
                a = self.peer._adv_address()
                o.peer._raw(b"P" + bytes((o.cid, 0, a[0])) + bytes(a[1]) + o.peer._conn_itvl.to_bytes(4, "little"))
            else:
                self.hub._unrelay(self)
                self.hub.initiate(o.peer)  # refused (3 links): its VM is still initiating
        elif kind in (b"x", b"X"):
            self.hub._unrelay(self)
            o.peer._raw(b"X" + bytes((o.cid,)))
        else:
            o.peer._raw(kind + bytes((o.cid,)) + p[2:])


class Events:
    """A link's connection events on the hub's air (the link itself runs in
    the VMs): CONN_EVENT_US every `interval` from `anchor`, both stations'
    radios are taken (half-duplex: cpsim.radio.Radio._busy drops what they
    would have received meanwhile), as a cpsim.link.Link's are in a hall."""

    def __init__(self, anchor, interval, peers):
        self.anchor, self.interval = anchor, interval
        self._sts = [p._st for p in peers]
        for st in self._sts:
            st.links.append(self)

    def end(self):
        for st in self._sts:
            if self in st.links:
                st.links.remove(self)
        self._sts = []


class HubRadio:
    """Mixed into the hub's Radio: a CONNECT_IND that got through is relayed
    between the two VMs instead of becoming a link in the hub."""

    def _establish(self, central, periph, t, periph_addr):
        from cpsim.radio import CONNECT_DELAY_US

        self.listen_stop(central)  # its VM stops initiating when it hears back (k)
        self.stop_adv(periph)  # as the peripheral's VM does on the C
        if periph._raw is None:
            return  # a host Central advertising: it takes no connections
        if central._raw is None:  # a host Central's connect (AirHub.connect)
            link = self.hub._connected(central, periph)
            itvl = HOST_CONN_ITVL_US
        else:
            link = self.hub._relay(central, periph)
            itvl = central._conn_itvl
        link.events = Events(t + CONNECT_DELAY_US, itvl, (central, periph))
        if isinstance(link, Relay):
            link.other.events = link.events

    def _decoded(self, r, pdu, p, e):
        # a host Central that connects by address alone (as a phone whose
        # scan told it the type) takes an ADV_IND from that address of any type
        ble, ev = r.ble, pdu[3]
        if r.mode == 2 and ble._raw is None and ble._connecting is not None and ble._connecting[0] is None:
            if ev[3] == 0 and ev[2] == ble._connecting[1]:
                self._connect_req(r, ev, e)
            return
        super()._decoded(r, pdu, p, e)


class AirHub:
    """Shared air. start() serves `path` (default: a fresh name in the
    temporary folder); stop() ends it and removes the socket. Every method is safe from any thread."""

    def __init__(self, path=None, seed=1):
        _cpsim()
        from cpsim.airclient import frame
        from cpsim.clock import WallClock
        from cpsim.radio import Radio
        from cpsim.world import World

        if path is None:
            # a fresh name, no folder: nothing is left behind by a hub never started
            path = os.path.join(tempfile.gettempdir(), "cloudpin-air-%s.sock" % secrets.token_hex(6))
        self.path = str(path)
        self._framed = frame  # the frames' lengths (cpsim/airclient.py)
        self.world = World(WallClock())
        radio_class = type("HubRadio", (HubRadio, Radio), {})
        self.radio = radio_class(self.world, seed)
        self.radio.hub = self
        self.world._radio = self.radio
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)  # a host Central's connect waits on it
        self._devs = {}  # name -> cpsim Device (the station's place survives reconnects)
        self._peers = {}  # name -> current Peer
        self._links = {}  # (VM's Peer, cid) -> host_tools.air.central.Connection
        self._conns = {}  # socket -> [bytearray received, Peer or None]
        self._srv = None
        self._thread = None
        self._stopping = False
        # commands from tools (`cloudpin virtual-badge tap`): a callable
        # dict -> dict the farm sets; the hub only carries them
        self.commands = None

    # ---- stations -----------------------------------------------------------
    def device(self, name):
        """The cpsim Device standing for station `name` (made on first use)."""
        with self.lock:
            dev = self._devs.get(name)
            if dev is None:
                from cpsim.world import Device

                dev = Device(self.world, name)
                self.world.devices.append(dev)
                self._devs[name] = dev
            return dev

    def set_position(self, name, x, y=0.0, facing_deg=None):
        """Place station `name` (metres; facing as cpsim.radio.Radio.set_position).
        Stations nobody placed hear each other at -60 dBm: close by."""
        with self.lock:
            self.radio.set_position(self.device(name), x, y, facing_deg)

    def rssi(self, a, b):
        """Mean RSSI (dBm) station b hears station a with."""
        with self.lock:
            return self.radio.rssi(self.device(a), self.device(b))

    def names(self):
        """Stations on the air now."""
        with self.lock:
            return sorted(self._peers)

    def join(self, name, deliver, raw=None):
        """A new Peer for station `name` (replacing the one there: its VM
        rebooted); deliver(addr_type, addr, adv_type, rssi, data) gets its reports."""
        with self.lock:
            self._retire(name)
            peer = Peer(self.radio, self.device(name), deliver, raw)
            self._peers[name] = peer
            return peer

    def leave(self, name, peer):
        with self.lock:
            if self._peers.get(name) is peer:
                self._retire(name)

    def _retire(self, name):
        old = self._peers.pop(name, None)
        if old is not None:
            for key in [k for k in self._links if k[0] is old]:
                link = self._links.get(key)
                if isinstance(link, Relay):
                    # its peer hears nothing more: supervision ends the link there
                    self._unrelay(link)
                    link.other.peer._raw(b"L" + bytes((link.other.cid, 1)))
                elif link is not None:
                    self._end_link(key)
                    link._on(b"x")
            self._stop_initiating(old)
            self.stop_adv(old)
            self.stop_scan(old)
            self.radio.power(old, False)

    def advertise(self, peer, itvl_us, addr_type, addr, adv_type, adv_data, resp_data):
        with self.lock:
            self.radio.stop_adv(peer)
            peer._adv_itvl = itvl_us
            peer._addr = (addr_type, bytes(addr))
            peer._adv_type = adv_type
            peer._adv_data, peer._resp_data = bytes(adv_data), bytes(resp_data)
            self.radio.start_adv(peer)

    def stop_adv(self, peer):
        with self.lock:
            self.radio.stop_adv(peer)

    def scan(self, peer, itvl_us, win_us, active):
        with self.lock:
            peer._scanning, peer._scan_active = True, bool(active)
            peer._scan_params = (itvl_us, win_us)
            self.radio.listen_start(peer, 1, itvl_us, win_us)

    def stop_scan(self, peer):
        with self.lock:
            peer._scanning = False
            self.radio.listen_stop(peer)

    def connect(self, central, addr, timeout, addr_type=None):
        """Connect Peer `central` (a host Central) to the station advertising
        connectably as `addr` (6 bytes; of `addr_type` if given, else of
        either type): as a VM's gap_connect does, it listens as an initiator
        on the air until one of that station's ADV_INDs gets through
        (collisions, fading, range) and the radio's CONNECT_IND reaches it,
        then the badge's VM accepts (or refuses: 3 links, and the central
        listens on). A Connection, or ConnectionError after `timeout` s."""
        addr = bytes(addr)
        end = time.monotonic() + timeout
        with self._changed:
            if central._connecting is not None:
                raise ConnectionError("already connecting")  # NimBLE: one ble_gap_connect at a time
            central._connecting = (addr_type, addr)
            central._made = None
            self.initiate(central)
            try:
                while True:
                    conn = central._made
                    if conn is not None and conn.state is not None:
                        if conn.state:
                            central._made = None
                            return conn
                        central._made = None  # refused: its CONNECT_IND was answered by a full badge
                        self.initiate(central)
                        continue
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
            finally:
                self._stop_initiating(central)
                if central._scanning:  # one radio: a scan pauses while it initiates; a phone resumes it
                    self.radio.listen_start(central, 1, *central._scan_params)
            conn, central._made = central._made, None
            if conn is None:
                raise ConnectionError("no connectable advertisement from %s got through in %s s"
                                      % (addr.hex(":"), timeout))
            # the CONNECT_IND went but the badge's VM never answered: end its side
            self._end_link((conn.peer, conn.cid))
            conn.peer._raw(b"X" + bytes((conn.cid,)))
            raise ConnectionError("%s did not accept the connection" % addr.hex(":"))

    def _connected(self, central, target):
        # the radio sent a host Central's CONNECT_IND to a badge: its VM is told
        from host_tools.air.central import Connection

        cid = target._next_cid()
        conn = Connection(self, target, cid)
        conn.central, conn.lost = central, False  # for _check_range
        self._links[(target, cid)] = conn
        central._made = conn
        target._raw(b"C" + bytes((cid, central._addr[0])) + central._addr[1])
        return conn

    # ---- VM-to-VM connections ------------------------------------------------
    def initiate(self, peer):
        """Peer's VM runs gap_connect to peer._connecting: listen as an
        initiator; the radio's CONNECT_IND on a heard ADV_IND relays it."""
        with self.lock:
            if peer._connecting is not None:
                self.radio.listen_start(peer, 2, INIT_SCAN_US, INIT_SCAN_US)

    def _stop_initiating(self, peer):
        peer._connecting = None
        self.radio.listen_stop(peer)

    def _relay(self, central, periph):
        a, b = Relay(self, central, central._next_cid()), Relay(self, periph, periph._next_cid())
        a.other, b.other = b, a
        self._links[(central, a.cid)] = a
        self._links[(periph, b.cid)] = b
        own = central._conn_own
        periph._raw(b"C" + bytes((b.cid, own[0])) + bytes(own[1]) + central._conn_itvl.to_bytes(4, "little"))
        return a

    def _unrelay(self, relay):
        for r in (relay, relay.other):
            if self._links.get((r.peer, r.cid)) is r:
                del self._links[(r.peer, r.cid)]
        relay.events.end()

    def _end_link(self, key):
        # a host Central's Connection ends on the hub (its events with it)
        conn = self._links.pop(key, None)
        if conn is not None and conn.events is not None:
            conn.events.end()
        return conn

    def _check_range(self):
        # a link lives as long as its two stations hear each other: each VM
        # is told when its peer (a VM or a host central) falls silent or is
        # heard again, and its link's supervision does the rest
        for r in list(self._links.values()):
            other = r.other.peer if isinstance(r, Relay) else getattr(r, "central", None)
            if other is not None:
                lost = not self.radio.hears(r.peer._dev, other._dev)
                if lost != r.lost:
                    r.lost = lost
                    r.peer._raw(b"L" + bytes((r.cid, 1 if lost else 0)))

    def forget(self, conn):
        with self.lock:
            if self._links.get((conn.peer, conn.cid)) is conn:
                self._end_link((conn.peer, conn.cid))

    # ---- the socket ---------------------------------------------------------
    def start(self):
        if self._thread is not None:
            return self
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(self.path) and stat.S_ISSOCK(os.stat(self.path).st_mode):
            os.unlink(self.path)  # left by a hub that was killed; anything else is not ours: bind refuses
        srv.bind(self.path)
        srv.listen(64)
        self._srv = srv
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="air-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._stopping = True
            self._thread.join()
            self._thread = None
        for s in list(self._conns):
            self._drop(s)
        if self._srv is not None:
            self._srv.close()
            self._srv = None
            if os.path.exists(self.path):
                os.unlink(self.path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _loop(self):
        while not self._stopping:
            ready, _, _ = select.select([self._srv] + list(self._conns), [], [], POLL_S)
            with self.lock:
                for s in ready:
                    if s is self._srv:
                        c, _ = s.accept()
                        c.setblocking(False)
                        self._conns[c] = [bytearray(), None]
                    else:
                        self._read(s)
                self.world.clock.poll()  # runs the radio's events up to now
                self._check_range()

    def _read(self, s):
        try:
            data = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(s)
            return
        st = self._conns[s]
        st[0] += data
        take_frames(st[0], lambda p: self._frame(s, st, p))

    def _frame(self, s, st, p):
        # a VM's frames (cpsim/airclient.py); anything malformed is ignored
        if not p:
            return
        kind, peer = p[:1], st[1]
        if kind == b"U":  # a tool's command, answered on its connection
            self._raw(s, b"u" + self._command(p[1:]))
        elif kind == b"H":
            name = p[1:].decode("utf-8", "replace")
            st[1] = self.join(name, lambda *r: self._send(s, r), lambda q: self._raw(s, q))
            st.append(name)
        elif peer is None:
            return
        elif kind in _CONN_KINDS and len(p) >= 2:
            conn = self._links.get((peer, p[1]))
            if conn is not None:
                if not isinstance(conn, Relay) and (kind == b"x" or (kind == b"c" and p[2:3] != b"\x00")):
                    self._end_link((peer, p[1]))
                conn._on(p)
                self._changed.notify_all()
        elif kind == b"K" and len(p) == 19:
            peer._conn_own = (p[1], bytes(p[2:8]))
            peer._connecting = (p[8], bytes(p[9:15]))
            peer._conn_itvl = int.from_bytes(p[15:19], "little")
            self.initiate(peer)
        elif kind == b"k":
            self._stop_initiating(peer)
        elif kind == b"A" and len(p) >= 14 and len(p) >= 14 + p[13] and p[13] <= 31 and len(p) - 14 - p[13] <= 31:
            n = p[13]
            self.advertise(peer, int.from_bytes(p[1:5], "little"), p[5], p[7:13], p[6], p[14:14 + n], p[14 + n:])
        elif kind == b"a":
            self.stop_adv(peer)
        elif kind == b"S" and len(p) == 10:
            itvl, win = int.from_bytes(p[1:5], "little"), int.from_bytes(p[5:9], "little")
            if 0 < win <= itvl:
                self.scan(peer, itvl, win, p[9])
        elif kind == b"s":
            self.stop_scan(peer)

    def _command(self, text):
        import json

        try:
            cmd = json.loads(text.decode())
            if not isinstance(cmd, dict):
                raise ValueError("not an object")
        except ValueError as e:
            answer = {"ok": False, "error": "bad command: %s" % e}
        else:
            if self.commands is None:
                answer = {"ok": False, "error": "this air hub takes no commands"}
            else:
                try:
                    answer = self.commands(cmd)
                except Exception as e:  # a tool's mistake never stops the air
                    answer = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        out = json.dumps(answer, separators=(",", ":")).encode()
        return out if len(out) <= 254 else json.dumps({"ok": False, "error": "answer too long"}).encode()

    def tell(self, name, payload):
        """Send a frame to station `name`'s VM (LookupError if it is not on the air)."""
        with self.lock:
            peer = self._peers.get(name)
            if peer is None or peer._raw is None:
                raise LookupError(name)
            peer._raw(payload)

    def _send(self, s, report):
        atype, addr, kind, rssi, data = report
        rssi = -128 if rssi < -128 else (127 if rssi > 127 else rssi)
        self._raw(s, b"R" + bytes((atype,)) + addr + bytes((kind, rssi + 128)) + data)

    def _raw(self, s, p):
        try:
            s.send(self._framed(p))
        except OSError:
            pass  # the VM is not reading (its buffers are full) or gone: the report is lost

    def _drop(self, s):
        st = self._conns.pop(s, None)
        if st is not None and st[1] is not None:
            self.leave(st[2], st[1])
        s.close()

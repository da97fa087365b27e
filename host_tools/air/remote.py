"""A host-side central in ANOTHER process than the air hub: what `cloudpin
phone --air` runs from a second terminal while `cloudpin virtual-badge`
(or `make demo`) serves the badges. It joins the hub through the hub's
socket as a badge's VM does (the frames of cpsim/airclient.py and
cpsim/airlink.py): hello, scan, and a connection as a VM's gap_connect
makes one (`K`; the hub relays the link between this process and the
badge's VM as between two VMs, docs/radio.md "Shared air"). It offers what
host_tools.air.Central offers in the hub's process (scan, wait_for,
connect -> a Connection with discover, read, write, wait_notification,
disconnect), so host_tools.phone.transports runs on either.

Finding the hub (find_hubs): an explicit socket path, else $CLOUDPIN_AIR
(what the farm gives its badges' VMs), else every farm running on this
machine (their sockets `cloudpin-air-*.sock` in the temporary folder, as
`cloudpin virtual-badge tap` finds them): the phone then looks for its
pin on each (host_tools.phone.transports.connect_hub)."""
import glob
import os
import socket
import tempfile
import threading
import time

from host_tools.air.central import Central, Connection
from host_tools.air.hub import HOST_CONN_ITVL_US, _cpsim, take_frames

SOCKET_GLOB = "cloudpin-air-*.sock"  # AirHub's default name (host_tools/air/hub.py)
SUPERVISION_S = 2.56  # a link whose peer went silent ends this long after (cpsim.link's supervision timeout)


class HubNotFound(ConnectionError):
    """No air hub to join; the message says what to do."""


def _live(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False  # a farm that was killed left its socket, or not a socket of ours
    finally:
        s.close()


def find_hubs(path=None):
    """The socket paths of the air hubs to look on: [path] if given, else
    [$CLOUDPIN_AIR], else every live farm's on this machine (HubNotFound if none)."""
    if path:
        return [str(path)]
    env = os.environ.get("CLOUDPIN_AIR")
    if env:
        return [env]
    found = [p for p in sorted(glob.glob(os.path.join(tempfile.gettempdir(), SOCKET_GLOB))) if _live(p)]
    if not found:
        raise HubNotFound("no virtual badges are running on this machine (no air hub: start them with "
                          "`cloudpin virtual-badge` or `make demo`, or give --air SOCKET)")
    return found


class RemoteConnection(Connection):
    """A link to one badge relayed by the hub; its frames go through the
    RemoteCentral's socket (the ATT frames are Connection's own)."""

    def _send(self, payload):
        if not self.state:
            raise ConnectionError("not connected")
        self.peer._write(payload)

    def _lost(self, lost):
        # the hub hears the badge no more (out of range, its VM gone): the
        # link ends after the supervision timeout unless it is heard again
        self._silent = time.monotonic() if lost else None
        if lost:
            t = threading.Timer(SUPERVISION_S, self._supervise)
            t.daemon = True
            t.start()

    def _supervise(self):
        if getattr(self, "_silent", None) is not None:
            self._on(b"x")

    def disconnect(self, timeout=10.0):
        # the hub ends the relay at once and tells the badge (X); nothing comes back
        if self.state:
            self._send(b"X" + bytes((self.cid,)))
        self._on(b"x")
        self.peer._conns.pop(self.cid, None)


class RemoteCentral(Central):
    """Central's API from another process (see the module's doc). `path`:
    the hub's socket (one of find_hubs()); `name`: the station's (each process
    its own, so that two terminals do not replace each other's)."""

    def __init__(self, path, name=None, timeout=10.0):
        _cpsim()
        from cpsim.airclient import frame

        self._frame = frame
        self.path = str(path)
        self.name = name or "phone-%d" % os.getpid()
        self.hub = None
        self._cond = threading.Condition()
        self._adverts = []
        self._conns = {}  # the hub's cid -> RemoteConnection
        self._initiating = None  # (addr_type, addr) while connect() waits
        self._made = None
        self._closed = False
        # a random static address (top bits 11), new each run as a phone's private one
        self.addr = bytes((0xC0 | os.urandom(1)[0] & 0x3F,)) + os.urandom(5)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.path)
        except OSError as e:
            s.close()
            raise HubNotFound("cannot reach the air hub at %s: %s (are the virtual badges running?)"
                              % (self.path, e.strerror or e)) from None
        s.settimeout(None)
        self._sock = s
        self._wlock = threading.Lock()
        self._write(b"H" + self.name.encode())
        self._reader = threading.Thread(target=self._read, name="air-remote", daemon=True)
        self._reader.start()

    # ---- the socket -----------------------------------------------------------
    def _write(self, payload):
        with self._wlock:
            try:
                self._sock.sendall(self._frame(payload))
            except OSError:
                raise ConnectionError("the air hub at %s is gone" % self.path) from None

    def _read(self):
        buf = bytearray()
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            take_frames(buf, self._on_frame)
        with self._cond:  # the hub stopped: every link with it
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
            self._cond.notify_all()
        for c in conns:
            c._on(b"x")

    def _on_frame(self, p):
        kind = p[:1]
        if kind == b"R" and len(p) >= 10:
            self._deliver(p[1], bytes(p[2:8]), p[8], p[9] - 128, bytes(p[10:]))
        elif kind == b"P" and len(p) >= 14:
            cid, addr = p[1], (p[3], bytes(p[4:10]))
            with self._cond:
                if p[2] == 0 and self._initiating is not None and self._initiating == addr and cid not in self._conns:
                    conn = RemoteConnection(None, self, cid)
                    conn.state = True
                    self._conns[cid] = conn
                    self._made = conn
                    self._initiating = None
                    self._cond.notify_all()
                    return
            self._write(b"x" + bytes((cid,)))  # given up meanwhile: end it at once, as a VM does
        elif len(p) >= 2:
            conn = self._conns.get(p[1])
            if conn is None:
                return
            if kind == b"X":
                self._conns.pop(p[1], None)
                conn._on(b"x")
            elif kind == b"L" and len(p) >= 3:
                conn._lost(bool(p[2]))
            else:
                conn._on(p)  # v w e d n N: the badge's answers and notifications

    # ---- what a Central does --------------------------------------------------
    def scan(self, interval_us=30000, window_us=30000, active=False):
        if not 0 < window_us <= interval_us:
            raise ValueError("scan window must be positive and at most the interval")
        self._write(b"S" + int(interval_us).to_bytes(4, "little") + int(window_us).to_bytes(4, "little")
                    + bytes((1 if active else 0,)))

    def stop_scan(self):
        try:
            self._write(b"s")
        except ConnectionError:
            pass  # the hub is gone: nothing scans any more

    def advertise(self, adv_data, interval_us=100000, resp_data=b"", connectable=False, addr=None, addr_type=1):
        raise NotImplementedError("a central in another process does not advertise (it takes no connections)")

    def _type_of(self, addr, timeout):
        # K names the address's type: the one its adverts carry, as a phone
        # knows it from its scan (scan for one if none was heard yet)
        def adv_ind(a):
            return a.addr == addr and a.adv_type == 0

        for a in reversed(self.adverts()):
            if adv_ind(a):
                return a.addr_type
        self.scan()
        try:
            a = self.wait_for(adv_ind, timeout)
        finally:
            self.stop_scan()
        return None if a is None else a.addr_type

    def connect(self, addr, timeout=10.0, addr_type=None):
        """A RemoteConnection to the badge advertising connectably as `addr`;
        ConnectionError after `timeout` s (none heard, out of range, refused)."""
        addr = bytes(addr)
        end = time.monotonic() + timeout
        if addr_type is None:
            addr_type = self._type_of(addr, timeout)
            if addr_type is None:
                raise ConnectionError("no connectable advertisement from %s got through in %s s"
                                      % (addr.hex(":"), timeout))
        with self._cond:
            if self._initiating is not None:
                raise ConnectionError("already connecting")
            self._initiating, self._made = (addr_type, addr), None
        self._write(b"K" + bytes((1,)) + self.addr + bytes((addr_type,)) + addr
                    + HOST_CONN_ITVL_US.to_bytes(4, "little"))
        try:
            with self._cond:
                self._cond.wait_for(lambda: self._made is not None or self._closed,
                                    max(0.0, end - time.monotonic()))
                conn, self._made, self._initiating = self._made, None, None
        finally:
            try:
                self._write(b"k")  # stop initiating (a VM does too once connected)
            except ConnectionError:
                pass  # the hub is gone: said below
        if conn is None:
            if self._closed:
                raise ConnectionError("the air hub at %s stopped" % self.path)
            raise ConnectionError("no connectable advertisement from %s got through in %s s"
                                  % (addr.hex(":"), timeout))
        return conn

    def close(self):
        for c in list(self._conns.values()):
            if c.connected:
                try:
                    c.disconnect()
                except ConnectionError:
                    pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(2.0)

# The radio of a virtual badge on shared air: what the pin advertises and
# when it scans goes to the farm's air hub (host_tools/air/hub.py), which owns
# the one cpsim.radio.Radio every badge of the farm is a station of; what that
# air decodes for this pin comes back as advertising reports. The local Radio
# still keeps the pin's own bookkeeping (accounting, timers): it just has no
# other station to hear. docs/radio.md, "Shared air", has the protocol.
#
# Frames both ways: the payload's length, then the payload; payload[0] says
# what. The length is one byte below 255, else 255 and two bytes (LE): ATT
# values of a large MTU (up to 512) take more than one byte.
#   VM -> hub  H name                      hello: which station this is
#              A itvl(4 LE) atype adv_type addr(6) n data(n) rsp
#                                          advertising (re)started
#              a                           advertising stopped
#              S itvl(4 LE) win(4 LE) active
#                                          scanning started
#              s                           scanning stopped
#   hub -> VM  R atype addr(6) kind rssi(+128) data
#                                          an advertising report
#              T at_ns(8 LE) length_ms(2 LE) name
#                                          a touch to feel (cpsim/touch.py)
#              K own_atype own(6) atype addr(6) itvl(4 LE)
#                                          gap_connect: initiate to addr
#              k                           initiating stopped
# and the frames of connections, to host centrals and other VMs
# (cpsim/airlink.py has them).
# The socket is non-blocking and read from a clock Event every POLL_US, which
# the WallClock runs from asyncio's idle hook (default_device._poll_from_asyncio)
# and whenever the firmware reads the time: a pin that never yields hears
# nothing, as a board whose NimBLE task never runs would.
import select
import socket

from cpsim.clock import Event
from cpsim.radio import Radio

POLL_US = 5000
_BUF = 1024


def frame(payload):
    n = len(payload)
    return (bytes((n,)) if n < 255 else bytes((255, n & 0xFF, n >> 8))) + payload


def next_frame(b, i, have):
    """(start, length) of the payload of the frame at b[i], or None while it
    is not all in b[:have]."""
    n, s = b[i], i + 1
    if n == 255:
        if i + 3 > have:
            return None
        n, s = b[i + 1] | b[i + 2] << 8, i + 3
    return (s, n) if s + n <= have else None


class AirRadio(Radio):
    def __init__(self, world, path, name):
        Radio.__init__(self, world)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        p = path.encode() if isinstance(path, str) else path
        # the unix port takes a raw struct sockaddr_un: sa_family (AF_UNIX, host order), path, NUL
        s.connect(bytes((socket.AF_UNIX & 0xFF, socket.AF_UNIX >> 8)) + p + b"\0")
        s.setblocking(False)
        self._sock = s
        self._poller = select.poll()
        self._poller.register(s, select.POLLIN)
        self._ipoll = getattr(self._poller, "ipoll", self._poller.poll)
        self._buf = bytearray(_BUF)
        self._mv = memoryview(self._buf)
        self._have = 0
        self._ble = None
        self._links = {}  # hub connection number -> cpsim.link.Link (cpsim/airlink.py)
        self._send(b"H" + (name.encode() if isinstance(name, str) else name))
        self._ev = Event(self._poll)
        self.clock.call_at(self.clock.now_us() + POLL_US, self._ev)

    def _send(self, payload):
        if self._sock is None:
            return
        try:
            self._sock.send(frame(payload))
        except OSError:
            pass  # the hub is gone or not reading: the air loses it

    def attach(self, ble):
        self._ble = ble
        return Radio.attach(self, ble)

    def start_adv(self, ble):
        Radio.start_adv(self, ble)
        atype, addr = ble._adv_address()
        data, rsp = ble._adv_data, ble._resp_data
        i = ble._adv_itvl
        self._send(b"A" + bytes((i & 0xFF, (i >> 8) & 0xFF, (i >> 16) & 0xFF, i >> 24, atype, ble._adv_type))
                   + bytes(addr) + bytes((len(data),)) + data + rsp)

    def stop_adv(self, ble):
        if ble._adv_on:
            self._send(b"a")
        Radio.stop_adv(self, ble)

    def listen_start(self, ble, mode, itvl, win):
        Radio.listen_start(self, ble, mode, itvl, win)
        if mode == 1:
            self._send(b"S" + itvl.to_bytes(4, "little") + win.to_bytes(4, "little")
                       + bytes((1 if ble._scan_active else 0,)))
        elif mode == 2 and ble._connecting is not None:
            # the hub's air hears the target's ADV_IND and answers with P
            own, to = ble._conn_own, ble._connecting
            self._send(b"K" + bytes((own[0],)) + bytes(own[1]) + bytes((to[0],)) + bytes(to[1])
                       + ble._conn_itvl.to_bytes(4, "little"))

    def listen_stop(self, ble):
        mode = ble._st.mode
        if mode == 1:
            self._send(b"s")
        elif mode == 2:
            self._send(b"k")
        Radio.listen_stop(self, ble)

    def _poll(self):
        self.clock.call_at(self.clock.now_us() + POLL_US, self._ev)
        s = self._sock
        if s is None:
            return
        for _ in self._ipoll(0):
            try:
                n = s.recv_into(self._mv[self._have:]) if hasattr(s, "recv_into") else s.readinto(self._mv[self._have:])
            except OSError:
                return
            if not n:
                self._sock = None  # the hub closed: this pin's air is silent from now on
                s.close()
                return
            self._have += n
            self._frames()
            return

    def _frames(self):
        b, mv, i, have = self._buf, self._mv, 0, self._have
        while i < have:
            if b[i] < 255:  # the usual short frame (reports), inline
                if i + 1 + b[i] > have:
                    break
                n = b[i]
            else:
                f = next_frame(b, i, have)
                if f is None:
                    break
                i, n = f[0] - 1, f[1]  # the handlers read the payload from b[i + 1]
            if n >= 10 and b[i + 1] == 0x52:  # R: a report of at least atype, addr, kind, rssi
                ble = self._ble
                if ble is not None and ble._scanning:
                    ble._on_adv(b[i + 2], mv[i + 3:i + 9], b[i + 9], b[i + 10] - 128, mv[i + 11:i + 1 + n])
            elif n >= 2 and b[i + 1] in b"CPQWXDMvwedmnNLYyZ":  # a connection's (cpsim/airlink.py)
                from cpsim import airlink

                airlink.frame(self, b, i, n)
            elif n >= 12 and b[i + 1] == 0x54:  # T: a touch to feel (cpsim/touch.py)
                from cpsim import touch

                touch.frame(self, b, i, n)
            i += 1 + n
        if i:
            b[0:have - i] = b[i:have]
            self._have = have - i

# The phone service on the radio (cloudpin.ble, docs/ble.md): its GATT
# service declared before the radio first starts, the phone window's
# advertising, fragments in and out, events from the bus.
#
# The phone window is a radio window (power, issue 12): the pin advertises
# for the phone only when asked, never all day. A DOUBLE tap (two taps
# DOUBLE_TAP_MS apart at most) opens it for WINDOW_S (the wearer double-taps
# the pin, then presses "connect" on the phone); open() does the same for a
# button. A single tap is meet and greet's gesture: it must not cost a
# minute of radio each time. The window serves every connection that comes
# before its deadline (each `cloudpin phone` command is one): the beacon
# pauses while a phone is connected and comes back after it, until the
# window's end. While a phone is connected the radio stays on;
# a connection that has not proved the secret within PROOF_S, or an owner
# session idle for IDLE_S, is closed so that a forgotten phone does not keep
# the radio on.
#
# IRQ callbacks only copy and queue (they run between any two bytecodes);
# the work (HMAC, flash, notifications) runs in this role's task.
#
# The task waits on the light sleeper (cloudpin.power): with no window and
# no link open it waits on its flag alone (a double tap, a write or a bus
# event sets it), so a pin nobody pairs with never wakes for the phone; while
# one is open it looks again every POLL_MS through the sleeper's wait_ms, a
# deadline the sleeper knows (the app gives it, as it does the updates').
#
# The heap at each step of a session is logged (gc.mem_free: the window
# opening, the owner's proof, the session's end with the least seen during
# it), so that a pin's log shows what a phone session costs it.
import asyncio
import gc
import struct
import sys
import time

import bluetooth
from micropython import const

from cloudpin import bus as topics
from cloudpin.ble.advertiser import PHONE as _PRIO
from cloudpin.phone import ids

WINDOW_S = const(60)
DOUBLE_TAP_MS = const(1000)
PROOF_S = const(10)
IDLE_S = const(60)
POLL_MS = const(500)  # while a window or link is open: resume the beacon, close on time
# What a phone window and an owner session take on top of an idle pin, in
# machine words (4 bytes on the ESP32, 8 in the VM): the protocol, service
# and backend, the radio on, a connection and the largest answer (a page of
# friends), measured on a virtual badge (docs/heap.md, "A phone session":
# 27.5 KB in the VM, 3,444 words), and 2 KB (VM) to spare.
NEED_WORDS = const(3700)
ADV_MS = const(200)  # the window's advertising interval: a phone finds it in well under a second
FRAGMENT = const(20)  # notifications of ATT_MTU 23 - 3, until the phone exchanges a larger MTU
_MAX_FRAGMENT = const(244)  # MTU 247, a common maximum (LE data length 251): larger MTUs gain nothing here
_RX_BUF = const(256)  # one write of up to MTU - 3 (NimBLE's largest MTU is 256 by default)
_NOTIFY_TRIES = const(50)  # a full host buffer pool (ENOMEM) clears in a few connection events
_F_WRITE = const(0x0008)
_F_WRITE_NR = const(0x0004)
_F_NOTIFY = const(0x0010)


def _free():
    gc.collect()
    return gc.mem_free()


async def _wait_ms(flag, ms):
    # without a sleeper (tests, an app with sleep off): plain asyncio, as PowerService.wait_ms
    try:
        await asyncio.wait_for_ms(flag.wait(), ms)
        return True
    except asyncio.TimeoutError:
        return False


class PhoneWindow:
    """When the pin advertises for its phone: until a deadline that a tap
    or open() pushes out (pure, on ticks_ms)."""

    def __init__(self, length_s=WINDOW_S):
        self.length_ms = length_s * 1000
        self._until = 0
        self._open = False
        self.opened = 0  # windows opened since boot
        self._tap = None  # ticks_ms of the last single tap

    def tap(self, now_ms):
        """A tap; the second of a double tap opens the window (True)."""
        last, self._tap = self._tap, now_ms
        if last is not None and 0 < time.ticks_diff(now_ms, last) <= DOUBLE_TAP_MS:
            self._tap = None
            self.open(now_ms)
            return True
        return False

    def open(self, now_ms, seconds=0):
        if not self._open:
            self.opened += 1
        self._open = True
        self._until = time.ticks_add(now_ms, seconds * 1000 if seconds else self.length_ms)

    def close(self):
        self._open = False

    def is_open(self, now_ms):
        if self._open and time.ticks_diff(self._until, now_ms) <= 0:
            self._open = False
        return self._open


class PhoneRole:
    name = "phone"  # a supervised service (cloudpin.supervisor)

    def __init__(self, owner, make_service, bus, log, window_s=WINDOW_S, random=None):
        """make_service() -> the PhoneService, called on the first double tap or
        write (its modules load then, not at boot)."""
        import os

        self.owner = owner
        self._make_service = make_service
        self.service = None
        self.battery = (-1, False)
        self.log = log
        self.bus = bus
        self._random = random or os.urandom
        self._server = owner.server()
        u = bluetooth.UUID
        self._svc = self._server.service(u(ids.SERVICE_UUID), (
            (u(ids.RX_UUID), _F_WRITE | _F_WRITE_NR, _RX_BUF),
            (u(ids.TX_UUID), _F_NOTIFY),
        ), on_write=self._on_write)
        self._server.links(None, self._on_disconnect)
        self._adv = owner.advertiser()
        self.window = PhoneWindow(window_s)
        self._inbox = []  # ("w", conn, bytes) or ("x", conn, None), queued in IRQ context
        self._events = []  # (code, payload) from the bus, for owner sessions
        self._conns = {}  # conn -> [first write ticks, last request ticks, owner session]
        self._flag = asyncio.ThreadSafeFlag()
        self.holding = False
        self.advertising = False
        self.sent = 0  # fragments notified
        self.dropped = 0  # messages lost to a link that went away
        self.passes = 0  # steps run (a pin with no window or link runs none)
        self.need_words = NEED_WORDS
        self.refusals = 0  # windows refused for want of heap
        self.least_free = -1  # gc.mem_free() least seen in the current owner session
        self._opened = 0  # the window's `opened` last logged
        self.wait_ms = _wait_ms  # (flag, ms) -> awaitable; the app gives the sleeper's (PowerService.wait_ms)
        bus.subscribe(topics.TAP, self._on_tap)
        bus.subscribe(topics.FRIEND, self._on_friend)
        bus.subscribe(topics.UPDATE, self._on_update)
        bus.subscribe(topics.DESIGN, self._on_design)
        bus.subscribe(topics.BATTERY, self._on_battery)

    # -- IRQ context: copy, queue, wake the task ------------------------------
    def _on_write(self, conn, handle, value):
        h = self._svc.handles
        if h is not None and handle == h[0]:
            self._inbox.append(("w", conn, value))
            self._flag.set()

    def _on_disconnect(self, conn):
        if conn in self._conns:
            self._inbox.append(("x", conn, None))
            self._flag.set()

    # -- bus (the publisher's task: queue only) -------------------------------
    def open(self, now_ms=None, seconds=0):
        """Open the phone window (a button, a command)."""
        self.window.open(time.ticks_ms() if now_ms is None else now_ms, seconds)
        self._flag.set()

    def _on_tap(self, t_ms, mg):
        if self.window.tap(t_ms):
            self._flag.set()

    def _on_friend(self, slot, t_ms):
        self._events.append((ids.EV_FRIEND, slot))
        self._flag.set()

    def _on_update(self, slot, steps, made, unix_s):
        self._events.append((ids.EV_UPDATE, (slot, steps, made, unix_s)))
        self._flag.set()

    def _on_design(self, index):
        self._events.append((ids.EV_DESIGN, index))
        self._flag.set()

    def _on_battery(self, percent, low):
        self.battery = (percent, bool(low))
        if self.service is not None:
            self.service.backend.battery = self.battery
        self._events.append((ids.EV_BATTERY, (percent, low)))
        self._flag.set()

    # -- the task -------------------------------------------------------------
    def idle(self, now):
        """Nothing to look after until the flag is set: no window, no link,
        the radio not held."""
        return not (self._conns or self.holding or self.advertising or self.window.is_open(now))

    async def run(self):
        while True:
            if self.idle(time.ticks_ms()):
                await self._flag.wait()
            else:
                await self.wait_ms(self._flag, POLL_MS)
            await self.step(time.ticks_ms())

    async def step(self, now):
        """One pass: writes, events, the window, timeouts."""
        self.passes += 1
        if self.service is None:
            if not self._inbox and not self.window.is_open(now):
                self._events = []  # no phone can be in: nobody to tell
                return
            if not self._room():
                self.window.close()
                self._inbox = []
                self._events = []
                return
            self.service = self._make_service()
            self.service.backend.battery = self.battery
        svc = self.service
        while self._inbox:
            kind, conn, data = self._inbox.pop(0)
            if kind == "x":
                self._gone(svc, conn)
            else:
                await self._write(svc, conn, data, now)
        while self._events:
            code, arg = self._events.pop(0)
            await self._event(svc, code, arg)
        self._timeouts(svc, now)
        await self._radio(svc, now)
        if self.window.opened != self._opened:
            self._opened = self.window.opened  # (its service loaded, the radio on)
            self.log.info("phone window open mem_free=%d" % _free())

    def _room(self):
        # The service's modules load now: a load that runs out half way
        # gives the heap back but not the names it interned (docs/heap.md,
        # "The qstr pools"), and a session that runs out drops the phone.
        # So with less than a session needs, the window stays shut (logged).
        need = self.need_words * (8 if sys.maxsize > 0x7FFFFFFF else 4)
        free = _free()
        if free >= need:
            return True
        self.log.error("phone off: out of heap (%d bytes free, %d needed)" % (free, need))
        self.refusals += 1
        return False

    async def _write(self, svc, conn, data, now):
        st = self._conns.get(conn)
        if st is None:
            st = self._conns[conn] = [now, now, False]
            svc.connect(conn)
        ans = svc.write(conn, data, now)
        if ans is None:
            return
        st[1] = now
        if not st[2] and svc.authenticated(conn):
            st[2] = True  # (the window stays: a command each connection, as `cloudpin phone` makes them)
            self.least_free = _free()
            self.log.info("phone owner in mem_free=%d" % self.least_free)
            self.bus.publish(topics.PHONE, True)
        elif st[2]:
            free = _free()  # with the answer alive: the session's peak (a collect, ~ms, per request)
            if free < self.least_free:
                self.least_free = free
        await self._send(conn, ans)

    async def _send(self, conn, msg):
        h = self._svc.handles
        if h is None:
            self.dropped += 1
            return
        size = min(max(self._server.mtu(conn) - 3, FRAGMENT), _MAX_FRAGMENT)  # the MTU the phone exchanged
        from cloudpin.phone.protocol import fragments

        for frag in fragments(msg, size):
            tries = 0
            while not self._server.notify(conn, h[1], frag):
                tries += 1
                if tries >= _NOTIFY_TRIES or conn not in self._conns:
                    self.dropped += 1
                    return
                await asyncio.sleep_ms(30)  # host buffers full (ENOMEM): one connection event
            self.sent += 1

    async def _event(self, s, code, arg):
        if code == ids.EV_FRIEND:
            out = s.friend_event(arg)
        elif code == ids.EV_UPDATE:
            slot, steps, made, t = arg
            out = s.event(code, struct.pack("<HIHI", slot, min(max(steps, 0), 0xFFFFFFFF), min(max(made, 0), 0xFFFF), t))
        elif code == ids.EV_DESIGN:
            out = s.event(code, bytes((arg & 0xFF,)))
        else:
            out = s.event(code, bytes((arg[0] & 0xFF, 1 if arg[1] else 0)))
        for conn, msg in out:
            await self._send(conn, msg)

    def _gone(self, svc, conn):
        st = self._conns.pop(conn, None)
        svc.disconnect(conn)
        if st is not None and st[2]:
            self.log.info("phone owner gone least_free=%d mem_free=%d" % (self.least_free, _free()))
            self.bus.publish(topics.PHONE, False)

    def _timeouts(self, svc, now):
        for conn, st in list(self._conns.items()):
            if st[2]:
                late = time.ticks_diff(now, st[1]) > IDLE_S * 1000
            else:
                late = time.ticks_diff(now, st[0]) > PROOF_S * 1000
            if late:
                self.log.info("phone link %d closed: %s" % (conn, "idle" if st[2] else "no proof"))
                self._server.disconnect(conn)
                self._gone(svc, conn)

    async def _radio(self, svc, now):
        # The phone window is the radio's lowest priority: while another role
        # holds the radio (a tap window, a friend-update window) its beacon
        # pauses, and it resumes after (the window's time keeps running).
        busy = False
        for u in self.owner.users:
            if u != "phone":
                busy = True
        want_adv = self.window.is_open(now) and not self._conns and not busy
        if (want_adv or self._conns) and not self.holding:
            try:
                await self.owner.acquire("phone")
            except Exception as e:  # the stack did not start (RadioError): try at the next pass
                self.log.warning("phone window: radio %r" % (e,))
                return
            self.holding = True
        if want_adv and not self._adv.holds(_PRIO):
            try:
                self.advertising = self._adv.start(svc.beacon(self._random(4)), ADV_MS, True, _PRIO)
            except OSError as e:
                self.log.warning("phone window: advertise %r" % (e,))
        elif not want_adv and self.advertising:
            self.advertising = False
            self._adv.stop(_PRIO)  # ours only: never another role's advertisement
        if self.advertising and not self._adv.holds(_PRIO):
            self.advertising = False  # a connection ended it, or another role took the advertiser
        if self.holding and not self._conns and not (want_adv or busy and self.window.is_open(now)):
            # (paused for another role, it keeps the radio: no 250 ms restart to resume)
            self.holding = False
            self.owner.release("phone")


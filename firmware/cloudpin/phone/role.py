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
# pauses while a phone is connected and comes back after it, for the
# owner's next command, but only LINGER_S once an owner session has ended:
# the sync is done, and a beacon kept up to the window's end cost a pin
# more radio than the sync itself (docs/power.md). A connection that never
# proved the secret does not shorten it (a stranger must not close the
# owner's window). While a phone is connected the radio stays on;
# a connection that has not proved the secret within PROOF_S, or an owner
# session idle for IDLE_S, is closed so that a forgotten phone does not keep
# the radio on.
#
# IRQ callbacks only copy and queue (they run between any two bytecodes);
# the work (HMAC, flash, notifications) runs in this role's task, its code
# in cloudpin.phone.link, loaded with the service at the first double tap.
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
import sys
import time

import bluetooth
from micropython import const

from cloudpin import bus as topics
from cloudpin.phone import ids

WINDOW_S = const(60)
LINGER_S = const(5)  # the beacon after an owner session ended: a script's next command reconnects in ~1 s
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
_RX_BUF = const(256)  # one write of up to MTU - 3 (NimBLE's largest MTU is 256 by default)
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

    def linger(self, now_ms, seconds=LINGER_S):
        """An owner session ended: close within `seconds` (never later
        than the window would have)."""
        end = time.ticks_add(now_ms, seconds * 1000)
        if self._open and time.ticks_diff(self._until, end) > 0:
            self._until = end

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
        self._rate = None  # (fails, lock_t, lock_ms) of the service last unloaded
        self._frag = None  # memoryview of the notification buffer, while the service is loaded
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
            if not self._load():
                self.window.close()
                self._inbox = []
                self._events = []
                return
        svc = self.service
        from cloudpin.phone import link

        await link.serve(self, svc, now)
        if self.window.opened != self._opened:
            self._opened = self.window.opened  # (its service loaded, the radio on)
            self.log.info("phone window open mem_free=%d" % _free())
        elif self.idle(now):
            self._unload(svc)

    def _load(self):
        """Load the service (and the link's code); False, logged, when the
        heap has not the room or ran out while loading."""
        if not self._room():
            return False
        try:
            svc = self._make_service()
            from cloudpin.phone import link  # noqa: F401  (its code too, before a phone is served)
        except MemoryError as e:  # (the room was there, but not in one piece, or a qstr pool did not fit)
            self.refusals += 1
            self._drop()
            self.log.error("phone off: out of heap while loading (%r)" % (e,))
            return False
        svc.backend.battery = self.battery
        if self._rate is not None:  # wrong proofs count across windows (the lock too)
            svc.fails, svc.lock_t, svc.lock_ms = self._rate
        self.service = svc
        return True

    def _drop(self):
        self.service = None
        self._frag = None
        if sys.implementation.name == "micropython":
            import cloudpin
            import cloudpin.phone

            cloudpin.unload(cloudpin.phone, ("link", "backend", "service", "protocol"))

    def _unload(self, svc):
        # The window is over and no phone is on: the link, protocol, service
        # and backend give their heap back (14 KB in the VM) for meet and greet's
        # next tap. The names they interned stay, so loading them at the next
        # double tap makes no new qstr pool. (Under CPython the tests hold
        # these modules' classes: only the service goes.)
        self._rate = (svc.fails, svc.lock_t, svc.lock_ms)
        self._drop()
        self.log.info("phone window closed mem_free=%d" % _free())

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

# The phone role's work while its service is loaded (cloudpin.phone.role
# loads this module with the protocol at the first double tap or write, and
# drops it with them when the window is over): the writes of each
# connection into the service and its answers out in notifications, the
# bus's events to owner sessions, the proof and idle timeouts, and the
# window's beacon on the radio. Functions of the role `r`: its state stays
# on the role, its code here costs a pin nobody pairs with nothing.
import asyncio
import time

from micropython import const

from cloudpin import bus as topics
from cloudpin.ble.advertiser import PHONE as _PRIO
from cloudpin.phone import ids
from cloudpin.phone.protocol import fragment_into, put_le
from cloudpin.phone.role import ADV_MS, FRAGMENT, IDLE_S, PROOF_S, _free

_MAX_FRAGMENT = const(244)  # MTU 247, a common maximum (LE data length 251): larger MTUs gain nothing here
_NOTIFY_TRIES = const(50)  # a full host buffer pool (ENOMEM) clears in a few connection events


async def serve(r, svc, now):
    """One pass with the service loaded: writes, events, timeouts, the window."""
    while r._inbox:
        kind, conn, data = r._inbox.pop(0)
        if kind == "x":
            _gone(r, svc, conn, now)
        else:
            await _write(r, svc, conn, data, now)
    while r._events:
        code, arg = r._events.pop(0)
        await _event(r, svc, code, arg)
    _timeouts(r, svc, now)
    await _radio(r, svc, now)


async def _write(r, svc, conn, data, now):
    st = r._conns.get(conn)
    if st is None:
        st = r._conns[conn] = [now, now, False]
        svc.connect(conn)
    ans = svc.write(conn, data, now)
    if ans is None:
        return
    st[1] = now
    if not st[2] and svc.authenticated(conn):
        st[2] = True  # (the window stays: a command each connection, as `cloudpin phone` makes them)
        r.least_free = _free()
        r.log.info("phone owner in mem_free=%d" % r.least_free)
        r.bus.publish(topics.PHONE, True)
    elif st[2]:
        free = _free()  # with the answer alive: the session's peak (a collect, ~ms, per request)
        if free < r.least_free:
            r.least_free = free
    await send(r, conn, ans)


async def send(r, conn, msg):
    h = r._svc.handles
    if h is None:
        r.dropped += 1
        return
    size = min(max(r._server.mtu(conn) - 3, FRAGMENT), _MAX_FRAGMENT)  # the MTU the phone exchanged
    if r._frag is None:  # one buffer for every fragment (the stack copies each it is given)
        r._frag = memoryview(bytearray(_MAX_FRAGMENT))
    buf = r._frag
    whole = buf[:size]
    pos, n = 0, len(msg)
    while True:
        k = fragment_into(buf, msg, pos, size)
        pos += k - (3 if pos == 0 else 1)
        tries = 0
        while not r._server.notify(conn, h[1], whole if k == size else buf[:k]):
            tries += 1
            if tries >= _NOTIFY_TRIES or conn not in r._conns:
                r.dropped += 1
                return
            await asyncio.sleep_ms(30)  # host buffers full (ENOMEM): one connection event
        r.sent += 1
        if pos >= n:
            return


async def _event(r, s, code, arg):
    if code == ids.EV_FRIEND:
        out = s.friend_event(arg)
    elif code == ids.EV_UPDATE:
        slot, steps, made, t = arg
        buf = bytearray()
        put_le(buf, slot, 2)
        put_le(buf, min(max(steps, 0), 0xFFFFFFFF), 4)
        put_le(buf, min(max(made, 0), 0xFFFF), 2)
        put_le(buf, t, 4)
        out = s.event(code, bytes(buf))
    elif code == ids.EV_DESIGN:
        out = s.event(code, bytes((arg & 0xFF,)))
    else:
        out = s.event(code, bytes((arg[0] & 0xFF, 1 if arg[1] else 0)))
    for conn, msg in out:
        await send(r, conn, msg)


def _gone(r, svc, conn, now):
    st = r._conns.pop(conn, None)
    svc.disconnect(conn)
    if st is not None and st[2]:
        r.window.linger(now)  # the sync is over: the beacon only for a next command
        r.log.info("phone owner gone least_free=%d mem_free=%d" % (r.least_free, _free()))
        r.bus.publish(topics.PHONE, False)


def _timeouts(r, svc, now):
    for conn, st in list(r._conns.items()):
        if st[2]:
            late = time.ticks_diff(now, st[1]) > IDLE_S * 1000
        else:
            late = time.ticks_diff(now, st[0]) > PROOF_S * 1000
        if late:
            r.log.info("phone link %d closed: %s" % (conn, "idle" if st[2] else "no proof"))
            r._server.disconnect(conn)
            _gone(r, svc, conn, now)


async def _radio(r, svc, now):
    # The phone window is the radio's lowest priority: while another role
    # holds the radio (a tap window, a friend-update window) its beacon
    # pauses, and it resumes after (the window's time keeps running).
    busy = False
    for u in r.owner.users:
        if u != "phone":
            busy = True
    want_adv = r.window.is_open(now) and not r._conns and not busy
    if (want_adv or r._conns) and not r.holding:
        try:
            await r.owner.acquire("phone")
        except Exception as e:  # the stack did not start (RadioError): try at the next pass
            r.log.warning("phone window: radio %r" % (e,))
            return
        r.holding = True
    if want_adv and not r._adv.holds(_PRIO):
        try:
            r.advertising = r._adv.start(svc.beacon(r._random(4)), ADV_MS, True, _PRIO)
        except OSError as e:
            r.log.warning("phone window: advertise %r" % (e,))
    elif not want_adv and r.advertising:
        r.advertising = False
        r._adv.stop(_PRIO)  # ours only: never another role's advertisement
    if r.advertising and not r._adv.holds(_PRIO):
        r.advertising = False  # a connection ended it, or another role took the advertiser
    if r.holding and not r._conns and not (want_adv or busy and r.window.is_open(now)):
        # (paused for another role, it keeps the radio: no 250 ms restart to resume)
        r.holding = False
        r.owner.release("phone")

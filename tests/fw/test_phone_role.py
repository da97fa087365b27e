# The phone role (cloudpin.phone.role) on a stand-in for the radio owner
# with cloudpin.ble's API (server, advertiser, acquire/release): the window
# a tap opens, the radio held only while it is open or a phone is on,
# fragments out with the host's buffer limit, the timeouts, events and
# bus.PHONE.
import asyncio

from phonekit import SECRET, Counter, pin

from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.phone import phoneside as p
from cloudpin.phone import link
from cloudpin.phone import role as rolemod
from cloudpin.phone import service
from cloudpin.phone.role import PhoneRole, PhoneWindow


class Log:
    def __init__(self):
        self.lines = []

    def info(self, m):
        self.lines.append(m)

    warning = error = info

    def exc(self, e, m):
        self.lines.append(m)


class Svc:
    def __init__(self):
        self.handles = None


class Server:
    def __init__(self):
        self.svc = Svc()
        self.sent = []  # (conn, handle, bytes)
        self.full = 0  # refuse this many notifies (ENOMEM)
        self.closed = []
        self.on_write = None
        self.on_disconnect = None
        self.mtus = {}

    def mtu(self, conn):
        return self.mtus.get(conn, 23)

    def service(self, uuid, chars, on_write=None, on_read=None, on_ready=None):
        assert [c[1] for c in chars] == [0x0C, 0x10]
        self.on_write = on_write
        return self.svc

    def links(self, on_connect=None, on_disconnect=None):
        self.on_disconnect = on_disconnect

    def notify(self, conn, handle, data=None, indicate=False):
        if self.full:
            self.full -= 1
            return False
        self.sent.append((conn, handle, bytes(data)))
        return True

    def disconnect(self, conn):
        self.closed.append(conn)
        self.on_disconnect(conn)
        return True


class Adv:
    def __init__(self):
        self.advertising = False
        self.data = None
        self.starts = 0

    def start(self, data, interval_ms=100, connectable=False, prio=2):
        assert connectable and len(data) <= 31 and prio == 0  # the phone's: the lowest
        self.data = data
        self.advertising = True
        self.starts += 1
        return True

    def holds(self, prio):
        return self.advertising and prio == 0

    def stop(self, prio=2):
        if prio == 0:
            self.advertising = False


class Owner:
    def __init__(self):
        self.srv = Server()
        self.adv = Adv()
        self.users = []

    def server(self):
        return self.srv

    def advertiser(self):
        return self.adv

    async def acquire(self, name):
        self.users.append(name)
        self.srv.svc.handles = (21, 23)

    def release(self, name):
        self.users.remove(name)
        if not self.users:
            self.srv.svc.handles = None


def rig(friends=3):
    svc = pin(friends=friends)
    owner = Owner()
    bus = Bus()
    phone_events = []
    bus.subscribe(topics.PHONE, lambda on: phone_events.append(on))
    r = PhoneRole(owner, lambda: svc, bus, Log(), random=Counter(3))
    return r, owner, bus, phone_events


def write(r, owner, conn, msg, now, size=20):
    """The phone writes msg; the pin's answer reassembled from its notifications."""
    for f in p.fragments(msg, 20):
        owner.srv.on_write(conn, 21, f)
    mark = len(owner.srv.sent)
    asyncio.run(r.step(now))
    rx = p.Reassembler()
    got = None
    for c, h, frag in owner.srv.sent[mark:]:
        assert c == conn and h == 23 and len(frag) <= size
        got = rx.feed(frag)
    return None if got is None else bytes(got)


def test_window_opens_on_a_double_tap_and_closes_on_time():
    w = PhoneWindow(60)
    assert not w.tap(0) and not w.tap(1500) and not w.is_open(1500)  # too far apart
    assert w.tap(2400) and w.is_open(2400)  # 900 ms after the last
    assert not w.tap(2500)  # a third tap starts a new pair
    w.close()
    assert not w.is_open(0)
    w.open(1000)
    assert w.is_open(60999) and not w.is_open(61000)
    w.open((1 << 30) - 10)  # across the ticks wrap
    assert w.is_open(100) and w.opened == 3


def test_a_double_tap_opens_the_window_and_the_radio_only_for_it():
    r, owner, bus, _ = rig()
    asyncio.run(r.step(0))
    assert owner.users == [] and not owner.adv.advertising
    bus.publish(topics.TAP, 1000, 1800)  # meet and greet's single taps: no window
    bus.publish(topics.TAP, 3000, 1800)
    asyncio.run(r.step(3000))
    assert owner.users == [] and not owner.adv.advertising and r.service is None
    bus.publish(topics.TAP, 4600, 1800)
    bus.publish(topics.TAP, 5000, 1800)  # 400 ms after the last: a double tap
    asyncio.run(r.step(5000))
    assert owner.users == ["phone"] and owner.adv.advertising
    assert p.is_mine(owner.adv.data, SECRET)
    asyncio.run(r.step(5000 + rolemod.WINDOW_S * 1000))
    assert owner.users == [] and not owner.adv.advertising


def test_a_window_the_heap_cannot_serve_stays_shut_and_loads_nothing():
    import gc

    made = []
    svc = pin()
    owner, bus, log = Owner(), Bus(), Log()
    r = PhoneRole(owner, lambda: made.append(1) or svc, bus, log, random=Counter(3))
    gc.collect()
    r.need_words = gc.mem_free()  # a word each byte free: more than the heap has, in any runtime
    bus.publish(topics.TAP, 1000, 1800)
    bus.publish(topics.TAP, 1400, 1800)
    asyncio.run(r.step(1400))
    assert made == [] and r.service is None and r.refusals == 1
    assert owner.users == [] and not owner.adv.advertising and not r.window.is_open(1400)
    assert [ln for ln in log.lines if ln.startswith("phone off: out of heap (")], log.lines
    r.need_words = rolemod.NEED_WORDS  # the room is there: the next double tap opens it
    bus.publish(topics.TAP, 3000, 1800)
    bus.publish(topics.TAP, 3400, 1800)
    asyncio.run(r.step(3400))
    assert made == [1] and owner.adv.advertising and r.refusals == 1


def test_a_service_that_runs_out_of_heap_while_loading_shuts_the_window():
    def make():
        raise MemoryError("memory allocation failed, allocating 2560 bytes")

    owner, bus, log = Owner(), Bus(), Log()
    r = PhoneRole(owner, make, bus, log, random=Counter(3))
    r.open(0)
    asyncio.run(r.step(0))  # (before: the exception ended the role's task, the supervisor restarted it)
    assert r.service is None and r.refusals == 1 and not r.window.is_open(0) and owner.users == []
    assert [ln for ln in log.lines if ln.startswith("phone off: out of heap while loading (")], log.lines


def test_the_service_unloads_after_its_window_and_wrong_proofs_still_count():
    made = []
    owner, bus = Owner(), Bus()
    r = PhoneRole(owner, lambda: made.append(pin()) or made[-1], bus, Log(), random=Counter(3))
    r.open(0)
    asyncio.run(r.step(0))
    for i in range(service.FREE_FAILS):  # wrong secrets: the free tries used up
        ph = p.Phone(bytes(16), Counter(10 + i))
        assert write(r, owner, 7, ph.prove(write(r, owner, 7, ph.hello(), 10)), 10)[:2] == bytes((p.ERROR, p.BAD_PROOF))
    owner.srv.on_disconnect(7)
    asyncio.run(r.step(rolemod.WINDOW_S * 1000))  # the window's end: the service goes
    assert r.service is None and owner.users == [] and len(made) == 1
    r.open(70000)  # the next window loads a new one, which knows of the wrong proofs
    asyncio.run(r.step(70000))
    assert len(made) == 2 and r.service is made[1]
    ph = p.Phone(bytes(16), Counter(20))
    assert write(r, owner, 8, ph.prove(write(r, owner, 8, ph.hello(), 70000)), 70000)[:2] == bytes((p.ERROR, p.BAD_PROOF))
    ans = write(r, owner, 8, p.Phone(SECRET, Counter(21)).hello(), 70100)
    assert ans[:2] == bytes((p.ERROR, p.LOCKED)), ans  # (a fresh count would have challenged it)


def test_mp_a_page_goes_out_in_one_buffer():
    # A 1,024-byte answer in 54 notifications of 20 bytes: the fragments are
    # written into one buffer (the stack copies each), so sending allocates
    # per message, not per fragment (before: several new bytes objects a fragment).
    import gc

    r, owner, bus, _ = rig()
    r.open(0)
    asyncio.run(r.step(0))
    got = []
    owner.srv.notify = lambda conn, handle, data=None, indicate=False: got.append(bytes(data)) or True
    r._conns[4] = [0, 0, True]
    msg = bytes(range(256)) * 4
    asyncio.run(link.send(r, 4, msg))  # the first send makes the buffer
    rx = p.Reassembler()
    assert len(got) == 54 and bytes([rx.feed(f) for f in got][-1]) == msg
    owner.srv.notify = lambda conn, handle, data=None, indicate=False: True
    coro = link.send(r, 4, msg)
    gc.collect()
    before = gc.mem_alloc()
    try:
        coro.send(None)  # no host buffer is full: it runs to the end at once
    except StopIteration:
        pass
    used = gc.mem_alloc() - before
    assert r.sent == 108 and used < 256, (r.sent, used)


def test_a_phone_pairs_reads_a_page_and_gets_events_through_the_role():
    r, owner, bus, phone_events = rig(friends=20)
    r.open(0)
    asyncio.run(r.step(0))
    ph = p.Phone(SECRET, Counter(9))
    owner.adv.advertising = False  # NimBLE ends connectable advertising on a connection
    ph.welcome(write(r, owner, 4, ph.prove(write(r, owner, 4, ph.hello(), 10)), 20))
    assert phone_events == [True] and not owner.adv.advertising  # no beacon while the phone is on
    owner.srv.full = 5  # the host's buffers are full for a while: the role waits and retries
    msg, seq = ph.request(p.OP_FRIENDS, b"\x00\x00\x14")
    kind, rseq, st, payload = ph.take(write(r, owner, 4, msg, 40))
    assert st == p.OK and len(p.parse_page(payload)[2]) > 0 and owner.srv.full == 0
    bus.publish(topics.FRIEND, 3, 50)
    bus.publish(topics.BATTERY, 17, True)
    mark = len(owner.srv.sent)
    asyncio.run(r.step(60))
    rx = p.Reassembler()
    evs = []
    for _, _, f in owner.srv.sent[mark:]:
        got = rx.feed(f)
        if got is not None:
            evs.append(p.parse_event(*ph.take(bytes(got))[1:]))
    assert [e["event"] for e in evs] == ["friend", "battery"] and evs[0]["friend"]["slot"] == 3
    assert r.service.backend.battery == (17, True)
    assert owner.users == ["phone"]  # held while the phone is on
    owner.srv.on_disconnect(4)
    asyncio.run(r.step(70))
    # the window is still open: the beacon is back for the owner's next command
    assert phone_events == [True, False] and owner.users == ["phone"] and owner.adv.advertising
    # ... for LINGER_S only: the sync is over, the window closes long before its 60 s
    asyncio.run(r.step(70 + rolemod.LINGER_S * 1000 - 1))
    assert owner.users == ["phone"] and owner.adv.advertising
    asyncio.run(r.step(70 + rolemod.LINGER_S * 1000))
    assert owner.users == [] and not owner.adv.advertising and not r.window.is_open(70 + rolemod.LINGER_S * 1000)
    assert rolemod.LINGER_S * 4 <= rolemod.WINDOW_S


def test_a_session_in_progress_keeps_the_window_and_a_strangers_link_does_not_close_it():
    r, owner, bus, phone_events = rig()
    r.open(0)
    asyncio.run(r.step(0))
    # a connection that never proves the secret, gone at once: the window keeps its 60 s
    write(r, owner, 5, b"\x01\x01", 100)
    owner.srv.on_disconnect(5)
    asyncio.run(r.step(200))
    asyncio.run(r.step(rolemod.WINDOW_S * 1000 - 1000))
    assert r.window.is_open(rolemod.WINDOW_S * 1000 - 1000) and owner.adv.advertising
    # the owner comes in before the end and keeps talking past it: nothing is cut
    ph = p.Phone(SECRET, Counter(4))
    t = rolemod.WINDOW_S * 1000 - 900
    owner.adv.advertising = False
    ph.welcome(write(r, owner, 6, ph.prove(write(r, owner, 6, ph.hello(), t)), t))
    for t in range(rolemod.WINDOW_S * 1000, rolemod.WINDOW_S * 1000 + 40000, 10000):
        msg, seq = ph.request(p.OP_INFO)
        assert ph.take(write(r, owner, 6, msg, t))[2] == p.OK
        assert owner.users == ["phone"] and owner.srv.closed == []
    # it hangs up: the window (already past its end) shuts at the next pass
    owner.srv.on_disconnect(6)
    asyncio.run(r.step(t + 100))
    assert phone_events == [True, False] and owner.users == [] and not owner.adv.advertising


def test_a_silent_connection_and_an_idle_session_are_closed():
    r, owner, bus, phone_events = rig()
    r.open(0)
    asyncio.run(r.step(0))
    write(r, owner, 5, b"\x01\x01", 100)  # a HELLO, then nothing
    asyncio.run(r.step(100 + rolemod.PROOF_S * 1000))
    assert owner.srv.closed == []
    asyncio.run(r.step(101 + rolemod.PROOF_S * 1000))
    assert owner.srv.closed == [5] and not r.service.authenticated()
    r.open(20000)
    ph = p.Phone(SECRET, Counter(2))
    ph.welcome(write(r, owner, 6, ph.prove(write(r, owner, 6, ph.hello(), 20000)), 20000))
    asyncio.run(r.step(20000 + rolemod.IDLE_S * 1000 + 1))
    assert owner.srv.closed == [5, 6] and phone_events == [True, False]
    assert owner.users == []


def test_notifications_grow_with_the_mtu_the_phone_exchanged():
    r, owner, bus, _ = rig(friends=20)
    r.open(0)
    asyncio.run(r.step(0))
    ph = p.Phone(SECRET, Counter(4))
    ph.welcome(write(r, owner, 4, ph.prove(write(r, owner, 4, ph.hello(), 10)), 20))
    owner.srv.mtus[4] = 185  # the phone exchanged MTU 185 (the server keeps it per link)
    mark = len(owner.srv.sent)
    msg, _ = ph.request(p.OP_FRIENDS, b"\x00\x00\x14")
    kind, rseq, st, payload = ph.take(write(r, owner, 4, msg, 40, 182))
    sizes = [len(f) for _, _, f in owner.srv.sent[mark:]]
    assert st == p.OK and max(sizes) == 182 and len(sizes) == (sum(sizes) + 181) // 182
    owner.srv.mtus[4] = 517
    mark = len(owner.srv.sent)
    msg, _ = ph.request(p.OP_FRIENDS, b"\x00\x00\x14")
    ph.take(write(r, owner, 4, msg, 50, 244))
    assert max(len(f) for _, _, f in owner.srv.sent[mark:]) == 244  # capped


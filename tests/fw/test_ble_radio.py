# The radio owner (cloudpin.ble.radio) on emulated pins and simulated time:
# reference-counted on/off with RADIO events on the bus, the start-up time
# and failures of active(True), a new random address per start, and an IRQ
# handler that survives anything NimBLE (or a buggy role) throws at it.
import errno

from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.ble.radio import RadioError, RadioOwner
from cloudpin.log import Logger
from cpsim.blelog import ble_of
from cpsim.world import World


def _owner(w, name="p", lines=None):
    dev = w.device(name)
    log = Logger("radio", sink=(lines if lines is not None else []).append)
    bus = Bus(log)
    events = []
    bus.subscribe(topics.RADIO, lambda on: events.append((w.clock.now_ms(), on)))
    return dev, RadioOwner(ble_of(dev), log, bus), events


def _run(w, dev, coro, ms):
    out = []

    async def main():
        try:
            out.append(await coro)
        except Exception as e:
            out.append(e)

    w.start(dev, main())
    w.run_for(ms)
    assert len(out) == 1, "the coroutine did not finish in %d ms" % ms
    return out[0]


def test_reference_counted_on_off_with_radio_events_and_start_up_time():
    w = World()
    dev, owner, events = _owner(w)
    addrs = []

    async def use():
        await owner.acquire("updates")
        t_on = w.clock.now_ms()
        addrs.append(owner.address())
        await owner.acquire("handshake")  # already on: no second start
        owner.release("updates")
        on_after_one = owner.on
        owner.release("handshake")
        off = not owner.on and not owner.ble.active()
        await owner.acquire("updates")
        addrs.append(owner.address())
        owner.release("updates")
        return t_on, on_after_one, off

    t_on, on_after_one, off = _run(w, dev, use(), 2000)
    assert t_on == 250  # active(True) blocks for the stack's start-up (emulator estimate)
    assert on_after_one and off
    assert [on for t, on in events] == [True, False, True, False]
    assert owner.starts == 2 and owner.users == []
    acct = dev.acct.snapshot()
    assert acct["counts"]["radio.starts"] == 2, acct
    # each start takes a new non-resolvable private address (random, top bits 00)
    (t1, a1), (t2, a2) = addrs
    assert t1 == t2 == 1 and a1 != a2 and a1[0] >> 6 == 0 and a2[0] >> 6 == 0
    assert a1 != dev.ble_obj._public and a2 != dev.ble_obj._public


def test_a_start_that_fails_leaves_the_radio_off_and_the_next_one_works():
    w = World()
    dev, owner, events = _owner(w)
    lines = []
    owner.log.sink = lines.append
    dev.ble_start_fail = lambda n: errno.ETIMEDOUT if n == 1 else None

    async def use():
        t0 = w.clock.now_ms()
        try:
            await owner.acquire("updates")
            return "started"
        except RadioError as e:
            failed_after = w.clock.now_ms() - t0
        state = (owner.on, list(owner.users), failed_after)
        await owner.acquire("updates")
        return state

    on, users, failed_after = _run(w, dev, use(), 5000)
    assert (on, users) == (False, []) and failed_after == 2000  # NimBLE's sync timeout
    assert owner.on and owner.start_failures == 1 and owner.starts == 1
    assert [on for t, on in events] == [True]  # nothing published for the failed start
    assert any("radio start failed" in ln for ln in lines), lines
    dev.ble_start_fail = errno.EIO  # nimble_port_init() failing: at once

    async def again():
        owner.release("updates")
        try:
            await owner.acquire("x")
        except RadioError:
            return w.clock.now_ms()

    t = w.clock.now_ms()
    assert _run(w, dev, again(), 100) == t


def test_release_by_a_non_holder_is_logged_and_changes_nothing():
    w = World()
    dev, owner, events = _owner(w)
    lines = []
    owner.log.sink = lines.append

    async def use():
        await owner.acquire("a")
        owner.release("b")
        return owner.on

    assert _run(w, dev, use(), 1000) is True
    assert any("does not hold it" in ln for ln in lines)


def test_unknown_and_malformed_events_are_ignored_and_never_raise():
    w = World()
    dev, owner, events = _owner(w)
    seen = []
    scanner = owner.scanner()

    async def use():
        await owner.acquire("t")
        scanner.start(lambda *a: seen.append(a[3]), 0)
        return True

    _run(w, dev, use(), 1000)
    irq = owner._irq
    assert irq(29, (10, 0, b"irk")) is None  # _IRQ_GET_SECRET: no key store
    assert irq(30, (10, b"irk", b"x" * 16)) is False  # _IRQ_SET_SECRET: not stored
    for ev, data in ((99, ()), (-1, None), (27, (0, 1, 2, 3, 4)), (28, ()), (1000, (1,))):
        assert irq(ev, data) is None
    assert owner.irq_errors == 0
    # a malformed tuple for an event a role handles: caught, counted, handler kept
    assert irq(5, ()) is None and irq(5, None) is None and irq(3, (0,)) is None
    assert owner.irq_errors == 2 and seen == []  # (3 has no handler without a server)
    assert dev.ble_obj._handler == irq  # NimBLE's binding drops a handler that raises
    irq(5, (1, b"\x01" * 6, 0, -40, b"\x02\x01\x06"))
    assert seen == [-40]


def test_two_pins_starting_their_radios_at_once_each_wait_their_own_start():
    # active(True) blocks only its own pin; two such waits overlap (the VM's
    # runner nests them) and both pins go on afterwards on time
    w = World()
    da, oa, ea = _owner(w, "a")
    db, ob, eb = _owner(w, "b")
    db.ble_start_us = 400000
    done = []

    async def use(owner, name):
        await owner.acquire("t")
        done.append((name, w.clock.now_ms()))
        await __import__("asyncio").sleep_ms(100)
        owner.release("t")
        done.append((name, w.clock.now_ms()))

    w.start(da, use(oa, "a"))
    w.start(db, use(ob, "b"))
    w.run_for(1000)
    assert sorted(done) == [("a", 250), ("a", 350), ("b", 400), ("b", 500)], done
    assert ea == [(250, True), (350, False)] and eb == [(400, True), (500, False)]


def test_going_on_air_before_yielding_waits_for_the_start_up():
    # firmware that advertises right after active(True), without yielding,
    # is on the air only once the start-up is over (the emulator blocks that
    # call; two such blocks at once nest in the runner, which must unwind)
    w = World()
    devs = [w.device("a"), w.device("b")]
    seen = []

    async def raw(dev):
        ble = ble_of(dev)
        ble.active(True)
        ble.gap_advertise(100000, b"\x02\x01\x06")
        seen.append((dev.name, w.clock.now_ms()))

    for d in devs:
        w.start(d, raw(d))
    w.run_for(1000)
    assert sorted(seen) == [("a", 250), ("b", 250)], seen

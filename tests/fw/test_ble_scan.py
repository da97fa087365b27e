# Advertiser and scanner roles (cloudpin.ble.advertiser, .scanner) on two
# emulated pins sharing one World's radio: reports reach the handler in IRQ
# context and are copied out before NimBLE's memoryviews die, done() ends
# the window, the address rotates only while nobody holds the air, and the
# dispatch of a report allocates nothing (VM only: gc.mem_alloc).
import gc

from bletest import owner_pin as _pin
from bletest import run_tasks as _run
from cpsim.world import World

_ADV = b"\x02\x01\x06\x1b\xff\xff\xff" + bytes(range(24))


class _Keep:
    """A scan handler as a pin writes one: copies into buffers made once."""

    def __init__(self):
        self.addr = bytearray(6)
        self.data = bytearray(31)
        self.n = 0
        self.len = 0
        self.rssi = 0
        self.views = None

    def __call__(self, addr_type, addr, adv_type, rssi, adv_data):
        self.n += 1
        self.rssi = rssi
        self.len = len(adv_data)
        self.addr[0:6] = addr
        self.data[0:self.len] = adv_data
        if self.views is None:
            self.views = (addr, adv_data)


def test_reports_are_copied_in_the_handler_and_done_ends_the_window():
    w = World()
    da, oa = _pin(w, "a")
    db, ob = _pin(w, "b")
    keep = _Keep()

    async def advertise():
        await oa.acquire("t")
        oa.advertiser().start(_ADV, 100)
        return oa.address()

    async def scan():
        await ob.acquire("t")
        sc = ob.scanner()
        sc.start(keep, 1000, 100000, 50000)
        t0 = w.clock.now_ms()
        ended = await sc.done()
        return ended, w.clock.now_ms() - t0, sc.results, sc.scanning

    out = _run(w, [("a", da, advertise()), ("b", db, scan())], 2000)
    ended, took, results, scanning = out["b"]
    assert ended and took == 1000 and not scanning
    assert 3 <= keep.n == results <= 10  # half of each 100 ms on one channel in three
    assert bytes(keep.data[:keep.len]) == _ADV and bytes(keep.addr) == out["a"][1]
    addr_view, data_view = keep.views  # what NimBLE lent is gone after the IRQ
    try:
        gone = bytes(data_view) != _ADV
    except ValueError:  # CPython: the view was released
        gone = True
    assert gone


def test_stop_ends_a_scan_early_and_a_timeout_reports_false():
    w = World()
    db, ob = _pin(w, "b")

    async def scan():
        await ob.acquire("t")
        sc = ob.scanner()
        sc.start(_Keep(), 0)  # until stopped
        waited = await sc.done(300)
        sc.stop()
        return waited, await sc.done(10), sc.scanning

    assert _run(w, [("b", db, scan())], 1000)["b"] == (False, True, False)


def test_the_address_changes_only_when_no_role_holds_the_air():
    w = World()
    da, oa = _pin(w, "a")

    async def go():
        await oa.acquire("t")
        first = oa.address()
        adv = oa.advertiser()
        adv.start(_ADV, 100)
        rotated_now = oa.new_address()  # advertising: deferred
        same = oa.address() == first
        adv.update(_ADV[:-1] + b"\x01")
        adv.stop()  # the air is free: the pending rotation happens
        return rotated_now, same, oa.address() != first, oa.address()[0]

    assert _run(w, [("a", da, go())], 1000)["a"] == (False, True, True, 1)


def test_radio_off_ends_the_roles_state():
    w = World()
    da, oa = _pin(w, "a")

    async def go():
        await oa.acquire("t")
        oa.advertiser().start(_ADV, 100)
        sc = oa.scanner()
        sc.start(_Keep(), 0)
        oa.release("t")
        return oa.advertiser().advertising, sc.scanning, await sc.done(10)

    assert _run(w, [("a", da, go())], 1000)["a"] == (False, False, True)


def test_mp_a_report_reaches_the_handler_without_allocating():
    w = World()
    da, oa = _pin(w, "a")
    keep = _Keep()

    async def go():
        await oa.acquire("t")
        oa.scanner().start(keep, 0)
        return True

    _run(w, [("a", da, go())], 500)
    data = (1, memoryview(bytearray(6)), 0, -50, memoryview(bytearray(_ADV)))
    junk = (1, memoryview(bytearray(6)), 3, -90, memoryview(b"\x05\xff"))
    irq = oa._irq
    keep(*data)  # first call keeps its views (allocates once)
    gc.collect()
    before = gc.mem_alloc()
    i = 0
    while i < 200:
        irq(5, data)
        irq(5, junk)
        i += 1
    grown = gc.mem_alloc() - before
    assert grown == 0, grown
    assert keep.n == 401 and bytes(keep.data[:keep.len]) == b"\x05\xff"


def test_a_second_scan_is_refused_and_the_first_keeps_its_handler():
    w = World()
    da, oa = _pin(w, "a")
    first, second = _Keep(), _Keep()

    async def go():
        await oa.acquire("t")
        sc = oa.scanner()
        sc.start(first, 0)
        try:
            sc.start(second, 0)
            return "started twice"
        except OSError as e:
            refused = e.args[0]
        w.radio.inject_advertisement(b"\x01" * 6, _ADV)
        return refused

    import errno

    assert _run(w, [("a", da, go())], 500)["a"] == errno.EALREADY
    assert first.n == 1 and second.n == 0


def test_a_scan_taken_over_ends_as_a_cut_and_its_waiter_returns():
    # a tap window cannot wait for a friend-update window's scan to end: it
    # takes the scanner (take=True); the first scan's done() returns, its
    # handler hears no more, and `cuts` tells its role the window was short
    import asyncio

    w = World()
    da, oa = _pin(w, "a")
    first, second = _Keep(), _Keep()
    got = {}

    async def timed():
        sc = oa.scanner()
        sc.start(first, 2000)
        got["done"] = await sc.done(5000)
        got["t_done"] = w.clock.now_ms()

    async def go():
        await oa.acquire("t")
        sc = oa.scanner()
        sc.start(_Keep(), 100)  # a timed scan that runs its course: no cut
        assert await sc.done(1000) and sc.cuts == 0
        asyncio.create_task(timed())
        await asyncio.sleep_ms(300)
        t_take = w.clock.now_ms()
        sc.start(second, 0, take=True)
        await asyncio.sleep_ms(50)
        w.radio.inject_advertisement(b"\x01" * 6, _ADV)
        await asyncio.sleep_ms(50)
        sc.stop()  # an untimed scan's own stop: no cut either
        return t_take, sc.cuts, sc.scanning

    t_take, cuts, scanning = _run(w, [("a", da, go())], 3000)["a"]
    assert cuts == 1 and not scanning
    assert got["done"] is True and got["t_done"] - t_take < 60, (got, t_take)
    assert first.n == 0 and second.n == 1

# Re-armable clock events (cpsim.clock.Event): what the sensor models and
# machine.Timer/WDT schedule instead of a new record per event, under the
# deterministic SimClock and the virtual badge's WallClock.
import gc
import time

from cpsim.clock import Event, SimClock, WallClock


def _recorder(clock, seen, name):
    return lambda: seen.append((name, clock.now_us()))


def test_an_event_moves_when_scheduled_again_and_is_its_own_handle():
    clock = SimClock()
    seen = []
    ev = Event(_recorder(clock, seen, "ev"))
    assert clock.call_at(500, ev) is ev
    assert clock.call_at(300, ev) is ev  # moved, not queued twice
    assert ev[0] == 300 and ev[1]  # due at 300, armed
    clock.call_at(400, _recorder(clock, seen, "plain"))
    clock.advance_us(1000)
    assert seen == [("ev", 300), ("plain", 400)], seen
    assert not ev[1]  # fired: no longer armed
    # Fired, it can be scheduled again; cancelled, it does not run.
    clock.call_at(1500, ev)
    clock.advance_us(1000)
    clock.call_at(2500, ev)
    clock.cancel(ev)
    clock.cancel(ev)  # twice is harmless, as for a fired handle
    clock.advance_us(1000)
    assert seen == [("ev", 300), ("plain", 400), ("ev", 1500)], seen


def test_events_at_the_same_time_run_in_the_order_last_scheduled():
    clock = SimClock()
    seen = []
    a = Event(lambda: seen.append("a"))
    b = Event(lambda: seen.append("b"))
    clock.call_at(100, a)
    clock.call_at(100, b)
    clock.call_at(100, lambda: seen.append("c"))
    clock.call_at(100, a)  # re-arming puts it behind the others, like cancel + call_at
    clock.advance_us(100)
    assert seen == ["b", "c", "a"], seen


def test_an_event_rearmed_from_its_own_callback_runs_periodically():
    clock = SimClock()
    seen = []

    def tick():
        seen.append(clock.now_us())
        if len(seen) < 4:
            clock.call_at(clock.now_us() + 250, ev)

    ev = Event(tick)
    clock.call_at(250, ev)
    clock.advance_us(10000)
    assert seen == [250, 500, 750, 1000], seen


def test_a_clock_that_takes_the_event_for_a_callback_still_runs_it():
    # A wrapper clock (a test's counting or recycling clock) may queue the
    # Event as a plain callback of its own record: calling it runs it.
    seen = []
    ev = Event(lambda: seen.append(1))
    ev()
    clock = SimClock()
    h = clock.call_at(10, lambda: ev())
    clock.advance_us(10)
    clock.cancel(h)
    assert seen == [1, 1]


def test_wall_clock_runs_a_rearmed_event_when_polled_after_its_time():
    clock = WallClock()
    seen = []
    ev = Event(lambda: seen.append(clock._us))
    t = clock.now_us()
    clock.call_at(t + 50000, ev)
    clock.call_at(t + 2000, ev)
    time.sleep_ms(5) if hasattr(time, "sleep_ms") else time.sleep(0.005)
    clock.poll()
    assert len(seen) == 1 and seen[0] >= t + 2000, (seen, t)
    clock.advance_us(60000)
    assert len(seen) == 1, seen


def _rearm_growth(clock, n):
    ev = Event(lambda: None)
    other = [Event(lambda: None) for _ in range(3)]
    for i, o in enumerate(other):
        clock.call_at(clock.now_us() + 100 * (i + 1), o)
    gc.collect()
    before = gc.mem_alloc()
    for i in range(n):
        clock.call_at(clock.now_us() + 5 + (i & 3), ev)
        if i & 1:
            clock.cancel(ev)
        clock.advance_us(3)
        for o in other:
            clock.call_at(clock.now_us() + 100, o)
    return gc.mem_alloc() - before


def test_mp_rearming_allocates_nothing():
    assert _rearm_growth(SimClock(), 500) == 0
    assert _rearm_growth(WallClock(), 500) == 0


def test_events_moved_earlier_later_or_cancelled_run_in_time_order():
    clock = SimClock()
    seen = []
    evs = [Event(lambda i=i: seen.append((clock.now_us(), i))) for i in range(24)]
    want = {}
    for i, ev in enumerate(evs):
        clock.call_at(1000 + (37 * i) % 500, ev)
    for i, ev in enumerate(evs):
        t = 1000 + (37 * i) % 500 + (-300 if i % 2 == 0 else 200)
        clock.call_at(t, ev)  # earlier for even, later for odd
        want[i] = t
    for i in range(0, 24, 5):
        clock.cancel(evs[i])
        del want[i]
    clock.call_at(want[1], evs[1])  # re-armed at its own time: behind its equals
    clock.advance_us(5000)
    assert [t for t, i in seen] == sorted(t for t, i in seen), seen
    assert dict((i, t) for t, i in seen) == want and len(seen) == len(want), (seen, want)


def test_work_put_off_runs_when_the_cpu_waits_on_a_wall_clock_at_once_on_a_sim_clock():
    # clock.soon: a model's bookkeeping (the LIS3DH's look-ahead) that on
    # real time must not come between a line it raised and the CPU's answer.
    ran = []
    job = lambda: ran.append(1)  # noqa: E731
    sim = SimClock()
    sim.soon(job)
    assert ran == [1]  # simulated time stands still while it runs
    assert not sim.run_soon()
    wall = WallClock()
    wall.soon(job)
    wall.soon(job)  # put off twice, run once
    wall.poll()
    wall.advance_us(100)  # polls do not run it: the firmware is running
    assert ran == [1]
    assert wall.run_soon() and ran == [1, 1]
    assert not wall.run_soon() and ran == [1, 1]


def test_mp_putting_work_off_allocates_nothing():
    wall = WallClock()
    job = lambda: None  # noqa: E731
    wall.soon(job)
    wall.run_soon()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        wall.soon(job)
        wall.soon(job)
        wall.run_soon()
    assert gc.mem_alloc() - before == 0


def test_mp_asyncio_waits_on_a_wall_clock_until_its_next_event():
    # A virtual badge's awake CPU waits in asyncio's IOQueue; the chip's IRQ
    # ends that wait at once, the emulator's at the clock's next event (it
    # waited 10 ms whatever was due before: cpsim/default_device.py).
    from asyncio import core

    from cpsim.default_device import _poll_from_asyncio

    q = core.IOQueue
    saved = (q.wait_io_event, getattr(q, "cpsim_clock", None))
    waits = []

    def wait(self, dt):
        waits.append(dt)
        time.sleep_ms(dt)

    try:
        q.wait_io_event = wait
        q.cpsim_clock = None
        clock = WallClock()
        _poll_from_asyncio(clock)
        seen = []
        clock.call_at(clock.now_us() + 3000, Event(lambda: seen.append(1)))
        q.wait_io_event(None, 50)
        assert 0 <= waits[0] <= 3 and seen == [1], (waits, seen)
        q.wait_io_event(None, -1)  # nothing due: 10 ms at most, as before
        assert waits[1] == 10, waits
    finally:
        q.wait_io_event, q.cpsim_clock = saved

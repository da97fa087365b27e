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

"""The simulated clock's queue cost (issue 8: "SimClock pops from the front of a
sorted list"). Counted, not timed: the times given to call_at() count every
comparison made between them. 4,096 events in random order run in time order
with a few comparisons each (log2 4,096 = 12), and the pending events are a
binary heap, not a sorted list (popping the front of a sorted list moves
every other record: the cost no comparison shows)."""
import random

from cpsim.clock import SimClock

N = 4096
LOG2_N = 12


class Counted(int):
    """A time that counts the comparisons it takes part in."""

    n = 0

    def __lt__(self, other):
        Counted.n += 1
        return int.__lt__(self, other)

    def __eq__(self, other):
        Counted.n += 1
        return int.__eq__(self, other)

    __hash__ = int.__hash__


def test_pending_events_are_a_heap_and_each_costs_a_few_comparisons():
    rng = random.Random(8)
    times = [rng.randrange(1, 10 ** 9) for _ in range(N)]
    clock = SimClock()
    ran = []
    Counted.n = 0
    for t in times:
        clock.call_at(Counted(t), lambda t=t: ran.append(t))
    filed = Counted.n
    h = [rec[0] for rec in clock._heap]
    assert len(h) == N
    assert all(not int.__lt__(h[i], h[(i - 1) // 2]) for i in range(1, N))  # a heap...
    assert any(int.__lt__(h[i + 1], h[i]) for i in range(N - 1))  # ...not kept sorted
    clock.advance_us(10 ** 9)
    assert ran == sorted(times)
    # a pop walks one path of the heap: about 2 log2 N record comparisons
    # (each compares two times for == and then <); a scan for the earliest
    # would take N / 2 a pop, 8 million in all
    assert filed < 6 * N, filed
    assert Counted.n - filed < 6 * N * LOG2_N, Counted.n - filed

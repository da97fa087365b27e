# Time for emulated hardware. SimClock only moves when a test or the world's
# runner advances it, so radio, timers and sensor FIFOs are deterministic;
# WallClock follows real time for the virtual badge.
#
# The queue is a binary heap of records [key_t, key_seq, callback, t, seq]:
# (key_t, key_seq) is where the record sits in the heap, (t, seq) when it is
# really due (seq 0: cancelled). Cancelling and moving an event later are lazy
# (the record is re-filed or dropped when it reaches the top), so re-arming
# allocates nothing and costs O(1); moving an event earlier re-heaps in the VM
# (no allocation) and files a fresh record under CPython (O(log n) for a
# crowd's heap). seq grows with every call_at, so events due at the
# same time run in the order they were last scheduled.
import sys
import time
from heapq import heapify, heappop, heappush

_MP = sys.implementation.name == "micropython"


class Event:
    """A clock event its owner makes once and re-arms as often as it likes:
    call_at(t_us, event) moves it instead of queueing a new record, which in
    the VM would be a fresh ~64 bytes of the firmware's heap per call (the
    sensor models and machine.Timer/WDT re-arm per interrupt or feed).

    It is its own handle, and calling it runs the callback, so a clock that
    takes it for a plain callback still works."""

    def __init__(self, callback):
        self.callback = callback
        self.rec = [0, 0, self, 0, 0]  # key_seq 0: not in the heap

    def __call__(self):
        self.callback()

    def __getitem__(self, i):
        # ev[0]: when it is due, ev[1]: non-zero while armed, ev[2]: callback
        # (the record layout callers knew when Event was the record itself)
        rec = self.rec
        return rec[3] if i == 0 else rec[4] if i == 1 else self.callback


class SimClock:
    simulated = True  # firmware time and asyncio follow it (cpsim.timebase)

    def __init__(self, start_us=0):
        self._us = start_us
        self._heap = []
        self._seq = 0

    def now_us(self):
        return self._us

    def now_ms(self):
        return self._us // 1000

    def call_at(self, t_us, callback):
        """Schedule callback() at absolute time t_us; returns a handle for
        cancel(). An Event is moved to t_us if already queued and is its own
        handle: nothing is allocated."""
        self._seq += 1
        seq = self._seq
        if isinstance(callback, Event):
            rec = callback.rec
            rec[3] = t_us
            rec[4] = seq
            if rec[1]:  # in the heap already
                if t_us >= rec[0]:
                    return callback  # later: re-filed when its old key comes up
                h = self._heap
                if _MP:
                    h.pop(h.index(rec))  # earlier: take it out (identity match first)
                    heapify(h)
                else:
                    # Earlier, where a heap of hundreds of pins' events makes
                    # re-heaping the cost: the old record lapses in place and
                    # a fresh one is filed (CPython; the VM re-heaps instead of
                    # allocating).
                    rec[4] = 0
                    rec = callback.rec = [t_us, seq, callback, t_us, seq]
                    heappush(h, rec)
                    return callback
            rec[0] = t_us
            rec[1] = seq
            heappush(self._heap, rec)
            return callback
        rec = [t_us, seq, callback, t_us, seq]
        heappush(self._heap, rec)
        return rec

    def call_later_ms(self, ms, callback):
        return self.call_at(self._us + int(ms * 1000), callback)

    def cancel(self, handle):
        rec = handle.rec if isinstance(handle, Event) else handle
        rec[4] = 0

    def _top(self):
        # The live record due first, with dead and moved ones cleared off the top.
        h = self._heap
        while h:
            rec = h[0]
            if rec[4] == 0:
                heappop(h)
                rec[1] = 0
            elif rec[1] != rec[4]:
                heappop(h)
                rec[0] = rec[3]
                rec[1] = rec[4]
                heappush(h, rec)
            else:
                return rec
        return None

    def next_us(self):
        """When the next event is due, or None with nothing queued."""
        rec = self._top()
        return None if rec is None else rec[0]

    def run_next(self, limit_us):
        """Run the first event due at or before limit_us, moving time to it;
        False when there is none."""
        rec = self._top()
        if rec is None or rec[0] > limit_us:
            return False
        heappop(self._heap)
        rec[1] = 0
        rec[4] = 0
        if rec[0] > self._us:
            self._us = rec[0]
        rec[2]()
        return True

    def advance_us(self, us):
        """Move time forward, running every event due on the way, in order."""
        end = self._us + us
        while self.run_next(end):
            pass
        if end > self._us:  # a callback may have advanced time itself (sleep)
            self._us = end

    def advance(self, ms):
        self.advance_us(int(ms * 1000))

    def poll(self):
        pass

    def soon(self, callback):
        """Run callback() before the emulated CPU next waits: a model's own
        bookkeeping (planning its next event), not the chip's time. Here
        simulated time stands still meanwhile, so at once."""
        callback()

    def run_soon(self):
        """Run what soon() put off; True if there was any."""
        return False


# The host's own clock, whatever `time` the firmware is given (in the VM a
# shim may stand in sys.modules["time"]: cpsim.simtime keeps the real one).
_rt = getattr(time, "real", time)
_CPY = hasattr(_rt, "monotonic_ns")


def _real_us():
    return _rt.monotonic_ns() // 1000 if _CPY else _rt.ticks_us()


class WallClock(SimClock):
    """Real time; scheduled callbacks run whenever emulated hardware is polled."""

    simulated = False

    def __init__(self):
        SimClock.__init__(self)
        self._polling = False
        self._t0 = _real_us()
        self._soon = []

    def soon(self, callback):
        """Run callback() when the emulated CPU next waits (asyncio's idle
        wait, a light sleep: run_soon), not now. On real time a model's
        bookkeeping takes the host's time: the LIS3DH's look-ahead cost a
        loaded host 25-60 ms, while a line it had just raised waited behind
        it (its FIFO overran). The chip's sensor computes in parallel and its
        CPU reacts within ~1-2 ms; here the reaction comes first."""
        if callback not in self._soon:
            self._soon.append(callback)  # (a list of 4 or fewer: allocates nothing)

    def run_soon(self):
        """Run what soon() put off (the CPU waits now); True if there was any."""
        q = self._soon
        if not q:
            return False
        while q:
            q.pop(0)()
        return True

    def now_us(self):
        self.poll()
        return self._us

    def poll(self):
        if self._polling:
            return
        self._polling = True
        try:
            self._catch_up()
        finally:
            self._polling = False

    def _catch_up(self):
        now = _real_us()
        elapsed = now - self._t0 if _CPY else _rt.ticks_diff(now, self._t0)
        self._t0 = now
        if elapsed > 0:
            SimClock.advance_us(self, elapsed)

    def advance_us(self, us):
        _rt.sleep(us / 1e6) if _CPY else _rt.sleep_us(us)
        self.poll()

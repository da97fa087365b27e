# Time for emulated hardware. SimClock only moves when a test advances it, so
# radio, timers and sensor FIFOs are deterministic; WallClock follows real
# time for the virtual badge.
import time


class SimClock:
    def __init__(self, start_us=0):
        self._us = start_us
        self._events = []  # sorted [(t_us, seq, callback)]
        self._seq = 0

    def now_us(self):
        return self._us

    def now_ms(self):
        return self._us // 1000

    def call_at(self, t_us, callback):
        """Schedule callback() at absolute time t_us; returns a handle for cancel()."""
        self._seq += 1
        ev = (t_us, self._seq, callback)
        ev_list = self._events
        i = len(ev_list)
        while i > 0 and (ev_list[i - 1][0], ev_list[i - 1][1]) > (t_us, self._seq):
            i -= 1
        ev_list.insert(i, ev)
        return ev

    def call_later_ms(self, ms, callback):
        return self.call_at(self._us + int(ms * 1000), callback)

    def cancel(self, handle):
        try:
            self._events.remove(handle)
        except ValueError:
            pass

    def advance_us(self, us):
        """Move time forward, running every event due on the way, in order."""
        end = self._us + us
        while self._events and self._events[0][0] <= end:
            t, _, cb = self._events.pop(0)
            if t > self._us:
                self._us = t
            cb()
        if end > self._us:  # a callback may have advanced time itself (sleep)
            self._us = end

    def advance(self, ms):
        self.advance_us(int(ms * 1000))

    def poll(self):
        pass


class WallClock(SimClock):
    """Real time; scheduled callbacks run whenever emulated hardware is polled."""

    def __init__(self):
        SimClock.__init__(self)
        self._polling = False
        self._t0 = time.ticks_us() if hasattr(time, "ticks_us") else None

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
        now = time.ticks_us() if hasattr(time, "ticks_us") else int(time.monotonic() * 1e6)
        if self._t0 is None:
            self._t0 = now
        elapsed = time.ticks_diff(now, self._t0) if hasattr(time, "ticks_diff") else now - self._t0
        self._t0 = now
        if elapsed > 0:
            SimClock.advance_us(self, elapsed)

    def advance_us(self, us):
        time.sleep_us(us) if hasattr(time, "sleep_us") else time.sleep(us / 1e6)
        self.poll()

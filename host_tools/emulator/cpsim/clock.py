# Time for emulated hardware. SimClock only moves when a test advances it, so
# radio, timers and sensor FIFOs are deterministic; WallClock follows real
# time for the virtual badge.
import time


class Event(list):
    """A clock event its owner makes once and re-arms as often as it likes:
    call_at(t_us, event) moves it instead of queueing a new record, which in
    the VM would be a fresh ~64 bytes of the firmware's heap per call (the
    sensor models and machine.Timer/WDT re-arm per interrupt or feed).

    It is the clock's own record, [t_us, seq, callback], and calling it runs
    the callback, so a clock that takes it for a plain callback still works."""

    def __init__(self, callback):
        super().__init__((-1, 0, callback))  # seq 0: not queued

    def __call__(self):
        self[2]()


class SimClock:
    def __init__(self, start_us=0):
        self._us = start_us
        self._events = []  # sorted [[t_us, seq, callback]]; seq > 0
        self._seq = 0

    def now_us(self):
        return self._us

    def now_ms(self):
        return self._us // 1000

    def call_at(self, t_us, callback):
        """Schedule callback() at absolute time t_us; returns a handle for
        cancel(). An Event is moved to t_us if already queued and is its own
        handle: nothing is allocated."""
        if isinstance(callback, Event):
            ev = callback
            if ev[1]:
                self.cancel(ev)
        else:
            ev = [0, 0, callback]
        self._seq += 1
        ev[0] = t_us
        ev[1] = self._seq
        evs = self._events
        i = len(evs)
        # Later seq after every equal time: same-time events run in the order scheduled.
        while i > 0 and evs[i - 1][0] > t_us:
            i -= 1
        evs.insert(i, ev)
        return ev

    def call_later_ms(self, ms, callback):
        return self.call_at(self._us + int(ms * 1000), callback)

    def cancel(self, handle):
        evs = self._events
        for i in range(len(evs)):
            if evs[i] is handle:
                evs.pop(i)
                handle[1] = 0
                return

    def advance_us(self, us):
        """Move time forward, running every event due on the way, in order."""
        end = self._us + us
        evs = self._events
        while evs and evs[0][0] <= end:
            ev = evs.pop(0)
            ev[1] = 0
            if ev[0] > self._us:
                self._us = ev[0]
            ev[2]()
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

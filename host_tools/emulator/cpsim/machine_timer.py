# machine.Timer and machine.WDT of the emulated ESP32 port, and what a reset of
# the chip does to a Device (see machine.py).
from cpsim import gpio
from cpsim.clock import Event
from cpsim.world import current

_WDT_RESET = 3  # machine.WDT_RESET


def _clock(dev):
    return dev.world.clock


# --- Timer ----------------------------------------------------------------------


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1
    _virtual = 0

    def __new__(cls, id, *args, **kw):
        dev = current()
        if id == -1:
            Timer._virtual += 1
            key = ("v", Timer._virtual)
        elif isinstance(id, int) and 0 <= id < 4:
            key = id
        else:
            raise ValueError("invalid Timer number, max 4")
        t = dev.timers.get(key)
        if t is None:
            t = object.__new__(cls)
            t._dev = dev
            t._id = id
            t._ev = None
            # Re-armed every period, never remade; under the method's own
            # name (every name is interned for good in the VM).
            t._fire = Event(t._fire)
            t._mode = Timer.PERIODIC
            t._period_us = 0
            t._start = 0
            t._n = 0
            t._cb = None
            dev.timers[key] = t
        return t

    def __init__(self, id, *args, **kw):
        if args or kw:
            self.init(*args, **kw)

    def init(self, *, mode=1, callback=None, period=0xFFFFFFFF, tick_hz=1000, freq=None, hard=False):
        self.deinit()
        if hard:
            raise ValueError("hard Timers are not implemented")
        if freq is not None:
            period_us = 1000000 / freq
        else:
            period_us = period * 1000000 / tick_hz
        if self._id == -1:
            # FreeRTOS software timer: whole 10 ms ticks (CONFIG_FREERTOS_HZ=100)
            ticks = int(period_us // 10000)
            if ticks == 0:
                raise ValueError("period too small for soft timer, less than OS tick period of 10 ms.  Try a hardware timer.")
            period_us = ticks * 10000
        if period_us == int(period_us):
            # An int period keeps every later event time an int: a float
            # would be a new heap object per period in the VM.
            period_us = int(period_us)
        self._mode = mode
        self._cb = callback
        self._period_us = max(1, period_us)
        self._start = _clock(self._dev).now_us()
        self._n = 0
        self._schedule()

    def _schedule(self):
        t = self._start + int(round((self._n + 1) * self._period_us))
        self._ev = _clock(self._dev).call_at(t, self._fire)

    def _fire(self):
        self._n += 1
        self._ev = None
        if self._mode == Timer.PERIODIC:
            self._schedule()
        if self._cb is not None:
            gpio.run_handler(self._dev, self._cb, self, "timer")

    def value(self):
        """Milliseconds into the current period."""
        now = _clock(self._dev).now_us()
        return int((now - self._start - self._n * self._period_us) // 1000)

    def deinit(self):
        if self._ev is not None:
            _clock(self._dev).cancel(self._ev)
            self._ev = None

    def __repr__(self):
        return "Timer(%d, mode=%s, period=%d)" % (
            self._id, "PERIODIC" if self._mode else "ONE_SHOT", self._period_us // 1000)


# --- WDT ----------------------------------------------------------------------


class WDT:
    def __new__(cls, id=0, timeout=5000):
        dev = current()
        if id != 0:
            raise ValueError("WDT(%s) doesn't exist" % (id,))
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        w = dev.wdt
        if w is None:
            # The task watchdog cannot be stopped once started: one per device.
            w = dev.wdt = object.__new__(cls)
            w._dev = dev
            w._ev = None
            w._expire = Event(w._expire)  # re-armed by every feed (see Timer)
        w._timeout_us = int(timeout) * 1000
        w.feed()
        return w

    def __init__(self, id=0, timeout=5000):
        pass

    def feed(self):
        clock = _clock(self._dev)
        now = clock.now_us()  # under a WallClock this may expire us first
        if self._dev.wdt is not self:
            return  # already expired: the chip has rebooted
        if self._ev is not None:
            clock.cancel(self._ev)
        self._ev = clock.call_at(now + self._timeout_us, self._expire)

    def _expire(self):
        self._ev = None
        reset_device(self._dev, _WDT_RESET, "wdt")


def carry_wdt(dev, timeout_ms, left_ms):
    """The task watchdog a soft reset left running (cpsim.chipstate: a
    virtual badge's next VM): started, `left_ms` to its next expiry."""
    w = dev.wdt = object.__new__(WDT)
    w._dev = dev
    w._expire = Event(w._expire)
    w._timeout_us = timeout_ms * 1000
    w._ev = _clock(dev).call_at(_clock(dev).now_us() + left_ms * 1000, w._expire)


def reset_device(dev, cause, why, sleep_ms=0, keep_wdt=False):
    """The chip restarts: stop what a reset stops, record it, tell the sim."""
    clock = _clock(dev)
    if dev.wdt is not None and not keep_wdt:
        if dev.wdt._ev is not None:
            clock.cancel(dev.wdt._ev)
        dev.wdt = None
    for t in dev.timers.values():
        t.deinit()
    dev.timers = {}
    for st in dev.pins.values():
        st.handler = None
        st.trigger = 0
        if not st.hold:
            st.mode = None
            st.pull = 0
        st.update()
    if dev.ble_obj is not None:
        # A soft reset deinitialises BLE (peers see a disconnect at once);
        # any other reset cuts the radio and peers time out.
        dev.world.radio.reset_device(dev, graceful=(cause == 5))  # 5: machine.SOFT_RESET on ESP32
    if sleep_ms:
        clock.advance(sleep_ms)
    dev.reset_cause = cause
    dev.resets.append((clock.now_ms(), cause))
    dev.note("reset", why)
    if dev.on_reset is not None:
        dev.on_reset(cause)



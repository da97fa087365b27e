# Emulated `machine` module of MicroPython's ESP32 port (names, arguments,
# constants and exceptions as in ports/esp32 and docs/library/machine*.rst),
# bound to cpsim.world.current(): the Device whose hardware it talks to.
#
# What a reset does here (the board would reboot, a process cannot):
#   machine.reset() / soft_reset() / deepsleep() record the reset on the Device
#   (reset_cause, resets, log), stop its timers, WDT and pin IRQs, run
#   Device.on_reset(cause) if set, then raise SystemExit, because code after
#   them never runs on a board. A WDT that is not fed in time does the same
#   recording at the sim time it expires but raises nothing itself (it fires
#   inside the clock); tests read device.reset_cause / device.resets. The
#   virtual badge's default device sets on_reset to exit the VM (see
#   cpsim/default_device.py).
from cpsim import compat
from cpsim import gpio as _gpio
from cpsim import slowclock as _slowclock
from cpsim import timebase as _timebase
from cpsim.world import current

compat.install()

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

SLEEP = 2
DEEPSLEEP = 4
PIN_WAKE = 2
EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6


def __getattr__(name):
    # The classes load on first use: compiling all of them at once takes more
    # than the VM's ESP32-sized heap, and most code needs only a few.
    if name in ("Pin", "Signal"):
        from cpsim import machine_pin as m
    elif name in ("I2C", "SoftI2C"):
        from cpsim import machine_i2c as m
    elif name in ("Timer", "WDT"):
        from cpsim import machine_timer as m
    elif name == "ADC":
        from cpsim import machine_adc as m
    elif name == "SPI":
        from cpsim import machine_spi as m
    elif name == "RTC":
        from cpsim import machine_rtc as m
    else:
        raise AttributeError(name)
    v = getattr(m, name)
    globals()[name] = v
    return v


def _clock(dev):
    return dev.world.clock


def reset_device(dev, cause, why, **kw):
    from cpsim.machine_timer import reset_device as r

    r(dev, cause, why, **kw)


def reset():
    reset_device(current(), HARD_RESET, "machine.reset")
    raise SystemExit


def soft_reset():
    # A soft reboot leaves the task watchdog running on the ESP32.
    reset_device(current(), SOFT_RESET, "machine.soft_reset", keep_wdt=True)
    raise SystemExit


def deepsleep(time_ms=0):
    from cpsim import slowclock

    dev = current()
    dev.wake_reason = TIMER_WAKE if time_ms else 0
    t0 = _clock(dev).now_us()
    reset_device(dev, DEEPSLEEP_RESET, "machine.deepsleep", sleep_ms=time_ms)
    slowclock.slept(dev, t0, _clock(dev).now_us())  # the RTC ran on the slow clock
    raise SystemExit


def lightsleep(time_ms=0):
    """Only this pin sleeps (cpsim.timebase): on simulated time its tasks and
    callbacks wait while the others run, until time_ms passes or a wake source
    (ext0/ext1 level) fires; its CPU accounting is "lightsleep" meanwhile.
    Without time_ms and without a wake source it sleeps until the world's run
    ends (outside a run: returns at once, nothing could wake it). On the
    virtual badge's real-time clock the process sleeps time_ms from one of
    the hardware's events to the next, running them and ending early on a
    wake source. Asleep, the pin's time runs on its slow clock
    (Device.slow_clock, cpsim.slowclock): time_ms is counted on it, and its
    error stays in the pin's ticks, time.time() and RTC afterwards."""
    dev = current()
    clock = _clock(dev)
    if not clock.simulated:
        _lightsleep_realtime(dev, clock, time_ms)
        return
    _radio_sleeps(dev)
    acct = dev.acct
    was = acct.get_state("cpu")
    acct.state("cpu", "lightsleep")
    s = getattr(dev, "_light_sleep", None)
    if s is None:
        s = dev._light_sleep = _Sleep(dev)
    s.why = TIMER_WAKE
    s.gen = -1
    dev.asleep = True
    t0 = clock.now_us()
    try:
        if time_ms or _wake_source(dev, True):
            _timebase.block(dev, _slowclock.sleep_us(dev, t0, int(time_ms * 1000)) if time_ms else None, s.woken)
    finally:
        dev.asleep = False
        acct.state("cpu", was or "active")
        _timebase.stepped(dev, _slowclock.slept(dev, t0, clock.now_us()))
    dev.wake_reason = s.why
    _gpio.run_deferred(dev)


class _Sleep:
    """A pin's light sleep on simulated time: its wake check and why it
    woke, made at its first sleep and kept (the chip's call allocates
    nothing; a closure and two lists a call were VM garbage on the
    firmware's share)."""

    def __init__(self, dev):
        self.dev = dev
        self.why = TIMER_WAKE
        self.gen = -1  # pads' levels and wake sources at the last check that said no
        self.e0 = self.e1 = None
        self.woken = self._woken  # the bound method made once

    def _woken(self):
        # The loop asks every sleeping pin after each of its steps; the answer
        # can only change with a pad's level or the wake sources themselves.
        dev = self.dev
        e0, e1 = getattr(dev, "ext0_wake", None), getattr(dev, "ext1_wake", None)
        if dev.gpio_gen == self.gen and e0 is self.e0 and e1 is self.e1:
            return False
        r = _wake_source(dev)
        if r:
            self.why = r
            return True
        self.gen, self.e0, self.e1 = dev.gpio_gen, e0, e1
        return False


def _radio_sleeps(dev):
    if dev.ble_obj is not None:
        from cpsim import blegap

        blegap.lightsleep(dev.ble_obj)


def _lightsleep_realtime(dev, clock, time_ms):
    from cpsim import gpio, slowclock

    why = TIMER_WAKE
    if time_ms or _wake_source(dev, True):
        _radio_sleeps(dev)
        acct = dev.acct
        was = acct.get_state("cpu")
        acct.state("cpu", "lightsleep")
        t0 = clock.now_us()
        end = t0 + slowclock.sleep_us(dev, t0, int(time_ms * 1000)) if time_ms else None
        dev.asleep = True
        try:
            while True:
                now = clock.now_us()  # (runs the events due: a wake line may rise)
                r = _wake_source(dev)
                if r:
                    why = r
                    break
                if end is not None and now >= end:
                    break
                # The models' bookkeeping put off while the firmware ran
                # (clock.soon: the LIS3DH's look-ahead), now that it sleeps;
                # it took time, so look at the lines again first.
                if clock.run_soon():
                    continue
                # Only the hardware's own events change a wake line (sensor
                # samples, the air's touches, polled by clock events): sleep to
                # the next one, 10 ms at most. 1 ms slices cost a badge's VM more
                # host CPU asleep than awake, and three loaded badges overran
                # their FIFOs (tests/test_board_badges.py).
                nxt = clock.next_us()
                step = 10000 if nxt is None else max(100, min(10000, nxt - now))
                clock.advance_us(step if end is None or end - now > step else end - now)
        finally:
            dev.asleep = False
            acct.state("cpu", was or "active")
            slowclock.slept(dev, t0, clock.now_us())  # one pin a process: its asyncio counts on its ticks
    dev.wake_reason = why
    gpio.run_deferred(dev)


def _wake_source(dev, armed_only=False):
    """EXT0_WAKE/EXT1_WAKE when a light-sleep wake source's level is present
    (or, with armed_only, when one is armed at all), else 0."""
    e0 = getattr(dev, "ext0_wake", None)
    if e0 is not None and e0[0] is not None and (e0[2] is None or e0[2] & SLEEP):
        if armed_only or _gpio.level(dev, e0[0]) == e0[1]:
            return EXT0_WAKE
    e1 = getattr(dev, "ext1_wake", None)
    if e1 is not None and e1[0]:
        if armed_only:
            return EXT1_WAKE
        high = False  # (a comprehension here made its captured names cells: 64 VM bytes a call)
        for n in e1[0]:
            if _gpio.level(dev, n):
                high = True
                break
        if high if e1[1] else not high:
            return EXT1_WAKE
    return 0


sleep = lightsleep


def idle():
    _clock(current()).poll()


def freq(*hz):
    dev = current()
    if not hz:
        return dev.cpu_freq
    mhz = hz[0] // 1000000
    if mhz not in (20, 40, 80, 160, 240):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    dev.cpu_freq = mhz * 1000000


def unique_id():
    return bytes(current().uid)


def reset_cause():
    return current().reset_cause


def wake_reason():
    return current().wake_reason


def disable_irq():
    dev = current()
    dev.irq_disabled += 1
    return dev.irq_disabled - 1


def enable_irq(state):
    dev = current()
    dev.irq_disabled = state
    if not state:
        from cpsim import gpio

        gpio.flush_pending(dev)


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    # Nothing toggles a pad during a blocking call in the sim, so this times
    # out: -1 while timing a pulse already under way, -2 waiting for one.
    return -1 if pin.value() == pulse_level else -2

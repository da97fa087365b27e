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
    dev = current()
    dev.wake_reason = TIMER_WAKE if time_ms else 0
    reset_device(dev, DEEPSLEEP_RESET, "machine.deepsleep", sleep_ms=time_ms)
    raise SystemExit


def lightsleep(time_ms=0):
    """The sim clock moves on by time_ms (events due meanwhile run at their
    times); with no time, up to the next scheduled event."""
    dev = current()
    clock = _clock(dev)
    if not time_ms:
        ev = getattr(clock, "_events", None)
        time_ms = (ev[0][0] - clock.now_us()) / 1000 if ev else 0
    if time_ms > 0:
        clock.advance(time_ms)
    dev.wake_reason = TIMER_WAKE


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

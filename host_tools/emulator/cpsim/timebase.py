# One time base for firmware and emulated hardware.
#
# In a host run (tests, the crowd simulator) the world's clock is a SimClock
# and the firmware's own APIs run on it, in both runtimes, with the firmware
# unchanged:
#   time.ticks_ms/us/cpu, ticks_add/diff   the bound device's world clock
#                                          (30-bit ticks, as on the ESP32)
#   asyncio (sleep, wait_for, ThreadSafeFlag, Event, gather, run...)
#       CPython: cpsim.simloop.SimLoop; the VM: its frozen asyncio with the
#       hooks of cpsim.mptasks. Waiting runs the clock's events in order and
#       stops as soon as a task can run, so simulated time costs only the
#       events in it.
#   machine.Timer, Pin IRQs, BLE events    clock events, each bound to its pin
#   time.time()                            the running pin's RTC (machine.RTC):
#       seconds since 2000-01-01, the ESP32 port's epoch, from 2000-01-01 at
#       t = 0 unless the RTC was set (Device.rtc_offset_us); only while the
#       world runs that pin's code, real time elsewhere (host code, pytest)
#   a pin's sleep-clock error             ticks and time.time() of the bound pin
#       run ahead of (or behind) the world's clock by Device.clock_err_us,
#       which grows in its light and deep sleeps (cpsim.slowclock); under
#       CPython its asyncio timers shift with it (SimLoop.shift)
# On a virtual badge the clock is a WallClock and all of this is real time,
# as before (cpsim/default_device.py).
#
# Blocking calls on simulated time (time.sleep*, machine.lightsleep):
#   - from a pin's task while the world runs, only that pin blocks: every
#     other pin's tasks and all hardware go on, and the pin's own tasks wait
#     until the call returns at its end time. In time.sleep_ms the pin's IRQ
#     and Timer callbacks still run (MicroPython runs scheduled callbacks while
#     it sleeps); in lightsleep they wait for the wake-up (the CPU is halted)
#     and a wake source (ext0/ext1 level, see esp32.wake_on_ext0/ext1 and
#     Pin.irq(wake=machine.SLEEP)) ends the sleep early. A wait with no end
#     (lightsleep() with only a wake source) lasts at most to the run's end.
#     Under CPython each blocked pin's callback waits in a greenlet, so any
#     number of pins sleep at once and each wakes at its own time. In the VM
#     blocking calls nest: a light sleep nested in another pin's ends early
#     (a spurious timer wake) when the outer call ends (mptasks.Runner.check_over).
#   - outside a running world (a board being built before the run, a test's
#     top level) there is nothing else to run: the clock advances and every
#     pin's hardware events on the way run (an unbounded wait: one hour).
# Code that busy-waits on ticks_ms() never sees time move (simulated code
# takes no time): firmware must await or sleep instead.
import sys

from cpsim import world as _world

MP = sys.implementation.name == "micropython"
MASK = (1 << 30) - 1  # ticks wrap like a 30-bit small int on the ESP32
_FOREVER = 1 << 62
_OUTSIDE_CAP_US = 3600 * 1000000  # an unbounded wait outside a run: one hour at most


def sim_clock():
    """The bound world's clock if it is simulated, else None (real time)."""
    w = _world._state["world"]
    if w is None:
        return None
    c = w.clock
    return c if c.simulated else None


def err_us():
    """The bound pin's clock minus the world's (cpsim.slowclock), 0 unbound."""
    dev = _world._state["device"]
    return 0 if dev is None else dev.clock_err_us


def stepped(dev, us):
    """Pin `dev`'s clock moved `us` against the world's in a sleep: its
    asyncio timers, which count on its clock as on the chip, come due that
    much sooner (CPython; the VM's asyncio keeps the world's time)."""
    if not us or MP:
        return
    sched = _running(dev.world)
    if sched is not None:
        sched.shift(dev, us)


def rtc_time():
    """time.time() for the pin whose code runs now in a simulated world: its
    RTC in whole seconds since 2000-01-01; None outside such a run."""
    st = _world._state
    w, dev = st["world"], st["device"]
    if w is None or dev is None or not w.running or not w.clock.simulated:
        return None
    return (w.clock.now_us() + getattr(dev, "rtc_offset_us", 0) + dev.clock_err_us) // 1000000


def runner(world):
    if MP:
        from cpsim.mptasks import Runner
    else:
        from cpsim.simloop import Runner
    return Runner(world)


def _running(world):
    # The scheduler running `world`, if the caller is one of its callbacks.
    if MP:
        m = sys.modules.get("cpsim.mptasks")  # (an import statement here allocated 32 VM bytes a call)
        return None if m is None else m.running(world)
    from cpsim import simloop

    return simloop.running(world)


def block(dev, us, woken=None):
    """Pin `dev` makes a blocking call of `us` microseconds (None: until
    woken() says so); returns when it ends, as described above."""
    clock = dev.world.clock
    until = _FOREVER if us is None else clock.now_us() + us
    check = woken or _never
    sched = _running(dev.world)
    if sched is not None:
        sched.block(dev, until, check)  # _FOREVER: until the run's end
        return
    if until == _FOREVER:
        until = clock.now_us() + _OUTSIDE_CAP_US
    while clock.now_us() < until and not check():
        if not clock.run_next(until):
            clock._us = until
    dev.bind()


def busy(dev, us):
    """Pin `dev` is inside a blocking call of `us` microseconds that needs
    nothing else to run meanwhile (the stack's start-up in active(True)):
    its tasks wait until the end, like block(), but without running the loop
    inside the call, so any number of pins can be busy at once (block() nests
    one loop per pin). The caller's own code goes on until it next yields:
    firmware awaits right after such a call. False outside a run."""
    sched = _running(dev.world)
    if sched is None or us <= 0:
        return False
    clock = dev.world.clock
    dev.blocked = True

    def free():
        dev.blocked = False
        sched.release(dev)

    clock.call_at(clock.now_us() + us, free)
    return True


def _never():
    return False


def sleep_us(us):
    """time.sleep_us for firmware: simulated when the bound world is."""
    dev = _world._state["device"]
    if dev is None or not dev.world.clock.simulated:
        return False
    if us > 0:
        block(dev, int(us))
    return True

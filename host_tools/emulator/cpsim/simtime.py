# `time` for firmware in the MicroPython VM of a host run: install() puts this
# module in sys.modules["time"] before the firmware is imported, so its
# `import time` reads the bound world's simulated clock (cpsim.timebase) and
# real time otherwise. `real` is the VM's own time module.
import sys
import time as real

from cpsim import timebase

_MASK = timebase.MASK


def ticks_us():
    c = timebase.sim_clock()
    return ((c._us if c is not None else real.ticks_us()) + timebase.err_us()) & _MASK


def ticks_ms():
    c = timebase.sim_clock()
    e = timebase.err_us()
    return ((c._us + e) // 1000 if c is not None else real.ticks_ms() + e // 1000) & _MASK


ticks_cpu = ticks_us


def ticks_add(t, d):
    return (t + d) & _MASK


def ticks_diff(a, b):
    d = (a - b) & _MASK
    return d - _MASK - 1 if d > _MASK >> 1 else d


def sleep_us(us):
    if not timebase.sleep_us(us):
        real.sleep_us(us)


def sleep_ms(ms):
    sleep_us(ms * 1000)


def sleep(s):
    sleep_us(int(s * 1000000))


def time():
    t = timebase.rtc_time()  # the running pin's RTC on simulated time
    return real.time() if t is None else t


time_ns = real.time_ns
localtime = real.localtime
gmtime = real.gmtime
mktime = real.mktime


def install():
    sys.modules["time"] = sys.modules["cpsim.simtime"]

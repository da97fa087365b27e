# The pin's clock in light and deep sleep runs on its RTC slow clock
# (cpsim.slowclock): what the firmware sees (ticks, time.time, machine.RTC)
# gains or loses on the simulator's exact clock by the pin's own error, only
# while it sleeps, only on that pin.
import asyncio
import sys

import machine
import time
from cpsim import slowclock
from cpsim.world import World

_MP = sys.implementation.name == "micropython"


def test_a_fast_sleep_clock_gains_only_asleep_and_only_on_its_pin():
    w = World()
    a = w.device("a")
    b = w.device("b")
    slowclock.set_clock(a, slowclock.SlowClock(10000))  # +1%: gains 10 ms a second asleep
    seen = {}

    async def fw(name, sleep):
        rtc = machine.RTC()
        t0, s0 = time.ticks_ms(), rtc.datetime()
        for _ in range(10):
            if sleep:
                machine.lightsleep(1000)  # 1,000 ms counted on the slow clock
            else:
                await asyncio.sleep_ms(1000)  # awake: the crystal, exact here
        await asyncio.sleep_ms(1000)
        seen[name] = (time.ticks_diff(time.ticks_ms(), t0), w.clock.now_ms(), rtc.datetime()[6] - s0[6], time.time())

    w.start(a, fw("a", True))
    w.start(b, fw("b", False))
    w.run_for(15000)
    # a counted 10 s of sleep and 1 s awake; 10 s / 1.01 of true time went by asleep
    assert seen["a"][0] == 11000 and abs(seen["a"][1] - (9901 + 1000)) <= 1, seen
    assert seen["a"][2] == 11 and abs(a.clock_err_us - 99010) <= 1, a.clock_err_us
    assert seen["b"][:3] == (11000, 11000, 11) and b.clock_err_us == 0, seen
    assert seen["a"][3] == seen["b"][3]  # both read 11 s after 2000-01-01 (a got there sooner)


def test_a_slow_sleep_clock_loses_and_the_rtc_keeps_what_was_set():
    w = World()
    d = w.device("p")
    slowclock.set_clock(d, slowclock.SlowClock(-5000))
    out = []

    async def fw():
        rtc = machine.RTC()
        rtc.datetime((2026, 11, 29, 6, 12, 0, 0, 0))  # the desk sets it
        for _ in range(200):
            machine.lightsleep(1000)
        await asyncio.sleep_ms(500)
        out.append(rtc.datetime())

    w.start(d, fw())
    w.run_for(250000)
    # 200 local seconds asleep took 201.005 true seconds: the pin reads 12:03:20.5 at true 12:03:21.505
    assert out and out[0][4:7] == (12, 3, 20) and 499000 <= out[0][7] <= 501000, out
    assert abs(d.clock_err_us + 1005026) <= 2, d.clock_err_us


def test_a_pins_asyncio_timers_count_on_its_own_clock():
    # On the chip asyncio waits on ticks_ms, which light sleep advances by the
    # slow clock's count: a 10 s wait ends when the pin's clock says so.
    if _MP:
        return  # the VM's asyncio keeps the world's time (cpsim.timebase)
    w = World()
    d = w.device("p")
    slowclock.set_clock(d, slowclock.SlowClock(20000))
    done = []

    async def waiter():
        t0 = time.ticks_ms()
        await asyncio.sleep_ms(10000)
        done.append((time.ticks_diff(time.ticks_ms(), t0), w.clock.now_ms()))

    async def sleeper():
        for _ in range(20):  # as cloudpin.power does: no further than the nearest deadline
            machine.lightsleep(500)
            await asyncio.sleep_ms(0)

    w.start(d, waiter())
    w.start(d, sleeper())
    w.run_for(12000)
    assert done and 10000 <= done[0][0] <= 10001 and 9800 <= done[0][1] <= 9805, done  # not at true 10 s


def test_deep_sleep_counts_on_the_slow_clock():
    w = World()
    d = w.device("p")
    slowclock.set_clock(d, slowclock.SlowClock(3000))

    def fw():
        try:
            machine.deepsleep(60000)
        except SystemExit:
            pass

    d.bind()
    fw()
    assert abs(d.clock_err_us - 180000) <= 1, d.clock_err_us
    assert d.reset_cause == machine.DEEPSLEEP_RESET


def test_the_wander_integrates_to_zero_over_its_period_and_draws_stay_in_range():
    import math
    import random

    s = slowclock.SlowClock(0, 1000, 3600, 0.3)
    assert abs(s.gain_us(0, 3600e6)) < 1  # a whole period of wander: no net gain
    # half a period from phase 0.3: 1000 ppm * 2 cos(0.3) / (2 pi / 3600 s) = 1.095 s
    assert abs(s.gain_us(0, 1800e6) - 1000e-6 * 2 * math.cos(0.3) * 3600e6 / (2 * math.pi)) < 100
    random.seed(5)
    for _ in range(200):
        c = slowclock.draw(random)
        assert -slowclock.RANGE_PPM <= c.ppm <= slowclock.RANGE_PPM and 0 <= c.wander_ppm <= slowclock.WANDER_PPM
        assert abs(c.ppm_at(123e9) - c.ppm) <= c.wander_ppm

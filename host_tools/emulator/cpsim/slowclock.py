# The ESP32's RTC slow clock in light and deep sleep: a per-pin frequency
# error that the time the firmware sees (time.ticks_ms/us, time.time,
# machine.RTC) carries across machine.lightsleep() and machine.deepsleep(),
# while the simulator's clock stays exact.
#
# Why: awake, the system time runs on the high-resolution timer from the
# 40 MHz crystal (APB clock, "less than +-10 ppm", ESP-IDF System Time docs:
# not modelled). In light and deep sleep the RTC timer keeps it, on the RTC
# slow clock, by default the internal 150 kHz RC oscillator, which "is
# affected by temperature fluctuations, so time may drift in both Deep-sleep
# and Light-sleep modes" (ESP-IDF System Time, RTC Timer Clock Sources). ESP-IDF
# calibrates the RC against the crystal before each light sleep, but it is
# calibrated awake and warm and runs asleep and cooler, so the error is
# systematic. Measured (the docs give no figure):
#   - esp-idf #6030: an ESP32-WROOM-32E light-sleeping between hourly
#     esp_timer alarms fired them 12.2 s early every hour: +3,380 ppm;
#   - esp32.io t=35490: an ESP32-C3 deep-sleeping an hour at a time, its RC
#     calibrated at every wake, woke up to +-20 s per hour off (+-5,600 ppm),
#     and its RC moved +-1% with the warmth of 20 s of Wi-Fi;
#   - moonlight-systems.co.uk (4 ESP32 Feathers, deep sleep): +33 to +38 s an
#     hour, steady per unit, different between units.
# So a pin's error is drawn once, uniformly within +-RANGE_PPM (5,000 ppm,
# rounding up the light-sleep measurement and the +-20 s/h report), plus a
# slow wander for the wearer's warmth (ESTIMATE: up to WANDER_PPM, 1,000 ppm,
# a tenth of the Wi-Fi warming above, over 1-4 hours). Positive: the pin's
# clock gains (runs fast) while it sleeps, as #6030's did.
#
# How it reaches the firmware: Device.clock_err_us, the pin's clock minus the
# simulator's, grows by the integral of the error over each sleep; cpsim's
# time, RTC and (under CPython) the pin's asyncio timers follow it. A timed
# light sleep asks for local milliseconds and lasts local / (1 + error) of
# true time, as the RTC timer counts calibrated slow-clock ticks.
import math

RANGE_PPM = 5000
WANDER_PPM = 1000
WANDER_PERIOD_S = (3600, 4 * 3600)


class SlowClock:
    """The slow clock's error at simulated time t: ppm + wander_ppm *
    sin(2 pi t / period + phase), parts per million, positive = fast."""

    def __init__(self, ppm=0.0, wander_ppm=0.0, wander_period_s=3600.0, phase=0.0):
        self.ppm = float(ppm)
        self.wander_ppm = float(wander_ppm)
        self.period_us = float(wander_period_s) * 1e6
        self.phase = float(phase)

    def ppm_at(self, t_us):
        if not self.wander_ppm:
            return self.ppm
        return self.ppm + self.wander_ppm * math.sin(2 * math.pi * t_us / self.period_us + self.phase)

    def gain_us(self, t0_us, t1_us):
        """How much the pin's clock gains on true time from t0 to t1 asleep
        (microseconds, a float; the integral of the error)."""
        g = self.ppm * (t1_us - t0_us)
        if self.wander_ppm:
            w = 2 * math.pi / self.period_us
            g += self.wander_ppm * (math.cos(w * t0_us + self.phase) - math.cos(w * t1_us + self.phase)) / w
        return g * 1e-6

    def true_us(self, t0_us, local_us):
        """True length of a sleep that the pin counts as local_us, from t0
        (rounded up: the timer wakes once the count is reached)."""
        return int(math.ceil(local_us / (1 + self.ppm_at(t0_us) * 1e-6)))

    def __repr__(self):
        return "SlowClock(%+.0f ppm, wander %.0f ppm / %.1f h)" % (self.ppm, self.wander_ppm, self.period_us / 3.6e9)


def draw(rng, range_ppm=RANGE_PPM, wander_ppm=WANDER_PPM):
    """One pin's slow clock from `rng`, anything with uniform(a, b) (a
    random.Random, or the random module)."""
    lo, hi = WANDER_PERIOD_S
    return SlowClock(rng.uniform(-range_ppm, range_ppm), rng.uniform(0, wander_ppm), rng.uniform(lo, hi),
                     rng.uniform(0, 2 * math.pi))


class Draws:
    """uniform(a, b) from a 32-bit xorshift seeded by `seed` (an int): the
    same numbers under CPython and MicroPython, so the host can say what a
    virtual badge's VM drew. Not the random module: seeding that in a badge's
    VM would fix the firmware's own random numbers too."""

    def __init__(self, seed):
        m = 0xFFFFFFFF
        h = (seed ^ seed >> 32) & m  # a murmur3 finish: neighbouring seeds draw far apart
        h ^= h >> 16
        h = h * 0x85EBCA6B & m
        h ^= h >> 13
        h = h * 0xC2B2AE35 & m
        h ^= h >> 16
        self.x = h or 1

    def uniform(self, a, b):
        m = 0xFFFFFFFF
        x = self.x
        x ^= x << 13 & m
        x ^= x >> 17
        x ^= x << 5 & m
        self.x = x
        return a + (b - a) * (x / 4294967296.0)


def for_badge(uid, setting=None):
    """A virtual badge's slow clock: `setting` is CLOUDPIN_EMU_CLOCK_PPM (None
    or "draw": drawn from the default ranges by the badge's unique id, the
    same every run and on the host; a number: that error in ppm, no wander;
    0: exact, None returned). ValueError for anything else."""
    if setting is None or setting == "draw":
        return draw(Draws(int.from_bytes(bytes(uid), "big")))
    try:
        ppm = float(setting)
    except ValueError:
        raise ValueError("CLOUDPIN_EMU_CLOCK_PPM must be a number of ppm or 'draw', not %r" % (setting,))
    if not -1e6 < ppm < 1e6:
        raise ValueError("CLOUDPIN_EMU_CLOCK_PPM must lie within +-1,000,000 ppm, not %r" % (setting,))
    return SlowClock(ppm) if ppm else None


def set_clock(dev, slow):
    """Give `dev` this slow clock (None: exact, the default). Its state is made
    here, at power-on, so that a sleep later adds nothing to the device (in a
    virtual badge's VM that would land in the firmware's share of the heap)."""
    dev.slow_clock = slow
    dev.clock_frac_ns = 0


def sleep_us(dev, t0_us, local_us):
    """The true length of a sleep of local_us the pin starts at t0."""
    s = getattr(dev, "slow_clock", None)
    return local_us if s is None else s.true_us(t0_us, local_us)


def slept(dev, t0_us, t1_us):
    """The pin slept on its slow clock from t0 to t1 (true time): its clock
    moves by what it gained; returns the whole microseconds it moved."""
    s = getattr(dev, "slow_clock", None)
    if s is None or t1_us <= t0_us:
        return 0
    g = s.gain_us(t0_us, t1_us) + getattr(dev, "clock_frac_ns", 0) * 1e-3
    whole = int(g)
    dev.clock_frac_ns = int((g - whole) * 1000)  # a small int: no float kept between sleeps
    dev.clock_err_us = getattr(dev, "clock_err_us", 0) + whole
    return whole

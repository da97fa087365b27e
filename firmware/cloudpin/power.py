# Light sleep between wakes (docs/power.md). An ESP32 waiting in asyncio idles
# at 27 mA with its clock running; in machine.lightsleep() it draws 0.8 mA.
# Stock MicroPython has no automatic light sleep, so one task of the app, the
# last to run in every pass of the scheduler, puts the chip to sleep until
# the nearest deadline a service registered (PowerService.sleep_ms / wait_ms)
# or until the accelerometer's INT lines wake it (esp32.wake_on_ext1, level
# triggered: a line already high ends the sleep at once, so a watermark or a
# click that arrives while the task decides is never slept through).
#
# Never while the radio is on or the owner's phone is connected: lightsleep
# stops the BLE controller's clock and breaks connections (micropython #6396).
# The radio owner publishes bus.RADIO, the phone service bus.PHONE; the
# sleeper also asks the stack itself (ble.active()) before each sleep, since
# the radio owner yields between switching BLE on and saying so.
#
# The ESP32's task watchdog (machine.WDT) runs on a timer-group clock that
# light sleep gates; whether or not it counts while asleep, the sleeper feeds
# it right before and right after each sleep and never sleeps longer than
# _MAX_SLEEP_MS (far below the 8 s timeout), so a sleep cannot trip it and a
# hung loop still does.
import asyncio
import time

import machine
from micropython import const

from cloudpin import bus as topics

# Below this a sleep saves less than entering and leaving it costs (ESTIMATE:
# ~1-2 ms of wake-up and flash/PLL settling per light sleep on the ESP32,
# ESP-IDF's sleep_modes docs; 20 ms keeps that under 10%).
_MIN_SLEEP_MS = const(20)
# The longest single sleep: the supervisor's feed period, so a deadline no
# service registered (another helper's task on a plain asyncio.sleep_ms) is
# late by at most this much.
_MAX_SLEEP_MS = const(1000)
_RADIO_POLL_MS = const(50)


class SleepPolicy:
    """Whether and how long the CPU may light-sleep. Pure: no hardware."""

    def __init__(self, min_ms=_MIN_SLEEP_MS, max_ms=_MAX_SLEEP_MS):
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.radio_on = False
        self.phone_on = False

    def allowed(self):
        return not (self.radio_on or self.phone_on)

    def sleep_ms(self, until_due):
        """How long to sleep now; until_due: ms to the nearest registered
        deadline (None: no deadline). 0: stay awake."""
        if not self.allowed():
            return 0
        ms = self.max_ms if until_due is None or until_due > self.max_ms else until_due
        return ms if ms >= self.min_ms else 0


def nearest(due, now):
    """ms from now to the earliest deadline in `due` (ticks_ms values), None
    if there is none; a deadline already passed gives 0."""
    best = None
    for t in due:
        d = time.ticks_diff(t, now)
        if d < 0:
            d = 0
        if best is None or d < best:
            best = d
    return best


class PowerService:
    name = "power"

    def __init__(self, log, bus, wake_pins=(), wdt=None, on_wake=None, enabled=True, ble=None, button=None):
        """wake_pins: machine.Pin inputs whose high level ends a sleep (the
        accelerometer's INT lines); on_wake(): called after a sleep that a
        pin ended (the motion service drains its FIFO); button: an active-low
        machine.Pin whose press ends a sleep too (ext0: a dozing pin sleeps
        up to 1 s, and the screen lights at a press)."""
        self.log = log
        self.policy = SleepPolicy()
        self.enabled = enabled
        self.wdt = wdt
        self.ble = ble  # bluetooth.BLE or None: never sleep while it is active
        self.on_wake = on_wake
        self._pins = list(wake_pins)
        self._button = button
        self._due = []  # ticks_ms deadlines of services waiting on time
        self.sleeps = 0  # light sleeps entered
        self.pin_wakes = 0  # of which a wake pin ended
        bus.subscribe(topics.RADIO, self._on_radio)
        bus.subscribe(topics.PHONE, self._on_phone)

    # Bus handlers (run in the publisher's task): the sleeper looks at the policy.
    def _on_radio(self, on):
        self.policy.radio_on = bool(on)

    def _on_phone(self, connected):
        self.policy.phone_on = bool(connected)

    # --- what services await instead of asyncio, so the sleeper knows when they are due
    async def sleep_ms(self, ms):
        t = time.ticks_add(time.ticks_ms(), ms)
        self._due.append(t)
        try:
            await asyncio.sleep_ms(ms)
        finally:
            self._due.remove(t)

    async def wait_ms(self, flag, ms):
        """await flag.wait() for at most ms; True if the flag was set."""
        t = time.ticks_add(time.ticks_ms(), ms)
        self._due.append(t)
        try:
            await asyncio.wait_for_ms(flag.wait(), ms)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._due.remove(t)

    def _arm(self):
        import esp32

        if self._button is not None:
            try:
                esp32.wake_on_ext0(self._button, esp32.WAKEUP_ALL_LOW)
            except ValueError:  # not an RTC GPIO: a press waits for the next wake
                self._button = None
        if not self._pins:
            return
        try:
            esp32.wake_on_ext1(self._pins, esp32.WAKEUP_ANY_HIGH)
        except ValueError as e:  # a pin that is not an RTC GPIO cannot wake the chip
            self.log.error("wake pins: %s; sleeping on timers only" % e)
            self._pins = []

    def _sleep(self, ms):
        wdt = self.wdt
        if wdt is not None:
            wdt.feed()
        self.sleeps += 1
        machine.lightsleep(ms)
        if wdt is not None:
            wdt.feed()
        r = machine.wake_reason()
        if r == machine.EXT1_WAKE or r == machine.EXT0_WAKE:
            # The edge that raised the line may have come while the GPIO
            # block was clock-gated: tell the owner of the line directly.
            self.pin_wakes += 1
            if self.on_wake is not None:
                self.on_wake()

    async def run(self):
        if not self.enabled:
            self.log.info("light sleep off")
            return
        self._arm()
        self.log.info("light sleep on, wake pins %d" % len(self._pins))
        policy = self.policy
        while True:
            # Every task that is ready runs before this one resumes.
            await asyncio.sleep_ms(0)
            if not policy.allowed() or (self.ble is not None and self.ble.active()):
                # awake while the radio is on: look again in 50 ms (asyncio's
                # sleep_ms allocates nothing, and the radio's moments are
                # when the heap is fullest)
                await asyncio.sleep_ms(_RADIO_POLL_MS)
                continue
            due = nearest(self._due, time.ticks_ms())
            ms = policy.sleep_ms(due)
            if ms:
                t0 = time.ticks_ms()
                self._sleep(ms)
                if time.ticks_diff(time.ticks_ms(), t0) <= 0:
                    # Nothing slept (a wake line was already high): let its
                    # owner run rather than spin on it.
                    await asyncio.sleep_ms(1)
            else:
                await asyncio.sleep_ms(due if due else 1)

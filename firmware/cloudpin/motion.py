# The motion service: wakes on the accelerometer's FIFO watermark interrupt
# (or a timer on chips without one), drains the FIFO in one burst and runs
# every sample through the step counter and the software tap detector.
#
# The sensor runs at the board's tap rate (accel.tap_odr, 400-500 Hz; the
# board layer programs it and hands over the rate the chip really runs at,
# Hardware.accel_rate): a tap lasts a few ms and vanishes at step rates. The
# step counter block-averages down to its own 25 Hz internally. The software
# detector sees every sample on every board: the LIS3DH click engine (one
# threshold per axis, a time limit and a latency) found 85% of the bench's
# touches against the detector's 98.6% (docs/taps.md), and a meeting needs
# both pins to report the touch. Where the chip has one, the click engine
# only wakes the CPU from a doze (below).
#
# Dozing (docs/power.md): reading and processing every sample at 400 Hz keeps
# the CPU awake about 9% of the time, most of a 3 mA budget. Where the click
# engine watches for taps, a pin that has been still for _DOZE_AFTER_MS stops
# the watermark interrupt: the FIFO runs on in stream mode (keeping the last
# 80 ms), a click wakes the CPU on INT2, and the detector reads the touch
# from those 80 ms (its peak is a few samples before the click fires) and
# the bursts after it, on the watermark again. Every _PEEK_MS the service
# reads the FIFO once to see whether the wearer started moving, which ends
# the doze. Steps in the peek interval before that are the price (measured
# in tests/fw/test_power_sleep.py).
import asyncio
import time
from array import array

from micropython import const

from cloudpin import bus as topics
from cloudpin.steps import StepCounter
from cloudpin.taps import TapDetector

_FIFO_FRAMES = const(32)  # largest FIFO burst any driver returns per read
_WATERMARK = const(24)  # LIS3DH/MPU6886 interrupt level: 60 ms at 400 Hz
_TAP_MG = const(800)  # tap threshold of the software detector (high-passed magnitude)
# The click engine only wakes a dozing CPU: it compares each axis alone, and
# an edge-on touch puts 1/sqrt(2) of its magnitude on two axes, so it fires
# from there and the detector judges the magnitude. TIME_LIMIT 15 ms holds a
# 10 ms contact through the sensor's filter; 30 ms latency hides the ringing.
_CLICK_MG = const(560)
_STILL_MG = const(60)  # a burst whose every axis spans less is still (rest noise ~2 mg rms; walking spans 100s)
_DOZE_AFTER_MS = const(3000)  # still this long (past the step counter's 750 ms stand-still): doze
_PEEK_MS = const(1000)  # dozing: look for motion this often (the watchdog feed wakes the CPU as often)
_WAIT_MS = const(500)  # awake: a missed edge must not stall counting
_HELD = const(6)  # events held through a radio start (250 ms: a double tap's two, each suspected first)
_SUSPECTED = const(-1)  # held in place of a strength: a suspicion...
_CANCELLED = const(-2)  # ...and its cancel


def burst_span(buf, n):
    """The largest max - min of any axis over n x,y,z samples (mg). No allocation."""
    if n <= 0:
        return 0
    x0 = x1 = buf[0]
    y0 = y1 = buf[1]
    z0 = z1 = buf[2]
    j = 3
    for _ in range(n - 1):
        v = buf[j]
        if v < x0:
            x0 = v
        elif v > x1:
            x1 = v
        v = buf[j + 1]
        if v < y0:
            y0 = v
        elif v > y1:
            y1 = v
        v = buf[j + 2]
        if v < z0:
            z0 = v
        elif v > z1:
            z1 = v
        j += 3
    s = x1 - x0
    if y1 - y0 > s:
        s = y1 - y0
    if z1 - z0 > s:
        s = z1 - z0
    return s


class MotionPipeline:
    """What happens to every sample, without hardware: a FIFO burst in,
    steps counted and taps reported out. process() allocates nothing
    unless a tap is reported."""

    def __init__(self, rate_hz, on_tap=None, range_g=0, on_suspect=None):
        self.rate = rate_hz
        self.on_tap = on_tap  # on_tap(t_ms, strength_mg)
        self.steps = StepCounter(rate_hz)
        # readings within 2% of the full scale are clipped ones (0: unknown);
        # on_suspect(t_ms, on): a candidate waits for its company (bus.TAP_SUSPECT)
        self.taps = TapDetector(rate_hz, threshold_mg=_TAP_MG, clip_mg=range_g * 980, on_tap=on_tap,
                                on_suspect=on_suspect)
        self.tap_count = 0

    def process(self, buf, n, t_last):
        """buf: n x,y,z samples in mg (array "h"), the last taken at t_last ms."""
        steps = self.steps
        j = 0
        for _ in range(n):
            steps.feed(buf[j], buf[j + 1], buf[j + 2])
            j += 3
        # on_tap sees each tap of the burst (a double touch can end in one)
        self.tap_count += self.taps.feed_fifo(buf, n, t_last)


class MotionService:
    name = "motion"

    def __init__(self, hw, log, on_tap=None, ticks_ms=None, power=None, doze=True, bus=None, on_suspect=None):
        self.hw = hw
        # cloudpin.power.PowerService: its waits tell the sleeper when this
        # service is due; None runs on plain asyncio (no light sleep).
        self.power = power
        self.log = log
        self.on_tap = on_tap  # on_tap(t_ms, strength_mg): the handshake's hook
        self.on_suspect = on_suspect  # on_suspect(t_ms, on): a tap suspected / cancelled
        # The clock taps are stamped with; a simulation passes its own.
        self.ticks_ms = ticks_ms or time.ticks_ms
        # Resolved by the board layer; None (and no pipeline) without a sensor.
        accel = hw.accel
        self.rate = hw.accel_rate if accel is not None else None
        self.pipeline = (MotionPipeline(self.rate, self._tap, accel.range_g, self._suspect)
                         if accel is not None and self.rate else None)
        self.steps = self.pipeline.steps if self.pipeline else None
        self.taps = self.pipeline.taps if self.pipeline else None
        self.overruns = 0
        self.clicks = 0  # click interrupts seen (they wake a doze; the detector decides)
        self._buf = array("h", bytes(2 * 3 * _FIFO_FRAMES))
        self._wake = asyncio.ThreadSafeFlag()
        self._clicked = False
        self._hw_click = False
        self._doze_ok = doze
        self.dozing = False
        self.dozes = 0
        self._quiet_ms = 0
        self.moved = False  # the last drain saw a burst that was not still
        # The radio's start holds the CPU longer than the FIFO lasts
        # (bus.RADIO_START): the watermark callback drains meanwhile, and
        # taps (and suspicions) found then wait here for the task to report
        # them, in order: (t_ms, strength mg), or _SUSPECTED / _CANCELLED.
        self._irq_drain = False
        self._irq_ok = False  # the watermark interrupt is attached
        self._held_t = array("i", [0] * _HELD)
        self._held_mg = array("i", [0] * _HELD)
        self._held = 0
        if bus is not None:
            bus.subscribe(topics.RADIO_START, self._radio_start)

    @property
    def tap_count(self):
        return self.pipeline.tap_count if self.pipeline else 0

    def summary(self):
        if self.steps is None:
            return "motion=off"
        return "steps=%d taps=%d" % (self.steps.steps, self.tap_count)

    # Interrupt handlers: no allocation, just flags (as aioble does), except
    # while the radio starts (below).
    def _on_watermark(self, pin):
        if self._irq_drain:
            # A scheduled callback inside ble.active(True) (its sync wait runs
            # them: MicroPython's mp_bluetooth_init) or just after it: this
            # service's task is parked at its await until it clears the flag,
            # so this drain never interleaves with the task's own.
            self.drain()
        else:
            self._wake.set()

    def _radio_start(self, starting):
        if not starting:
            self._wake.set()  # the task takes over again (below), reports held taps
            return
        if not self._irq_ok or self.dozing:
            return  # dozing, the FIFO overflows by design
        # Until this service's task runs again (on the chip active() returns
        # first; the emulator lets the caller run on and holds the tasks),
        # the watermark callback drains and taps found wait in _held.
        self._irq_drain = True
        self.drain()  # the FIFO's whole 80 ms for the part that runs no callback

    def _on_click(self, pin):
        self._clicked = True
        self._wake.set()

    def kick(self):
        """A wake pin ended a light sleep (the power service calls this first
        thing after it): drain now. At 400 Hz the FIFO overflows 20 ms after
        the watermark, and every task that woke with this one would run
        before this service's task does. The task still decides the rest
        (dozing, held taps; the edge may be lost). A dozing pin's click is
        left to the task: its drain decides the end of the doze."""
        if self._irq_ok and not self.dozing and not self._irq_drain:
            self.drain()
        self._wake.set()

    def setup(self):
        """Program the sensor; returns the poll interval (ms) for chips
        without a watermark interrupt, 0 when the interrupt wakes us."""
        accel = self.hw.accel
        accel.enable_fifo(_WATERMARK)
        if accel.HAS_CLICK and self.hw.accel_int2 is not None:
            accel.enable_click(_CLICK_MG, 15, 30, 0, pin=2)
            accel.attach_irq(self.hw.accel_int2, self._on_click)
            self._hw_click = True
        if accel.HAS_WATERMARK_IRQ:
            accel.attach_irq(self.hw.accel_int, self._on_watermark)
            self._irq_ok = True
            return 0
        return accel.poll_ms()

    def drain(self):
        """Read everything the FIFO holds and process it; returns samples read."""
        accel = self.hw.accel
        pipeline = self.pipeline
        if pipeline is None:
            return 0
        buf = self._buf
        total = 0
        self.moved = False
        while True:
            n = accel.read_fifo(buf)
            if n == 0:
                break
            if accel.overruns != self.overruns:
                # Samples were lost before this burst: the filters' history no
                # longer joins up, so the detector starts afresh on it (after a
                # doze the burst holds the touch that woke us).
                self.overruns = accel.overruns
                pipeline.taps.reset()
                if not self.dozing:  # dozing, the FIFO overflows by design
                    self.log.warning("fifo overrun %d" % self.overruns)
            if self._clicked:
                self._clicked = False
                self.clicks += 1
                accel.read_click()  # unlatch INT2; the detector finds the touch
            pipeline.process(buf, n, self.ticks_ms())
            total += n
            if burst_span(buf, n) < _STILL_MG:
                self._quiet_ms += n * 1000 // self.rate
            else:
                self._quiet_ms = 0
                self.moved = True
            if n < _FIFO_FRAMES:
                break
        return total

    def _doze(self, on):
        self.dozing = on
        self.hw.accel.watermark_irq(not on)
        if on:
            self.dozes += 1
        self._quiet_ms = 0

    async def _wait(self, ms):
        if self.power is not None:
            return await self.power.wait_ms(self._wake, ms)
        try:
            await asyncio.wait_for_ms(self._wake.wait(), ms)
            return True
        except asyncio.TimeoutError:
            return False

    def _hold(self, t, mg):
        # inside the radio's start: report from the task (a bus publish from
        # here would run the handshake inside active(True))
        if self._held < _HELD:
            self._held_t[self._held] = t
            self._held_mg[self._held] = mg
            self._held += 1

    def _tap(self, t, mg):
        if self._irq_drain:
            self._hold(t, mg)
            return
        self.log.info("tap t_ms=%d mg=%d" % (t, mg))
        if self.on_tap is not None:
            self.on_tap(t, mg)

    def _suspect(self, t, on):
        if self._irq_drain:
            self._hold(t, _SUSPECTED if on else _CANCELLED)
        elif self.on_suspect is not None:
            self.on_suspect(t, on)

    def _report_held(self):
        n = self._held
        self._held = 0
        for i in range(n):
            mg = self._held_mg[i]
            if mg < 0:
                self._suspect(self._held_t[i], mg == _SUSPECTED)
            else:
                self._tap(self._held_t[i], mg)

    async def run(self):
        if self.pipeline is None:
            self.log.error("no accelerometer: motion off")
            return
        poll_ms = self.setup()
        # click=hw: the click engine is armed (it wakes a doze); taps are the software detector's
        self.log.info("motion rate=%dHz irq=%s click=%s" % (
            self.rate, "no" if poll_ms else "yes", "hw" if self._hw_click else "sw"))
        doze = self._doze_ok and self._hw_click and not poll_ms
        steps = self.pipeline.steps
        while True:
            if poll_ms:
                if self.power is not None:
                    await self.power.sleep_ms(poll_ms)
                else:
                    await asyncio.sleep_ms(poll_ms)
                self.drain()
                continue
            await self._wait(_PEEK_MS if self.dozing else _WAIT_MS)
            if self._irq_drain:
                self._irq_drain = False  # before the drain: callbacks drain no more
                self._report_held()
            clicked = self._clicked
            self.drain()
            if self.dozing:
                if clicked or self.moved:
                    self._doze(False)  # a tap or motion: count every sample again
            elif doze and self._quiet_ms >= _DOZE_AFTER_MS and not steps.walking:
                self._doze(True)

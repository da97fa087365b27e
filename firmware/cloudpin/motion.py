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
# the bursts after it, on the watermark again. The wearer's first step ends
# the doze: the chip's motion engine (LIS3DH inertial generator IA1 on the
# click engine's high-passed data, latched on INT1, which the watermark
# leaves free while dozing) wakes the CPU within a sample of the step's
# first jolt, and the FIFO's 80 ms before the wake go to the step counter.
# The service no longer peeks at the FIFO every second (a peek came up to a
# second late: a wrist walk lost a few steps at each start, docs/power.md);
# _DOZE_WAIT_MS only bounds the wait.
# A chip with a motion engine and no click engine (the MPU-6886's
# wake-on-motion, on its one INT pin) dozes the same way: its engine wakes
# the CPU for a touch as for a step (both jolt far past its threshold), and
# its 1 KB FIFO keeps the 256 ms before the wake for the detector.
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
# Still: every axis within this span over the whole of _DOZE_AFTER_MS (rest
# noise ~2 mg rms; walking spans 100s). Over the whole time, not burst by
# burst: a slow stroll at the wrist moves less than this in a 60-ms burst but
# over 100 mg in a second, and its steps are too smooth for the motion engine
# (below) to wake the CPU.
_STILL_MG = const(60)
_DOZE_AFTER_MS = const(3000)  # still this long (past the step counter's 750 ms stand-still): doze
# Wake on motion: any axis of the high-passed data past this for longer than
# _MOVE_MS. The click's filter (cut-off ODR/50, 8 Hz at 400 Hz) keeps a
# step's jolt and drops gravity and slow sway; rest noise is ~2 mg rms.
_MOVE_MG = const(32)
_MOVE_MS = const(0)
# The MPU-6886's wake-on-motion compares each sample with the one before
# (at 500 Hz, 2 ms apart), so slow sway never reaches it: 16 mg (4 steps of
# 4 mg) is ~6x the difference noise of two samples (100 ug/rtHz over the
# 218 Hz low-pass: ~1.9 mg rms each, ESTIMATE), a false wake in days, and a
# walk's or a touch's jolt passes it within its first step (docs/power.md).
_WOM_MG = const(16)
_DOZE_WAIT_MS = const(60000)  # dozing: the engines wake the CPU; this only bounds the wait
_WAIT_MS = const(500)  # awake: a missed edge must not stall counting
# A FIFO found full (accel FULL_FRAMES) within this many sample periods past
# filling lost at most that many: the detector goes on across the seam.
# Restarting it there would throw away a touch in progress for a few ms of
# signal; a wake-up a few ms late at the 24-of-32 watermark is enough.
_SEAM_SAMPLES = const(2)
_HELD = const(6)  # events held through a radio start (250 ms: a double tap's two, each suspected first)
_SUSPECTED = const(-1)  # held in place of a strength: a suspicion...
_CANCELLED = const(-2)  # ...and its cancel


def span_since(buf, n, box):
    """Widen box (array "h": x, y, z lows then x, y, z highs, mg) by n x,y,z
    samples of buf; returns the largest high - low of any axis. An empty box
    (clear_box) takes the burst's bounds. No allocation; per sample the work
    of one burst's bounds (the box is merged once a burst)."""
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
    if x0 > box[0]:
        x0 = box[0]
    if y0 > box[1]:
        y0 = box[1]
    if z0 > box[2]:
        z0 = box[2]
    if x1 < box[3]:
        x1 = box[3]
    if y1 < box[4]:
        y1 = box[4]
    if z1 < box[5]:
        z1 = box[5]
    box[0] = x0
    box[1] = y0
    box[2] = z0
    box[3] = x1
    box[4] = y1
    box[5] = z1
    s = x1 - x0
    if y1 - y0 > s:
        s = y1 - y0
    if z1 - z0 > s:
        s = z1 - z0
    return s


def clear_box(box):
    box[0] = box[1] = box[2] = 32767
    box[3] = box[4] = box[5] = -32768


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
        self.seams = 0  # full FIFOs drained in time to go on across (none or a few samples lost)
        self._read_ms = 0  # when the last drain emptied the FIFO
        self._read_ok = False  # ...and that drain was on the watermark's pace (not a doze's)
        self.clicks = 0  # click interrupts seen (they wake a doze; the detector decides)
        self._buf = array("h", bytes(2 * 3 * _FIFO_FRAMES))
        self._wake = asyncio.ThreadSafeFlag()
        self._clicked = False
        self._hw_click = False
        self._hw_motion = False  # the chip's motion engine ends a doze
        self._doze_ok = doze
        self.dozing = False
        self.dozes = 0
        self._quiet_ms = 0
        self._box = array("h", bytes(12))  # bounds of what the still time felt (span_since)
        clear_box(self._box)
        self.moved = False  # the last drain moved past the still bounds
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
        # A click engine's chip dozes only with it wired; without one, the
        # motion engine wakes the CPU for touches too.
        if accel.HAS_MOTION_WAKE and (self._hw_click or not accel.HAS_CLICK):
            accel.enable_motion(_MOVE_MG if self._hw_click else _WOM_MG, _MOVE_MS)
            self._hw_motion = True
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
        t0 = self.ticks_ms()
        while True:
            n = accel.read_fifo(buf)
            if n == 0:
                break
            if accel.overruns != self.overruns:
                self.overruns = accel.overruns
                if self._seam(t0):
                    self.seams += 1
                else:
                    # Samples were lost before this burst: the filters' history no
                    # longer joins up, so the detector starts afresh on it (after a
                    # doze the burst holds the touch that woke us).
                    pipeline.taps.reset()
                    if not self.dozing:  # dozing, the FIFO overflows by design
                        self.log.warning("fifo overrun %d" % self.overruns)
            if self._clicked:
                self._clicked = False
                self.clicks += 1
                accel.read_click()  # unlatch INT2; the detector finds the touch
            pipeline.process(buf, n, self.ticks_ms())
            total += n
            if span_since(buf, n, self._box) < _STILL_MG:
                self._quiet_ms += n * 1000 // self.rate
            else:  # still time starts again at the next burst
                self._quiet_ms = 0
                clear_box(self._box)
                self.moved = True
            if n < _FIFO_FRAMES:
                break
        self._read_ms = self.ticks_ms()
        self._read_ok = not self.dozing
        return total

    def _seam(self, now):
        # A chip that flags a full FIFO as an overrun, drained within
        # _SEAM_SAMPLES periods of filling since the last drain emptied it.
        full = self.hw.accel.FULL_FRAMES
        rate = self.rate
        if not full or not rate or not self._read_ok or self.dozing:
            return False
        return time.ticks_diff(now, self._read_ms) * rate <= (full + _SEAM_SAMPLES) * 1000

    def _doze(self, on):
        self.dozing = on
        # dozing, the INT line is the motion engine's; awake, the watermark's
        self.hw.accel.motion_irq(on)
        if on:
            self.dozes += 1
        else:  # (dozing, the box keeps the still bounds: a drain past them is motion)
            clear_box(self._box)
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
        # without a motion engine nothing would end a doze at a step: no doze
        doze = self._doze_ok and self._hw_motion and not poll_ms
        steps = self.pipeline.steps
        while True:
            if poll_ms:
                if self.power is not None:
                    await self.power.sleep_ms(poll_ms)
                else:
                    await asyncio.sleep_ms(poll_ms)
                self.drain()
                continue
            await self._wait(_DOZE_WAIT_MS if self.dozing else _WAIT_MS)
            if self._irq_drain:
                self._irq_drain = False  # before the drain: callbacks drain no more
                self._report_held()
            clicked = self._clicked
            # dozing, INT1 is the motion engine's: read it (which releases it)
            moving = self.dozing and self.hw.accel.read_motion()
            self.drain()
            if self.dozing:
                if clicked or moving or self.moved:
                    self._doze(False)  # a tap or motion: count every sample again
            elif doze and self._quiet_ms >= _DOZE_AFTER_MS and not steps.walking:
                self._doze(True)

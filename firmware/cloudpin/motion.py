# The motion service: wakes on the accelerometer's FIFO watermark interrupt
# (or a timer on chips without one), drains the FIFO in one burst and runs
# every sample through the step counter and the tap detector.
#
# The sensor runs at the board's tap rate (accel.tap_odr, 400-500 Hz; the
# board layer programs it and hands over the rate the chip really runs at,
# Hardware.accel_rate): a tap lasts a few ms and vanishes at step rates. The step counter block-averages
# down to its own 25 Hz internally. Where the chip has a tap engine (LIS3DH
# click), it watches every sample in hardware and the CPU only locates the
# click in the burst; elsewhere the software detector sees every sample.
import asyncio
import time
from array import array

from micropython import const

from cloudpin.steps import StepCounter
from cloudpin.taps import TapDetector

_FIFO_FRAMES = const(32)  # largest FIFO burst any driver returns per read
_WATERMARK = const(24)  # LIS3DH/MPU6886 interrupt level: 60 ms at 400 Hz
_TAP_MG = const(800)  # tap threshold (high-passed magnitude): software detector and click confirmation
# The click engine compares each axis alone: an edge-on touch puts 1/sqrt(2)
# of its magnitude on two axes, so it fires from there and locate() judges
# the magnitude. TIME_LIMIT 15 ms holds a 10 ms contact through the sensor's
# filter and drops 15-40 ms swings; 30 ms latency hides the pin's ringing.
_CLICK_MG = const(560)


class MotionPipeline:
    """What happens to every sample, without hardware: a FIFO burst in,
    steps counted and taps reported out. process() allocates nothing
    unless a tap is reported."""

    def __init__(self, rate_hz, on_tap=None):
        self.rate = rate_hz
        self.on_tap = on_tap  # on_tap(t_ms, strength_mg)
        self.steps = StepCounter(rate_hz)
        self.taps = TapDetector(rate_hz, threshold_mg=_TAP_MG)
        self.tap_count = 0

    def process(self, buf, n, t_last, click=None):
        """buf: n x,y,z samples in mg (array "h"), the last taken at t_last ms.
        click: None to run the software tap detector on every sample; False or
        True when a hardware tap engine watches (True: it fired in this burst,
        so locate the tap among these samples)."""
        steps = self.steps
        j = 0
        for _ in range(n):
            steps.feed(buf[j], buf[j + 1], buf[j + 2])
            j += 3
        if click is None:
            if self.taps.feed_fifo(buf, n, t_last):
                self._tap()
        elif click and self.taps.locate(buf, n, t_last):
            self._tap()

    def _tap(self):
        self.tap_count += 1
        if self.on_tap is not None:
            self.on_tap(self.taps.tap_ms, self.taps.tap_mg)


class MotionService:
    name = "motion"

    def __init__(self, hw, log, on_tap=None, ticks_ms=None):
        self.hw = hw
        self.log = log
        self.on_tap = on_tap  # on_tap(t_ms, strength_mg): the handshake's hook
        # The clock taps are stamped with; a simulation passes its own.
        self.ticks_ms = ticks_ms or time.ticks_ms
        # Resolved by the board layer; None (and no pipeline) without a sensor.
        self.rate = hw.accel_rate if hw.accel is not None else None
        self.pipeline = MotionPipeline(self.rate, self._tap) if self.rate else None
        self.steps = self.pipeline.steps if self.pipeline else None
        self.taps = self.pipeline.taps if self.pipeline else None
        self.overruns = 0
        self._buf = array("h", bytes(2 * 3 * _FIFO_FRAMES))
        self._wake = asyncio.ThreadSafeFlag()
        self._clicked = False
        self._hw_click = False

    @property
    def tap_count(self):
        return self.pipeline.tap_count if self.pipeline else 0

    def summary(self):
        if self.steps is None:
            return "motion=off"
        return "steps=%d taps=%d" % (self.steps.steps, self.tap_count)

    # Interrupt handlers: no allocation, just flags (as aioble does).
    def _on_watermark(self, pin):
        self._wake.set()

    def _on_click(self, pin):
        self._clicked = True
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
        while True:
            n = accel.read_fifo(buf)
            if n == 0:
                break
            click = None
            if self._hw_click:
                click = self._clicked
                if click:
                    self._clicked = False
                    accel.read_click()
            pipeline.process(buf, n, self.ticks_ms(), click)
            total += n
            if n < _FIFO_FRAMES:
                break
        if accel.overruns != self.overruns:
            # Samples were lost: the filters' history no longer joins up.
            self.overruns = accel.overruns
            pipeline.taps.reset()
            self.log.warning("fifo overrun %d" % self.overruns)
        return total

    def _tap(self, t, mg):
        self.log.info("tap t_ms=%d mg=%d" % (t, mg))
        if self.on_tap is not None:
            self.on_tap(t, mg)

    async def run(self):
        if self.pipeline is None:
            self.log.error("no accelerometer: motion off")
            return
        poll_ms = self.setup()
        self.log.info("motion rate=%dHz irq=%s click=%s" % (
            self.rate, "no" if poll_ms else "yes", "hw" if self._hw_click else "sw"))
        while True:
            if poll_ms:
                await asyncio.sleep_ms(poll_ms)
            else:
                try:
                    # A missed edge must not stall counting: time out to a poll.
                    await asyncio.wait_for_ms(self._wake.wait(), 500)
                except asyncio.TimeoutError:
                    pass
            self.drain()

# The designs on the pin: the selected design's card on a board's display, its
# LED colours on a board with an RGB LED, and the button picking the design
# shown (the phone service calls the engine's select() instead).
#
# The card is redrawn when something changed: an unlock (DESIGN on the
# bus), a press of the button, and every `every_ms` for the progress bars;
# a redraw keeps the CPU and SPI busy for tens of ms (cloudpin bench designs).
import asyncio
import time

from micropython import const

from cloudpin import bus as topics

_DEBOUNCE_MS = const(250)
_LED_MS = const(300)
_FEED_MS = const(5000)  # steps reach the engine this often (its tasks count thousands)


class DesignService:
    name = "designs"

    def __init__(self, engine, bus, lcd=None, led=None, button=None, active_low=True, every_ms=30000, feed=None,
                 feed_ms=_FEED_MS):
        """engine: designs.engine.Designs (loaded); lcd: cloudpin.st7789.ST7789
        or None; led: cloudpin.led.Led or None; button: a machine.Pin input
        or None (active_low: pressed reads 0); feed: a designs.stepfeed.StepFeed
        ticked every feed_ms (the steps tasks' counts), or None."""
        self.engine = engine
        self.lcd = lcd
        self.led = led
        self.every_ms = every_ms
        self.feed = feed
        self.feed_ms = feed_ms
        self.draws = 0
        self._due = False  # a redraw is due (an unlock, the button, the phone's pick)
        self._wake = asyncio.ThreadSafeFlag()
        self._pressed = False
        self._press_ms = 0
        self._blink = -1  # a design whose LED colours are due
        self._canvas = None
        if lcd is not None:
            from cloudpin.designs import draw
            from cloudpin.st7789 import color

            self._canvas = draw.Canvas(lcd.width, lcd.height)
            self._palette = draw.palette_rgb565(color)
        bus.subscribe(topics.DESIGN, self._on_design)
        if button is not None:
            import machine

            button.irq(self._on_button, machine.Pin.IRQ_FALLING if active_low else machine.Pin.IRQ_RISING)

    def _on_design(self, i):
        self._blink = i
        self._due = True
        self._wake.set()

    # The phone service's view of the designs (cloudpin.phone.backend): the
    # engine's, but a pick from the phone redraws the card at once.
    @property
    def selected(self):
        return self.engine.selected

    def unlocked(self):
        return self.engine.unlocked()

    def select(self, i):
        """Show design i (the wearer's pick from the phone); False if it is
        not unlocked (nothing changes)."""
        if not self.engine.select(i):
            return False
        self._due = True
        self._wake.set()
        return True

    def _on_button(self, pin):
        # IRQ context: no allocation, no publishing; the task does the work.
        t = time.ticks_ms()
        if time.ticks_diff(t, self._press_ms) >= _DEBOUNCE_MS:
            self._press_ms = t
            self._pressed = True
            self._due = True
            self._wake.set()

    def draw(self):
        """Draw the selected design's card (before any unlock: the next one's,
        locked)."""
        c = self._canvas
        if c is None:
            return
        e = self.engine
        ni, ncur, nn = e.next_unlock()
        i = e.selected if e.selected >= 0 else max(ni, 0)
        cur, n = e.progress(i)
        c.card(e.pack, i, e.got[i], cur, n, len(e.order), ni, ncur, nn)
        c.push(self.lcd, self._palette)
        self.draws += 1

    async def _play(self, led, i):
        before = led.colour
        for _ in range(2):
            for colour in self.engine.pack.leds[i]:
                led.set(colour)
                await asyncio.sleep_ms(_LED_MS)
            led.set("off")
            await asyncio.sleep_ms(_LED_MS)
        led.set(before)

    async def run(self):
        if self.feed is not None:
            self.feed.tick()  # today's steps to the engine before the first card
        self.draw()
        tick = min(self.every_ms, self.feed_ms) if self.feed is not None else self.every_ms
        since = 0  # ms since the last redraw, counted in ticks
        while True:
            t0 = time.ticks_ms()
            try:
                await asyncio.wait_for_ms(self._wake.wait(), tick)
            except asyncio.TimeoutError:
                pass
            since += time.ticks_diff(time.ticks_ms(), t0)
            if self.feed is not None:
                self.feed.tick()
            if self._pressed:
                self._pressed = False
                i = self.engine.next()
                if i >= 0:
                    self._blink = i
            if not self._due and since < self.every_ms:
                continue
            self._due = False
            since = 0
            self.draw()
            if self._blink >= 0:
                i, self._blink = self._blink, -1
                if self.led is not None:
                    await self._play(self.led, i)


def for_app(app, hw, log, path):
    """The designs service for cloudpin.app.App when the pin holds an event
    pack at path (docs/designs.md); None with a bad one, or when the heap
    cannot hold the designs (logged: the pin runs on without them)."""
    try:
        return _build(app, hw, log, path)
    except ValueError as e:  # designs.pack.PackError: a torn, corrupt or foreign pack file
        log.error("designs off: %s" % e)
    except MemoryError as e:
        import gc

        # Give the heap back to the services that run: the modules the
        # attempt imported go too, this one included (App keeps no reference).
        _forget(("cloudpin.designs.pack", "cloudpin.designs.engine", "cloudpin.designs.stepfeed",
                 "cloudpin.designs.draw", "cloudpin.designs.service", "cloudpin.designs", "cloudpin.social.daily"))
        gc.collect()
        log.error("designs off: out of heap (%r)" % (e,))
    return None


def _forget(names):
    import sys

    for name in names:
        if sys.modules.pop(name, None) is None:
            continue
        parent, _, leaf = name.rpartition(".")
        pkg = sys.modules.get(parent)
        if pkg is not None and hasattr(pkg, leaf):
            delattr(pkg, leaf)  # the package's reference would keep the module


def _build(app, hw, log, path):
    # Everything is allocated before anything subscribes to the bus, so an
    # allocation that fails leaves no half-built handler behind.
    from cloudpin.designs import pack as packfmt

    p = packfmt.load(path)
    from cloudpin.designs.engine import Designs
    from cloudpin.designs.stepfeed import StepFeed
    from cloudpin.social.daily import Daily

    offset = 0
    if hw.nvs is not None:
        from cloudpin import identity

        offset = identity.load(hw.nvs)["utc_offset"] or 0
    rtc = hw.rtc
    unix_s = None  # without an RTC: time.time()
    if rtc is not None:
        from cloudpin.social.updates import utc_ms

        unix_s = lambda: utc_ms(rtc) // 1000  # noqa: E731 - unix seconds, as the daily counters count days
    # The friend store (meet and greet: app.friends) is opened before this.
    engine = Designs(p, log, friends=app.friends, clock=unix_s)
    # Today's counts: the app's (app.daily) if it keeps them, else kept here
    # and given to the app for friend updates and the phone.
    daily = getattr(app, "daily", None)
    if daily is None:
        daily = Daily(offset, log=log)
    motion = getattr(app, "motion", None)
    feed = StepFeed(app.bus, motion.steps if motion is not None else None, daily, engine.clock, log=log)
    feed.load()
    engine.load(feed.day)
    b = hw.board.get("button") or {}
    svc = DesignService(engine, app.bus, hw.display.lcd if hw.display is not None else None, hw.led, hw.button,
                        b.get("active_low", False), feed=feed)
    engine.subscribe(app.bus)
    feed.subscribe(app.bus)
    app.daily = daily
    return svc

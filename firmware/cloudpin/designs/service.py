# The designs on the pin, in one module (each module a pin loads costs heap
# of its own, docs/designs.md "The heap"): today's counts (Daily), the steps
# and days on the bus (StepFeed), the service that shows the selected
# design (LED colours on an unlock, the button picking the design shown, the
# card on a board's display: the drawing code is imported only with one)
# and for_app(), which builds them for cloudpin.app.App.
#
# Today's steps and friends made (Daily), as friends see them in the
# advertisement: "today" is the event's local day, starting at midnight in
# the time zone given at provisioning (identity utc_offset, minutes east of
# UTC). Kept in an atomic Store document (temp file + rename), written
# sparingly for the flash: when SAVE_STEPS steps are unsaved, when unsaved
# steps are SAVE_S old, at each friend made and at each new day. A reset
# loses fewer than SAVE_STEPS steps and never a friend counted; an
# 8,000-step day costs about 40 small writes.
#
# The step counter (cloudpin.steps) counts since boot; the unlock engine's
# steps tasks want today's steps and the total since provisioning, friend
# updates and the phone today's steps and friends made. StepFeed keeps them
# (Daily for today; a small document for the total, saved as sparingly: a
# power cut loses fewer than 250 steps of the total, never a day) and
# publishes DAY at a new local day, then STEPS (steps_today, steps_total)
# when the count moved, at most once per tick.
#
# The card is redrawn when something changed: an unlock (DESIGN on the
# bus), a press of the button, and every `every_ms` for the progress bars;
# a redraw keeps the CPU and SPI busy for tens of ms (cloudpin bench designs).
import asyncio
import time

from micropython import const

from cloudpin import bus as topics
from cloudpin.store import Store

SAVE_STEPS = const(250)
SAVE_S = const(600)
_DAY_S = const(86400)
_DEBOUNCE_MS = const(250)
_LED_MS = const(300)
_FEED_MS = const(5000)  # steps reach the engine this often (its tasks count thousands)


def _daily_doc(doc):
    if not isinstance(doc, dict):
        raise ValueError("daily: not an object")
    for k in ("day", "steps", "made"):
        v = doc.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError("daily %s: a count" % k)
    return {"day": doc["day"], "steps": doc["steps"], "made": doc["made"]}


class Daily:
    def __init__(self, utc_offset_min, path="daily.json", log=None):
        self.offset_s = utc_offset_min * 60
        self._store = Store(path, _daily_doc, log)
        self.day = 0
        self.steps = 0
        self.made = 0
        self._saved_steps = 0
        self._saved_t = 0
        self.saves = 0  # writes since boot (for the wear budget)

    def local_day(self, unix_s):
        """Days since 1970-01-01 in the event's time zone."""
        return (unix_s + self.offset_s) // _DAY_S

    def load(self, unix_s):
        """Restore today's counts (none if the document is from another day
        or unreadable), as at boot."""
        doc = self._store.load(None)
        self.day = self.local_day(unix_s)
        self.steps = self.made = 0
        if doc is not None and 0 <= doc["day"] - self.day <= 1:
            # Same day, or the clock went back by less than a day: keep counting into it.
            self.day, self.steps, self.made = doc["day"], doc["steps"], doc["made"]
        self._saved_steps = self.steps
        self._saved_t = unix_s

    def _roll(self, unix_s):
        day = self.local_day(unix_s)
        # A later day starts from zero; a clock set back by less than a day
        # keeps counting into the stored day; a clock that was far ahead and
        # is now corrected starts the real day.
        if day > self.day or day < self.day - 1:
            self.day = day
            self.steps = self.made = 0
            self._save(unix_s)

    def _save(self, unix_s):
        self._store.save({"day": self.day, "steps": self.steps, "made": self.made})
        self._saved_steps = self.steps
        self._saved_t = unix_s
        self.saves += 1

    def add_steps(self, n, unix_s):
        """Count n new steps at unix_s; True if this wrote to flash."""
        self._roll(unix_s)
        self.steps += n
        unsaved = self.steps - self._saved_steps
        if unsaved >= SAVE_STEPS or (unsaved > 0 and unix_s - self._saved_t >= SAVE_S):
            self._save(unix_s)
            return True
        return False

    def friend_made(self, unix_s):
        self._roll(unix_s)
        self.made += 1
        self._save(unix_s)

    def today(self, unix_s):
        """(steps, friends made) today at unix_s."""
        self._roll(unix_s)
        return self.steps, self.made

    def flush(self, unix_s):
        """Save unsaved steps now (before a planned power-off)."""
        if self.steps != self._saved_steps:
            self._save(unix_s)


def _steps_doc(doc):
    t = doc.get("total") if isinstance(doc, dict) else None
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise ValueError("steps total: a count")
    return {"total": t}


class StepFeed:
    def __init__(self, bus, counter, daily, clock, path="steps.json", log=None):
        """counter: a cloudpin.steps.StepCounter (its `steps` since boot) or
        None; daily: a Daily; clock() unix seconds."""
        self.bus = bus
        self.counter = counter
        self.daily = daily
        self.clock = clock
        self.total = 0
        self.day = -1
        self._store = Store(path, _steps_doc, log)
        self._seen = 0  # the counter's value at the last tick
        self._told = -1  # the (today) steps last published, -1: nothing yet

    def load(self):
        """Restore today's counts and the total, as at boot; publishes nothing."""
        now = int(self.clock())
        self.daily.load(now)
        self.day = self.daily.day
        doc = self._store.load(None)
        self.total = max(doc["total"] if doc is not None else 0, self.daily.steps)
        self._seen = self.counter.steps if self.counter is not None else 0

    def subscribe(self, bus):
        bus.subscribe(topics.FRIEND, self.on_friend)

    def on_friend(self, slot, t_ms):
        self.daily.friend_made(int(self.clock()))

    def on_tap(self, t_ms, mg):
        # A tap can wake a pin past local midnight before the next tick has
        # published DAY: roll the day over first, so the engine (subscribed
        # after this) counts the tap on the day it happened.
        self.tick()

    def tick(self):
        """Count the steps since the last tick into today and the total;
        publish DAY and STEPS when they changed."""
        now = int(self.clock())
        d = self.daily
        d.today(now)  # rolls over to a new local day first: those steps count into it
        new_day = d.day != self.day
        if new_day:
            self.day = d.day
            self.bus.publish(topics.DAY, d.day)
        n = self.counter.steps if self.counter is not None else 0
        moved = n - self._seen
        self._seen = n
        saved = new_day
        if moved > 0:
            saved = d.add_steps(moved, now) or saved
            self.total += moved
        if saved:
            self._store.save({"total": self.total})
        if d.steps != self._told or moved > 0:
            self._told = d.steps
            self.bus.publish(topics.STEPS, d.steps, self.total)

    def flush(self):
        """Save unsaved steps now (before a planned power-off)."""
        self.daily.flush(int(self.clock()))
        self._store.save({"total": self.total})


class DesignService:
    name = "designs"

    def __init__(self, engine, bus, lcd=None, led=None, button=None, active_low=True, every_ms=30000, feed=None,
                 feed_ms=_FEED_MS, screen=None):
        """engine: designs.engine.Designs (loaded); lcd: cloudpin.st7789.ST7789
        or None; led: cloudpin.led.Led or None; button: a machine.Pin input
        or None (active_low: pressed reads 0); feed: a StepFeed ticked every
        feed_ms (the steps tasks' counts), or None; screen: the board's
        cloudpin.display.Screen, whose policy lights and darkens the
        lcd (its lcd is used when lcd is None), or None: always lit."""
        if screen is not None:
            lcd = lcd or screen.lcd
        self.screen = screen
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
            try:
                from cloudpin.designs import draw
            except ImportError:  # no framebuf (a CPython simulation): the screen's policy runs, nothing is drawn
                draw = None
            if draw is not None:
                from cloudpin.st7789 import color

                self._canvas = draw.Canvas(lcd.width, lcd.height)
                self._palette = draw.palette_rgb565(color)
                _forget(("cloudpin.designs.packinfo",))  # draw keeps what it read of it (draw._tables)
        if screen is not None:
            screen.listen(bus)  # (after the allocations: a failed build leaves no handler)
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
        if self.screen is not None:
            self.screen.wake()  # the wearer looks for the pick on the pin
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
        if self._canvas is not None:  # the card's code is draw.py's: a board with a display loads it
            self._canvas.show(self.engine, self.lcd, self._palette)
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
        wait = tick
        while True:
            t0 = time.ticks_ms()
            try:
                await asyncio.wait_for_ms(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass
            since += time.ticks_diff(time.ticks_ms(), t0)
            if self.feed is not None:
                self.feed.tick()
            screen = self.screen
            wait = tick
            if self._pressed:
                self._pressed = False
                if screen is None or screen.lit_until is not None:  # a press on a dark screen only lights it
                    i = self.engine.next()
                    if i >= 0:
                        self._blink = i
                if screen is not None:
                    screen.wake()
            if screen is not None:
                left = screen.dim()
                if left < 0 and not self._due:
                    continue  # dark: the progress bars are redrawn once it is lit again
                if 0 <= left < wait:
                    wait = left  # the next look is when it goes dark
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
        _forget(("cloudpin.designs.pack", "cloudpin.designs.packinfo", "cloudpin.designs.engine", "cloudpin.designs.draw",
                 "cloudpin.designs.service", "cloudpin.designs"))
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
    svc = DesignService(engine, app.bus, None, hw.led, hw.button, b.get("active_low", True), feed=feed,
                        screen=hw.display)
    app.bus.subscribe(topics.TAP, feed.on_tap)  # before the engine's (StepFeed.on_tap)
    engine.subscribe(app.bus)
    feed.subscribe(app.bus)
    app.daily = daily
    return svc

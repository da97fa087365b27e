# The badge's status screen on boards with a display: who the badge is and
# how many steps it counted. Drawn a text line at a time into one small
# RGB565 FrameBuffer (a line, not the screen: 135x240 would be 63 KB of a
# 100 KB heap) that is reused for every line, so a refresh allocates
# nothing; refreshed rarely (the app's status period), since every refresh
# keeps the CPU and SPI busy for milliseconds. The line's buffer (3.2 KB on
# the M5StickC Plus) is made at the first refresh. Loaded only when the
# status screen is shown (a pin with an event pack shows its designs
# instead, docs/designs.md "The heap"); when the screen is lit is
# cloudpin.display's.
import asyncio

from cloudpin.st7789 import color

LINE_H = 12  # the 8x8 font with 2 pixels above and below
_DIGITS = "0123456789"


class StatusDisplay:
    def __init__(self, lcd):
        """lcd: a cloudpin.st7789.ST7789, initialised. ImportError where the
        port has no framebuf (CPython simulations): nothing is drawn then."""
        import framebuf  # noqa: F401 - here, so that a port without it has no display

        self.lcd = lcd
        self.width = lcd.width
        self._buf = None  # the line's RGB565 pixels, made at the first refresh
        self._fb = None
        self._digits = tuple(_DIGITS)  # one-character strings made once
        self.fg = color(255, 255, 255)
        self.accent = color(0, 200, 255)
        self.refreshes = 0

    def _line(self):
        if self._fb is None:
            import framebuf

            self._buf = bytearray(self.width * LINE_H * 2)
            self._fb = framebuf.FrameBuffer(self._buf, self.width, LINE_H, framebuf.RGB565)
        return self._fb

    def clear(self):
        self._line().fill(0)
        for row in range(self.lcd.height // LINE_H + 1):
            y = row * LINE_H
            self.lcd.blit(self._buf, 0, y, self.width, min(LINE_H, self.lcd.height - y))

    def line(self, row, text, n=-1, fg=None):
        """Row `row` (LINE_H pixels each): text, then n in decimal if n >= 0."""
        fb = self._line()
        fb.fill(0)
        fb.text(text, 2, 2, self.fg if fg is None else fg)
        if n >= 0:
            x = 2 + 8 * len(text)
            d = 1
            while d * 10 <= n:
                d *= 10
            while d:
                fb.text(self._digits[n // d % 10], x, 2, self.fg if fg is None else fg)
                x += 8
                d //= 10
        self.lcd.blit(self._buf, 0, row * LINE_H, self.width, LINE_H)

    def show(self, badge, steps, taps):
        """The status screen: title, badge id (a pair of strings: 16 hex
        digits do not fit the 135-pixel width in one line), steps and taps
        (-1: unknown). Allocates nothing."""
        self.line(0, "CloudPin", -1, self.accent)
        self.line(2, "badge")
        self.line(3, badge[0])
        self.line(4, badge[1])
        self.line(6, "steps ", steps)
        self.line(7, "taps ", taps)
        self.refreshes += 1


class DisplayService:
    """Keeps the status screen current while it is lit (redrawn every
    `every_ms`, and at once when an event or the button lights it) and
    darkens it when its time is up (cloudpin.display.Screen)."""

    name = "display"

    def __init__(self, screen, app, every_ms=10000, button=None, active_low=True):
        """screen: the board's cloudpin.display.Screen; button: a machine.Pin
        input or None (active_low: pressed reads 0)."""
        self.screen = screen
        try:
            self.status = StatusDisplay(screen.lcd)
        except ImportError:  # no framebuf (a CPython simulation): the policy runs, nothing is drawn
            self.status = None
        self.app = app
        self.every_ms = every_ms
        b = app.badge
        self._badge = (b[:8], b[8:])  # split once: slicing allocates
        self._flag = asyncio.ThreadSafeFlag()
        self._pressed = False
        screen.listen(app.bus, self._on_event)
        if button is not None:
            import machine

            button.irq(self._on_button, machine.Pin.IRQ_FALLING if active_low else machine.Pin.IRQ_RISING)

    def _on_button(self, pin):
        # IRQ context: no allocation; the task lights the screen (I2C, SPI).
        self._pressed = True
        self._flag.set()

    def _on_event(self, a=None, b=None):
        self.screen.wake(a, b)
        self._flag.set()  # lit now: redrawn at once (a tap changed the taps line)

    async def run(self):
        screen, status = self.screen, self.status
        if status is not None:
            status.clear()
        motion = self.app.motion
        while True:
            if self._pressed:
                self._pressed = False
                screen.wake()
            if status is not None and screen.lit_until is not None:
                steps = motion.steps.steps if motion.steps is not None else -1
                status.show(self._badge, steps, motion.tap_count if motion.steps is not None else -1)
            left = screen.dim()
            try:
                await asyncio.wait_for_ms(self._flag.wait(), self.every_ms if left < 0 else min(left, self.every_ms))
            except asyncio.TimeoutError:
                pass

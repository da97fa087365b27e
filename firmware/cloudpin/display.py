# The screen of a board with a display, and when it is lit.
#
# Lit, the M5StickC Plus's screen draws ~27.5 mA (its backlight 20 mA, the
# controller 7.5): lit all day it was 27.5 of the pin's 37 mA (docs/power.md).
# So it is lit only when the wearer would look at it: from boot and after
# each of the wearer's events (a button press, a tap or "tap again", a new
# friend, a design unlocked, the battery turning low, the owner's phone
# connecting) for LIT_MS; then the backlight is switched off and the
# controller sleeps, keeping the picture. What is drawn is the service's
# that owns the screen (the designs' card, or the status screen:
# cloudpin.statusscreen); that service also looks at dim() in its loop.
#
# Kept small on purpose: on the M5 the designs and a tap leave a few KB of
# heap (docs/heap.md), and this module is all a designs pin loads for its
# screen (the status screen's drawing is another module, loaded only when
# it is shown). No framebuf here: CPython simulations run the policy too.
import time

from micropython import const

from cloudpin import bus as topics

# ESTIMATE: long enough to read a card or the status screen after a touch
# (a friendship follows its tap by ~1.5 s and lights it again); each event
# costs the M5 ~27.5 mA for this long.
LIT_MS = const(10000)


class Screen:
    def __init__(self, lcd, power=None):
        """lcd: a cloudpin.st7789.ST7789, initialised (lit); power: the chip
        whose LDO feeds the backlight (cloudpin.axp192.AXP192) or None."""
        self.lcd = lcd
        self.power = power
        # the ticks_ms it goes dark at, None while dark; lit from boot
        self.lit_until = time.ticks_add(time.ticks_ms(), LIT_MS)
        self._low = False  # the last battery reading was low

    def listen(self, bus, wake=None):
        """Light the screen on the wearer's events: wake(a=None, b=None) on
        each, self.wake if None (the button is the service's: a pin's IRQ
        has one handler)."""
        wake = wake or self.wake  # one bound method for every topic (each costs heap)
        for t in (topics.TAP, topics.TAP_AGAIN, topics.FRIEND, topics.DESIGN, topics.BATTERY, topics.PHONE):
            bus.subscribe(t, wake)

    def wake(self, a=None, b=None):
        """Light the screen for LIT_MS more. The bus handler of every topic
        listen() takes, told apart by their arguments: PHONE (connected,)
        is the only one with a bool first, BATTERY (percent, low) the only
        one with a bool second; the others always light it."""
        if a is False:
            return  # the phone left
        if b is True or b is False:
            low, self._low = self._low, b
            if low or not b:
                return  # a reading, not the battery turning low (one every 10 s)
        dark = self.lit_until is None
        self.lit_until = time.ticks_add(time.ticks_ms(), LIT_MS)
        if dark:
            self.lcd.sleep(False)
            if self.power is not None:
                self.power.backlight(True)

    def dim(self):
        """Darken the screen if its time is up. The ms until it goes dark,
        or -1 when dark: its service waits no longer than that."""
        t = self.lit_until
        if t is None:
            return -1
        left = time.ticks_diff(t, time.ticks_ms())
        if left > 0:
            return left
        self.lit_until = None
        if self.power is not None:
            self.power.backlight(False)
        self.lcd.sleep(True)
        return -1

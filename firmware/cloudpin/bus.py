# The app's event bus: a service says what happened (a tap, a friend made,
# an update from a friend, the radio turned on) and whoever cares reacts,
# instead of App wiring each service to the next (tap -> handshake ->
# friends -> achievements, the radio's state -> the power policy).
#
# Delivery is synchronous, in the publisher's task, in subscription order.
# Handlers must be short: work that takes time sets an asyncio event for the
# subscriber's own task. Never publish from an IRQ handler (hardware or BLE):
# set a flag there and publish from the task it wakes. A handler that raises
# is logged and does not stop the others or the publisher.
from micropython import const

# Topics, and what publish() passes with each (documented here so that
# publishers and subscribers agree on one list).
TAP = const(1)  # (t_ms, strength_mg): the tap detector saw a touch
TAP_AGAIN = const(2)  # (reason,): a handshake could not pick a partner; ask the wearer to tap again
FRIEND = const(3)  # (slot, t_ms): a friendship was committed (friend store slot, ticks_ms of the commit)
UPDATE = const(4)  # (slot, steps, made, unix_s): a friend's latest stats were stored
STEPS = const(5)  # (steps_today, steps_total): the day's count changed (at most once a second)
DAY = const(6)  # (day,): a new local day started; daily counters were reset
RADIO = const(7)  # (on,): the radio owner turned BLE on (True) or off (False)
DESIGN = const(8)  # (index,): an achievement design was unlocked
PHONE = const(9)  # (connected,): the owner's phone connected (True) or left (False)
BATTERY = const(10)  # (percent, low): the battery level was read; low is True below the warning level
# (starting,): True just before the radio owner's ble.active(True), which holds
# the CPU ~250 ms (pin IRQ callbacks run only in its second part: docs/ble.md),
# False once it returned or failed. A service whose hardware buffer fills in
# that time (the accelerometer FIFO: 80 ms) empties it first and serves it from
# its IRQ callback until False; it must not publish in between.
RADIO_START = const(11)
# (t_ms, on): on=True, the tap detector suspects a touch peaking at t_ms: it
# passed every check that costs no wait and now waits for the company after
# it (the rattle veto's ahead_ms, docs/taps.md). TAP with the same t_ms
# confirms it; (t_ms, False) cancels it. The handshake starts the radio
# (~250 ms) on it, so the wait costs the meeting nothing.
TAP_SUSPECT = const(12)
# (slot, t_tap): right after FRIEND when a tap's handshake made the friend:
# t_tap is the ticks_ms of the touch, the one instant both pins felt (the
# clock's window after a new friend is timed from it, social/clocksync.py).
MET = const(13)
_TOPICS = const(16)  # topics are small ints below this


class Bus:
    def __init__(self, log=None):
        self.log = log
        # One list per topic, made once: publish() allocates nothing itself.
        self._subs = [None] * _TOPICS

    def subscribe(self, topic, handler):
        """Call handler(*args) on every publish(topic, *args)."""
        if not 0 < topic < _TOPICS:
            raise ValueError("bus topic %r" % (topic,))
        subs = self._subs[topic]
        if subs is None:
            subs = self._subs[topic] = []
        subs.append(handler)

    def unsubscribe(self, topic, handler):
        subs = self._subs[topic] if 0 < topic < _TOPICS else None
        if subs and handler in subs:
            subs.remove(handler)

    def publish(self, topic, a=None, b=None, c=None, d=None):
        """Deliver to every subscriber of topic; returns how many took it
        without raising. Up to four arguments, passed positionally to
        handlers as given (handlers take exactly the topic's arguments)."""
        subs = self._subs[topic] if 0 < topic < _TOPICS else None
        if not subs:
            return 0
        n = 0
        for h in subs:
            try:
                if d is not None:
                    h(a, b, c, d)
                elif c is not None:
                    h(a, b, c)
                elif b is not None:
                    h(a, b)
                elif a is not None:
                    h(a)
                else:
                    h()
                n += 1
            except Exception as e:  # one subscriber's bug must not stop the publisher
                if self.log is not None:
                    self.log.exc(e, "bus topic %d handler failed" % topic)
        return n

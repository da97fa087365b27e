# The step and day counts on the bus. The step counter (cloudpin.steps) counts
# since boot; the unlock engine's steps tasks want today's steps and the total
# since provisioning, friend updates and the phone want today's steps and
# friends made. This feed keeps them (social.daily for today, rolled over at
# the event's local midnight; a small document for the total) and publishes
# DAY at a new local day, then STEPS (steps_today, steps_total) when the
# count moved, at most once per tick.
#
# Saved as sparingly as Daily saves today's counts (every 250 steps or 10
# minutes, each friend, each new day): a power cut loses fewer than 250
# steps of the total, never a day.
from cloudpin import bus as topics
from cloudpin.store import Store

PATH = "steps.json"


def _validate(doc):
    t = doc.get("total") if isinstance(doc, dict) else None
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise ValueError("steps total: a count")
    return {"total": t}


class StepFeed:
    def __init__(self, bus, counter, daily, clock, path=PATH, log=None):
        """counter: a cloudpin.steps.StepCounter (its `steps` since boot) or
        None; daily: a social.daily.Daily; clock() unix seconds."""
        self.bus = bus
        self.counter = counter
        self.daily = daily
        self.clock = clock
        self.total = 0
        self.day = -1
        self._store = Store(path, _validate, log)
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

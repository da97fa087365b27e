# What the phone service reads and changes on a real pin (the interface is
# in cloudpin.phone.service): the owner card file, the friend list, the
# day's counters, the designs engine, the battery as last published.
from cloudpin import owner
from cloudpin.phone import protocol as p


class PinBackend:
    """`gen` is the identity's prov_gen: a card of another generation is
    stale (cloudpin.owner) and reads as none. `daily` a social.daily.Daily
    or None (then `today(unix s)` -> (steps, made), the app's count, if
    given), `steps_total()` the steps since provisioning, `now_s()` unix
    seconds. `designs` is the unlock engine, or None: it must offer
    unlocked() -> [(index, sport id)], .selected (index or -1) and
    select(index) -> bool (False: not unlocked). `utc_offset` the event's
    time zone (identity's, minutes east of UTC; None: UTC): without daily
    counters the day is still the pin's local date, as Daily counts it."""

    def __init__(self, version, badge_id, gen, friends=None, daily=None, steps_total=None, now_s=None,
                 designs=None, card_path=owner.PATH, log=None, today=None, utc_offset=None):
        self.version = version
        self.badge_id = badge_id
        self.gen = gen
        self.friends = friends
        self.daily = daily
        self._steps_total = steps_total
        self._now_s = now_s
        self._today = today  # unix s -> (steps, made) today when no daily counters are kept (App._today)
        self.engine = designs
        self.utc_offset = utc_offset or 0  # (a name the pin interned already: no new qstr)
        self.card_path = card_path
        self.log = log
        self.battery = (-1, False)  # (percent, low) from bus.BATTERY

    def info(self):
        return self.version, self.badge_id, self.battery[0], self.battery[1]

    def card(self):
        c = owner.load(self.log, self.card_path)
        return c if c is not None and c["gen"] == self.gen else None

    def set_card(self, card):
        old = self.card()
        if old is None:
            return p.UNAVAILABLE  # the desk writes the card (acc, gen); the phone edits it
        new = {"acc": old["acc"], "gen": old["gen"], "handles": card["handles"]}
        for f in p.CARD_FIELDS:
            new[f] = card[f]
        try:
            new = owner.validate(new)
        except ValueError:
            return p.INVALID
        if new != old:
            owner.save(new, self.log, self.card_path)
        return p.OK

    def stats(self):
        steps = made = day = 0
        if self._now_s is not None:
            if self.daily is not None:
                steps, made = self.daily.today(self._now_s())
                day = self.daily.day
            else:  # a pin without the designs: its local date (Daily.local_day), the app's count
                now = self._now_s()
                day = (now + self.utc_offset * 60) // 86400
                if self._today is not None:
                    steps, made = self._today(now)
        total = self._steps_total() if self._steps_total is not None else steps
        return day, steps, made, total, self.friends.count if self.friends is not None else 0

    def designs(self):
        e = self.engine
        if e is None:
            return None
        return e.selected, e.unlocked()

    def select_design(self, index):
        e = self.engine
        if e is None:
            return p.UNAVAILABLE
        return p.OK if e.select(index) else p.NOT_FOUND

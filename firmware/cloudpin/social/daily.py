# Today's steps and friends made, as friends see them in the advertisement.
# "Today" is the event's local day: it starts at midnight in the time zone
# given at provisioning (identity utc_offset, minutes east of UTC).
#
# Kept in an atomic Store document (cloudpin.store: temp file + rename), but
# written sparingly for the flash: when SAVE_STEPS steps are unsaved, when
# unsaved steps are SAVE_S old, at each friend made and at each new day. A
# reset therefore loses fewer than SAVE_STEPS steps and never a friend
# counted; an 8,000-step day costs about 40 small writes.
from micropython import const

from cloudpin.store import Store

PATH = "daily.json"
SAVE_STEPS = const(250)
SAVE_S = const(600)
_DAY_S = const(86400)


def _validate(doc):
    if not isinstance(doc, dict):
        raise ValueError("daily: not an object")
    for k in ("day", "steps", "made"):
        v = doc.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError("daily %s: a count" % k)
    return {"day": doc["day"], "steps": doc["steps"], "made": doc["made"]}


class Daily:
    def __init__(self, utc_offset_min, path=PATH, log=None):
        self.offset_s = utc_offset_min * 60
        self._store = Store(path, _validate, log)
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

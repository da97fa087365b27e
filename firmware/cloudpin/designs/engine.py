# The unlock engine: keeps the counters the pack's tasks are about, up to
# date from the event bus (FRIEND, UPDATE, STEPS, DAY, TAP), and unlocks a
# design the moment its task is met: logged ("designs unlocked sport=<id>
# t_ms=<ticks>", which the simulator parses), saved, and published as
# DESIGN (index,).
#
# Cheap: an event touches only the tasks of the kinds it can advance (a
# table made once per kind), and only the friend it is about; nothing walks
# the friend list, except a catch-up at boot over friends the store holds
# that the engine has not counted yet (lost to a power cut between the
# friend store's write and this one: none on a clean run).
#
# Persistent: one Store document (temp file + rename: a power cut leaves
# the old document or the new one). Written when an unlock or a counter
# that steps cannot rebuild changes: each friend counted, a collector
# seen, the first tap of a day, a streak day credited, the wearer's pick.
# Steps themselves are not stored here: the step counter's own totals come
# back on the bus (STEPS) after a reset.
#
# The wearer picks the design shown (button: next(), the phone: select()).
import binascii
import time

from micropython import const

from cloudpin.designs import pack as packfmt
from cloudpin.store import Store

PATH = "designs.json"
MAX_FRIENDS = const(1024)  # friend store slots (cloudpin.social.friends)
_BITS = const(128)  # MAX_FRIENDS bits
_FORMAT = const(1)


def _counter(d, k):
    v = d.get(k, 0)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError("designs %s: a count" % k)
    return v


def _bits(v):
    b = binascii.unhexlify(v) if isinstance(v, str) else b""
    if len(b) != _BITS:
        raise ValueError("designs: a 1024-bit set")
    return bytearray(b)


def _validate(doc):
    if not isinstance(doc, dict) or doc.get("v") != _FORMAT:
        raise ValueError("designs: not a format %d document" % _FORMAT)
    for k in ("friends", "fday_day", "fday", "tap_day", "tap_days"):
        _counter(doc, k)
    _bits(doc.get("counted"))
    for k in ("unlocked", "orgs", "roles", "tasks"):
        if not isinstance(doc.get(k), list):
            raise ValueError("designs %s: a list" % k)
    for u in doc["unlocked"]:
        if not isinstance(u, list) or len(u) != 2 or not isinstance(u[0], str) or not isinstance(u[1], int):
            raise ValueError("designs unlocked: [id, unix_s] pairs")
    for t in doc["tasks"]:
        if not isinstance(t, list) or len(t) != 4 or not isinstance(t[0], str):
            raise ValueError("designs tasks: [id, count, day, bits] lists")
        _counter({"c": t[1], "d": t[2]}, "c")
        _counter({"c": t[1], "d": t[2]}, "d")
        if t[3] is not None:
            _bits(t[3])
    return doc


def text_hash(s):
    """A 32-bit hash of an organisation or role, case and spaces ignored
    ("BBC" and " bbc " are one organisation); 0 for none."""
    if not isinstance(s, str):
        return 0
    s = s.strip().lower()
    return binascii.crc32(s.encode()) if s else 0


class Designs:
    def __init__(self, pack, log, path=PATH, friends=None, clock=None):
        """pack: packfmt.Pack; log: a Logger named "designs"; friends: the
        friend store (cloudpin.social.friends.Friends), for the cards of
        new friends and the boot catch-up; clock() -> unix seconds (default
        time.time)."""
        self.pack = pack
        self.log = log
        self.friends = friends
        self.clock = clock or time.time
        self._store = Store(path, _validate, log)
        n = pack.count
        by_kind = [[] for _ in range(packfmt.N_KINDS)]
        for i in range(n):
            by_kind[pack.kinds[i]].append(i)
        self._by_kind = tuple(tuple(k) for k in by_kind)
        # Distinct organisations/roles: kept up to the most any task asks.
        self._cap_orgs = max([pack.n[i] for i in self._by_kind[packfmt.ORGS]] + [0])
        self._cap_roles = max([pack.n[i] for i in self._by_kind[packfmt.ROLES]] + [0])
        self.got = bytearray(n)  # 1: unlocked
        self.unlocked_at = [0] * n  # unix s of the unlock
        self.order = []  # indexes in the order they were unlocked
        self.selected = -1  # the design the pin shows, -1: none yet
        self.picked = False  # the wearer chose `selected` (new unlocks then do not replace it)
        self.day = 0  # the local day (cloudpin.social.daily), from start() and DAY
        self.steps_today = 0
        self.steps_total = 0
        self.friends_n = 0
        self.fday_day = 0
        self.fday = 0  # friends made on fday_day
        self.orgs = []
        self.roles = []
        self.tap_day = 0
        self.tap_days = 0
        self.count = [0] * n  # per task: collectors seen / streak length
        self.mark = [0] * n  # per task: streak's last credited day + 1 (0: never)
        self.bits = [None] * n  # per collectors task: friend slots counted
        for i in self._by_kind[packfmt.COLLECTORS]:
            self.bits[i] = bytearray(_BITS)
        self.counted = bytearray(_BITS)  # friend slots counted in friends/orgs/roles
        self.saves = 0
        self._new = []  # unlocked by the event in hand, announced once saved

    # --- persistence -----------------------------------------------------------
    def load(self, day):
        """Restore what was saved (unlocks, counters; a corrupt or missing
        file starts from nothing), set today's local day, and count any
        friend the store holds that was not counted (a cut between the two
        writes). Does not publish."""
        self.day = day
        doc = self._store.load(None)
        if doc is not None:
            self._restore(doc)
        changed = False
        if self.friends is not None:
            for slot in range(min(self.friends.count, MAX_FRIENDS)):
                if not self.counted[slot >> 3] & (1 << (slot & 7)):
                    self._count_friend(slot, False)
                    changed = True
        for k in range(packfmt.N_KINDS):
            self._check(k)
        self._commit(changed, time.ticks_ms())

    def _restore(self, doc):
        p = self.pack
        for sid, t in doc["unlocked"]:
            i = p.index(sid)
            if i >= 0 and not self.got[i]:  # a sport no longer in the pack is dropped
                self.got[i] = 1
                self.unlocked_at[i] = t
                self.order.append(i)
        self.selected = p.index(doc.get("selected")) if isinstance(doc.get("selected"), str) else -1
        if self.selected >= 0 and not self.got[self.selected]:
            self.selected = -1
        self.picked = doc.get("picked") is True and self.selected >= 0
        self.friends_n = doc["friends"]
        self.fday_day = doc["fday_day"]
        self.fday = doc["fday"]
        self.orgs = [h for h in doc["orgs"] if isinstance(h, int)][: self._cap_orgs]
        self.roles = [h for h in doc["roles"] if isinstance(h, int)][: self._cap_roles]
        self.tap_day = doc["tap_day"]
        self.tap_days = doc["tap_days"]
        self.counted = _bits(doc["counted"])
        for sid, c, d, bits in doc["tasks"]:
            i = p.index(sid)
            if i < 0:
                continue
            self.count[i] = c
            self.mark[i] = d
            if self.bits[i] is not None and bits is not None:
                self.bits[i] = _bits(bits)

    def _save(self):
        p = self.pack
        tasks = []
        for i in self._by_kind[packfmt.COLLECTORS] + self._by_kind[packfmt.STREAK]:
            b = self.bits[i]
            tasks.append([p.ids[i], self.count[i], self.mark[i], None if b is None else binascii.hexlify(bytes(b)).decode()])
        self._store.save({
            "v": _FORMAT,
            "unlocked": [[p.ids[i], self.unlocked_at[i]] for i in self.order],
            "selected": p.ids[self.selected] if self.selected >= 0 else None,
            "picked": self.picked,
            "friends": self.friends_n, "fday_day": self.fday_day, "fday": self.fday,
            "orgs": self.orgs, "roles": self.roles,
            "tap_day": self.tap_day, "tap_days": self.tap_days,
            "counted": binascii.hexlify(bytes(self.counted)).decode(),
            "tasks": tasks,
        })
        self.saves += 1

    # --- the bus ---------------------------------------------------------------
    def subscribe(self, bus):
        """Take FRIEND, UPDATE, STEPS, DAY and TAP from bus; unlocks are
        published on it as DESIGN (index,)."""
        from cloudpin import bus as topics

        self.bus = bus
        self._design_topic = topics.DESIGN
        bus.subscribe(topics.FRIEND, self.on_friend)
        bus.subscribe(topics.UPDATE, self.on_update)
        bus.subscribe(topics.STEPS, self.on_steps)
        bus.subscribe(topics.DAY, self.on_day)
        bus.subscribe(topics.TAP, self.on_tap)

    bus = None
    _design_topic = 0

    def on_friend(self, slot, t_ms):
        """FRIEND (slot, t_ms): a friendship was committed."""
        if 0 <= slot < MAX_FRIENDS and not self.counted[slot >> 3] & (1 << (slot & 7)):
            self._count_friend(slot, True)
            self._check(packfmt.FRIENDS)
            self._check(packfmt.FRIENDS_DAY)
            self._check(packfmt.ORGS)
            self._check(packfmt.ROLES)
            self._commit(True, t_ms)

    def _count_friend(self, slot, today):
        self.counted[slot >> 3] |= 1 << (slot & 7)
        self.friends_n += 1
        if today:
            if self.fday_day != self.day:
                self.fday_day = self.day
                self.fday = 0
            self.fday += 1
        card = self.friends.card(slot) if self.friends is not None else None
        if card is not None:
            self._distinct(self.orgs, self._cap_orgs, text_hash(card.get("organisation")))
            self._distinct(self.roles, self._cap_roles, text_hash(card.get("role")))

    @staticmethod
    def _distinct(seen, cap, h):
        if h and len(seen) < cap and h not in seen:
            seen.append(h)

    def on_update(self, slot, steps, made, unix_s):
        """UPDATE (slot, steps, made, unix_s): a friend's stats; one who has
        made enough friends in a day counts as a collector."""
        if not 0 <= slot < MAX_FRIENDS:
            return
        byte, bit = slot >> 3, 1 << (slot & 7)
        changed = False
        for i in self._by_kind[packfmt.COLLECTORS]:
            b = self.bits[i]
            if not self.got[i] and made >= self.pack.extra[i] and not b[byte] & bit:
                b[byte] |= bit
                self.count[i] += 1
                changed = True
        if changed:
            self._check(packfmt.COLLECTORS)
            self._commit(True, time.ticks_ms())

    def on_steps(self, today, total):
        """STEPS (steps_today, steps_total), at most once a second: no
        write unless a task is met or a streak day is credited."""
        self.steps_today = today
        self.steps_total = total
        credited = False
        for i in self._by_kind[packfmt.STREAK]:
            if not self.got[i] and today >= self.pack.extra[i] and self.mark[i] != self.day + 1:
                # A day in a row with the last credited one continues the streak.
                self.count[i] = self.count[i] + 1 if self.mark[i] == self.day else 1
                self.mark[i] = self.day + 1
                credited = True
        if credited:
            self._check(packfmt.STREAK)
        self._check(packfmt.STEPS_DAY)
        self._check(packfmt.STEPS_TOTAL)
        if credited or self._new:
            self._commit(True, time.ticks_ms())

    def on_day(self, day):
        """DAY (day,): a new local day; today's counts start from zero."""
        self.day = day
        self.steps_today = 0

    def on_tap(self, t_ms, mg):
        """TAP (t_ms, strength): the first tap of a day counts one tap day."""
        if self.tap_day != self.day or self.tap_days == 0:
            self.tap_day = self.day
            self.tap_days += 1
            self._check(packfmt.TAP_DAYS)
            self._commit(True, t_ms)

    # --- tasks -----------------------------------------------------------------
    def progress(self, i):
        """(current, target) of design i's task, target = the pack's n."""
        return self.current(i), self.pack.n[i]

    def current(self, i):
        """Where design i's task stands now, in the units of its n."""
        k = self.pack.kinds[i]
        if k == packfmt.FRIENDS:
            c = self.friends_n
        elif k == packfmt.FRIENDS_DAY:
            c = self.fday if self.fday_day == self.day else 0
        elif k == packfmt.STEPS_DAY:
            c = self.steps_today
        elif k == packfmt.STEPS_TOTAL:
            c = self.steps_total
        elif k == packfmt.ORGS:
            c = len(self.orgs)
        elif k == packfmt.ROLES:
            c = len(self.roles)
        elif k == packfmt.TAP_DAYS:
            c = self.tap_days
        elif k == packfmt.STREAK:
            # A streak not credited yesterday or today is broken.
            c = self.count[i] if self.day <= self.mark[i] <= self.day + 1 else 0
        else:
            c = self.count[i]
        return c

    def _check(self, kind):
        for i in self._by_kind[kind]:
            if not self.got[i] and self.current(i) >= self.pack.n[i]:
                self.got[i] = 1
                self.unlocked_at[i] = int(self.clock())
                self.order.append(i)
                if not self.picked:
                    self.selected = i
                self._new.append(i)

    def _commit(self, changed, t_ms):
        """One save for the event's counters and unlocks together, then the
        unlocks announced: an unlock is logged and published only once it
        is on flash."""
        if not changed and not self._new:
            return
        self._save()
        new = self._new
        while new:
            i = new.pop(0)
            self.log.info("unlocked sport=%s t_ms=%d" % (self.pack.ids[i], t_ms))
            if self.bus is not None:
                self.bus.publish(self._design_topic, i)

    def next_unlock(self):
        """(index, current, target) of the locked design nearest to its
        target (by fraction done), or (-1, 0, 0) when all are unlocked."""
        best, bc, bn = -1, 0, 0
        for i in range(self.pack.count):
            if self.got[i]:
                continue
            c, n = self.current(i), self.pack.n[i]
            if best < 0 or c * bn > bc * n:  # c/n > bc/bn without floats
                best, bc, bn = i, c, n
        return best, bc, bn

    # --- what is shown (button and phone) --------------------------------------
    def unlocked(self):
        """[(index, sport id)] of the unlocked designs, in unlock order."""
        return [(i, self.pack.ids[i]) for i in self.order]

    def select(self, i):
        """Show design i (the phone's choice); False if it is not unlocked."""
        if not 0 <= i < self.pack.count or not self.got[i]:
            return False
        if self.selected != i or not self.picked:
            self.selected = i
            self.picked = True
            self._save()
        return True

    def next(self):
        """The button: show the next unlocked design in unlock order; the
        index shown, or -1 when none is unlocked."""
        if not self.order:
            return -1
        k = self.order.index(self.selected) + 1 if self.selected in self.order else 0
        self.select(self.order[k % len(self.order)])
        return self.selected

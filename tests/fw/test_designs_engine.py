# The unlock engine (firmware/cloudpin/designs/engine.py), driven only
# through the event bus with friends made in the real friend store and
# steps/days/taps as their services publish them: every task kind unlocks
# at the event that meets it and not before, unlocks and counters survive a
# reset and a power cut at any byte of any save, a corrupt file never
# crashes, and the wearer's pick is kept.
import gc
import os
import sys

if sys.implementation.name != "micropython":
    from host_tools import hostcrypto

    hostcrypto.install()
from cloudpin import bus as topics  # noqa: E402
from cloudpin.bus import Bus  # noqa: E402
from cloudpin.designs import engine, pack  # noqa: E402
from cloudpin.log import Logger  # noqa: E402
from cloudpin.social import friends  # noqa: E402

_SQUARE = [["rect", 0, 0, 10, 10, "red", 1]]
# One task of every kind, small numbers.
TASKS = (
    ("one", {"kind": "friends", "n": 3}),
    ("two", {"kind": "friends_day", "n": 2}),
    ("three", {"kind": "steps_day", "n": 500}),
    ("four", {"kind": "steps_total", "n": 1200}),
    ("five", {"kind": "orgs", "n": 2}),
    ("six", {"kind": "roles", "n": 2}),
    ("seven", {"kind": "tap_days", "n": 2}),
    ("eight", {"kind": "collectors", "n": 2, "made": 3}),
    ("nine", {"kind": "streak", "n": 2, "steps": 300}),
)


def _pack(tasks=TASKS):
    return pack.Pack({"format": 1, "event": "Test", "sports": [
        {"id": sid, "name": sid, "short": sid, "task": t, "led": ["red"], "design": _SQUARE} for sid, t in tasks]})


def _fresh():
    for name in os.listdir("."):
        if name.startswith("designs.json") or name.startswith("friends."):
            os.remove(name)


def _key(i):
    return bytes((i >> 8, i & 0xFF)) + bytes((i * 5 + 3) & 0xFF for _ in range(14))


class Pin:
    """An engine, its friend store and the bus, as the app wires them."""

    def __init__(self, p=None, day=100):
        self.lines = []
        self.log = Logger("designs", sink=self.lines.append)
        self.bus = Bus(self.log)
        self.friends = friends.Friends()
        self.friends.open()
        self.d = engine.Designs(p or _pack(), self.log, friends=self.friends, clock=lambda: 1780000000)
        self.d.load(day)
        self.d.subscribe(self.bus)
        self.designs = []
        self.bus.subscribe(topics.DESIGN, self.designs.append)

    def befriend(self, i, org="Org", role="reporter", t_ms=1000):
        slot = self.friends.add(_key(i), {"name": "F%d" % i, "organisation": org, "role": role}, 1780000000 + i)
        self.bus.publish(topics.FRIEND, slot, t_ms)
        return slot

    def unlocked(self):
        return [self.d.pack.ids[i] for i in self.d.order]


def test_every_task_kind_unlocks_at_the_event_that_meets_it():
    _fresh()
    pin = Pin()
    p = pin.d.pack
    # friends made: 1 and 2 on day 100 (friends_day 2 met); same org and role so far
    pin.befriend(0, "BBC", "reporter", 1000)
    assert pin.unlocked() == []
    pin.befriend(1, " bbc ", "Reporter", 2000)  # the same organisation and role, spelt differently
    assert pin.unlocked() == ["two"]
    assert pin.lines[-1].endswith("designs unlocked sport=two t_ms=2000"), pin.lines
    assert pin.designs == [p.index("two")]
    # a new day: friends_day starts again; a third friend from another org, another role
    pin.bus.publish(topics.DAY, 101)
    pin.befriend(2, "NHK", "photographer", 3000)
    assert pin.unlocked() == ["two", "one", "five", "six"]
    # steps: today's 499 is not enough, 500 is; the total reaches 1200 later
    pin.bus.publish(topics.STEPS, 299, 299)
    pin.bus.publish(topics.STEPS, 499, 1100)
    assert "three" not in pin.unlocked() and "four" not in pin.unlocked()
    pin.bus.publish(topics.STEPS, 500, 1101)
    assert pin.unlocked()[-1] == "three"
    pin.bus.publish(topics.STEPS, 600, 1200)
    assert pin.unlocked()[-1] == "four"
    # streak of 300-step days: day 101 counted above; day 102 makes it 2
    assert pin.d.progress(p.index("nine")) == (1, 2)
    pin.bus.publish(topics.DAY, 102)
    pin.bus.publish(topics.STEPS, 299, 1499)
    assert "nine" not in pin.unlocked()
    pin.bus.publish(topics.STEPS, 300, 1500)
    assert pin.unlocked()[-1] == "nine"
    # taps on different days: two taps on day 102 are one day, day 103 the second
    pin.bus.publish(topics.TAP, 5000, 900)
    pin.bus.publish(topics.TAP, 5200, 900)
    assert "seven" not in pin.unlocked()
    pin.bus.publish(topics.DAY, 103)
    pin.bus.publish(topics.TAP, 9000, 900)
    assert pin.unlocked()[-1] == "seven"
    # collectors: a friend seen having made 3 friends in a day; the same friend twice counts once
    pin.bus.publish(topics.UPDATE, 0, 4000, 2, 1780000100)
    pin.bus.publish(topics.UPDATE, 0, 4000, 3, 1780000200)
    pin.bus.publish(topics.UPDATE, 0, 4000, 5, 1780000300)
    assert "eight" not in pin.unlocked() and pin.d.progress(p.index("eight")) == (1, 2)
    pin.bus.publish(topics.UPDATE, 2, 100, 4, 1780000400)
    assert pin.unlocked()[-1] == "eight"
    assert sorted(pin.unlocked()) == sorted(t[0] for t in TASKS)
    assert pin.designs == [p.index(s) for s in pin.unlocked()]
    assert len([ln for ln in pin.lines if " designs unlocked sport=" in ln]) == len(TASKS)
    assert pin.d.next_unlock() == (-1, 0, 0)
    assert pin.d.unlocked() == [(p.index(s), s) for s in pin.unlocked()]


def test_a_streak_breaks_on_a_missed_day_and_day_counts_restart():
    _fresh()
    pin = Pin(_pack((("s", {"kind": "streak", "n": 3, "steps": 100}), ("d", {"kind": "steps_day", "n": 900}))))
    for day in (100, 101):
        pin.bus.publish(topics.DAY, day)
        pin.bus.publish(topics.STEPS, 500, 500)
    assert pin.d.progress(0) == (2, 3)
    pin.bus.publish(topics.DAY, 103)  # day 102 had no steps
    assert pin.d.progress(0) == (0, 3)
    pin.bus.publish(topics.STEPS, 100, 1100)
    assert pin.d.progress(0) == (1, 3) and pin.d.progress(1) == (100, 900)
    assert pin.unlocked() == []


def test_unlocks_and_counters_survive_a_reset():
    _fresh()
    pin = Pin()
    pin.befriend(0, "A", "r1")
    pin.befriend(1, "B", "r1")
    pin.bus.publish(topics.UPDATE, 1, 10, 3, 1780000000)
    pin.bus.publish(topics.TAP, 100, 900)
    before = pin.unlocked()
    assert before == ["two", "five"]
    selected = pin.d.selected
    # reset: a new engine on the same files
    pin = Pin(day=100)
    assert pin.unlocked() == before and pin.d.selected == selected and pin.designs == []
    assert pin.d.progress(pin.d.pack.index("one")) == (2, 3)
    assert pin.d.progress(pin.d.pack.index("eight")) == (1, 2)
    assert pin.d.progress(pin.d.pack.index("seven")) == (1, 2)
    pin.befriend(2, "C", "r2")
    assert pin.unlocked() == before + ["one", "six"]
    pin.bus.publish(topics.UPDATE, 1, 10, 9, 1780000000)  # the same collector again: not counted twice
    assert "eight" not in pin.unlocked()


def test_a_friend_whose_event_was_lost_is_counted_at_boot_and_events_are_idempotent():
    _fresh()
    pin = Pin()
    pin.befriend(0)
    pin.bus.publish(topics.FRIEND, 0, 1000)  # the same friendship published twice
    assert pin.d.progress(0) == (1, 3)
    # friend 1 reached the friend store but power failed before the engine saved
    pin.friends.add(_key(1), {"name": "F1", "organisation": "X", "role": "y"}, 1780000001)
    pin = Pin()
    assert pin.d.progress(0) == (2, 3) and pin.d.progress(pin.d.pack.index("five")) == (2, 2)
    assert pin.unlocked() == ["five", "six"]
    # hostile slots never raise
    for slot in (-1, 1024, 99999):
        pin.bus.publish(topics.FRIEND, slot, 1)
        pin.bus.publish(topics.UPDATE, slot, 1, 99, 1)
    assert pin.d.progress(0) == (2, 3)
    assert not [ln for ln in pin.lines if ln.startswith("E ")]


def test_power_cut_at_any_byte_of_any_save_keeps_the_old_or_the_new_state():
    # Every save is a temp file then a rename (cloudpin.store). A cut leaves
    # the old file beside a temp file torn at any length (or whole, before
    # the rename): after reboot the engine has exactly the old state, and
    # goes on unlocking; after the rename it has the new one.
    _fresh()
    p = _pack()
    pin = Pin(p)
    saves = []
    real = pin.d._store.save

    def spy(doc):
        try:
            old = open("designs.json").read()
        except OSError:
            old = None
        real(doc)
        saves.append((old, open("designs.json").read(), pin.unlocked(), pin.d.friends_n))

    pin.d._store.save = spy
    pin.befriend(0, "A", "r")
    pin.befriend(1, "B", "r")
    pin.bus.publish(topics.UPDATE, 0, 1, 3, 1780000000)
    pin.bus.publish(topics.TAP, 100, 900)
    pin.bus.publish(topics.DAY, 101)
    pin.bus.publish(topics.STEPS, 400, 400)
    assert len(saves) == 5  # one per event that changed something
    states = [(None, [], 0)] + [(s[1], s[2], s[3]) for s in saves]
    checked = 0
    for k in range(len(saves)):
        old, new, _, _ = saves[k]
        for n in range(len(new) + 1):
            for name in os.listdir("."):
                if name.startswith("designs.json"):
                    os.remove(name)
            if old is not None:
                with open("designs.json", "w") as f:
                    f.write(old)
            with open("designs.json.tmp", "w") as f:
                f.write(new[:n])
            d = engine.Designs(p, Logger("designs", sink=lambda s: None), friends=None)
            d.load(101)
            want = states[k]
            assert [p.ids[i] for i in d.order] == want[1], (k, n)
            assert d.friends_n == want[2], (k, n)
            checked += 1
        # after the rename: the new state
        with open("designs.json", "w") as f:
            f.write(new)
        d = engine.Designs(p, Logger("designs", sink=lambda s: None))
        d.load(101)
        assert [p.ids[i] for i in d.order] == states[k + 1][1] and d.friends_n == states[k + 1][2]
    assert checked > 100
    # and a pin restarted after the last cut still unlocks
    d.subscribe(Bus())
    d.on_friend(5, 1)
    assert "one" in [p.ids[i] for i in d.order]


def test_a_corrupt_file_never_crashes_and_starts_from_nothing():
    _fresh()
    for junk in ('{"v": 1, "unlocked": [["one"', "\x00\xffjunk", '{"v": 1}', '{"v": 1, "friends": -4}', "[]",
                 '{"v": 1, "unlocked": [], "friends": 0, "fday_day": 0, "fday": 0, "tap_day": 0, "tap_days": 0,'
                 ' "counted": "zz", "orgs": [], "roles": [], "tasks": []}'):
        with open("designs.json", "w") as f:
            f.write(junk)
        pin = Pin()
        assert pin.unlocked() == [] and pin.d.friends_n == 0, junk
    assert "designs.json.bad" in os.listdir(".")
    pin.befriend(0)
    assert Pin().d.friends_n == 1


def test_the_wearer_picks_the_design_shown():
    _fresh()
    pin = Pin()
    d = pin.d
    assert d.next() == -1 and d.selected == -1
    pin.befriend(0, "A", "x")
    pin.befriend(1, "B", "y")  # unlocks two, five, six in that order
    assert pin.unlocked() == ["two", "five", "six"]
    assert d.selected == d.pack.index("six")  # newest until the wearer picks
    assert d.next() == d.pack.index("two") and d.next() == d.pack.index("five")
    assert d.select(d.pack.index("one")) is False  # locked
    assert d.select(99) is False and d.select(-1) is False
    pin.befriend(2, "C", "z")  # unlocks one: the wearer's pick stays
    assert d.selected == d.pack.index("five")
    assert Pin().d.selected == d.pack.index("five")


def test_mp_a_steps_event_allocates_nothing():
    _fresh()
    pin = Pin()
    pin.bus.publish(topics.STEPS, 10, 10)
    pin.bus.publish(topics.TAP, 5, 900)
    saves = pin.d.saves
    gc.collect()
    a = gc.mem_alloc()
    for s in range(20, 299):
        pin.bus.publish(topics.STEPS, s, s)
        pin.bus.publish(topics.TAP, s, 900)  # a tap on a day already counted
    assert gc.mem_alloc() - a == 0, gc.mem_alloc() - a
    assert pin.d.saves == saves  # and writes nothing

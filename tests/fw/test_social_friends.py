# The friend list on flash (firmware/cloudpin/social/friends.py): adding
# writes one record, paging and updates are cheap, a power cut at any write
# loses at most the friend being added, corruption is set aside, and the
# heap does not grow with the number of friends.
import gc
import os

from cloudpin.social import advert, friends


def _key(i):
    return bytes(((i >> 8) & 0xFF, i & 0xFF)) + bytes((i * 7 + 1) & 0xFF for _ in range(14))


def _card(i):
    return {"name": "Friend %d Ω" % i, "organisation": "Org %d" % (i % 7), "role": "reporter",
            "handles": ["@f%d" % i] * (i % 3)}


class PowerCut(Exception):
    pass


class Flash:
    """open() that lets `budget` writes through whole, tears the next one
    after `tear` bytes (what reached flash) and cuts power."""

    def __init__(self, budget, tear=0):
        self.budget = budget
        self.tear = tear
        self.writes = 0

    def open(self, path, mode="r"):
        f = open(path, mode)
        if "r" in mode and "+" not in mode:
            return f
        return _CutFile(self, f)


class _CutFile:
    def __init__(self, flash, f):
        self.flash = flash
        self.f = f

    def write(self, data):
        fl = self.flash
        if fl.budget == 0:
            self.f.write(bytes(data)[: fl.tear])
            self.f.close()
            raise PowerCut()
        fl.budget -= 1
        fl.writes += 1
        return self.f.write(data)

    def seek(self, *a):
        return self.f.seek(*a)

    def readinto(self, b):
        return self.f.readinto(b)

    def close(self):
        self.f.close()


def _fresh():
    # The VM runs a module's tests in one folder: start each from nothing.
    for name in os.listdir("."):
        if name.startswith("friends."):
            os.remove(name)


def _store(n):
    _fresh()
    s = friends.Friends()
    s.open()
    for i in range(n):
        assert s.add(_key(i), _card(i), 1000 + i) == i
    return s


def test_add_find_get_page_and_reopen():
    s = _store(12)
    assert s.count == 12 and s.room() == advert.MAX_FRIENDS - 12
    assert s.find(_key(5)) == 5 and s.find(b"\x00" * 16) == -1
    d = s.get(7)
    assert d["card"] == friends.validate_card(_card(7)) and d["added"] == 1007 and d["latest"] is None
    got, nxt = s.page(0, 5)
    assert [x["slot"] for x in got] == [0, 1, 2, 3, 4] and nxt == 5
    got, nxt = s.page(10, 5)
    assert [x["slot"] for x in got] == [10, 11] and nxt == -1
    # The same friend again: same slot, nothing written; a new card: latest wins.
    size = os.stat("friends.log")[6]
    assert s.add(_key(3), _card(3), 5000) == 3 and os.stat("friends.log")[6] == size
    card = dict(_card(3), role="editor")
    assert s.add(_key(3), card, 5001) == 3 and s.count == 12
    r = friends.Friends()
    assert r.open() == 0 and r.count == 12 and r.card(3)["role"] == "editor"
    assert r.card(4) == friends.validate_card(_card(4))
    buf = bytearray(48)
    assert r.keys(3, buf) and bytes(buf[:16]) == _key(3)
    assert bytes(buf[16:32]) == advert.friend_subkeys(_key(3))[0]
    assert [slot for slot, _ in r.rid_keys()] == list(range(12))


def test_bad_cards_and_keys_are_refused_and_nothing_written():
    s = _store(1)
    size = os.stat("friends.log")[6]
    for key, card in ((b"short", _card(1)), (_key(1), {"name": ""}), (_key(1), {"name": "x" * 101}),
                      (_key(1), {"name": "a", "handles": ["h"] * 9}), (_key(1), {"name": "a", "handles": [""]}),
                      (_key(1), "Ada"), (_key(1), {"name": 5})):
        try:
            s.add(key, card, 1)
            assert False, card
        except ValueError:
            pass
    assert os.stat("friends.log")[6] == size and s.count == 1


def test_power_cut_at_every_write_of_an_add_loses_at_most_that_friend():
    # Three friends on flash; adding the fourth is cut at its write, torn at
    # every length: after reboot the three are intact and the fourth is
    # either whole or absent; the store then takes new friends normally.
    s = _store(3)
    s.update(1, 4000, 2, 2000)
    rec_len = len(friends._record(3, _key(3), 1003, friends.validate_card(_card(3))))
    base = open("friends.log", "rb").read()
    outcomes = set()
    for tear in range(rec_len + 1):
        with open("friends.log", "wb") as f:
            f.write(base)
        for p in ("friends.bad",):
            try:
                os.remove(p)
            except OSError:
                pass
        fl = Flash(0, tear)
        s = friends.Friends(opener=fl.open)
        s.open()
        try:
            s.add(_key(3), _card(3), 1003)
            assert False, "the cut did not happen"
        except PowerCut:
            pass
        r = friends.Friends()
        bad = r.open()
        for i in range(3):
            assert r.card(i) == friends.validate_card(_card(i)), (tear, i)
        assert r.latest(1) == (4000, 2, 2000)
        if r.count == 4:
            outcomes.add("whole")
            assert tear == rec_len and bad == 0 and r.card(3) == friends.validate_card(_card(3))
        else:
            outcomes.add("absent")
            assert r.count == 3 and bad == tear, (tear, bad)
        n = r.count
        assert r.add(_key(9), _card(9), 1009) == n
        assert friends.Friends().open() == 0
    assert outcomes == {"whole", "absent"}


def test_power_cut_while_setting_aside_a_torn_record():
    s = _store(4)
    with open("friends.log", "ab") as f:
        f.write(friends._record(4, _key(4), 1, friends.validate_card(_card(4)))[:40])  # torn add
    base = open("friends.log", "rb").read()
    budget = 0
    while True:
        with open("friends.log", "wb") as f:
            f.write(base)
        fl = Flash(budget, 3)
        try:
            friends.Friends(opener=fl.open).open()
            break
        except PowerCut:
            pass
        r = friends.Friends()
        r.open()
        assert r.count == 4 and all(r.card(i) == friends.validate_card(_card(i)) for i in range(4)), budget
        budget += 1
    assert budget >= 2  # the rewrite wrote records and set the torn bytes aside
    r = friends.Friends()
    assert r.open() == 0 and r.count == 4


def test_corrupt_record_is_set_aside_and_reported_the_rest_kept():
    s = _store(6)
    data = bytearray(open("friends.log", "rb").read())
    lines = []

    class Log:
        def warning(self, msg):
            lines.append(msg)

    # Flip one byte inside record 2's card.
    pos = 0
    for i in range(2):
        pos += 10 + (data[pos + 4] | data[pos + 5] << 8)
    data[pos + 70] ^= 0x40
    with open("friends.log", "wb") as f:
        f.write(data)
    r = friends.Friends(log=Log())
    bad = r.open()
    n2 = 10 + (data[pos + 4] | data[pos + 5] << 8)
    assert bad == n2 and r.count == 5 and r.card(2) is None
    assert [r.card(i) for i in (0, 1, 3, 4, 5)] == [friends.validate_card(_card(i)) for i in (0, 1, 3, 4, 5)]
    assert len(lines) == 1 and "set aside" in lines[0]
    assert open("friends.bad", "rb").read() == bytes(data[pos:pos + n2])
    assert friends.Friends().open() == 0  # the log was rewritten clean
    # Garbage of any kind never crashes open().
    for junk in (b"", b"\xcf", b"\xcf\x01" + b"\xff" * 60, bytes(300), b"\xcf\x01\x00\x00\x07\x00" * 20):
        with open("friends.log", "wb") as f:
            f.write(junk)
        r = friends.Friends()
        r.open()
        assert r.count == 0


def test_updates_keep_the_latest_with_its_time_and_spare_the_flash():
    s = _store(5)
    assert s.latest(4) is None
    assert s.update(4, 1200, 3, 10000)
    assert s.latest(4) == (1200, 3, 10000) and s.latest(3) is None
    assert not s.update(4, 1300, 3, 10100)  # same friends count, within 5 minutes: not written
    assert s.update(4, 1300, 4, 10100)  # a new friend made: written
    assert not s.update(4, 1, 1, 9000)  # older than what we hold
    assert s.update(4, 1500, 4, 10500)
    assert not s.update(30, 1, 1, 1)  # no such friend
    r = friends.Friends()
    r.open()
    assert r.latest(4) == (1500, 4, 10500) and r.get(4)["latest"] == (1500, 4, 10500)
    # A torn update loses that update only.
    fl = Flash(0, 7)
    s2 = friends.Friends(opener=fl.open)
    s2.open()
    try:
        s2.update(4, 2000, 5, 20000)
        assert False
    except PowerCut:
        pass
    r.open()
    assert r.latest(4) in (None, (1500, 4, 10500)) and r.count == 5


def test_update_slot_of_a_friend_lost_to_a_cut_is_not_inherited():
    s = _store(3)
    s.update(2, 99, 9, 500)
    # As if slot 2's friend had been lost and slot 2 given to someone else.
    data = bytearray(open("friends.log", "rb").read())
    end = 0
    for _ in range(2):
        end += 10 + (data[end + 4] | data[end + 5] << 8)
    with open("friends.log", "wb") as f:
        f.write(data[:end])
    r = friends.Friends()
    r.open()
    assert r.add(_key(50), _card(50), 1) == 2
    assert r.latest(2) is None


def test_full_store_refuses_and_wipe_forgets():
    _fresh()
    s = friends.Friends()
    s.open()
    s.count = advert.MAX_FRIENDS  # as if full (filling it for real is the VM heap test's job)
    assert s.add(_key(1), _card(1), 1) == friends.FULL and s.room() == 0
    s = _store(2)
    s.update(1, 5, 1, 100)
    s.wipe()
    assert s.count == 0 and friends.Friends().open() == 0 and friends.Friends().page(0, 10) == ([], -1)
    left = [n for n in os.listdir(".") if n.startswith("friends.")]
    assert not left, left


def test_mp_a_thousand_friends_in_the_pin_heap_without_growth_per_friend():
    _fresh()
    s = friends.Friends()
    s.open()
    gc.collect()
    held = []
    for i in range(advert.MAX_FRIENDS):
        assert s.add(_key(i), _card(i), i) == i
        if i in (99, advert.MAX_FRIENDS - 1):
            gc.collect()
            held.append(gc.mem_alloc())
    assert s.add(_key(5000), _card(1), 1) == friends.FULL
    # 924 more friends cost no heap that stays (a few words of slack).
    assert held[1] - held[0] < 256, held
    s = friends.Friends()
    s.open()
    assert s.count == advert.MAX_FRIENDS
    gc.collect()
    base = gc.mem_alloc()
    slot, n = 0, 0
    while slot >= 0:
        page, slot = s.page(slot, 20)
        n += len(page)
        for d in page:
            s.update(d["slot"], d["slot"] * 3, 1, 100000 + d["slot"])
        page = None
    assert n == advert.MAX_FRIENDS
    assert s.latest(1000) == (3000, 1, 101000)
    r = advert.Recognizer()
    r.build(advert.epochs_held(1780000000), s.rid_keys())
    assert r.count == advert.MAX_FRIENDS
    gc.collect()
    grown = gc.mem_alloc() - base
    assert grown < 4 * 4096 + 1024, grown  # the recognizer's table, nothing per friend
    r = None
    gc.collect()
    assert gc.mem_alloc() - base < 512

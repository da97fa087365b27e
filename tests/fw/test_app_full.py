# The whole app as main.py starts it (App's defaults: light sleep, meet and
# greet, friend updates, the phone role) on two pins the desk provisioned,
# on simulated time: tapped together they become friends on both sides; the
# owner's phone then pairs with one of them over GATT and reads the new
# friend in its friend list. Each pin's heap: docs/heap.md (the virtual
# badges of `make demo` run the same app on exactly the pin's share).
import asyncio
import os

from appkit import app_pin, pair_key, phone_device, phone_reads_friends, start_and_tap
from cloudpin import bus as topics
from cloudpin.phone import phoneside as p
from cpsim.world import World

PINS = 3  # two pins and the phone (conftest: one pin's heap each)
_T0 = 1796000010  # UTC at t = 0


def _pin(w, root, name, n):
    return app_pin(w, root, name, n, _T0, card=True, status_every_ms=600000)


def test_the_whole_app_makes_a_friend_and_serves_its_owners_phone():
    w = World()
    root = os.getcwd()
    try:
        da, a, la = _pin(w, root, "pa", 1)
        db, b, lb = _pin(w, root, "pb", 2)
        assert a.power is not None and a.meet is not None and a.phone is not None  # the defaults
        dp, phone_radio = phone_device(w, (da, db))
        w.radio.set_distance(da, db, 0.02)  # touching
        made = []
        for app in (a, b):
            app.bus.subscribe(topics.FRIEND, lambda slot, t, app=app: made.append((app.badge, slot)))
        start_and_tap(w, ((da, a), (db, b)))
        w.run_for(7000)
        assert sorted(made) == [(a.badge, 0), (b.badge, 0)], (la, lb)
        assert a.friends.count == 1 and b.friends.count == 1
        w.use(da)
        a.phone.open()  # the button (or a double tap)
        got = []
        w.start(dp, phone_reads_friends(phone_radio, a, pair_key(1), got))
        w.run_for(8000)
    finally:
        os.chdir(root)
    assert len(got) == 1, (got, [ln for ln in la if " phone " in ln])
    kind, seq_ok, st, (total, nxt, friends) = got[0]
    assert kind == "response" and seq_ok and st == p.OK
    assert total == 1 and nxt is None and friends[0]["card"]["name"] == "Wearer pb", friends
    assert any(" phone " in ln for ln in la)

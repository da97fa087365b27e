# Today's counters (firmware/cloudpin/social/daily.py): local midnight of the
# event's time zone, steps that survive a reset, sparing writes.
import os

from cloudpin.social import daily

# 2026-06-01 00:00:00 UTC
MIDNIGHT_UTC = 1780272000


def _fresh():
    for name in os.listdir("."):
        if name.startswith("daily.json"):
            os.remove(name)


def test_rolls_over_at_local_midnight_of_the_event():
    for offset in (0, 120, -300, 330, 840, -720):
        _fresh()
        d = daily.Daily(offset)
        local_midnight = MIDNIGHT_UTC - offset * 60  # 00:00 local on 2026-06-01
        d.load(local_midnight - 3600)
        d.add_steps(100, local_midnight - 1)
        d.friend_made(local_midnight - 1)
        assert d.today(local_midnight - 1) == (100, 1), offset
        assert d.today(local_midnight) == (0, 0), offset
        d.add_steps(7, local_midnight + 5)
        assert d.today(local_midnight + 86399) == (7, 0)
        assert d.today(local_midnight + 86400) == (0, 0)


def test_steps_survive_a_reset_losing_fewer_than_save_steps():
    _fresh()
    t = MIDNIGHT_UTC + 8 * 3600
    d = daily.Daily(60)
    d.load(t)
    for i in range(8000):  # a day of walking, a step a second
        d.add_steps(1, t + i)
    assert d.today(t + 8000)[0] == 8000
    # 8000 steps in 8000 s: a save every SAVE_STEPS steps (the time rule never first).
    assert 8000 // daily.SAVE_STEPS - 1 <= d.saves <= 8000 // daily.SAVE_STEPS + 1, d.saves
    d.friend_made(t + 8001)
    r = daily.Daily(60)  # reset: a new object from flash
    r.load(t + 8002)
    steps, made = r.today(t + 8002)
    assert made == 1 and steps == 8000  # a friend made saves everything
    for i in range(daily.SAVE_STEPS - 1):
        r.add_steps(1, t + 9000 + i)
    q = daily.Daily(60)
    q.load(t + 9500)
    assert 8000 <= q.today(t + 9500)[0] and r.today(t + 9500)[0] - q.today(t + 9500)[0] < daily.SAVE_STEPS


def test_slow_steps_are_saved_after_save_s():
    _fresh()
    d = daily.Daily(0)
    d.load(MIDNIGHT_UTC + 100)
    assert not d.add_steps(3, MIDNIGHT_UTC + 200)
    assert d.add_steps(1, MIDNIGHT_UTC + 100 + daily.SAVE_S)
    r = daily.Daily(0)
    r.load(MIDNIGHT_UTC + 2000)
    assert r.today(MIDNIGHT_UTC + 2000) == (4, 0)


def test_yesterdays_file_a_clock_set_back_and_a_corrupt_file():
    _fresh()
    d = daily.Daily(0)
    d.load(MIDNIGHT_UTC + 10)
    d.add_steps(300, MIDNIGHT_UTC + 20)
    r = daily.Daily(0)
    r.load(MIDNIGHT_UTC + 86400 + 10)  # booted the next day
    assert r.today(MIDNIGHT_UTC + 86400 + 10) == (0, 0)
    b = daily.Daily(0)
    b.load(MIDNIGHT_UTC - 50)  # the clock now says yesterday: keep today's count
    assert b.today(MIDNIGHT_UTC - 50) == (300, 0)
    b.add_steps(1, MIDNIGHT_UTC - 40)
    assert b.today(MIDNIGHT_UTC - 40) == (301, 0)
    # A clock that was days ahead and is corrected starts the real day.
    assert b.today(MIDNIGHT_UTC - 5 * 86400) == (0, 0)
    ahead = daily.Daily(0)
    ahead.load(MIDNIGHT_UTC + 10)
    ahead.friend_made(MIDNIGHT_UTC + 20)  # saved for day d
    far = daily.Daily(0)
    far.load(MIDNIGHT_UTC - 3 * 86400)  # the stored day is 3 days "ahead" of this clock
    assert far.today(MIDNIGHT_UTC - 3 * 86400) == (0, 0)
    near = daily.Daily(0)
    ahead.friend_made(MIDNIGHT_UTC + 30)
    near.load(MIDNIGHT_UTC - 30)  # less than a day back: the stored day goes on
    assert near.today(MIDNIGHT_UTC - 30)[1] == 2
    for junk in ('{"day": 5, "steps": -1, "made": 0}', '{"day": 5', "", '{"day": true, "steps": 1, "made": 0}'):
        with open("daily.json", "w") as f:
            f.write(junk)
        c = daily.Daily(0)
        c.load(MIDNIGHT_UTC)
        assert c.today(MIDNIGHT_UTC) == (0, 0), junk

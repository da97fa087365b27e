# The step and day counts on the bus (firmware/cloudpin/designs/stepfeed.py):
# the step counter's steps since boot become today's steps and the total,
# DAY comes before the new day's STEPS, both survive a reset, a friend made
# counts in today's made, and a corrupt file never stops the pin.
import os

from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.designs.stepfeed import StepFeed
from cloudpin.social.daily import Daily

MIDNIGHT_UTC = 1780272000  # 2026-06-01 00:00 UTC
OFFSET = 540  # Tokyo


class Counter:
    def __init__(self):
        self.steps = 0


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _fresh():
    for name in os.listdir("."):
        if name.startswith("daily.json") or name.startswith("steps.json"):
            os.remove(name)


def _feed(clock, counter):
    bus = Bus()
    heard = []
    bus.subscribe(topics.STEPS, lambda today, total: heard.append(("steps", today, total)))
    bus.subscribe(topics.DAY, lambda day: heard.append(("day", day)))
    f = StepFeed(bus, counter, Daily(OFFSET), clock)
    f.load()
    f.subscribe(bus)
    return f, bus, heard


def test_steps_reach_the_bus_as_today_and_total_and_a_new_day_comes_first():
    _fresh()
    midnight = MIDNIGHT_UTC - OFFSET * 60  # local midnight, 2026-06-01
    clock = Clock(midnight - 600)
    c = Counter()
    f, bus, heard = _feed(clock, c)
    day = f.day
    f.tick()  # the day is the one load() found (the engine loads with it): the steps only
    assert heard == [("steps", 0, 0)]
    f.tick()  # nothing moved: nothing said
    assert len(heard) == 1
    c.steps = 120
    clock.t += 5
    f.tick()
    assert heard[-1] == ("steps", 120, 120)
    c.steps = 300  # 180 more, counted into the new day
    clock.t = midnight + 3
    f.tick()
    assert heard[-2:] == [("day", day + 1), ("steps", 180, 300)]
    bus.publish(topics.FRIEND, 0, 1234)
    assert f.daily.today(clock.t) == (180, 1)


def test_today_and_the_total_survive_a_reset_and_a_corrupt_file_starts_from_zero():
    _fresh()
    clock = Clock(MIDNIGHT_UTC + 3600)
    c = Counter()
    f, bus, heard = _feed(clock, c)
    for i in range(1, 11):  # 1,000 steps: saved every 250 (Daily's rule)
        c.steps = i * 100
        clock.t += 60
        f.tick()
    assert heard[-1] == ("steps", 1000, 1000)
    c2 = Counter()  # after a reset the step counter starts again from 0
    f2, bus2, heard2 = _feed(clock, c2)
    f2.tick()
    kind, today, total = heard2[-1]
    assert 1000 - 250 < today <= 1000 and total == today, heard2  # fewer than 250 lost
    c2.steps = 40
    f2.tick()
    assert heard2[-1] == ("steps", today + 40, total + 40)
    f2.flush()  # before a planned power-off: nothing lost
    f3, bus3, heard3 = _feed(clock, Counter())
    f3.tick()
    assert heard3[-1] == ("steps", today + 40, total + 40)
    # The next day: today from zero, the total kept.
    clock.t += 86400
    f3.tick()
    assert heard3[-2][0] == "day" and heard3[-1] == ("steps", 0, total + 40)
    with open("steps.json", "w") as fh:
        fh.write('{"total": -5')
    f4, bus4, heard4 = _feed(clock, Counter())
    f4.tick()
    assert f4.total == 0 and heard4[-1] == ("steps", 0, 0)
    assert "steps.json.bad" in os.listdir(".")


def test_without_a_step_counter_the_feed_still_tells_the_day():
    _fresh()
    clock = Clock(MIDNIGHT_UTC)
    f, bus, heard = _feed(clock, None)
    f.tick()
    clock.t += 86400
    f.tick()
    assert heard == [("steps", 0, 0), ("day", f.day)] and f.day == Daily(OFFSET).local_day(clock.t)

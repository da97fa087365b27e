# The daily counters roll over at the event's LOCAL midnight on a clock the
# desk set: a pin powered on (its RTC in 2000), the desk's step as
# host_tools/desk/badge_io.py runs it on the pin (date.set_utc_ms, then
# clockset.mark), then the app across local midnight in UTC+1 (appkit's
# zone, not UTC): a friend made before midnight counts on that day; DAY is
# published once, at 23:00 UTC, and the day's count starts again from 0.
import os

import machine
from appkit import RTC_EPOCH, app_pin
from cloudpin import bus as topics
from cloudpin import clockset, date
from cloudpin.designs import pack
from cpsim.world import World

_DAY_S = 86400
_LOCAL_DAY = 20792  # 2026-12-06 at the event
_MIDNIGHT_MS = (_LOCAL_DAY * _DAY_S - 3600) * 1000  # its start, UTC+1: 2026-12-05 23:00 UTC
_PACK = {"format": 1, "event": "Test", "sports": [
    {"id": "walk", "name": "Walk", "short": "Walk", "task": {"kind": "steps_day", "n": 100}, "led": ["red"],
     "design": [["rect", 0, 0, 128, 128, "red", 1]]}]}


def test_a_desk_set_clock_rolls_the_day_over_at_the_events_local_midnight():
    w = World()
    root = os.getcwd()
    try:
        # (no phone service: the designs that keep the daily counters, beside meet
        # and greet, are what the VM running the firmware from .py files holds)
        dev, app, lines = app_pin(w, root, "day", 1, RTC_EPOCH, phone=False, pack=pack.Pack(_PACK).to_bytes(),
                                  status_every_ms=600000)
        w.use(dev)
        rtc = machine.RTC()
        assert getattr(app, "daily", None) is not None, lines
        assert clockset.source(date.utc_ms(rtc)) is None  # powered on: 2000, unset
        date.set_utc_ms(rtc, _MIDNIGHT_MS - 30000)  # the desk: 23:59:30 at the event
        clockset.mark(_MIDNIGHT_MS - 30000, "desk")
        days = []
        app.bus.subscribe(topics.DAY, lambda d: days.append((d, date.utc_ms(rtc))))
        w.start(dev, app.main())
        w.run_for(10000)
        app.bus.publish(topics.FRIEND, 0, 0)  # a friend made at 23:59:40
        assert (app.daily.day, app.daily.made) == (_LOCAL_DAY - 1, 1), lines
        assert [d for d, _ in days] == [_LOCAL_DAY - 1]  # the desk's date replaced 2000's
        w.run_for(30000)
        assert [d for d, _ in days] == [_LOCAL_DAY - 1, _LOCAL_DAY], (days, lines)
        assert _MIDNIGHT_MS <= days[1][1] <= _MIDNIGHT_MS + 6000  # at the next feed tick after midnight (5 s)
        assert (app.daily.day, app.daily.made) == (_LOCAL_DAY, 0)
        app.supervisor.stop()
        w.run_for(100)
        with open("daily.json") as f:
            assert '"day": %d' % _LOCAL_DAY in f.read()  # kept on flash: a reset now counts into the new day
    finally:
        os.chdir(root)

# Whether the pin's clock was set (firmware/cloudpin/clockset.py): by the
# desk or a set friend, kept on flash; a clock reset by a power-on (back in
# 2000, or behind the time it was set at), a missing or corrupt record: unset.
import os

from cloudpin import clockset

NOW = 1796500000000  # 2026-12-05, UTC ms


def _fresh():
    for p in (clockset.PATH, clockset.PATH + ".tmp", clockset.PATH + ".bad"):
        try:
            os.remove(p)
        except OSError:
            pass


def test_a_clock_is_set_from_its_mark_until_a_power_on_takes_it_back():
    _fresh()
    assert clockset.source(NOW) is None  # never set
    clockset.mark(NOW, "desk")
    assert clockset.source(NOW) == "desk" and clockset.source(NOW + 86400000 * 30) == "desk"
    assert clockset.source(NOW - 2500) == "desk"  # a friend's correction back: still set
    assert clockset.source(946684800000 + 5000) is None  # power-on: the RTC reads 2000-01-01 again
    assert clockset.source(NOW - clockset.SLACK_MS - 1) is None  # behind the time it was set at
    clockset.mark(NOW + 1000, "friend")
    assert clockset.source(NOW + 2000) == "friend"
    _fresh()


def test_a_corrupt_or_strange_record_is_unset_and_never_raises():
    for junk in ('{"src": "desk", "t": 1796', "\x00\xff", '{"src": "phone", "t": 1796500000000}',
                 '{"src": "desk", "t": 5}', '{"src": "desk", "t": "soon"}', "[]", ""):
        _fresh()
        with open(clockset.PATH, "w") as f:
            f.write(junk)
        assert clockset.source(NOW) is None, junk
    _fresh()
    try:
        clockset.mark(5, "desk")  # a clock before the firmware's year is not "set"
        raised = False
    except ValueError:
        raised = True
    assert raised and clockset.source(NOW) is None
    _fresh()

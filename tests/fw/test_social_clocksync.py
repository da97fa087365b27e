# Friends keep each other's clocks (cloudpin.social.clocksync): where a
# friend's burst fell in our scan, the median with our own vote, who follows
# whom, the learnt rate, the guard at quarter hours, what survives a reset,
# and stepping a machine.RTC.
import machine
from cloudpin import date
from cloudpin.social import clocksync
from cloudpin.social.clocksync import ClockSync, RtcClock
from cloudpin.social.updates import utc_ms
from cpsim.world import World

_T0 = 1796000000 * 1000 + 123456  # UTC ms, 2026-11-29, not on a quarter hour


class _Clock:
    def __init__(self, t):
        self.t = t
        self.steps = []

    def now_ms(self):
        return self.t

    def step(self, ms):
        self.t += ms
        self.steps.append(ms)


def _path(name):
    import os

    for p in (name, name + ".tmp", name + ".bad"):
        try:
            os.remove(p)
        except OSError:
            pass
    return name


def test_where_a_friends_burst_began_from_the_edges_we_heard():
    # our scan -pre .. 2000 + post, its burst 2000 long, reports ~50 ms after its start and before its end
    assert clocksync.place(50, 1950, 0, 2000, 0, 100) == 0  # in step: both edges at our scan's
    assert clocksync.place(110, 1960, 0, 2000, 0, 100) == 35
    assert clocksync.place(650, 1950, 0, 2000, 0, 100) == 600  # it began 600 ms after us (end cut by our scan)
    assert clocksync.place(40, 1350, 0, 2000, 0, 100) == -600  # it began 600 ms before us (start cut)
    assert clocksync.place(-1450, 450, 2000, 2000, 500, 100) == -1500  # both edges inside a widened scan
    assert clocksync.wrap(5 - 0x3FFFFF) == 6 and clocksync.wrap(0x3FFFFF - 5) == -6


def test_the_median_counts_our_own_clock_once():
    v = [400, -100, 300]
    assert clocksync.median(v, 3) == 150 and v == [-100, 300, 400]  # -100 0 300 400
    assert clocksync.median([900], 1) == 450  # alone with one friend: halfway
    assert clocksync.median([-900, -800], 2) == -800
    assert clocksync.median([5, 7, 100000], 3) == 6  # one broken friend moves nothing much


def test_a_new_pin_meets_a_new_friend_halfway_and_then_both_are_synced():
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    assert not s.synced()
    d, f = [30000], bytearray([0])
    assert s.observe(d, f, 1) == 15000  # far off, no synced friend: halfway, unbounded
    assert s.synced() and s.n == 1 and c.steps == [15000]


def test_a_new_pin_takes_its_synced_friends_time_whole():
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    d, f = [-40000, 7000, -39000, -41000], bytearray([1, 0, 1, 1])
    assert s.observe(d, f, 4) == -40000  # the synced friends' median; the other newcomer ignored


def test_a_synced_pin_follows_only_synced_friends_a_step_at_a_time_and_learns_its_rate():
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    s.observe([0], bytearray([1]), 1)  # agreed with a friend at _T0
    c.t += 300000
    assert s.observe([9000], bytearray([0]), 1) == 0  # a newcomer comes to us, not we to it
    assert s.observe([400, 600, 90000], bytearray([1, 1, 1]), 3) == 500  # one hostile friend among two honest
    assert s.rate < 0  # we were behind: our clock runs slow, the rate says so
    c.t += 300000
    assert s.observe([60000, 70000], bytearray([1, 1]), 2) == clocksync.MAX_STEP_MS  # bounded
    # the rate it learnt comes out before the next window
    r = s.rate
    c.t += 300000
    assert s.settle() == -((300000 * r) // 1000000) and s.settle() == 0


def test_stepping_back_never_crosses_a_quarter_hour():
    q = 900000
    c = _Clock((_T0 // q) * q + 1500)  # 1.5 s past a quarter hour (and past midnight in every zone)
    s = ClockSync(c, path=None)
    assert s.observe([-6000], bytearray([1]), 1) == -1500  # stops on the boundary
    assert c.t % q == 0
    assert s.guard(c.t + 5000, -2000) == -2000 and s.guard(c.t + 5000, 3000000) == 3000000


def test_the_scan_widens_with_time_since_the_last_agreement_and_searches_when_lost():
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    widths = [s.widen_ms() for _ in range(clocksync.SEARCH_EVERY)]
    assert widths == [0] * (clocksync.SEARCH_EVERY - 1) + [clocksync.MAX_WIDEN_MS]  # lost: one in twelve
    s.observe([0], bytearray([1]), 1)
    c.t += 300000
    # rate not known yet: 3 s it may be off, 1.5 s of which a plain window takes
    assert s.widen_ms() == 300000 * clocksync.U_FREE_PPM // 1000000 - clocksync.TOLERANCE_MS == 1500
    s.n = 3
    assert s.widen_ms() == 0  # rate learnt: 0.6 s, no margin needed
    c.t += 1500000
    assert s.widen_ms() == 1800000 * clocksync.U_LOCKED_PPM // 1000000 - clocksync.TOLERANCE_MS  # 30 minutes alone


def test_only_a_pin_in_step_once_and_alone_past_lost_ms_is_lost():
    # (updates.py: only a lost pin's empty window stops scanning early; a new
    # pin's friends' clocks are still being brought in)
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    assert not s.lost_once() and not s.synced()  # never in step: not lost, a newcomer
    s.observe([0], bytearray([1]), 1)
    c.t += clocksync.LOST_MS - 1
    assert s.synced() and not s.lost_once()
    c.t += 1
    assert s.lost_once() and not s.synced()


def test_after_a_tap_makes_a_friend_a_pin_not_synced_searches_the_next_windows_whole():
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    s.met()
    widths = [s.widen_ms() for _ in range(clocksync.FRESH_WINDOWS + 1)]
    assert widths == [clocksync.MAX_WIDEN_MS] * clocksync.FRESH_WINDOWS + [0]
    s.met()
    s.observe([100], bytearray([1]), 1)  # found: back to the margin its clock needs
    assert s.fresh == 0 and s.widen_ms() == 0


def test_what_it_learnt_survives_a_reset_and_a_corrupt_file_does_not_stop_it():
    p = _path("clk_test.json")
    c = _Clock(_T0)
    s = ClockSync(c, path=p)
    s.observe([0], bytearray([1]), 1)
    c.t += 300000
    s.observe([900], bytearray([1]), 1)
    again = ClockSync(c, path=p)
    assert (again.rate, again.t_sync, again.n) == (s.rate, s.t_sync, 2) and again.synced()
    with open(p, "w") as f:
        f.write('{"rate": 99999999, "t": 1, "n": 2}')
    broken = ClockSync(c, path=p)
    assert (broken.rate, broken.t_sync, broken.n) == (0, None, 0)
    with open(p, "w") as f:
        f.write("\x00\xff{")
    assert ClockSync(c, path=p).n == 0
    _path(p)


def test_rtc_steps_keep_the_date_right_across_midnight_and_months():
    w = World()
    dev = w.device("p")
    dev.bind()
    rtc = machine.RTC()
    rtc.datetime((2026, 2, 28, 5, 23, 59, 59, 600000))
    clk = RtcClock(rtc)
    t = clk.now_ms()
    clk.step(700)
    assert rtc.datetime()[:3] == (2026, 3, 1) and abs(clk.now_ms() - (t + 700)) <= 1
    clk.step(-1000)
    assert rtc.datetime()[:7] == (2026, 2, 28, 5, 23, 59, 59)
    for days in (10957, 11016, 11017, 11323, 12000, 20000, 24000):  # 2000-01-01, its Feb 29, ...
        y, m, d = date.civil(days)
        rtc.datetime((y, m, d, 0, 12, 0, 0, 0))
        assert utc_ms(rtc) == days * 86400000 + 43200000, (days, y, m, d)


def test_a_set_clock_never_follows_an_unset_friend_and_an_unset_one_takes_a_set_friends_time():
    S, Y = 1, 3  # a friend's flags: synced; synced and set
    c = _Clock(_T0)
    s = ClockSync(c, path=None)
    s.src = "desk"
    # an unset friend (its RTC back in 2000 after a power-on: heard only when
    # its clock is near ours), synced with its own kind or not: never followed
    assert s.observe([30000], bytearray([0]), 1) == 0 and s.observe([-9000, 800], bytearray([S, S]), 2) == 0
    assert c.steps == [] and s.src == "desk" and not s.synced()
    assert s.observe([-9000, 800], bytearray([S, Y]), 2) == 800  # only the set one (synced: taken whole, as before)
    assert s.src == "desk" and s.synced()

    p = _path("clkset_test.json")
    u = _Clock(_T0 - 1500000)  # unset, 25 minutes behind (yesterday, in some zone)
    s = ClockSync(u, path=None, set_path=p)
    assert s.src is None and not s.synced()
    s.observe([1000, 1200], bytearray([S, S]), 2)  # unset friends only: as before (synced ones' median)
    assert u.steps == [1100] and s.src is None
    # a set friend among unset ones: its time, whole (no quarter-hour guard, no 2.5 s bound)
    assert s.observe([20000, 1497900, 30000], bytearray([S, 2, S]), 3) == 1497900
    assert s.src == "friend" and s.synced()
    from cloudpin import clockset

    assert clockset.source(u.t, p) == "friend"  # kept: set after a reset too
    assert ClockSync(u, path=None, set_path=p).src == "friend"
    assert s.observe([700000], bytearray([S]), 1) == 0  # now set: unset friends are not followed
    _path(p)


def test_after_a_power_on_an_unset_pin_resumes_from_the_last_time_it_knew():
    p, q = _path("clkset_po.json"), _path("clk_po.json")
    from cloudpin import clockset

    clockset.mark(_T0, "desk", p)
    c = _Clock(_T0)
    s = ClockSync(c, path=q, set_path=p)
    assert s.src == "desk" and c.steps == []  # set, never taken back: nothing to resume
    c.t += 600000
    s.observe([0], bytearray([3]), 1)  # agreed with a set friend 10 minutes after the desk
    c.t = 946684800000 + 2000  # the battery ran flat: a power-on, 2000-01-01 again
    s = ClockSync(c, path=q, set_path=p)
    assert s.src is None and c.t == _T0 + 600000  # unset, from its last agreement (not 2000, not the desk's)
    assert not s.synced() and s.widen_ms() == clocksync.MAX_WIDEN_MS  # searches whole, as after a tap
    assert s.observe([90000], bytearray([3]), 1) == 90000 and s.src == "friend"  # a set friend within reach
    assert ClockSync(c, path=q, set_path=p).src == "friend" and c.t == _T0 + 690000
    for junk in ("\x00", '{"src": "desk"}'):  # a corrupt record: nothing to resume from, and no crash
        with open(p, "w") as f:
            f.write(junk)
        c.t = 946684800000
        assert ClockSync(c, path=q, set_path=p).src is None and c.t == 946684800000
    _path(p)
    _path(q)

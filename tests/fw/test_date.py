# The UTC clock's dates (cloudpin.date): days since 1970 and civil dates both
# ways, and the RTC read and set in UTC ms whatever the port's time.time()
# epoch (the ESP32's 2000-01-01 is 946,684,800 s after 1970-01-01).
import machine
from cloudpin import date
from cpsim.world import World


def test_days_and_civil_dates_are_inverse_and_leap_years_are_right():
    assert date.days(1970, 1, 1) == 0 and date.civil(0) == (1970, 1, 1)
    assert date.days(2000, 1, 1) * 86400 == 946684800  # the ESP32 port's epoch
    assert date.days(1969, 12, 31) == -1 and date.civil(-1) == (1969, 12, 31)
    assert date.days(2000, 3, 1) - date.days(2000, 2, 28) == 2  # 2000: leap (by 400)
    assert date.days(2100, 3, 1) - date.days(2100, 2, 28) == 1  # 2100: not (by 100)
    assert date.days(2028, 3, 1) - date.days(2028, 2, 28) == 2 and date.civil(date.days(2028, 2, 29)) == (2028, 2, 29)
    prev = date.civil(-1)
    for n in range(0, 48000, 1):  # 1970 .. 2101, every day: each the day after the last
        y, m, d = date.civil(n)
        assert date.days(y, m, d) == n, (n, y, m, d)
        assert (y, m, d - 1) == prev or (d == 1 and (m == prev[1] + 1 or (m == 1 and y == prev[0] + 1))), (prev, y, m, d)
        prev = (y, m, d)


def test_the_rtc_is_read_and_set_in_utc_ms_across_epochs_months_and_years():
    w = World()
    w.device("p").bind()
    rtc = machine.RTC()
    rtc.datetime((2000, 1, 1, 5, 0, 0, 0, 0))  # the ESP32's time.time() 0
    assert date.utc_ms(rtc) == 946684800000
    for ms in (0, 946684800000 - 1, 1796000000123, date.days(2026, 12, 31) * 86400000 + 86399999,
               date.days(2028, 2, 29) * 86400000 + 43200500):
        date.set_utc_ms(rtc, ms)
        assert date.utc_ms(rtc) == ms, (ms, rtc.datetime())
    date.set_utc_ms(rtc, date.days(2026, 12, 5) * 86400000 + 19 * 3600000)
    assert rtc.datetime()[:5] == (2026, 12, 5, 5, 19)  # a Saturday (0 = Monday)

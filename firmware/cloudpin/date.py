# The UTC clock every pin keeps (friend updates, their clock sync, meet and
# greet, the daily counters, the phone), read from and set on machine.RTC's
# civil fields (year, month, day, weekday 0 = Monday, hour, minute, second,
# microsecond): milliseconds since 1970-01-01 whatever epoch the port counts
# time.time() from (the ESP32 port: 2000-01-01; CPython and the unix port:
# 1970-01-01), so every pin and the host agree on one count. Days and civil
# dates: H. Hinnant's algorithms ("chrono-compatible low-level date
# algorithms"), proleptic Gregorian, on small ints only.
from micropython import const

_FROM_0000_03_01 = const(719468)  # days from 0000-03-01 to 1970-01-01


def days(y, m, d):
    """Days since 1970-01-01 of the date y-m-d."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - _FROM_0000_03_01


def civil(n):
    """(year, month, day) of the date n days after 1970-01-01."""
    z = n + _FROM_0000_03_01
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + (1 if m <= 2 else 0)), m, d


def utc_ms(rtc):
    """UTC milliseconds since 1970 of a machine.RTC."""
    y, m, d, _, hh, mm, ss, us = rtc.datetime()
    return ((days(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss) * 1000) + us // 1000


def set_utc_ms(rtc, ms):
    """Set a machine.RTC to `ms` UTC milliseconds since 1970."""
    s, msec = ms // 1000, ms % 1000
    n, sod = s // 86400, s % 86400
    y, m, d = civil(n)
    rtc.datetime((y, m, d, (n + 3) % 7, sod // 3600, sod // 60 % 60, sod % 60, msec * 1000))  # 1970-01-01: a Thursday

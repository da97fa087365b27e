# machine.RTC of the emulated ESP32 port (see machine.py).
from cpsim.world import current


# --- RTC ----------------------------------------------------------------------


def _days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 730425  # days since 2000-01-01


def _civil_from_days(z):
    z += 730425
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y = yoe + era * 400
    return (y + 1 if m <= 2 else y), m, d


class RTC:
    """Wall time starts at 2000-01-01 00:00 at sim time 0, as an ESP32 that
    was never set; memory() survives deepsleep()."""

    def __init__(self, id=0, *, datetime=None):
        self._dev = current()
        if datetime is not None:
            self.datetime(datetime)

    def init(self, datetime):
        self.datetime(datetime)

    def datetime(self, *dt):
        dev = self._dev
        now_us = dev.world.clock.now_us()
        if dt:
            y, mo, d, _wd, h, mi, s = dt[0][:7]
            us = dt[0][7] if len(dt[0]) > 7 else 0
            secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
            dev.rtc_offset_us = secs * 1000000 + us - now_us - dev.clock_err_us
            return None
        t = now_us + getattr(dev, "rtc_offset_us", 0) + dev.clock_err_us  # its sleep clock's error (cpsim.slowclock)
        secs, us = divmod(t, 1000000)
        days, secs = divmod(secs, 86400)
        y, mo, d = _civil_from_days(days)
        return (y, mo, d, (days + 5) % 7, secs // 3600, secs // 60 % 60, secs % 60, us)

    def memory(self, *data):
        if data:
            if len(data[0]) > 2048:
                raise ValueError("buffer too long")
            self._dev.rtc_memory = bytes(data[0])
            return None
        return getattr(self._dev, "rtc_memory", b"")



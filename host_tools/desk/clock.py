"""The desk sets each badge's clock (its RTC, UTC) from this computer's, at
provisioning, through the badge's serial session, and reads it back.

A badge's RTC reads 2000-01-01 after a power-on and nothing else sets it to
the real date: the daily counters roll over at the event's local midnight
and the friend updates open on the UTC clock's minutes (docs/clock.md). The
firmware keeps whether its clock was set (cloudpin.clockset): friends whose
clocks were set never follow one that was not.

Tolerance: the read-back is within TOLERANCE_MS, plus half the read-back's
own round trip (when, inside it, the badge read its clock is unknown). Two
pins a friend-update window apart by up to clocksync.TOLERANCE_MS (1.5 s)
still hear each other; two badges from the desk start at most 0.5 s apart.
"""
import time
from datetime import datetime, timezone

TOLERANCE_MS = 250
FLOOR_MS = 1767225600000  # cloudpin.clockset.FLOOR_MS: 2026-01-01, the firmware's year
CEILING_MS = 4102444800000  # 2100-01-01: beyond what the firmware's dates are tested for (tests/fw/test_date.py)


def now_ms():
    return time.time_ns() // 1000000


def describe(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def host_problem(ms=None):
    """Why this computer's clock cannot set badges (one line), or None."""
    ms = now_ms() if ms is None else ms
    if ms < FLOOR_MS:
        return ("this computer's clock reads %s, before the badges' firmware was built (2026): set it right "
                "before provisioning (every badge takes its time from it)" % describe(ms))
    if ms >= CEILING_MS:
        return "this computer's clock reads %s: set it right before provisioning" % describe(ms)
    return None


def read(badge, clock=now_ms):
    """The badge's clock against ours: {"utc_ms", "offset_ms", "rtt_ms", "set"}
    (set: "desk", "friend" or None)."""
    t0 = clock()
    badge_ms, src = badge.read_clock()
    t1 = clock()
    return {"utc_ms": badge_ms, "offset_ms": badge_ms - (t0 + t1) // 2, "rtt_ms": t1 - t0, "set": src}


def within(r):
    return abs(r["offset_ms"]) <= TOLERANCE_MS + r["rtt_ms"] // 2


def set_clock(badge, clock=now_ms):
    """Set the badge's RTC to our UTC and read it back; once more, ahead by
    what the first try lagged (the command's way to the badge), if that was
    more than a few tens of ms. Returns the last read(); raises
    host_tools.link.session.BadgeError when it is not within tolerance."""
    from host_tools.link.session import BadgeError

    lead = 0
    for _ in range(2):
        badge.set_clock(lambda: clock() + lead)
        r = read(badge, clock)
        if abs(r["offset_ms"]) <= 50:
            break
        lead -= r["offset_ms"]
    if not within(r) or r["set"] != "desk":
        raise BadgeError("%s: its clock reads %+d ms from this computer's after setting it (round trip %d ms): "
                         "plug it in again" % (badge.port, r["offset_ms"], r["rtt_ms"]))
    return r

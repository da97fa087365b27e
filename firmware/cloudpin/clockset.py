# Whether this pin's clock was SET (the desk set it at provisioning, or a
# friend whose clock was set gave it its time) or never was. An ESP32's RTC
# starts at 2000-01-01 at power-on and keeps time through every other reset
# (docs/clock.md): a pin whose battery ran flat is back in 2000, and the
# time it was set at, kept here on flash, is then in its future. A missing
# or corrupt record, or a clock before the firmware's year, is "unset";
# nothing here raises on what the flash holds.
from cloudpin.store import Store

PATH = "clock-set.json"
# 2026-01-01 00:00 UTC, ms: the firmware was built in 2026, so a clock that
# reads earlier was never set (the desk refuses to set one from a computer
# whose own clock reads earlier).
FLOOR_MS = 1767225600000
SLACK_MS = 86400000  # a set clock may step back this far after being set (friends' corrections) and stay set
SOURCES = ("desk", "friend")


def _check(doc):
    if doc["src"] not in SOURCES or not isinstance(doc["t"], int) or doc["t"] < FLOOR_MS:
        raise ValueError("clock-set record out of range")
    return doc


def state(now_ms, path=PATH, log=None):
    """(who set the clock that reads now_ms: "desk", "friend", or None when
    it is unset; the UTC ms it was set at when a power-on has taken it back
    behind that, else None: where an unset pin may resume from)."""
    doc = Store(path, _check, log).load()
    if doc is None:
        return None, None
    if now_ms < doc["t"] - SLACK_MS:
        return None, doc["t"]
    return (doc["src"] if now_ms >= FLOOR_MS else None), None


def source(now_ms, path=PATH, log=None):
    """"desk" or "friend" when the clock that reads now_ms (UTC ms) was set
    so and not reset since; None when it is unset."""
    return state(now_ms, path, log)[0]


def mark(now_ms, src, path=PATH, log=None):
    """The clock now reads now_ms, set by `src` (SOURCES). OSError: flash
    full; ValueError: not a time or source a set clock can have."""
    Store(path, _check, log).save(_check({"src": src, "t": now_ms}))

"""Scenario files for `cloudpin sim`: loading and validation.

A scenario is JSON (every field in docs/sim.md). validate() returns a
normalised dict (defaults filled in, walks as sorted tuples) or raises
ScenarioError with one line naming the field, e.g.
`taps[2].b: unknown pin 'p999'`.
"""
import json
import math
from pathlib import Path

from host_tools.boards import boardspec
from host_tools.designs import DEFAULT_PACK
from host_tools.fw import source as fwsource
from host_tools.sim import provision

TOP = ("name", "seed", "duration_s", "room", "pins", "taps", "solo_taps", "recordings", "event", "attackers", "pack",
       "clock", "wearers")
ROOM = ("width_m", "depth_m")
PIN = ("id", "x", "y", "board", "walk", "facing_deg", "recording", "card", "sleep", "clock_ppm")
TAP = ("t_ms", "a", "b")
SOLO = ("t_ms", "pin")
EVENT = ("utc_offset_min", "start_utc")
ATTACKER = ("id", "x", "y", "kind", "tx_dbm")
ATTACKER_KINDS = ("replay", "spoof", "tap_storm")
CLOCK = ("range_ppm", "wander_ppm")
WEARERS = ("tap_again_after_s", "tries")
TAP_AGAIN_S = (1.5, 60.0)  # a re-touch's reach starts 1.2 s before its contact (runner.TOUCH_MOVE_MS)
MAX_TRIES = 5
MAX_PPM = 100000  # a 10% clock is broken, not drifting
MAX_DURATION_S = 24 * 3600
RTC_MIN_UNIX = 946684800  # 2000-01-01: the ESP32's RTC starts there
RTC_MAX_UNIX = RTC_MIN_UNIX + 0x7FFFFFFF  # MicroPython's 32-bit time.time() on the ESP32


class ScenarioError(ValueError):
    pass


def _keys(obj, known, where):
    if not isinstance(obj, dict):
        raise ScenarioError("%s: expected an object, got %s" % (where or "scenario", type(obj).__name__))
    for k in obj:
        if k not in known:
            near = boardspec.closest(k, known)
            hint = " (did you mean %r?)" % near if near else ""
            raise ScenarioError("%s: unknown field %r%s; known: %s" % (
                (where + "." if where else "") + k, k, hint, ", ".join(known)))


def _num(v, where, lo=None, hi=None, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        raise ScenarioError("%s: expected a number, got %r" % (where, v))
    if integer and v != int(v):
        raise ScenarioError("%s: expected a whole number, got %r" % (where, v))
    if lo is not None and v < lo:
        raise ScenarioError("%s: %r is below %r" % (where, v, lo))
    if hi is not None and v > hi:
        raise ScenarioError("%s: %r is above %r" % (where, v, hi))
    return int(v) if integer else float(v)


def _need(obj, key, where):
    if key not in obj:
        raise ScenarioError("%s: missing" % (where + "." + key if where else key))
    return obj[key]


def _inside(x, y, room, where):
    if not (0.0 <= x <= room["width_m"] and 0.0 <= y <= room["depth_m"]):
        raise ScenarioError("%s: (%g, %g) is outside the room (0..%g x 0..%g m)" % (
            where, x, y, room["width_m"], room["depth_m"]))


def _ident(obj, where):
    """The id of a pin or attacker entry (an object with a non-empty string id)."""
    if not isinstance(obj, dict):
        raise ScenarioError("%s: expected an object, got %s" % (where, type(obj).__name__))
    oid = _need(obj, "id", where)
    if not isinstance(oid, str) or not oid:
        raise ScenarioError("%s.id: expected a non-empty string, got %r" % (where, oid))
    return oid


def _pin(p, i, room, duration_s):
    pid = _ident(p, "pins[%d]" % i)
    where = "pins[%d] (%s)" % (i, pid)
    _keys(p, PIN, where)
    x = _num(_need(p, "x", where), where + ".x")
    y = _num(_need(p, "y", where), where + ".y")
    _inside(x, y, room, where)
    board = p.get("board", "cloudpin_ref")
    if not isinstance(board, str) or not board:
        raise ScenarioError("%s.board: expected a board name, got %r" % (where, board))
    facing = p.get("facing_deg")
    if facing is not None:
        facing = _num(facing, where + ".facing_deg")
    card = p.get("card")
    if card is not None:
        _keys(card, provision.CARD_FIELDS, where + ".card")
    try:  # the pin id is the card's name: the firmware's own limits apply
        provision.check_card(pid, card)
    except ValueError as e:
        raise ScenarioError("%s%s: %s" % (where, ".card" if card else ".id", e)) from None
    rec = p.get("recording")
    if rec is not None and (not isinstance(rec, str) or not rec):
        raise ScenarioError("%s.recording: expected a CSV path, got %r" % (where, rec))
    sleep = p.get("sleep", True)
    if not isinstance(sleep, bool):
        raise ScenarioError("%s.sleep: expected true or false, got %r" % (where, sleep))
    ppm = p.get("clock_ppm")
    if ppm is not None:
        ppm = _num(ppm, where + ".clock_ppm", lo=-MAX_PPM, hi=MAX_PPM)
    walk = []
    raw = p.get("walk") or []
    if not isinstance(raw, list):
        raise ScenarioError("%s.walk: expected a list of [t_s, x, y], got %r" % (where, raw))
    for j, w in enumerate(raw):
        ww = "%s.walk[%d]" % (where, j)
        if not isinstance(w, list) or len(w) != 3:
            raise ScenarioError("%s: expected [t_s, x, y], got %r" % (ww, w))
        t = _num(w[0], ww + " t_s", lo=0.0, hi=duration_s)
        wx, wy = _num(w[1], ww + " x"), _num(w[2], ww + " y")
        _inside(wx, wy, room, ww)
        if walk and t <= walk[-1][0]:
            raise ScenarioError("%s: t_s %g is not after the previous waypoint's %g" % (ww, t, walk[-1][0]))
        walk.append((t, wx, wy))
    return {"id": pid, "x": x, "y": y, "board": board, "walk": walk, "facing_deg": facing, "recording": rec,
            "card": card, "sleep": sleep, "clock_ppm": ppm}


def _clock(raw):
    """Ranges every pin's sleep-clock error is drawn from (cpsim.slowclock);
    None: the emulator's cited default; zeros: exact clocks."""
    if raw is None:
        raw = {}
    _keys(raw, CLOCK, "clock")
    return {k: None if raw.get(k) is None else _num(raw[k], "clock." + k, lo=0, hi=MAX_PPM) for k in CLOCK}


def _wearers(raw):
    """What wearers do when their pin asks them to tap again (host_tools/sim/wearers.py);
    None: nothing (the shipped scenarios)."""
    if raw is None:
        return None
    _keys(raw, WEARERS, "wearers")
    return {"tap_again_after_s": _num(raw.get("tap_again_after_s", 2.0), "wearers.tap_again_after_s",
                                      lo=TAP_AGAIN_S[0], hi=TAP_AGAIN_S[1]),
            "tries": _num(raw.get("tries", 1), "wearers.tries", lo=1, hi=MAX_TRIES, integer=True)}


def _event(raw):
    limits = fwsource.constants("identity")  # the firmware's own bounds on the time zone
    if raw is None:
        return {"utc_offset_min": 0, "start_utc": None}
    _keys(raw, EVENT, "event")
    off = _num(raw.get("utc_offset_min", 0), "event.utc_offset_min", lo=limits["UTC_OFFSET_MIN"],
               hi=limits["UTC_OFFSET_MAX"], integer=True)
    start = raw.get("start_utc")
    if start is not None:
        start = _num(start, "event.start_utc", lo=RTC_MIN_UNIX, hi=RTC_MAX_UNIX, integer=True)
    return {"utc_offset_min": off, "start_utc": start}


def _attackers(raw, room, ids):
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ScenarioError("attackers: expected a list")
    out, seen = [], set()
    for i, a in enumerate(raw):
        where = "attackers[%d]" % i
        aid = _ident(a, where)
        if aid in ids or aid in seen:
            raise ScenarioError("%s.id: %r is used twice (pin and attacker ids share one list)" % (where, aid))
        seen.add(aid)
        where = "attackers[%d] (%s)" % (i, aid)
        _keys(a, ATTACKER, where)
        kind = _need(a, "kind", where)
        if kind not in ATTACKER_KINDS:
            near = boardspec.closest(kind, ATTACKER_KINDS) if isinstance(kind, str) else None
            raise ScenarioError("%s.kind: %r is not one of %s%s" % (
                where, kind, ", ".join(ATTACKER_KINDS), " (did you mean %r?)" % near if near else ""))
        x = _num(_need(a, "x", where), where + ".x")
        y = _num(_need(a, "y", where), where + ".y")
        _inside(x, y, room, where)
        tx = a.get("tx_dbm")
        if tx is not None:
            # whole dBm, as radios set it (the emulator's link budget indexes tables by it)
            tx = _num(tx, where + ".tx_dbm", lo=-20, hi=20, integer=True)
        out.append({"id": aid, "x": x, "y": y, "kind": kind, "tx_dbm": tx})
    return out


def _tap_time(t, where, duration_s):
    return _num(t, where + ".t_ms", lo=0, hi=duration_s * 1000.0, integer=True)


def validate(data):
    """Check a scenario (parsed JSON); returns it normalised. ScenarioError names the field."""
    _keys(data, TOP, "")
    name = data.get("name", "scenario")
    if not isinstance(name, str):
        raise ScenarioError("name: expected a string, got %r" % (name,))
    seed = _num(data.get("seed", 1), "seed", integer=True)
    duration = _num(_need(data, "duration_s", ""), "duration_s", hi=MAX_DURATION_S)
    if duration <= 0:
        raise ScenarioError("duration_s: must be positive, got %r" % data["duration_s"])
    room_raw = _need(data, "room", "")
    _keys(room_raw, ROOM, "room")
    room = {}
    for k in ROOM:
        room[k] = _num(_need(room_raw, k, "room"), "room." + k)
        if room[k] <= 0:
            raise ScenarioError("room.%s: must be positive, got %r" % (k, room_raw[k]))
    pins_raw = _need(data, "pins", "")
    if not isinstance(pins_raw, list) or not pins_raw:
        raise ScenarioError("pins: expected a non-empty list of pins")
    pins, ids = [], set()
    for i, p in enumerate(pins_raw):
        pin = _pin(p, i, room, duration)
        if pin["id"] in ids:
            raise ScenarioError("pins[%d].id: %r is used twice" % (i, pin["id"]))
        ids.add(pin["id"])
        pins.append(pin)

    def pin_ref(v, where):
        if not isinstance(v, str) or v not in ids:
            raise ScenarioError("%s: unknown pin %r" % (where, v))
        return v

    def entries(key, known):
        raw = data.get(key) or []
        if not isinstance(raw, list):
            raise ScenarioError("%s: expected a list" % key)
        for i, t in enumerate(raw):
            where = "%s[%d]" % (key, i)
            _keys(t, known, where)
            yield where, t, _tap_time(_need(t, "t_ms", where), where, duration)

    taps = []
    for where, t, t_ms in entries("taps", TAP):
        tap = {"t_ms": t_ms, "a": pin_ref(_need(t, "a", where), where + ".a"),
               "b": pin_ref(_need(t, "b", where), where + ".b")}
        if tap["a"] == tap["b"]:
            raise ScenarioError("%s.b: a pin cannot touch itself (%r); use solo_taps" % (where, tap["a"]))
        taps.append(tap)
    solos = [{"t_ms": t_ms, "pin": pin_ref(_need(t, "pin", where), where + ".pin")}
             for where, t, t_ms in entries("solo_taps", SOLO)]
    pack = data.get("pack", str(DEFAULT_PACK))  # every pin's designs (null: none), as deploy puts them
    if pack is not None and (not isinstance(pack, str) or not pack):
        raise ScenarioError("pack: expected an event pack's JSON file or null, got %r" % (pack,))
    recs = data.get("recordings")
    if recs is not None and (not isinstance(recs, list) or not all(isinstance(r, str) and r for r in recs)):
        raise ScenarioError("recordings: expected a list of folders or CSV files")
    return {"name": name, "seed": seed, "duration_s": duration, "room": room, "pins": pins,
            "taps": sorted(taps, key=lambda t: t["t_ms"]), "solo_taps": sorted(solos, key=lambda t: t["t_ms"]),
            "recordings": recs or [], "event": _event(data.get("event")),
            "attackers": _attackers(data.get("attackers"), room, ids), "pack": pack, "clock": _clock(data.get("clock")),
            "wearers": _wearers(data.get("wearers"))}


def load(path):
    """Read and validate a scenario file; ScenarioError (one line) if it is not one.
    Relative paths inside it (recordings, pack) are resolved against its folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ScenarioError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ScenarioError("%s: not valid JSON (%s)" % (path, e)) from None
    try:
        sc = validate(data)
    except ScenarioError as e:
        raise ScenarioError("%s: %s" % (path, e)) from None
    base = path.resolve().parent
    sc["recordings"] = [str(base / r) for r in sc["recordings"]]
    if sc["pack"] is not None:
        sc["pack"] = str(base / sc["pack"])
    for p in sc["pins"]:
        if p["recording"]:
            p["recording"] = str(base / p["recording"])
    return sc

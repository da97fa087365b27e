# The pin's identity, kept in the ESP32's NVS (namespace "cloudpin").
#
# KEYS below is THE list of NVS keys: the desk (host_tools/desk) writes them
# through this module over the REPL, and NVS images must use the same names,
# types and sizes. MicroPython's esp32.NVS stores only i32 and blob values.
#
#   badge_id  blob  8 bytes   the badge's serial; set once, kept when returned
#   pair_key  blob 16 bytes   phone pairing secret (the QR code on the card)
#   id_key    blob 16 bytes   the pin's own secret: seeds its friend key, whose
#                             rotating BLE identifiers and stats key friends get
#   event_key blob 16 bytes   shared by every pin of the event: authenticates tap
#                             advertisements and the friend exchange
#   utc_offset i32            the event's time zone, minutes east of UTC
#                             (-720..840): daily counters roll over at its midnight
#   prov_gen  i32  > 0        provisioning number; written LAST, erased FIRST
#
# event_key and utc_offset come together or not at all. A provisioning
# without them is still "provisioned" (the pin counts steps and pairs with a
# phone) but not "social": meet and greet stays off until the desk gives them.
#
# prov_gen is the commit marker: write() erases it, writes the keys, commits,
# then sets it and commits again; wipe() erases it before anything else. A
# power cut or unplug at any instant therefore leaves either a complete
# identity or one that load() reports as not provisioned, never a mix.
# Nothing here touches hardware except open_nvs(); the rest takes the NVS
# object, so tests hand in a fake that can lose power mid-write.

NAMESPACE = "cloudpin"
KEYS = (
    ("badge_id", "blob", 8),
    ("pair_key", "blob", 16),
    ("id_key", "blob", 16),
    ("event_key", "blob", 16),
    ("utc_offset", "i32", 0),
    ("prov_gen", "i32", 0),
)
SECRET_KEYS = ("pair_key", "id_key", "event_key")
EVENT_KEYS = ("event_key", "utc_offset")
_I32_MAX = 0x7FFFFFFF
UTC_OFFSET_MIN = -720  # UTC-12:00 .. UTC+14:00, in minutes
UTC_OFFSET_MAX = 840


def open_nvs():
    import esp32

    return esp32.NVS(NAMESPACE)


def _size(key):
    for k, _, size in KEYS:
        if k == key:
            return size
    raise KeyError(key)


def _get_blob(nvs, key):
    size = _size(key)
    buf = bytearray(size + 1)  # one spare byte exposes a stored value of the wrong size
    try:
        n = nvs.get_blob(key, buf)
    except OSError:
        return None
    return bytes(buf[:n]) if n == size else None


def _get_i32(nvs, key):
    try:
        return nvs.get_i32(key)
    except OSError:
        return None


def _erase(nvs, key):
    try:
        nvs.erase_key(key)
    except OSError:  # absent already
        pass


def _offset_ok(v):
    return isinstance(v, int) and UTC_OFFSET_MIN <= v <= UTC_OFFSET_MAX


def load(nvs):
    """{badge_id, pair_key, id_key, event_key: bytes or None, utc_offset,
    prov_gen: int or None, provisioned, social: bool}. Never raises for
    missing or malformed keys."""
    d = {}
    for key, kind, _ in KEYS:
        d[key] = _get_i32(nvs, key) if kind == "i32" else _get_blob(nvs, key)
    gen = d["prov_gen"]
    d["provisioned"] = bool(gen is not None and gen > 0 and d["badge_id"] is not None
                            and d["pair_key"] is not None and d["id_key"] is not None)
    if not _offset_ok(d["utc_offset"]):
        d["utc_offset"] = None
    d["social"] = bool(d["provisioned"] and d["event_key"] is not None and d["utc_offset"] is not None)
    return d


def _check(key, value):
    if not isinstance(value, (bytes, bytearray)) or len(value) != _size(key):
        raise ValueError("%s must be %d bytes" % (key, _size(key)))


def set_badge_id(nvs, badge_id):
    """Give a new badge its serial. Refuses to change an existing one."""
    _check("badge_id", badge_id)
    old = _get_blob(nvs, "badge_id")
    if old is not None and old != bytes(badge_id):
        raise ValueError("badge already has an id")
    if old is None:
        nvs.set_blob("badge_id", badge_id)
        nvs.commit()


def invalidate(nvs):
    """Mark the identity as not provisioned (the first step of any change)."""
    _erase(nvs, "prov_gen")
    nvs.commit()


def write(nvs, pair_key, id_key, gen, event_key=None, utc_offset=None):
    """Install a new provisioning (the badge id must be set). Safe against a
    power cut at any point: see the marker rule at the top of this file.
    Without event_key and utc_offset the last event's are erased: a pin never
    carries one event's keys into another provisioning."""
    _check("pair_key", pair_key)
    _check("id_key", id_key)
    if not isinstance(gen, int) or not 0 < gen <= _I32_MAX:
        raise ValueError("prov_gen must be 1..2**31-1")
    if (event_key is None) != (utc_offset is None):
        raise ValueError("event_key and utc_offset come together")
    if event_key is not None:
        _check("event_key", event_key)
        if isinstance(utc_offset, bool) or not _offset_ok(utc_offset):
            raise ValueError("utc_offset: minutes east of UTC, %d..%d" % (UTC_OFFSET_MIN, UTC_OFFSET_MAX))
    if _get_blob(nvs, "badge_id") is None:
        raise ValueError("badge has no id")
    invalidate(nvs)
    nvs.set_blob("pair_key", pair_key)
    nvs.set_blob("id_key", id_key)
    if event_key is None:
        for key in EVENT_KEYS:
            _erase(nvs, key)
    else:
        nvs.set_blob("event_key", event_key)
        nvs.set_i32("utc_offset", utc_offset)
    nvs.commit()
    nvs.set_i32("prov_gen", gen)
    nvs.commit()


def wipe(nvs):
    """Forget the wearer: marker first, then the secrets. badge_id stays."""
    invalidate(nvs)
    for key in SECRET_KEYS + ("utc_offset",):
        _erase(nvs, key)
    nvs.commit()


def digest(pair_key, id_key):
    """SHA-256 of the secrets: lets the host compare what it wrote with what
    the badge holds without the secrets crossing the wire twice."""
    import hashlib

    h = hashlib.sha256(pair_key)
    h.update(id_key)
    return h.digest()


def public(d):
    """What may be shown or logged: no secret, only their digest."""
    import binascii

    out = {"badge_id": None, "prov_gen": d["prov_gen"], "provisioned": d["provisioned"], "digest": None,
           "social": d.get("social", False), "utc_offset": d.get("utc_offset"), "event_digest": None}
    if d["badge_id"] is not None:
        out["badge_id"] = binascii.hexlify(d["badge_id"]).decode()
    if d["pair_key"] is not None and d["id_key"] is not None:
        out["digest"] = binascii.hexlify(digest(d["pair_key"], d["id_key"])).decode()
    if d.get("event_key") is not None:
        out["event_digest"] = binascii.hexlify(event_digest(d["event_key"])).decode()
    return out


def event_digest(event_key):
    """SHA-256 of the event key: the desk checks a pin holds this event's
    key by comparing it with its own, without reading the key back."""
    import hashlib

    return hashlib.sha256(event_key).digest()

# The owner card: who wears this pin (accreditation, name, organisation,
# role, social handles), written by the desk and wiped when the badge is
# returned. Kept as an atomic Store document; validated on every read, so a
# damaged card reads as "no owner" instead of crashing the app.
#
# `gen` is the identity's prov_gen (cloudpin.identity) the card was written
# with: a card whose gen differs from the NVS marker is stale (a provisioning
# was cut off between the two) and does not count.
from micropython import const

from cloudpin.store import Store

PATH = "owner.json"  # the pin's cwd is / at boot: this is /owner.json
TEXT_FIELDS = ("acc", "name", "organisation", "role")
MAX_TEXT = const(100)
MAX_HANDLES = const(8)
MAX_HANDLE = const(64)


def _printable(s):
    # Cards reach friends' pins, phones and log lines: a control character
    # (a newline forging a log line, an ANSI escape, a NUL) is refused, not
    # cleaned, so what the wearer sees is what the desk wrote.
    for ch in s:
        c = ord(ch)
        if c < 0x20 or 0x7F <= c < 0xA0 or c in (0x2028, 0x2029):
            return False
    return True


def validate(doc):
    if not isinstance(doc, dict):
        raise ValueError("owner card is not an object")
    out = {}
    for f in TEXT_FIELDS:
        v = doc.get(f, "")
        if not isinstance(v, str) or len(v) > MAX_TEXT:
            raise ValueError("owner %s: text up to %d characters" % (f, MAX_TEXT))
        if not _printable(v):
            raise ValueError("owner %s: control characters are not allowed" % f)
        out[f] = v
    if not out["acc"] or not out["name"]:
        raise ValueError("owner card needs acc and name")
    handles = doc.get("handles", [])
    if not isinstance(handles, list) or len(handles) > MAX_HANDLES:
        raise ValueError("owner handles: a list of up to %d" % MAX_HANDLES)
    for h in handles:
        if not isinstance(h, str) or not 0 < len(h) <= MAX_HANDLE:
            raise ValueError("owner handle: text of 1..%d characters" % MAX_HANDLE)
        if not _printable(h):
            raise ValueError("owner handle: control characters are not allowed")
    out["handles"] = list(handles)
    gen = doc.get("gen")
    if not isinstance(gen, int) or isinstance(gen, bool) or gen <= 0:
        raise ValueError("owner gen must be a positive integer")
    out["gen"] = gen
    return out


def store(log=None, path=PATH):
    return Store(path, validate, log)


def load(log=None, path=PATH):
    """The validated card, or None."""
    return store(log, path).load(None)


def save(doc, log=None, path=PATH):
    store(log, path).save(validate(doc))


def wipe(path=PATH):
    """Remove the card and every copy a Store may leave behind (its temp file,
    and the .bad file a corrupt card is moved to: it holds personal data too)."""
    import os

    for p in (path, path + ".tmp", path + ".bad"):
        try:
            os.remove(p)
        except OSError:
            pass

# The event pack's JSON side, for host tools (`cloudpin pack check|build`)
# and tests: check(doc) names every error with its path (an organiser fixes
# a pack in one pass), fill() compiles a valid document into a Pack (the
# form the pin keeps), to_bytes() writes the file the pin boots from. The
# pin never imports this module (pack.py says why); the format's constants
# are pack.py's and packinfo.py's, so both sides read one definition.
import binascii
from array import array

from cloudpin.designs.pack import (LED_COLOURS, LED_MAX, MAGIC, MAX_POINTS, MAX_SPORTS, NAME_MAX, OP_ARC, OP_ELLIPSE,
                                   OP_LINE, OP_POLY, OP_RECT, SHORT_MAX, PackError)
from cloudpin.designs.packinfo import BOX, COLOURS, FORMAT, KINDS, MAX_OPS, colour_index, kind_code

_N_MAX = (1024, 1024, 200000, 10000000, 64, 64, 60, 1024, 60)
_EXTRA_MAX = (0, 0, 0, 0, 0, 0, 0, 65535, 200000)

_OPS = (
    ("line", OP_LINE, ("x1", "y1", "x2", "y2", "width", "colour")),
    ("rect", OP_RECT, ("x", "y", "w", "h", "colour", "fill")),
    ("ellipse", OP_ELLIPSE, ("x", "y", "rx", "ry", "colour", "fill")),
    ("arc", OP_ARC, ("x", "y", "rx", "ry", "colour", "quadrants")),
    ("poly", OP_POLY, ("colour", "fill", "points")),
)
_FIELDS = ("format", "event", "sports")
_SPORT_FIELDS = ("id", "name", "short", "task", "led", "design")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _unknown(d, known, path, errors):
    for k in d:
        if k not in known:
            errors.append("%s%s: not a known field (%s takes %s)" % (
                path, k, path[:-1] or "the top level", ", ".join(known)))


def _text(d, key, path, most, errors):
    v = d.get(key)
    if not isinstance(v, str) or not v:
        errors.append("%s%s: must be a non-empty string" % (path, key))
    elif len(v) > most:
        errors.append("%s%s: %d characters, at most %d" % (path, key, len(v), most))
    elif key == "short" and not all(" " <= c <= "~" for c in v):
        errors.append("%s%s: the pin's font has ASCII only" % (path, key))


def _task(t, path, errors):
    if not isinstance(t, dict):
        errors.append("%s: must be an object with kind and n" % path)
        return
    code = kind_code(t.get("kind"))
    if code < 0:
        errors.append("%s.kind: %r is not a task kind (%s)" % (path, t.get("kind"), ", ".join(k[0] for k in KINDS)))
        _unknown(t, ("kind", "n", "made", "steps"), path + ".", errors)
        return
    extra = KINDS[code][2]
    _unknown(t, ("kind", "n") + ((extra,) if extra else ()), path + ".", errors)
    n = t.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _N_MAX[code]:
        errors.append("%s.n: must be an integer 1..%d for %s, got %r" % (path, _N_MAX[code], KINDS[code][0], n))
    if extra:
        v = t.get(extra)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= _EXTRA_MAX[code]:
            errors.append("%s.%s: must be an integer 1..%d for %s, got %r" % (
                path, extra, _EXTRA_MAX[code], KINDS[code][0], v))


def _op(op, path, errors):
    """Check one drawing operation; its compiled bytes, or None."""
    if not isinstance(op, list) or not op or not isinstance(op[0], str):
        errors.append("%s: must be a list starting with an operation name" % path)
        return None
    spec = None
    for s in _OPS:
        if s[0] == op[0]:
            spec = s
    if spec is None:
        errors.append("%s: %r is not an operation (%s)" % (path, op[0], ", ".join(s[0] for s in _OPS)))
        return None
    args = spec[2]
    if len(op) != len(args) + 1:
        errors.append("%s: %s takes %d arguments (%s), got %d" % (path, op[0], len(args), " ".join(args), len(op) - 1))
        return None
    out = bytearray([spec[1]])
    ok = True
    for i in range(len(args)):
        name, v = args[i], op[i + 1]
        where = "%s[%d] (%s)" % (path, i + 1, name)
        if name == "colour":
            c = colour_index(v)
            if c < 0:
                errors.append("%s: %r is not a colour (%s)" % (where, v, ", ".join(c[0] for c in COLOURS)))
                ok = False
            out.append(max(c, 0))
        elif name == "points":
            if (not isinstance(v, list) or len(v) % 2 or not 3 <= len(v) // 2 <= MAX_POINTS
                    or not all(_is_int(p) and 0 <= p < BOX for p in v)):
                errors.append("%s: must be 3..%d points as a flat list x y x y ..., each 0..%d" % (
                    where, MAX_POINTS, BOX - 1))
                ok = False
            else:
                out.append(len(v) // 2)
                out.extend(v)
        else:
            lo, hi = 0, BOX - 1
            if name in ("fill",):
                hi = 1
            elif name == "quadrants":
                lo, hi = 1, 15
            elif name == "width":
                lo, hi = 1, 16
            elif name in ("rx", "ry", "w", "h"):
                lo, hi = 1, BOX
            if not _is_int(v) or not lo <= v <= hi:
                errors.append("%s: must be an integer %d..%d, got %r" % (where, lo, hi, v))
                ok = False
            else:
                out.append(v & 0xFF)
    return bytes(out) if ok else None


def check(doc):
    """Every error in the pack document `doc` (parsed JSON), each naming
    its path; [] when the pack is valid."""
    errors = []
    if not isinstance(doc, dict):
        return ["pack: must be a JSON object with format, event and sports"]
    _compile(doc, errors)
    return errors


def _compile(doc, errors):
    _unknown(doc, _FIELDS, "", errors)
    if doc.get("format") != FORMAT:
        errors.append("format: must be %d, got %r" % (FORMAT, doc.get("format")))
    _text(doc, "event", "", NAME_MAX, errors)
    sports = doc.get("sports")
    if not isinstance(sports, list) or not 1 <= len(sports) <= MAX_SPORTS:
        errors.append("sports: must be a list of 1..%d sports" % MAX_SPORTS)
        return None
    ids = []
    designs = []
    for i in range(len(sports)):
        s = sports[i]
        path = "sports[%d]" % i
        if not isinstance(s, dict):
            errors.append("%s: must be an object" % path)
            continue
        _unknown(s, _SPORT_FIELDS, path + ".", errors)
        sid = s.get("id")
        if not isinstance(sid, str) or not sid or len(sid) > 24 or not all("a" <= c <= "z" or c == "_" for c in sid):
            errors.append("%s.id: must be 1..24 characters a-z and _, got %r" % (path, sid))
        elif sid in ids:
            errors.append("%s.id: %r also names sports[%d]" % (path, sid, ids.index(sid)))
        ids.append(sid)
        _text(s, "name", path + ".", NAME_MAX, errors)
        _text(s, "short", path + ".", SHORT_MAX, errors)
        _task(s.get("task"), path + ".task", errors)
        led = s.get("led")
        if not isinstance(led, list) or not 1 <= len(led) <= LED_MAX or not all(c in LED_COLOURS for c in led):
            errors.append("%s.led: must be a list of 1..%d LED colours (%s)" % (path, LED_MAX, ", ".join(LED_COLOURS)))
        ops = s.get("design")
        if not isinstance(ops, list) or not 1 <= len(ops) <= MAX_OPS:
            errors.append("%s.design: must be a list of 1..%d drawing operations" % (path, MAX_OPS))
            designs.append(None)
            continue
        code = bytearray()
        for j in range(len(ops)):
            b = _op(ops[j], "%s.design[%d]" % (path, j), errors)
            if b is not None:
                code.extend(b)
        designs.append(bytes(code))
    return designs


def _extra(task):
    name = KINDS[kind_code(task["kind"])][2]
    return task[name] if name else 0


def fill(pack, doc):
    """Compile the valid pack document `doc` into `pack` (a pack.Pack);
    PackError with every error otherwise."""
    errors = []
    designs = _compile(doc, errors) if isinstance(doc, dict) else None
    if errors or designs is None:
        raise PackError("; ".join(errors) if errors else "pack: must be a JSON object")
    sports = doc["sports"]
    pack.event = doc["event"]
    pack.count = len(sports)
    pack.ids = tuple(s["id"] for s in sports)
    pack.shorts = tuple(s["short"] for s in sports)
    pack.leds = tuple(tuple(s["led"]) for s in sports)
    pack.designs = tuple(designs)
    pack.kinds = bytes(kind_code(s["task"]["kind"]) for s in sports)
    pack.n = array("i", (s["task"]["n"] for s in sports))
    pack.extra = array("i", (_extra(s["task"]) for s in sports))


def to_bytes(pack):
        """The compiled pack file (packs/*.json -> /pack.bin on the pin):
        MAGIC, CRC-32 of the rest (u32 LE), then the event and each sport
        as length-prefixed fields. Parsing a 30 KB JSON pack on the pin
        would take tens of KB of heap at boot; this takes what it keeps."""
        out = bytearray()
        _put_text(out, pack.event)
        out.append(pack.count)
        for i in range(pack.count):
            _put_text(out, pack.ids[i])
            _put_text(out, pack.shorts[i])
            out.append(pack.kinds[i])
            _put_u32(out, pack.n[i])
            _put_u32(out, pack.extra[i])
            out.append(len(pack.leds[i]))
            for c in pack.leds[i]:
                out.append(LED_COLOURS.index(c))
            d = pack.designs[i]
            out.append(len(d) & 0xFF)
            out.append(len(d) >> 8)
            out.extend(d)
        head = bytearray(MAGIC)
        _put_u32(head, binascii.crc32(out))
        return bytes(head + out)


def _put_text(out, s):
    b = s.encode()
    out.append(len(b))
    out.extend(b)


def _put_u32(out, v):
    for k in range(4):
        out.append((v >> (8 * k)) & 0xFF)

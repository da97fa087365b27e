# Event pack format: the designs an event offers and the task that unlocks
# each. Organisers write JSON (packs/*.json); check() validates it, naming
# every error by its path (an organiser fixes a pack in one pass), and is
# what `cloudpin pack check` runs. Pack(doc) compiles a valid pack to the
# compact form the pin keeps (one bytes object per design, task numbers in
# arrays) and to_bytes() to the file the pin boots from (/pack.bin, made by
# `cloudpin pack build`): parsing the JSON on the pin would take ~40 KB of a
# 100 KB heap at boot. from_bytes() reads that file back on the pin,
# refusing a torn, corrupt or malformed one (CRC, then every field and every
# drawing operation the drawing code relies on).
# Pure logic that CPython runs too (host tools load this file): no
# hardware or micropython imports.
import binascii
from array import array

FORMAT = 1
MAX_SPORTS = 64
SHORT_MAX = 16  # the 8x8 font on a 135-pixel-wide screen
NAME_MAX = 40
BOX = 128  # designs are drawn in a BOX x BOX square, coordinates 0..BOX-1
MAX_OPS = 64
MAX_POINTS = 12

# Task kinds, in the order of their codes (the engine's per-kind tables).
# (name, what n counts, the extra parameter's name or None, its range)
KINDS = (
    ("friends", "friends made in total", None),
    ("friends_day", "friends made in one day", None),
    ("steps_day", "steps in one day", None),
    ("steps_total", "steps in total", None),
    ("orgs", "friends from different organisations", None),
    ("roles", "friends with different roles", None),
    ("tap_days", "days with at least one tap", None),
    ("collectors", "friends seen having made 'made' friends in a day", "made"),
    ("streak", "days in a row with at least 'steps' steps", "steps"),
)
FRIENDS = 0
FRIENDS_DAY = 1
STEPS_DAY = 2
STEPS_TOTAL = 3
ORGS = 4
ROLES = 5
TAP_DAYS = 6
COLLECTORS = 7
STREAK = 8
_N_MAX = (1024, 1024, 200000, 10000000, 64, 64, 60, 1024, 60)
_EXTRA_MAX = (0, 0, 0, 0, 0, 0, 0, 65535, 200000)

# The 16 colours a design may use (a 4-bit frame buffer: index = position).
COLOURS = (
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("grey", (150, 150, 150)),
    ("dark", (60, 60, 70)),
    ("red", (230, 30, 40)),
    ("orange", (255, 140, 0)),
    ("yellow", (255, 210, 0)),
    ("green", (40, 180, 60)),
    ("dkgreen", (0, 100, 40)),
    ("sky", (90, 190, 255)),
    ("blue", (20, 80, 220)),
    ("navy", (10, 30, 110)),
    ("purple", (140, 60, 200)),
    ("pink", (255, 120, 180)),
    ("brown", (140, 80, 30)),
    ("skin", (240, 190, 140)),
)
# What an RGB LED can show (cloudpin.led): a design's LED pattern uses these.
LED_COLOURS = ("red", "green", "blue", "yellow", "cyan", "magenta", "white")
LED_MAX = 4

# Drawing operations: name, opcode, the arguments after the name.
#   line x1 y1 x2 y2 width colour        thick line with round ends
#   rect x y w h colour fill
#   ellipse x y rx ry colour fill         (a circle when rx == ry)
#   arc x y rx ry colour quadrants        outline of the quadrants in the
#                                         mask: 1 upper right, 2 upper left,
#                                         4 lower left, 8 lower right
#   poly colour fill [x y x y ...]        3..MAX_POINTS points
OP_LINE = 1
OP_RECT = 2
OP_ELLIPSE = 3
OP_ARC = 4
OP_POLY = 5
_OPS = (
    ("line", OP_LINE, ("x1", "y1", "x2", "y2", "width", "colour")),
    ("rect", OP_RECT, ("x", "y", "w", "h", "colour", "fill")),
    ("ellipse", OP_ELLIPSE, ("x", "y", "rx", "ry", "colour", "fill")),
    ("arc", OP_ARC, ("x", "y", "rx", "ry", "colour", "quadrants")),
    ("poly", OP_POLY, ("colour", "fill", "points")),
)
_FIELDS = ("format", "event", "sports")
_SPORT_FIELDS = ("id", "name", "short", "task", "led", "design")


class PackError(ValueError):
    pass


def colour_index(name):
    for i in range(len(COLOURS)):
        if COLOURS[i][0] == name:
            return i
    return -1


def kind_code(name):
    for i in range(len(KINDS)):
        if KINDS[i][0] == name:
            return i
    return -1


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


class Pack:
    """A valid pack as the pin keeps it: per sport its id, short name, LED
    colours and compiled design; per task its kind, n and extra parameter.
    Pack(doc) from the JSON document (host tools, tests); from_bytes() from
    the compiled file the pin boots with (to_bytes())."""

    def __init__(self, doc=None):
        self.event = ""
        self.count = 0
        self.ids = ()
        self.shorts = ()
        self.leds = ()
        self.designs = ()
        self.kinds = b""
        self.n = array("i")
        self.extra = array("i")
        if doc is None:
            return
        errors = []
        designs = _compile(doc, errors) if isinstance(doc, dict) else None
        if errors or designs is None:
            raise PackError("; ".join(errors) if errors else "pack: must be a JSON object")
        sports = doc["sports"]
        self.event = doc["event"]
        self.count = len(sports)
        self.ids = tuple(s["id"] for s in sports)
        self.shorts = tuple(s["short"] for s in sports)
        self.leds = tuple(tuple(s["led"]) for s in sports)
        self.designs = tuple(designs)
        self.kinds = bytes(kind_code(s["task"]["kind"]) for s in sports)
        self.n = array("i", (s["task"]["n"] for s in sports))
        self.extra = array("i", (_extra(s["task"]) for s in sports))

    def index(self, sport_id):
        """The index of the sport with this id, or -1."""
        for i in range(self.count):
            if self.ids[i] == sport_id:
                return i
        return -1

    def to_bytes(self):
        """The compiled pack file (packs/*.json -> /pack.bin on the pin):
        MAGIC, CRC-32 of the rest (u32 LE), then the event and each sport
        as length-prefixed fields. Parsing a 30 KB JSON pack on the pin
        would take tens of KB of heap at boot; this takes what it keeps."""
        out = bytearray()
        _put_text(out, self.event)
        out.append(self.count)
        for i in range(self.count):
            _put_text(out, self.ids[i])
            _put_text(out, self.shorts[i])
            out.append(self.kinds[i])
            _put_u32(out, self.n[i])
            _put_u32(out, self.extra[i])
            out.append(len(self.leds[i]))
            for c in self.leds[i]:
                out.append(LED_COLOURS.index(c))
            d = self.designs[i]
            out.append(len(d) & 0xFF)
            out.append(len(d) >> 8)
            out.extend(d)
        head = bytearray(MAGIC)
        _put_u32(head, binascii.crc32(out))
        return bytes(head + out)


MAGIC = b"CPK1"


def _put_text(out, s):
    b = s.encode()
    out.append(len(b))
    out.extend(b)


def _put_u32(out, v):
    for k in range(4):
        out.append((v >> (8 * k)) & 0xFF)


class _Reader:
    def __init__(self, data):
        self.d = data
        self.o = 0

    def take(self, n):
        if self.o + n > len(self.d):
            raise PackError("pack file: truncated")
        self.o += n
        return self.d[self.o - n:self.o]

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        b = self.take(4)
        return b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24

    def text(self, most):
        n = self.u8()
        if not 1 <= n <= most:
            raise PackError("pack file: a text of %d bytes" % n)
        try:
            return str(self.take(n), "utf-8")
        except UnicodeError:
            raise PackError("pack file: text is not UTF-8")


def check_design(code):
    """Raise PackError unless code is a sequence of whole, known drawing
    operations with colours in the palette (what draw.Canvas.design reads)."""
    i, n = 0, len(code)
    while i < n:
        op = code[i]
        if op == OP_POLY:
            if i + 4 > n or not 3 <= code[i + 3] <= MAX_POINTS or i + 4 + 2 * code[i + 3] > n:
                raise PackError("pack file: a torn polygon")
            c, step = code[i + 1], 4 + 2 * code[i + 3]
        elif OP_LINE <= op <= OP_ARC:
            if i + 7 > n:
                raise PackError("pack file: a torn operation")
            c, step = (code[i + 6], 7) if op == OP_LINE else (code[i + 5], 7)
        else:
            raise PackError("pack file: operation %d" % op)
        if c >= len(COLOURS):
            raise PackError("pack file: colour %d" % c)
        i += step


def from_bytes(data):
    """The Pack in a compiled pack file's bytes; PackError for anything
    else (a torn, corrupt or foreign file), never another exception."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise PackError("pack file: not a compiled pack (%s)" % str(MAGIC, "ascii"))
    r = _Reader(memoryview(data)[4:])
    crc = r.u32()
    if binascii.crc32(memoryview(data)[8:]) != crc:
        raise PackError("pack file: CRC mismatch (torn or corrupt)")
    p = Pack()
    p.event = r.text(NAME_MAX * 4)
    p.count = r.u8()
    if not 1 <= p.count <= MAX_SPORTS:
        raise PackError("pack file: %d sports" % p.count)
    ids, shorts, leds, designs, kinds = [], [], [], [], bytearray()
    for _ in range(p.count):
        ids.append(r.text(24))
        shorts.append(r.text(SHORT_MAX))
        k = r.u8()
        if k >= len(KINDS):
            raise PackError("pack file: task kind %d" % k)
        kinds.append(k)
        p.n.append(r.u32() & 0x7FFFFFFF)
        p.extra.append(r.u32() & 0x7FFFFFFF)
        m = r.u8()
        if not 1 <= m <= LED_MAX:
            raise PackError("pack file: %d LED colours" % m)
        led = []
        for _ in range(m):
            c = r.u8()
            if c >= len(LED_COLOURS):
                raise PackError("pack file: LED colour %d" % c)
            led.append(LED_COLOURS[c])
        leds.append(tuple(led))
        n = r.u8()
        n |= r.u8() << 8
        d = bytes(r.take(n))
        check_design(d)
        designs.append(d)
    if r.o != len(r.d):
        raise PackError("pack file: %d bytes after the last sport" % (len(r.d) - r.o))
    p.ids, p.shorts, p.leds, p.designs, p.kinds = tuple(ids), tuple(shorts), tuple(leds), tuple(designs), bytes(kinds)
    return p


def load(path="pack.bin"):
    """The compiled pack in the file at path (the pin's /pack.bin);
    PackError naming why it cannot be used otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PackError("pack %s: cannot read (%r)" % (path, e))
    return from_bytes(data)

# Event pack format: the designs an event offers and the task that unlocks
# each. Organisers write JSON (packs/*.json); packjson.py validates it,
# naming every error by its path, and compiles it to the file the pin boots
# from (/pack.bin, `cloudpin pack build`): parsing the JSON on the pin would
# take ~40 KB of a 100 KB heap at boot. This module is what the pin imports:
# the numbers the reader checks, the Pack it keeps (ids, task numbers in
# arrays; on the pin the designs, short names and LED patterns stay in the
# file and are read when drawn or played) and from_bytes(), which reads the
# compiled file back, refusing a torn, corrupt or malformed one (CRC, then
# every field and every drawing operation the drawing code relies on). The
# format's descriptive tables (task kinds, the palette) are packinfo.py's,
# loaded when asked for here (pack.KINDS...): their code took 4.7 KB of
# this module's 11.9 (VM). The validator lives apart because its code alone took
# 20 KB of the pin-sized heap at import: check(), Pack(doc) and to_bytes()
# reach it lazily, for host tools and tests.
# Pure logic that CPython runs too: no hardware or micropython imports.
import binascii
from array import array

MAX_SPORTS = 64
SHORT_MAX = 16  # the 8x8 font on a 135-pixel-wide screen
NAME_MAX = 40
MAX_POINTS = 12
N_KINDS = 9  # task kinds (packinfo.KINDS, in the order of their codes)
N_COLOURS = 16  # colours a design may use (packinfo.COLOURS)
# Task kinds' codes (the engine's per-kind tables).
FRIENDS = 0
FRIENDS_DAY = 1
STEPS_DAY = 2
STEPS_TOTAL = 3
ORGS = 4
ROLES = 5
TAP_DAYS = 6
COLLECTORS = 7
STREAK = 8
# What an RGB LED can show (cloudpin.led): a design's LED pattern uses these.
LED_COLOURS = ("red", "green", "blue", "yellow", "cyan", "magenta", "white")
LED_MAX = 4
# Drawing operations' codes (packinfo.py describes their arguments).
OP_LINE = 1
OP_RECT = 2
OP_ELLIPSE = 3
OP_ARC = 4
OP_POLY = 5


class PackError(ValueError):
    pass


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
        if doc is not None:
            # the JSON side is the host's (and the tests'): the pin never imports it
            from cloudpin.designs import packjson

            packjson.fill(self, doc)

    def index(self, sport_id):
        """The index of the sport with this id, or -1."""
        for i in range(self.count):
            if self.ids[i] == sport_id:
                return i
        return -1

    def on_flash(self, path, at):
        """Read the designs, short names and LED patterns from the compiled
        file at path when asked (at: where each sport's record starts)."""
        cache = [-1, None, -1, None]
        self.designs = _Records(path, at, _DESIGN, cache)
        self.shorts = _Records(path, at, _SHORT, cache)
        self.leds = _Records(path, at, _LEDS, cache)

    def to_bytes(self):
        """The compiled pack file (packjson.to_bytes): host tools and tests."""
        from cloudpin.designs import packjson

        return packjson.to_bytes(self)



MAGIC = b"CPK1"


class _Reader:
    """Reads a compiled pack's fields in order, by index: no slice per
    number (the slices took 2.4 KB of the VM's heap per sport record read,
    tests/fw/test_designs_card_records.py), a memoryview per text or design
    into the one view made here."""

    def __init__(self, data):
        self.d = memoryview(data)
        self.o = 0

    def at(self, n):
        """Where the next n bytes start; past them."""
        o = self.o
        if o + n > len(self.d):
            raise PackError("pack file: truncated")
        self.o = o + n
        return o

    def u8(self):
        return self.d[self.at(1)]

    def u32(self):
        o = self.at(4)
        d = self.d
        return d[o] | d[o + 1] << 8 | d[o + 2] << 16 | d[o + 3] << 24

    def text(self, most, keep):
        """A text of 1 to `most` bytes; "", skipped unread, unless keep."""
        n = self.u8()
        if not 1 <= n <= most:
            raise PackError("pack file: a text of %d bytes" % n)
        o = self.at(n)
        if not keep:
            return ""
        try:
            return str(self.d[o:o + n], "utf-8")
        except UnicodeError:
            raise PackError("pack file: text is not UTF-8")


def check_design(code):
    """Raise PackError unless code is a sequence of whole, known drawing
    operations with colours in the palette (what draw.Canvas.design reads)."""
    i = 0
    n = len(code)
    while i < n:  # allocates nothing (a tuple an operation took 640 bytes a design in the VM)
        op = code[i]
        if op == OP_POLY:
            if i + 4 > n or not 3 <= code[i + 3] <= MAX_POINTS or i + 4 + 2 * code[i + 3] > n:
                raise PackError("pack file: a torn polygon")
            c = code[i + 1]
            step = 4 + 2 * code[i + 3]
        elif OP_LINE <= op <= OP_ARC:
            if i + 7 > n:
                raise PackError("pack file: a torn operation")
            c = code[i + 6] if op == OP_LINE else code[i + 5]
            step = 7
        else:
            raise PackError("pack file: operation %d" % op)
        if c >= N_COLOURS:
            raise PackError("pack file: colour %d" % c)
        i += step


_SHORT = 1  # places in _record()'s tuple
_LEDS = 3
_DESIGN = 4


class _Records:
    """A pack field read from the compiled file when it is asked for (the
    pin's /pack.bin): `designs`, `shorts` or `leds`, indexed like the tuple
    from_bytes() makes in memory, so the pin keeps an offset per sport, not
    the field. from_bytes() checked the whole file at boot; a file changed
    under the pin since then gives an empty design, "?" or no colours, never
    an exception."""

    def __init__(self, path, at, field, cache):
        self.path = path
        self.at = at  # array: where each sport's record starts in the file, and its end
        self.field = field  # the field's place in _record()'s tuple: DESIGN, SHORT or LEDS
        # [index, record, index, record]: the last two records read, shared by
        # the pack's fields. A card needs its design and short name and the next
        # unlock's name; redrawn every 30 s, it reads the file only when the
        # card changed (each read allocates a file object and the record).
        self.cache = cache

    def __len__(self):
        return len(self.at) - 1

    def __getitem__(self, i):
        if not 0 <= i < len(self.at) - 1:
            raise IndexError(i)
        c = self.cache
        if c[0] == i:
            return c[1][self.field]
        if c[2] == i:
            return c[3][self.field]
        try:
            with open(self.path, "rb") as f:
                f.seek(self.at[i])
                rec = f.read(self.at[i + 1] - self.at[i])
            r = _Reader(rec)
            got = _record(r, False)  # a card or an LED pattern uses no id
            if r.o != len(rec):
                raise PackError("pack file: a sport's record changed")
        except (OSError, PackError):
            return ("", "?", 0, (), b"")[self.field]  # not kept: the file may come back
        c[2], c[3], c[0], c[1] = c[0], c[1], i, got
        return got[self.field]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other):
        return tuple(self) == tuple(other)


def _record(r, with_id):
    """(id, short, kind, leds, design, n, extra) of the sport record at r,
    the design a view into r's data; the id "", its length checked but not
    decoded, unless with_id."""
    sid = r.text(24, with_id)
    short = r.text(SHORT_MAX, True)
    k = r.u8()
    if k >= N_KINDS:
        raise PackError("pack file: task kind %d" % k)
    n = r.u32() & 0x7FFFFFFF
    extra = r.u32() & 0x7FFFFFFF
    m = r.u8()
    if not 1 <= m <= LED_MAX:
        raise PackError("pack file: %d LED colours" % m)
    led = []
    for _ in range(m):
        c = r.u8()
        if c >= len(LED_COLOURS):
            raise PackError("pack file: LED colour %d" % c)
        led.append(LED_COLOURS[c])
    size = r.u8() | r.u8() << 8
    o = r.at(size)
    d = r.d[o:o + size]
    check_design(d)
    return (sid, short, k, tuple(led), d, n, extra)


def from_bytes(data, path=None):
    """The Pack in a compiled pack file's bytes; PackError for anything
    else (a torn, corrupt or foreign file), never another exception.
    path: the file the bytes came from; the Pack then reads each design,
    short name and LED pattern from it when asked (see _Records)."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise PackError("pack file: not a compiled pack (%s)" % str(MAGIC, "ascii"))
    r = _Reader(memoryview(data)[4:])
    crc = r.u32()
    if binascii.crc32(memoryview(data)[8:]) != crc:
        raise PackError("pack file: CRC mismatch (torn or corrupt)")
    p = Pack()
    p.event = r.text(NAME_MAX * 4, True)
    p.count = r.u8()
    if not 1 <= p.count <= MAX_SPORTS:
        raise PackError("pack file: %d sports" % p.count)
    # The arrays made at their size and, on the pin, the ids read once every
    # record is checked: read between each record's garbage, the ids left the
    # heap strewn with small blocks and no run for the card's 2 KB band
    # (tests/test_designs_m5.py, the check's 512 bytes to spare).
    c = p.count
    ids, kinds, at = [], bytearray(c), array("i", bytes(4 * (c + 1)))
    p.n, p.extra = array("i", bytes(4 * c)), array("i", bytes(4 * c))
    shorts, leds, designs = [], [], []
    for i in range(c):
        at[i] = 4 + r.o
        rec = _record(r, path is None)
        kinds[i] = rec[2]
        p.n[i] = rec[5]
        p.extra[i] = rec[6]
        if path is None:
            ids.append(rec[0])
            shorts.append(rec[1])
            leds.append(rec[3])
            designs.append(bytes(rec[4]))
        rec = None
    if r.o != len(r.d):
        raise PackError("pack file: %d bytes after the last sport" % (len(r.d) - r.o))
    at[c] = 4 + r.o
    if path is not None:
        for i in range(c):
            r.o = at[i] - 4
            ids.append(r.text(24, True))
    p.ids, p.kinds = tuple(ids), bytes(kinds)
    if path is None:
        p.shorts, p.leds, p.designs = tuple(shorts), tuple(leds), tuple(designs)
    else:
        p.on_flash(path, at)
    return p


def load(path="pack.bin"):
    """The compiled pack in the file at path (the pin's /pack.bin), its
    designs, short names and LED patterns left on flash until asked for;
    PackError naming why it cannot be used otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PackError("pack %s: cannot read (%r)" % (path, e))
    return from_bytes(data, path)


def __getattr__(name):
    # The descriptive tables (KINDS, COLOURS, BOX, check()...): packinfo.py's.
    from cloudpin.designs import packinfo

    return getattr(packinfo, name)

# Drawing the designs with framebuf: the same code draws on a pin's display
# and, run in the MicroPython unix VM, the host's PNGs (cloudpin designs).
#
# The screen is drawn a band of BAND rows at a time, never whole: each band
# into an RGB565 FrameBuffer as the LCD takes it (the pack's 16 colours
# looked up in the palette's), every shape moved up by the band's top
# (framebuf clips what falls outside), and sent. A whole 4-bit frame would
# be 16,320 bytes of the M5StickC Plus's 100 KB heap, RGB565 63 KB; the band
# is 2,160 (docs/designs.md "The heap"). The price: the card is drawn once
# per band (the design only in the bands its box crosses). card() reads
# what the card shows (its records from the pack, once); push() draws and
# sends it. The band is allocated once by Canvas(); drawing and pushing
# allocate nothing (no floats, no string building: numbers are drawn digit
# by digit from strings made once).
import framebuf
from array import array

from micropython import const

from cloudpin.designs import BAND
from cloudpin.designs import pack as packfmt

DESIGN_Y = const(14)
_BLACK = const(0)
_WHITE = const(1)
_GREY = const(2)
_DARK = const(3)
_GREEN = const(7)
_YELLOW = const(6)
_SKY = const(9)
# What each task kind's n counts, in at most 11 characters (plural, then for n = 1).
UNITS = ("friends", "friends/day", "steps/day", "steps", "orgs", "roles", "tap days", "collectors",
         "day streak")
UNIT = ("friend", "friend/day", "step/day", "step", "org", "role", "tap day", "collector", "day streak")


def _tables():
    # What drawing needs of packinfo's tables, read once: the drawing box,
    # the palette (3 bytes a colour) and its locked form, each colour as
    # black, dark or grey by its luminance (the design shows as a dim
    # silhouette of itself). The pin keeps these 64 bytes, not packinfo
    # (3.9 KB of the VM's heap from /rom): the designs service drops it.
    from cloudpin.designs import packinfo

    rgb = bytearray()
    greyed = bytearray()
    for name, c in packinfo.COLOURS:
        rgb.extend(bytes(c))
        y = (299 * c[0] + 587 * c[1] + 114 * c[2]) // 1000
        greyed.append(_BLACK if y < 80 else _DARK if y < 170 else _GREY)
    return packinfo.BOX, bytes(rgb), bytes(greyed)


BOX, _RGB, GREYED = _tables()


def palette_rgb565(color):
    """The pack's colours as a 16x1 RGB565 FrameBuffer (colours from
    color(r, g, b), e.g. cloudpin.st7789.color: byte order for the LCD)."""
    n = len(GREYED)
    buf = bytearray(2 * n)
    fb = framebuf.FrameBuffer(buf, n, 1, framebuf.RGB565)
    for i in range(n):
        fb.pixel(i, 0, color(_RGB[3 * i], _RGB[3 * i + 1], _RGB[3 * i + 2]))
    return fb


class Canvas:
    def __init__(self, width=135, height=240):
        self.width = width
        self.height = height
        # The band, drawn in RGB565 as the LCD takes it: the pack's colour
        # i is _col[i], read from the palette at each push.
        self._band = bytearray(2 * width * BAND)
        self.fb = framebuf.FrameBuffer(self._band, width, BAND, framebuf.RGB565)
        self._col = array("H", bytes(2 * len(GREYED)))
        self._pts = array("h", bytes(4 * packfmt.MAX_POINTS))
        self._digits = tuple("0123456789")
        rest = height % BAND
        self._last = memoryview(self._band)[: 2 * width * rest] if rest else self._band
        self.ox = (width - BOX) // 2
        self.y0 = 0  # the top row of the band being drawn
        # The card to draw (card()): its records read once, for every band.
        self._pack = None
        self._i = 0
        self._code = b""
        self._short = ""
        self._next_short = ""
        self._unlocked = False
        self._cur = 0
        self._target = 0
        self._n_unlocked = 0
        self._next_i = -1
        self._next_cur = 0
        self._next_target = 0

    # --- a design ------------------------------------------------------------
    def design(self, code, ox, oy, cmap=None):
        """Draw a compiled design (pack.Pack.designs[i]) with its top left
        at (ox, oy) of the band; cmap (16 bytes, e.g. GREYED) maps its colours."""
        fb = self.fb
        col = self._col
        i = 0
        n = len(code)
        while i < n:
            op = code[i]
            if op == packfmt.OP_POLY:
                c = code[i + 1] if cmap is None else cmap[code[i + 1]]
                k = code[i + 3]
                pts = self._pts
                for j in range(packfmt.MAX_POINTS):
                    # Short polygons repeat their last point: poly() takes the whole array.
                    src = i + 4 + 2 * (j if j < k else k - 1)
                    pts[2 * j] = code[src]
                    pts[2 * j + 1] = code[src + 1]
                fb.poly(ox, oy, pts, col[c], code[i + 2])
                i += 4 + 2 * k
                continue
            a = code[i + 1] + ox
            b = code[i + 2] + oy
            if op == packfmt.OP_LINE:
                self.line(a, b, code[i + 3] + ox, code[i + 4] + oy, code[i + 5],
                          col[code[i + 6] if cmap is None else cmap[code[i + 6]]])
            elif op == packfmt.OP_RECT:
                c = col[code[i + 5] if cmap is None else cmap[code[i + 5]]]
                if code[i + 6]:
                    fb.fill_rect(a, b, code[i + 3], code[i + 4], c)
                else:
                    fb.rect(a, b, code[i + 3], code[i + 4], c)
            elif op == packfmt.OP_ELLIPSE:
                fb.ellipse(a, b, code[i + 3], code[i + 4], col[code[i + 5] if cmap is None else cmap[code[i + 5]]], code[i + 6])
            elif op == packfmt.OP_ARC:
                fb.ellipse(a, b, code[i + 3], code[i + 4], col[code[i + 5] if cmap is None else cmap[code[i + 5]]], False,
                           code[i + 6])
            i += 7

    def line(self, x1, y1, x2, y2, w, c):
        """A line w pixels thick with round ends in colour value c (integer
        steps across the line's minor axis: no floats, which the ESP32 port boxes)."""
        fb = self.fb
        h = w // 2
        if abs(x2 - x1) >= abs(y2 - y1):
            for o in range(-h, w - h):
                fb.line(x1, y1 + o, x2, y2 + o, c)
        else:
            for o in range(-h, w - h):
                fb.line(x1 + o, y1, x2 + o, y2, c)
        if w >= 3:
            fb.ellipse(x1, y1, h, h, c, True)
            fb.ellipse(x2, y2, h, h, c, True)

    # --- text and numbers (y: the screen's row; drawn into the band) ----------
    def number(self, n, x, y, c):
        """n in decimal at (x, y); returns the x after it."""
        d = 1
        y -= self.y0
        c = self._col[c]
        while d * 10 <= n:
            d *= 10
        while d:
            self.fb.text(self._digits[n // d % 10], x, y, c)
            x += 8
            d //= 10
        return x

    def text(self, text, x, y, c):
        self.fb.text(text, x, y - self.y0, self._col[c])

    def centred(self, text, y, c):
        self.fb.text(text, max(0, (self.width - 8 * len(text)) // 2), y - self.y0, self._col[c])

    def bar(self, x, y, w, cur, target, c):
        """A progress bar cur/target (integer maths) w pixels wide."""
        fb = self.fb
        col = self._col
        y -= self.y0
        fb.rect(x, y, w, 8, col[_GREY])
        if target > 0:
            fill = (w - 4) * min(cur, target) // target
            if fill > 0:
                fb.fill_rect(x + 2, y + 2, fill, 4, col[c])

    def padlock(self, x, y):
        """A padlock 36 wide, 44 high, its top left at (x, y)."""
        fb = self.fb
        col = self._col
        y -= self.y0
        for r in range(10, 16):
            fb.ellipse(x + 18, y + 16, r, r, col[_WHITE if 10 < r < 15 else _BLACK], False, 3)
        fb.fill_rect(x + 3, y + 16, 6, 5, col[_BLACK])
        fb.fill_rect(x + 27, y + 16, 6, 5, col[_BLACK])
        fb.fill_rect(x + 4, y + 16, 4, 5, col[_WHITE])
        fb.fill_rect(x + 28, y + 16, 4, 5, col[_WHITE])
        fb.fill_rect(x, y + 20, 36, 24, col[_YELLOW])
        fb.rect(x, y + 20, 36, 24, col[_BLACK])
        fb.fill_rect(x + 16, y + 27, 4, 10, col[_BLACK])

    # --- the screen ----------------------------------------------------------
    def card(self, pack, i, unlocked, cur, target, n_unlocked, next_i=-1, next_cur=0, next_target=0):
        """The card push() draws for design i: its short name, the design
        (or its locked form: greyed under a padlock), the task with a
        progress bar (cur of target), how many are unlocked, and progress
        toward the next unlock (next_i, -1 for none). Reads the records it
        shows from the pack once (a card not among the last two read
        allocates them); else allocates nothing."""
        self._pack = pack
        self._i = i
        self._code = pack.designs[i]
        self._short = pack.shorts[i]
        self._next_short = pack.shorts[next_i] if next_i >= 0 and next_i != i else ""
        self._unlocked = unlocked
        self._cur = cur
        self._target = target
        self._n_unlocked = n_unlocked
        self._next_i = next_i
        self._next_cur = next_cur
        self._next_target = next_target

    def _draw(self):
        """The band of the card whose top row is self.y0."""
        fb = self.fb
        w = self.width
        y0 = self.y0
        pack = self._pack
        i = self._i
        unlocked = self._unlocked
        black = self._col[_BLACK]
        fb.fill(black)
        if pack is None:  # no card yet: black
            return
        ox = self.ox
        box = BOX
        if self._rows(DESIGN_Y - 1, box + 2):  # the band crosses the design's box
            if unlocked:
                self.design(self._code, ox, DESIGN_Y - y0)
            else:
                self.design(self._code, ox, DESIGN_Y - y0, GREYED)
                self.padlock(ox + (box - 36) // 2, DESIGN_Y + (box - 44) // 2)
            # Clip: a design may reach past its box (a hill, a wave); what it
            # drew outside is cleared before the text goes there.
            fb.fill_rect(0, -y0, w, DESIGN_Y - 1, black)
            fb.fill_rect(0, DESIGN_Y + box + 1 - y0, w, self.height, black)
            fb.fill_rect(0, -y0, ox - 1, self.height, black)
            fb.fill_rect(ox + box + 1, -y0, w, self.height, black)
            fb.rect(ox - 1, DESIGN_Y - 1 - y0, box + 2, box + 2, self._col[_DARK])
        # Each line only in the bands it crosses (8 rows of text, a bar 8).
        if self._rows(3, 8):
            self.centred(self._short, 3, _WHITE)
        y = DESIGN_Y + BOX + 6
        kind = pack.kinds[i]
        if self._rows(y, 8):
            self.text("UNLOCKED" if unlocked else "LOCKED", 2, y, _GREEN if unlocked else _GREY)
            x = self.number(self._n_unlocked, w - 8 * 6, y, _WHITE)
            self.text("/", x, y, _GREY)
            self.number(pack.count, x + 8, y, _GREY)
        y += 12
        if self._rows(y, 8):
            x = self.number(pack.n[i], 2, y, _WHITE)
            self.text((UNIT if pack.n[i] == 1 else UNITS)[kind], x + 4, y, _WHITE)
        y += 11
        if (kind == packfmt.COLLECTORS or kind == packfmt.STREAK) and self._rows(y, 8):
            # The extra condition: a collector made that many in a day; a streak day has that many steps.
            self.text("of", 2, y, _GREY)
            x = self.number(pack.extra[i], 22, y, _GREY)
            self.text("made" if kind == packfmt.COLLECTORS else "steps", x + 4, y, _GREY)
        y += 11
        target = self._target
        if self._rows(y, 8):
            self.bar(2, y, w - 4, target if unlocked else self._cur, target, _GREEN if unlocked else _SKY)
        y += 10
        if not unlocked and self._rows(y, 8):
            x = self.number(self._cur, 2, y, _SKY)
            self.text("/", x, y, _GREY)
            self.number(target, x + 8, y, _GREY)
        y = self.height - 34
        if self._next_i >= 0 and self._next_i != i and self._rows(y, 31):
            self.text("next unlock", 2, y, _GREY)
            self.text(self._next_short, 2, y + 11, _WHITE)
            self.bar(2, y + 23, w - 4, self._next_cur, self._next_target, _SKY)

    def _rows(self, y, h):
        """Rows y .. y + h - 1 of the screen cross the band being drawn."""
        return y < self.y0 + BAND and y + h > self.y0

    def show(self, engine, lcd, palette):
        """The card of the design `engine` (designs.engine.Designs) shows (before
        any unlock: the next one's, locked) on lcd, through palette."""
        e = engine
        ni, ncur, nn = e.next_unlock()
        i = e.selected if e.selected >= 0 else max(ni, 0)
        cur, n = e.progress(i)
        self.card(e.pack, i, e.got[i], cur, n, len(e.order), ni, ncur, nn)
        self.push(lcd, palette)

    # --- to the LCD ----------------------------------------------------------
    def push(self, lcd, palette):
        """Draw the card (card()) and send it to lcd (cloudpin.st7789.ST7789)
        a band at a time, in the colours of palette (palette_rgb565())."""
        col = self._col
        for i in range(len(col)):
            col[i] = palette.pixel(i, 0)
        y = 0
        while y < self.height:
            h = min(BAND, self.height - y)
            self.y0 = y
            self._draw()
            lcd.blit(self._band if h == BAND else self._last, 0, y, self.width, h)
            y += BAND
        self.y0 = 0

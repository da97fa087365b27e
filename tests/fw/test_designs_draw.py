# Drawing the designs (firmware/cloudpin/designs/draw.py) with framebuf in
# the MicroPython VM (CPython has no framebuf): the pixels land where the
# pack says in the colour it names, the locked form differs from the
# unlocked one, a push sends the whole screen in RGB565 for the ST7789, and
# drawing and pushing allocate nothing beyond the frame and band buffers.
import gc

from cloudpin.designs import pack

_DOC = {"format": 1, "event": "Test", "sports": [
    {"id": "flag", "name": "Flag", "short": "Flag", "task": {"kind": "friends", "n": 4}, "led": ["red"],
     "design": [["rect", 0, 0, 128, 128, "sky", 1], ["rect", 10, 20, 30, 12, "red", 1],
                ["line", 64, 10, 64, 120, 5, "white"], ["ellipse", 100, 100, 10, 10, "yellow", 1],
                ["poly", "green", 1, [0, 127, 40, 90, 80, 127]]]},
    {"id": "dot", "name": "Dot", "short": "Dot", "task": {"kind": "steps_day", "n": 5000}, "led": ["blue"],
     "design": [["ellipse", 64, 64, 30, 30, "blue", 1]]}]}


class Lcd:
    """What the ST7789 driver's blit gets: the bytes' count and CRC, and the
    pixels at the probe points (a whole 135x240 RGB565 copy would not fit
    the pin-sized heap the VM runs with: why the pin draws in bands)."""

    def __init__(self, width, probes):
        self.width = width
        self.probes = probes
        self.seen = {}
        self.calls = 0
        self.bytes = 0
        self.crc = 0

    def blit(self, buf, x, y, w, h):
        import binascii

        assert len(buf) == w * h * 2
        for px, py in self.probes:
            if x <= px < x + w and y <= py < y + h:
                o = ((py - y) * w + px - x) * 2
                self.seen[(px, py)] = buf[o] << 8 | buf[o + 1]
        self.calls += 1
        self.bytes += len(buf)
        self.crc = binascii.crc32(buf, self.crc)


def _pixel(lcd, x, y):
    return lcd.seen[(x, y)]


def _rgb565(rgb):
    return ((rgb[0] & 0xF8) << 8) | ((rgb[1] & 0xFC) << 3) | (rgb[2] >> 3)


def test_mp_the_design_lands_where_the_pack_says_in_its_colours():
    from cloudpin.designs import draw
    from cloudpin.st7789 import color

    p = pack.Pack(_DOC)
    c = draw.Canvas(135, 240)
    ox, oy = c.ox, draw.DESIGN_Y
    probes = [(ox + 15, oy + 25), (ox + 5, oy + 5), (ox + 64, oy + 60), (ox + 62, oy + 60), (ox + 100, oy + 100),
              (ox + 40, oy + 120), (0, 239)]
    probes += [(x, y) for y in range(oy, oy + 128, 3) for x in range(ox, ox + 128, 3)]
    lcd = Lcd(135, probes)
    pal = draw.palette_rgb565(color)
    c.card(p, 0, True, 4, 4, 1)
    c.push(lcd, pal)
    assert lcd.bytes == 135 * 240 * 2 and lcd.calls == (240 + draw.BAND - 1) // draw.BAND
    rgb = dict(pack.COLOURS)
    assert _pixel(lcd, ox + 15, oy + 25) == _rgb565(rgb["red"])  # inside the red rect
    assert _pixel(lcd, ox + 5, oy + 5) == _rgb565(rgb["sky"])  # the background
    assert _pixel(lcd, ox + 64, oy + 60) == _rgb565(rgb["white"])  # the thick line
    assert _pixel(lcd, ox + 62, oy + 60) == _rgb565(rgb["white"])
    assert _pixel(lcd, ox + 100, oy + 100) == _rgb565(rgb["yellow"])
    assert _pixel(lcd, ox + 40, oy + 120) == _rgb565(rgb["green"])
    assert _pixel(lcd, 0, 239) == 0  # outside the box: black
    unlocked = lcd.crc
    lcd.crc = 0
    c.card(p, 0, False, 1, 4, 0)
    c.push(lcd, pal)
    assert lcd.crc != unlocked
    # locked: every pixel of the design box is black, dark, grey, white or the padlock's yellow
    greys = set(_rgb565(rgb[n]) for n in ("black", "dark", "grey", "white", "yellow"))
    for y in range(oy, oy + 128, 3):
        for x in range(ox, ox + 128, 3):
            assert _pixel(lcd, x, y) in greys, (x, y)
    # two designs differ
    lcd.crc = 0
    c.card(p, 1, True, 0, 5000, 1)
    c.push(lcd, pal)
    assert lcd.crc != unlocked


def test_mp_drawing_and_pushing_allocate_nothing_beyond_the_buffers():
    from cloudpin.designs import draw
    from cloudpin.st7789 import color

    p = pack.Pack(_DOC)
    pal = draw.palette_rgb565(color)

    class Sink:
        def blit(self, buf, x, y, w, h):
            pass

    sink = Sink()
    gc.collect()
    a = gc.mem_alloc()
    c = draw.Canvas(135, 240)
    made = gc.mem_alloc() - a
    # the card is drawn a band at a time, in RGB565 as it is sent: no frame
    band = 135 * 2 * draw.BAND
    assert band <= made < band + 1024, made
    c.card(p, 0, True, 4, 4, 1, 1, 2500, 5000)
    c.push(sink, pal)
    gc.collect()
    a = gc.mem_alloc()
    for i in (0, 1):
        for unlocked in (True, False):
            c.card(p, i, unlocked, 123, 5000, 1, 1 - i, 2500, 5000)
            c.push(sink, pal)
    assert gc.mem_alloc() - a == 0, gc.mem_alloc() - a

# Sitronix ST7789V LCD controller (datasheet ST7789V v1.6; command names as
# there) on the 4-line SPI interface: CS and D/C are GPIOs the driver drives
# (D/C low: a command byte; high: its parameters or pixels). 16-bit RGB565
# pixels, sent high byte first.
#
# A panel smaller than the controller's 240x320 memory shows a window of it:
# the M5StickC Plus's 135x240 glass starts at column 52, row 40 (the board
# file's display.x_offset / y_offset).
#
# framebuf.RGB565 stores each pixel low byte first, the reverse of what the
# controller takes: colours given to a FrameBuffer that is blitted here must
# be byte-swapped (color()).
import time

from micropython import const

_SWRESET = const(0x01)
_SLPIN = const(0x10)
_SLPOUT = const(0x11)
_NORON = const(0x13)
_INVOFF = const(0x20)
_INVON = const(0x21)
_DISPON = const(0x29)
_CASET = const(0x2A)
_RASET = const(0x2B)
_RAMWR = const(0x2C)
_MADCTL = const(0x36)
_COLMOD = const(0x3A)
_COLMOD_RGB565 = const(0x55)  # 65K colours on the RGB interface, 16 bit a pixel


def color(r, g, b):
    """An RGB565 colour (8-bit components) as a FrameBuffer must hold it
    for blit(): byte-swapped."""
    c = ((r & 0xF8) << 8) | ((g & 0xFC) << 3) | (b >> 3)
    return ((c & 0xFF) << 8) | (c >> 8)


class ST7789:
    def __init__(self, spi, cs, dc, rst=None, width=135, height=240, x_offset=52, y_offset=40, invert=False):
        """spi: machine.SPI; cs, dc, rst: machine.Pin outputs (rst may be
        None); invert: the glass shows colours inverted (IPS panels) and
        the controller must invert them back."""
        self.spi = spi
        self.cs = cs
        self.dc = dc
        self.rst = rst
        self.width = width
        self.height = height
        self.x0 = x_offset
        self.y0 = y_offset
        self.invert = invert
        self._c = bytearray(1)
        self._p = bytearray(4)
        cs.value(1)

    def _command(self, c, params=None):
        self._c[0] = c
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(self._c)
        if params is not None:
            self.dc.value(1)
            self.spi.write(params)
        self.cs.value(1)

    def _command1(self, c, p):
        self._p[0] = p
        self._command(c, memoryview(self._p)[:1])

    def init(self):
        """Reset and wake the controller: 16-bit colour, display on. Takes
        about 300 ms (the datasheet's waits after reset and sleep-out)."""
        if self.rst is not None:
            self.rst.value(0)
            time.sleep_ms(1)  # RESX low >= 10 us
            self.rst.value(1)
            time.sleep_ms(120)  # reset to the next command: 120 ms if it was asleep
        self._command(_SWRESET)
        time.sleep_ms(150)
        self._command(_SLPOUT)
        time.sleep_ms(10)  # 5 ms before the next command
        self._command1(_COLMOD, _COLMOD_RGB565)
        self._command1(_MADCTL, 0)  # rows top to bottom, columns left to right, RGB order
        self._command(_INVON if self.invert else _INVOFF)
        self._command(_NORON)
        self._command(_DISPON)

    def sleep(self, on):
        """Sleep in (True) or out. Asleep the controller stops its DC-DC,
        oscillator and panel scan (7.5 mA -> 30 uA, docs/power.md) and the
        glass goes blank, but its memory keeps the picture and still takes
        writes (datasheet 9.1.11 SLPIN): sleeping out shows it again, no
        redraw needed. Its waits (120 ms between the two, 5 ms after
        SLPOUT) are shorter than the screen policy's (cloudpin.display)."""
        self._command(_SLPIN if on else _SLPOUT)

    def window(self, x, y, w, h):
        """Set the address window to w x h pixels at (x, y) of the panel."""
        x += self.x0
        y += self.y0
        self._command(_CASET, self._span(x, x + w - 1))
        self._command(_RASET, self._span(y, y + h - 1))

    def _span(self, a, b):
        # One element at a time: a 4-tuple assignment would build a tuple.
        p = self._p
        p[0] = a >> 8
        p[1] = a & 0xFF
        p[2] = b >> 8
        p[3] = b & 0xFF
        return p

    def blit(self, buf, x, y, w, h):
        """w x h RGB565 pixels (a FrameBuffer's buffer, colours from color())
        at (x, y). Allocates nothing."""
        self.window(x, y, w, h)
        self._command(_RAMWR, buf)

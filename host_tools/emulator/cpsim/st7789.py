# Sitronix ST7789V display controller (datasheet ST7789V v1.6) on the
# emulated SPI bus, 4-line serial interface: CS low selects the chip, D/C low
# marks a command byte, high its parameters or pixel data. Register-level:
#   SWRESET 01, SLPIN 10, SLPOUT 11, NORON 13, INVOFF 20, INVON 21,
#   DISPOFF 28, DISPON 29, CASET 2A, RASET 2B, RAMWR 2C, MADCTL 36, COLMOD 3A.
# Other commands are accepted and ignored (their parameters too).
#
# The controller's memory is 240 x 320 pixels; a smaller panel shows a
# window of it (the M5StickC Plus's 135 x 240 glass starts at column 52,
# row 40). Only that window is kept, as RGB565 big-endian words (what
# RAMWR sends in COLMOD 0x55): `ram` is a bytearray, or with `path` a file
# (a 4-byte header: b"ST", lit, inverted; then the words), so a virtual
# badge's display costs the VM no heap and the host can read what the glass
# shows from the file at any time (read_file()). The VM's files are
# unbuffered (each write is a write(2)), so no flush: in the unix port a
# flush is an fsync, milliseconds each.
#
# What the chip does that a careless driver would trip over, modelled:
# after reset (power-on, SWRESET) it sleeps with the display off and in
# 18-bit colour (COLMOD 0x66: 3 bytes a pixel), so a driver that skips
# SLPOUT, DISPON or COLMOD shows nothing or garbage; shown() is what the
# glass shows (black unless awake and on; inverted with INVON).
# The wiring is checked as the chip would feel it: bytes reach it only from
# the SPI host driving its SCK/MOSI pins, in mode 0 or 3 (it samples on the
# rising edge), at up to 62.5 MHz (16 ns write cycle, datasheet 7.4), with
# CS low and RST high; anything else it does not see.
# Not modelled: timing (120 ms after SLPOUT), the RST pulse itself (held low
# it ignores the bus; drivers pulse it and then send SWRESET, which is
# modelled), reads, scrolling.

SWRESET = 0x01
SLPIN = 0x10
SLPOUT = 0x11
NORON = 0x13
INVOFF = 0x20
INVON = 0x21
DISPOFF = 0x28
DISPON = 0x29
CASET = 0x2A
RASET = 0x2B
RAMWR = 0x2C
MADCTL = 0x36
COLMOD = 0x3A

_MEM_W = 240
_MEM_H = 320
_MY, _MX, _MV = 0x80, 0x40, 0x20


class ST7789:
    def __init__(self, cs, dc, width=135, height=240, x_offset=52, y_offset=40, path=None, panel_inverts=False,
                 sck=None, mosi=None, rst=None):
        self.cs = cs  # GPIO numbers of the Device the lines are wired to
        self.dc = dc
        self.sck = sck  # None: any host's pins reach it
        self.mosi = mosi
        self.rst = rst
        self.width = width
        self.height = height
        self.x0 = x_offset
        self.y0 = y_offset
        self.device = None
        self.path = path
        # An IPS glass shows the memory's colours inverted unless the
        # controller inverts them back (INVON): the board file's display.invert.
        self.panel_inverts = panel_inverts
        self._file = None
        if path is None:
            self.ram = bytearray(width * height * 2)
        else:
            self.ram = None
            with open(path, "wb") as f:  # what the panel shows before anything is written
                f.write(b"ST\x00\x00")
                row = bytes(width * 2)
                for _ in range(height):
                    f.write(row)
            self._file = open(path, "r+b")
            self._run = bytearray(width * 2 * 4)  # contiguous pixels not yet in the file
            self._run_at = 0  # file offset of _run[0]
            self._run_n = 0
        self.backlit = True  # the backlight's supply (a power chip's LDO may switch it)
        self.commands = 0  # command bytes received (for tests)
        self.garbled = 0  # transfers it could not have read
        self.pixels = 0  # pixels written to the visible window
        self._reset()

    def _reset(self):
        self.asleep = True
        self.on = False
        self.inverted = False
        self._state()
        self.madctl = 0
        self.colmod = 0x66
        self.xs, self.xe = 0, _MEM_W - 1
        self.ys, self.ye = 0, _MEM_H - 1
        self._cmd = None
        self._params = bytearray(4)
        self._np = 0
        self._x = self._y = 0
        self._part = bytearray(3)  # bytes of a pixel split across transfers
        self._npart = 0

    def attach(self, device):
        from cpsim import gpio  # here, not at the top: the host loads this file alone (read_file)

        self.device = device
        self._gpio = gpio
        self._state()

    def lit(self):
        return not self.asleep and self.on and self.backlit

    def set_backlight(self, on):
        self.backlit = bool(on)
        self._state()

    def _level(self, pin):
        return self._gpio.state(self.device, pin).level

    # --- the bus ----------------------------------------------------------------
    def spi_transfer(self, spi, data, out):
        if self._level(self.cs):
            return  # not selected
        if self.rst is not None and not self._level(self.rst):
            self._reset()  # held in reset
            return
        if (self.sck is not None and (spi.sck, spi.mosi) != (self.sck, self.mosi)) \
                or spi.polarity != spi.phase or spi.baudrate > 62500000:
            self.garbled += 1  # clocked on other pins, the wrong edge, or too fast
            return
        if self._level(self.dc):
            self._data(data)
        else:
            for b in data:
                self._command(b)
        if self._file is not None:
            self._flush()

    def _state(self):
        acct = getattr(getattr(self, "device", None), "acct", None)
        if acct is not None:
            # the power model's display time: the controller awake (SLPOUT:
            # its DC-DC and oscillator run, whether DISPON or not) and the
            # backlight's supply on (docs/power.md)
            acct.state("display", "asleep" if self.asleep else "awake")
            acct.state("backlight", "on" if self.backlit else "off")
        if self._file is not None:
            f = self._file
            f.seek(2)
            f.write(bytes((self.lit(), self.inverted != self.panel_inverts)))

    def _command(self, c):
        self.commands += 1
        self._cmd = c
        self._np = 0
        self._npart = 0
        if c == SWRESET:
            self._reset()
        elif c in (SLPIN, SLPOUT):
            self.asleep = c == SLPIN
            self._state()
        elif c in (DISPON, DISPOFF):
            self.on = c == DISPON
            self._state()
        elif c in (INVON, INVOFF):
            self.inverted = c == INVON
            self._state()
        elif c == RAMWR:
            self._x, self._y = self.xs, self.ys

    def _data(self, data):
        c = self._cmd
        if c == RAMWR:
            self._pixels(data)
            return
        for b in data:
            if self._np < 4:
                self._params[self._np] = b
            self._np += 1
            p = self._params
            if c == CASET and self._np == 4:
                self.xs, self.xe = (p[0] << 8) | p[1], (p[2] << 8) | p[3]
            elif c == RASET and self._np == 4:
                self.ys, self.ye = (p[0] << 8) | p[1], (p[2] << 8) | p[3]
            elif c == MADCTL and self._np == 1:
                self.madctl = b
            elif c == COLMOD and self._np == 1:
                self.colmod = b

    def _pixels(self, data):
        size = 2 if self.colmod & 7 == 5 else 3
        start = 0
        if size == 2 and not self.madctl & (_MV | _MX | _MY) and not self._npart:
            start = self._rows(data)
        part = self._part
        for j in range(start, len(data)):
            b = data[j]
            part[self._npart] = b
            self._npart += 1
            if self._npart < size:
                continue
            self._npart = 0
            if size == 2:
                hi, lo = part[0], part[1]
            else:  # RGB666 in the top 6 bits of 3 bytes -> RGB565
                r, g, bl = part[0], part[1], part[2]
                hi, lo = (r & 0xF8) | (g >> 5), ((g << 3) & 0xE0) | (bl >> 3)
            self._put(self._x, self._y, hi, lo)
            # The address counter runs along a row, then to the next (datasheet 8.12).
            if self._x < self.xe:
                self._x += 1
            else:
                self._x = self.xs
                self._y = self._y + 1 if self._y < self.ye else self.ys

    def _rows(self, data):
        """The common case at the speed of a copy: RGB565 in the default
        orientation, a row segment at a time; returns the bytes consumed
        (whole pixels). Same result as _put() pixel by pixel."""
        i = 0
        n = len(data)
        mv = memoryview(data)
        while n - i >= 2:
            run = min(self.xe - self._x + 1, (n - i) // 2)
            if run <= 0:  # a window set with its end before its start
                break
            y = self._y - self.y0
            a = max(0, self._x - self.x0)
            z = min(self.width, self._x + run - self.x0)
            if 0 <= y < self.height and a < z:
                src = mv[i + 2 * (a - (self._x - self.x0)):i + 2 * (z - (self._x - self.x0))]
                self._store((y * self.width + a) * 2, src)
                self.pixels += z - a
            i += 2 * run
            self._x += run
            if self._x > self.xe:
                self._x = self.xs
                self._y = self._y + 1 if self._y < self.ye else self.ys
        return i

    def _store(self, at, src):
        if self._file is None:
            self.ram[at:at + len(src)] = src
            return
        self._flush()
        f = self._file
        f.seek(at + 4)  # after the file's header
        f.write(src)

    def _put(self, x, y, hi, lo):
        m = self.madctl
        if m & _MV:
            x, y = y, x
        if m & _MX:
            x = (_MEM_H if m & _MV else _MEM_W) - 1 - x
        if m & _MY:
            y = (_MEM_W if m & _MV else _MEM_H) - 1 - y
        x -= self.x0
        y -= self.y0
        if not (0 <= x < self.width and 0 <= y < self.height):
            return  # memory the glass does not show
        i = (y * self.width + x) * 2
        self.pixels += 1
        if self._file is None:
            self.ram[i] = hi
            self.ram[i + 1] = lo
            return
        i += 4  # the file's header
        if self._run_n and (i != self._run_at + self._run_n or self._run_n == len(self._run)):
            self._flush()  # not contiguous, or the buffer is full
        if not self._run_n:
            self._run_at = i
        self._run[self._run_n] = hi
        self._run[self._run_n + 1] = lo
        self._run_n += 2

    def _flush(self):
        n = self._run_n
        if n:
            f = self._file
            f.seek(self._run_at)
            # A full run goes as it is: a slice would be an object per write.
            f.write(self._run if n == len(self._run) else memoryview(self._run)[:n])
            self._run_n = 0

    # --- what the glass shows (host side) ---------------------------------------
    def shown(self):
        """What a person sees: width x height RGB565 big-endian words, the
        memory while awake, on and backlit (colours inverted when INVON and
        the glass disagree), else black."""
        if self._file is not None:
            self._file.flush()  # CPython buffers its files (the VM's are unbuffered)
            return read_file(self.path)
        return shown(bytes(self.ram), self.lit(), self.inverted != self.panel_inverts)

    def save_png(self, path):
        save_png(self.shown(), self.width, self.height, path)


def shown(frame, lit=True, inverted=False):
    if not lit:
        return bytes(len(frame))
    if inverted:
        return bytes(b ^ 0xFF for b in frame)
    return frame


def read_file(path):
    """What the glass shows, from the file a model with `path` keeps."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"ST":
        raise ValueError("%s is not an emulated ST7789's memory" % path)
    return shown(data[4:], data[2], data[3])


def save_png(frame, width, height, path):
    """RGB565 big-endian words -> an RGB PNG (host only: needs Pillow)."""
    image(frame, width, height).save(path, format="PNG")


def image(frame, width, height):
    """RGB565 big-endian words -> a Pillow RGB image (host only)."""
    from PIL import Image

    px = bytearray(width * height * 3)
    for i in range(width * height):
        v = (frame[2 * i] << 8) | frame[2 * i + 1]
        r, g, b = v >> 11, (v >> 5) & 0x3F, v & 0x1F
        px[3 * i] = (r << 3) | (r >> 2)
        px[3 * i + 1] = (g << 2) | (g >> 4)
        px[3 * i + 2] = (b << 3) | (b >> 2)
    return Image.frombytes("RGB", (width, height), bytes(px))

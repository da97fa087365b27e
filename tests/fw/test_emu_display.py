# The emulated machine.SPI (ports/esp32/machine_hw_spi.c, extmod/machine_spi.c)
# and the ST7789 and AXP192 register models.
import machine
from cpsim import gpio
from cpsim.axp192 import AXP192
from cpsim.machine_spi import attach_spi
from cpsim.st7789 import ST7789
from cpsim.world import World


def _raises(exc, f, *a):
    try:
        f(*a)
    except exc as e:
        return str(e)
    assert False, "no %s" % exc


def test_spi_follows_the_esp32_port():
    World().device("p")
    assert _raises(ValueError, machine.SPI, 0) == "SPI(0) doesn't exist"  # SPI0 drives the flash
    assert _raises(ValueError, machine.SPI, 3) == "SPI(3) doesn't exist"
    s = machine.SPI(1)
    assert repr(s) == "SPI(id=1, baudrate=500000, polarity=0, phase=0, bits=8, firstbit=0, sck=14, mosi=13, miso=12)"
    s2 = machine.SPI(1, 20000000, sck=machine.Pin(13), mosi=machine.Pin(15))
    assert s2 is s and s.baudrate == 20000000 and (s.sck, s.mosi, s.miso) == (13, 15, 12)
    assert machine.SPI(2).sck == 18 and machine.SPI.MSB == 0 and machine.SPI.LSB == 1
    assert s.read(2) == b"\xff\xff"  # nothing drives MISO
    buf = bytearray(3)
    assert _raises(ValueError, s.write_readinto, b"ab", buf) == "buffers must be the same length"
    s.deinit()
    assert _raises(OSError, s.write, b"x")
    s.init(baudrate=1000000)
    s.write(b"x")


def _lcd(panel_inverts=False, path=None):
    dev = World().device("p")
    lcd = attach_spi(dev, 1, ST7789(cs=5, dc=23, panel_inverts=panel_inverts, sck=13, mosi=15, rst=18, path=path))
    machine.Pin(18, machine.Pin.OUT, value=1)
    spi = machine.SPI(1, 20000000, sck=13, mosi=15)
    cs = machine.Pin(5, machine.Pin.OUT, value=1)
    dc = machine.Pin(23, machine.Pin.OUT, value=0)

    def cmd(c, data=b""):
        cs(0)
        dc(0)
        spi.write(bytes((c,)))
        if data:
            dc(1)
            spi.write(data)
        cs(1)

    return dev, lcd, spi, cs, cmd


def test_st7789_shows_nothing_until_woken_and_takes_a_window():
    dev, lcd, spi, cs, cmd = _lcd()
    red = b"\xf8\x00"
    cmd(0x2A, bytes((0, 52, 0, 53)))  # columns 52..53: the glass's first two
    cmd(0x2B, bytes((0, 40, 0, 40)))
    cmd(0x2C, red * 2)
    assert lcd.shown()[:4] == bytes(4)  # asleep, display off: black
    # Still 18-bit colour after reset: the 4 bytes were one pixel and a part.
    assert lcd.colmod == 0x66
    cmd(0x3A, b"\x55")
    cmd(0x2C, red * 2)
    cmd(0x11)
    assert lcd.shown()[:4] == bytes(4)  # awake but display off
    cmd(0x29)
    assert lcd.shown()[:4] == red * 2 and lcd.shown()[4:6] == bytes(2)
    cs(1)
    spi.write(b"\x28")  # CS high: not for this chip
    assert lcd.lit()
    cmd(0x2A, bytes((0, 0, 0, 1)))  # outside the glass's window: written to memory nobody sees
    n = lcd.pixels
    cmd(0x2C, red * 2)
    assert lcd.pixels == n
    cmd(0x21)  # INVON on a glass that does not invert: colours come out inverted
    assert lcd.shown()[:2] == b"\x07\xff"


def test_st7789_ips_glass_needs_invon():
    dev, lcd, spi, cs, cmd = _lcd(panel_inverts=True)
    for c, d in ((0x11, b""), (0x29, b""), (0x3A, b"\x55"), (0x2A, bytes((0, 52, 0, 52))),
                 (0x2B, bytes((0, 40, 0, 40))), (0x2C, b"\x00\x00")):
        cmd(c, d)
    assert lcd.shown()[:2] == b"\xff\xff"  # black written, white shown
    cmd(0x21)
    assert lcd.shown()[:2] == b"\x00\x00"


def test_axp192_registers():
    dev = World().device("p")
    axp = dev.attach_i2c(0, AXP192(battery_mv=4000))
    i2c = machine.I2C(0)
    assert i2c.readfrom_mem(0x34, 0x03, 1) == b"\x03"
    raw = i2c.readfrom_mem(0x34, 0x78, 2)
    assert ((raw[0] << 4) | raw[1]) == 3636  # 4000 mV / 1.1 mV
    i2c.writeto_mem(0x34, 0x82, b"\x00")  # battery voltage ADC off: reads 0
    assert i2c.readfrom_mem(0x34, 0x78, 2) == b"\x00\x00"
    assert not axp.backlight
    i2c.writeto_mem(0x34, 0x28, b"\xf0")
    i2c.writeto_mem(0x34, 0x12, b"\x07")
    assert axp.backlight and axp.ldo_mv(2) == 3300 and axp.ldo_mv(3) == 0


def test_st7789_hears_only_its_own_wiring():
    dev, lcd, spi, cs, cmd = _lcd()
    cmd(0x11)
    assert not lcd.asleep
    spi.init(sck=14)  # the host's default pins, not the panel's
    cmd(0x10)
    assert not lcd.asleep and lcd.garbled == 1
    spi.init(sck=13, phase=1)  # mode 1: the chip samples on the other edge
    cmd(0x10)
    assert not lcd.asleep and lcd.garbled == 2
    spi.init(phase=0, baudrate=80000000)  # faster than its 16 ns write cycle
    cmd(0x10)
    assert not lcd.asleep and lcd.garbled == 3
    spi.init(baudrate=20000000)
    machine.Pin(18).value(0)  # held in reset
    cmd(0x11)
    assert lcd.asleep
    machine.Pin(18).value(1)
    cmd(0x11)
    assert not lcd.asleep


def test_st7789_madctl_mirrors_columns():
    dev, lcd, spi, cs, cmd = _lcd()
    for c, d in ((0x11, b""), (0x29, b""), (0x3A, b"\x55"), (0x36, b"\x40"),  # MX: columns right to left
                 (0x2A, bytes((0, 53, 0, 53))), (0x2B, bytes((0, 40, 0, 40))), (0x2C, b"\xf8\x00")):
        cmd(c, d)
    # Column 53 mirrored is memory column 239 - 53 = 186: the glass's last (52 + 135 - 1).
    assert lcd.shown()[2 * 134:2 * 135] == b"\xf8\x00" and lcd.pixels == 1


def test_st7789_memory_in_a_file_reads_back_as_shown():
    dev, lcd, spi, cs, cmd = _lcd(path="lcd-test.bin")
    for c, d in ((0x11, b""), (0x29, b""), (0x3A, b"\x55"), (0x2A, bytes((0, 52, 0, 186))),
                 (0x2B, bytes((0, 41, 0, 42))), (0x2C, b"\x12\x34" * 140)):
        cmd(c, d)
    w = 135
    assert lcd.shown()[w * 2:w * 4] == b"\x12\x34" * w  # (also flushes CPython's file buffer)
    with open("lcd-test.bin", "rb") as f:
        head = f.read(4)
        f.seek(4 + w * 2)  # row 1 of the glass
        row1 = f.read(w * 2)
        row2 = f.read(10)
    assert head == b"ST\x01\x00" and row1 == b"\x12\x34" * w, (head, row1[:8])
    assert row2 == b"\x12\x34" * 5  # the 136th..140th pixels wrapped to the next row
    assert lcd.pixels == 140


def test_st7789_accounts_its_awake_and_backlit_time():
    # the power model's display time (docs/power.md): the controller awake
    # from SLPOUT to SLPIN, the backlight while its supply is on
    dev, lcd, spi, cs, cmd = _lcd()
    w = dev.world
    w.advance(100)  # after reset it sleeps; no power chip: the backlight's supply is on
    cmd(0x11)  # SLPOUT
    w.advance(300)
    lcd.set_backlight(False)
    w.advance(50)
    cmd(0x10)  # SLPIN
    w.advance(200)
    t = dev.acct.snapshot()["time_us"]
    assert t["display.asleep"] == 300000 and t["display.awake"] == 350000
    assert t["backlight.on"] == 400000 and t["backlight.off"] == 250000

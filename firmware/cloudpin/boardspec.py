# Board definition format (boards/*.json, copied to the pin as /board.json):
# validated here, in firmware, so the host tools and the pin reject a bad
# board file with the same message naming the field. Also here: the rates
# each accelerometer can run at, so the drivers, the board layer and
# `cloudpin check-board` agree on the rate the app really gets.
# Pure logic: no hardware imports.

ACCEL_TYPES = ("lis3dh", "mpu6886", "mpu6050")
LED_TYPES = ("rgb", "single")
BATTERY_TYPES = ("adc", "axp192")
DISPLAY_TYPES = ("st7789",)
POWER_TYPES = ("axp192",)
CHIPS = ("ESP32",)
# GPIO 6-11 drive the SPI flash; 34-39 are input only (ESP32 datasheet 2.2).
_FLASH_PINS = (6, 7, 8, 9, 10, 11)
_INPUT_ONLY = (34, 35, 36, 37, 38, 39)

# Every field a board file may have, per section ("" is the top level).
_FIELDS = (
    ("", ("name", "description", "chip", "mcu", "flash_size", "i2c", "accel", "led", "button", "battery",
          "display", "power")),
    ("i2c", ("bus", "scl", "sda", "freq")),
    ("accel", ("type", "address", "int1", "int2", "odr", "range_g", "tap_odr")),
    ("led", ("type", "pins", "active_low")),
    ("button", ("pin", "active_low")),
    ("battery", ("type", "adc_pin", "divider", "full_mv", "empty_mv", "cell", "curve_mv", "internal_mohm", "curve_ma",
                 "read_ma", "radio_ma", "screen_ma")),
    ("display", ("type", "width", "height", "x_offset", "y_offset", "invert", "spi", "cs", "dc", "rst")),
    ("display.spi", ("bus", "sck", "mosi", "miso", "baudrate")),
    ("power", ("type", "address")),
)

# I2C addresses each part can answer at (address pins), and the fastest
# clock its I2C interface takes: LIS3DH (DocID17530 table 7, SA0), MPU-6050
# (PS-MPU-6000A 6.4, AD0), MPU-6886 (DS-000193 table 8, AD0) are fast-mode
# parts (400 kHz); the AXP192's address is fixed at 0x34.
_ADDRESSES = (("lis3dh", (0x18, 0x19)), ("mpu6050", (0x68, 0x69)), ("mpu6886", (0x68, 0x69)), ("axp192", (0x34,)))
I2C_MAX_HZ = 400000

# --- accelerometer rates ---------------------------------------------------------
# (in cloudpin.rates, which the drivers import: this module is boot-only)
from cloudpin.rates import (LIS3DH_ODRS, LIS3DH_ODRS_LP, LIS3DH_ODRS_NORMAL, MOTION_MAX_HZ,  # noqa: F401
                            motion_rate, mpu_divider, mpu_rate, nearest, requested_rate, sensor_rate)


def _rates_text(kind):
    if kind == "lis3dh":
        return ", ".join([str(r) for r in LIS3DH_ODRS_NORMAL])
    return "1000/(1+n) for n = 0..255 (1000, 500, 333.3, 250, 200, ... 100, ... 50)"


# --- misspelt fields -------------------------------------------------------------
def distance(a, b):
    """Edit distance (insert, delete, substitute, swap two neighbours)."""
    prev2 = None
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if prev2 is not None and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d = min(d, prev2[j - 2] + 1)
            cur[j] = d
        prev2, prev = prev, cur
    return prev[len(b)]


def closest(word, known):
    """The name in `known` a typo of `word` most likely meant, or None."""
    best, best_d = None, 0
    low = word.lower()
    for k in known:
        d = distance(low, k)
        if best is None or d < best_d:
            best, best_d = k, d
    # Up to a third of the letters wrong (at least 2): beyond that a guess misleads.
    return best if best is not None and best_d <= max(2, len(word) // 3) else None


def _check_fields(board):
    for section, known in _FIELDS:
        d = board
        for part in section.split(".") if section else ():
            d = d.get(part) if isinstance(d, dict) else None
        if not isinstance(d, dict):
            continue
        for k in d:
            if k in known:
                continue
            path = section + "." + k if section else k
            guess = closest(k, known) if isinstance(k, str) else None
            if guess is not None:
                raise BoardError("board field '%s' is not known; did you mean '%s'?" % (path, guess))
            raise BoardError("board field '%s' is not known; %s takes %s" % (
                path, "'%s'" % section if section else "the top level", ", ".join(known)))


class BoardError(ValueError):
    pass


def _lookup(d, path, required):
    v = d
    for part in path.split("."):
        if not isinstance(v, dict):
            raise BoardError("board field '%s': parent is not an object" % path)
        if part not in v:
            if required:
                raise BoardError("board field '%s' is missing" % path)
            return None
        v = v[part]
    if v is None and required:
        raise BoardError("board field '%s' must not be null" % path)
    return v


def _int(d, path):
    v = _lookup(d, path, True)
    if not isinstance(v, int) or isinstance(v, bool):
        raise BoardError("board field '%s' must be an integer, got %r" % (path, v))
    return v


def _opt_int(d, path):
    return None if _lookup(d, path, False) is None else _int(d, path)


def _str(d, path):
    v = _lookup(d, path, True)
    if not isinstance(v, str):
        raise BoardError("board field '%s' must be a string, got %r" % (path, v))
    return v


def _section(d, path, required=True):
    """An object-valued field; None when optional and absent or null."""
    v = _lookup(d, path, required)
    if v is not None and not isinstance(v, dict):
        raise BoardError("board field '%s' must be an object or null, got %r" % (path, v))
    return v


def _list(d, path):
    v = _lookup(d, path, True)
    if not isinstance(v, list):
        raise BoardError("board field '%s' must be a list, got %r" % (path, v))
    return v


def _gpio(d, path, used, output=False, required=True, flash_ok=False):
    """The GPIO number at `path`, checked for the chip and against the roles
    already in `used` ([(path, gpio)]), to which it is added."""
    n = _int(d, path) if required else _opt_int(d, path)
    return None if n is None else _pin(n, path, used, output, flash_ok)


def _pin(n, path, used, output=False, flash_ok=False):
    if not isinstance(n, int) or isinstance(n, bool):
        raise BoardError("board field '%s' must be an integer, got %r" % (path, n))
    if not 0 <= n <= 39 or n in (20, 24, 28, 29, 30, 31):
        raise BoardError("board field '%s': GPIO%d does not exist on the ESP32" % (path, n))
    if output and n in _INPUT_ONLY:
        raise BoardError("board field '%s': GPIO%d is input-only and cannot drive an output" % (path, n))
    if n in _FLASH_PINS and not flash_ok:
        raise BoardError("board field '%s': GPIO%d is wired to the SPI flash" % (path, n))
    for other, m in used:
        if m == n:
            bus = " (the I2C bus)" if other.startswith("i2c.") else ""
            raise BoardError("board field '%s': GPIO%d is already '%s'%s; one GPIO, one role" % (path, n, other, bus))
    used.append((path, n))
    return n


def _number(d, path, lo, hi, why):
    v = _lookup(d, path, True)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
        raise BoardError("board field '%s' must be a number from %s to %s (%s), got %r" % (path, lo, hi, why, v))
    return v


def _address(d, path, part):
    addr = _int(d, path)
    if not 0x08 <= addr <= 0x77:
        raise BoardError("board field '%s' must be a 7-bit I2C address 0x08..0x77, got %r" % (path, addr))
    for kind, addrs in _ADDRESSES:
        if kind == part and addr not in addrs:
            raise BoardError("board field '%s': a %s answers at %s, not 0x%02x" % (
                path, part.upper(), " or ".join(["0x%02x" % a for a in addrs]), addr))
    return addr


def _rate(d, path, kind, lo, hi):
    hz = _int(d, path)
    if not lo <= hz <= hi:
        why = " (the app's step counter takes at most %d Hz)" % MOTION_MAX_HZ if hz > hi == MOTION_MAX_HZ else ""
        raise BoardError("board field '%s' must be %d..%d Hz%s, got %d" % (path, lo, hi, why, hz))
    real = sensor_rate(kind, hz)
    if real != hz:
        # (All three parts' names are read with a vowel sound: "an".)
        raise BoardError("board field '%s': an %s cannot run at %d Hz (it would run at %s Hz); its rates are %s" % (
            path, kind.upper(), hz, ("%.1f" % real) if real % 1 else int(real), _rates_text(kind)))
    return hz


def _choice(d, path, choices):
    v = _str(d, path)
    if v not in choices:
        raise BoardError("board field '%s' must be one of %s, got %r" % (path, ", ".join(choices), v))
    return v


def validate(board):
    """Check a board definition dict; returns it, or raises BoardError naming the field."""
    if not isinstance(board, dict):
        raise BoardError("board definition must be a JSON object")
    for section in ("i2c", "accel", "led", "button", "battery", "display", "power"):
        _section(board, section, section in ("i2c", "accel"))
    _check_fields(board)
    name = _str(board, "name")
    # MicroPython's str has no isalnum(): check the characters by hand.
    if not name or [c for c in name if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_")]:
        raise BoardError("board field 'name' must be lower-case letters, digits and '_', got %r" % name)
    _choice(board, "chip", CHIPS)
    _str(board, "mcu")
    size = _str(board, "flash_size")
    if size not in ("4MB", "8MB", "16MB"):
        raise BoardError("board field 'flash_size' must be 4MB, 8MB or 16MB, got %r" % size)
    used = []  # (field, GPIO) of every pin role so far
    # Paths read in loops over constant tuples: strings, not names interned
    # at boot (docs/heap.md "The qstr pools")
    bus, freq = [_int(board, f) for f in ("i2c.bus", "i2c.freq")]
    if bus not in (0, 1):
        raise BoardError("board field 'i2c.bus' must be 0 or 1, got %r" % bus)
    for f in ("i2c.scl", "i2c.sda"):
        _gpio(board, f, used, output=True)
    if not 10000 <= freq <= I2C_MAX_HZ:
        raise BoardError("board field 'i2c.freq' must be 10000..%d Hz (the bus's parts are fast-mode I2C), got %r"
                         % (I2C_MAX_HZ, freq))
    kind = _choice(board, "accel.type", ACCEL_TYPES)
    accel_addr = _address(board, "accel.address", kind)
    for f, required in (("accel.int1", True), ("accel.int2", False)):
        _gpio(board, f, used, required=required)
    odr = _rate(board, "accel.odr", kind, 10, 400)
    if _lookup(board, "accel.tap_odr", False) is not None:
        _rate(board, "accel.tap_odr", kind, odr, MOTION_MAX_HZ)
    if _int(board, "accel.range_g") not in (2, 4, 8, 16):
        raise BoardError("board field 'accel.range_g' must be 2, 4, 8 or 16")
    if _section(board, "led", False) is not None:
        kind = _choice(board, "led.type", LED_TYPES)
        pins = _list(board, "led.pins")
        if len(pins) != (3 if kind == "rgb" else 1):
            raise BoardError("board field 'led.pins' must list %d pins for a %s LED" % (3 if kind == "rgb" else 1, kind))
        for i in range(len(pins)):
            # On the PICO-D4, GPIO10 is free of flash duty (the M5StickC Plus
            # drives its LED with it): flash pins are the board's business.
            _pin(pins[i], "led.pins[%d]" % i, used, output=True, flash_ok=True)
    if _section(board, "button", False) is not None:
        _gpio(board, "button.pin", used)
    power = _section(board, "power", False)
    if power is not None:
        _choice(board, "power.type", POWER_TYPES)
        if _address(board, "power.address", "axp192") == accel_addr:
            raise BoardError("board field 'power.address': 0x%02x is already 'accel.address' on the I2C bus" % accel_addr)
    if _section(board, "battery", False) is not None:
        kind = _choice(board, "battery.type", BATTERY_TYPES)
        if _lookup(board, "battery.cell", False) is not None:
            _str(board, "battery.cell")  # which cell (the curve's source, the model's capacity)
        if kind == "adc":
            pin = _pin(_int(board, "battery.adc_pin"), "battery.adc_pin", used)
            if not 32 <= pin <= 39:
                raise BoardError("board field 'battery.adc_pin': GPIO%d is not on ADC1 (GPIO32-39); ADC2 is unusable with the radio on" % pin)
            # Vbat / Vpin (absent: 1, no divider). A resistor divider only
            # divides, and beyond 10 a LiPo's 3.0-4.2 V spans too few ADC counts.
            if _lookup(board, "battery.divider", False) is not None:
                _number(board, "battery.divider", 1, 10, "battery volts per volt at the ADC pin")
            _levels(_int(board, "battery.empty_mv"), _int(board, "battery.full_mv"))
            if _lookup(board, "battery.curve_mv", False) is not None:
                _curve(_list(board, "battery.curve_mv"))
        else:
            if power is None or power.get("type") != "axp192":
                raise BoardError("board field 'battery.type': an axp192 battery needs a 'power' section of type axp192")
            for f in ("adc_pin", "divider"):
                if _lookup(board, "battery." + f, False) is not None:
                    raise BoardError("board field 'battery.%s': an axp192 battery is measured by the AXP192" % f)
            if _lookup(board, "battery.curve_mv", False) is not None:
                raise BoardError("board field 'battery.curve_mv': only an adc battery takes its cell's curve "
                                 "(the AXP192's reads cloudpin.battery.CURVE_MV)")
            # Optional here: the driver's defaults (3300, 4200) otherwise.
            _levels(_opt_int(board, "battery.empty_mv") or 3300, _opt_int(board, "battery.full_mv") or 4200)
        # The cell's internal resistance and the loads it sags under
        # (cloudpin.battery.AdcBattery's mv; the emulated cell,
        # cpsim.boardfit.Cell); strings in constant tuples: no interned names
        for f, hi, unit in (("internal_mohm", 10000, "mohm"), ("curve_ma", 500, "mA"), ("read_ma", 500, "mA"),
                            ("radio_ma", 500, "mA"), ("screen_ma", 500, "mA")):
            if _lookup(board, "battery." + f, False) is not None:
                _number(board, "battery." + f, 0, hi, unit)
    if _section(board, "display", False) is not None:
        _display(board, used)
    return board


CURVE_POINTS = 21  # cloudpin.battery: the cell's volts at 100, 95, ..., 0 % left


def _curve(c):
    """The battery's discharge curve: CURVE_POINTS millivolt figures falling
    from full to empty (cloudpin.battery reads charge left off it)."""
    if len(c) != CURVE_POINTS or not all(isinstance(v, int) and not isinstance(v, bool) and 2500 <= v <= 4500
                                         for v in c):
        raise BoardError("board field 'battery.curve_mv' must be %d millivolt integers 2500..4500 (100, 95, ..., 0 %% "
                         "left), got %r" % (CURVE_POINTS, c))
    for i in range(1, CURVE_POINTS):
        if c[i] >= c[i - 1]:
            raise BoardError("board field 'battery.curve_mv' must fall from full to empty: %d mV at %d %% is not "
                             "below %d mV at %d %%" % (c[i], 100 - 5 * i, c[i - 1], 105 - 5 * i))


def _levels(lo, hi):
    if not 2500 <= lo < hi <= 4500:
        raise BoardError("board fields 'battery.empty_mv'/'battery.full_mv' must satisfy 2500 <= empty < full <= 4500")


def _display(board, used):
    _choice(board, "display.type", DISPLAY_TYPES)
    # The ST7789's frame memory is 240 x 320; a smaller panel shows a window
    # of it starting at (x_offset, y_offset).
    w, h = _int(board, "display.width"), _int(board, "display.height")
    x0 = _opt_int(board, "display.x_offset") or 0
    y0 = _opt_int(board, "display.y_offset") or 0
    if not (0 < w and 0 < h and 0 <= x0 and 0 <= y0 and x0 + w <= 240 and y0 + h <= 320):
        raise BoardError("board fields 'display.width'/'height'/'x_offset'/'y_offset' must fit the ST7789's "
                         "240x320 memory, got %dx%d at (%d,%d)" % (w, h, x0, y0))
    inv = _lookup(board, "display.invert", False)
    if inv is not None and not isinstance(inv, bool):
        raise BoardError("board field 'display.invert' must be true or false (the glass inverts colours), got %r" % inv)
    _section(board, "display.spi")
    bus = _int(board, "display.spi.bus")
    if bus not in (1, 2):
        raise BoardError("board field 'display.spi.bus' must be 1 (HSPI) or 2 (VSPI), got %r" % bus)
    _gpio(board, "display.spi.sck", used, output=True)
    _gpio(board, "display.spi.mosi", used, output=True)
    _gpio(board, "display.spi.miso", used, required=False)
    if _lookup(board, "display.spi.baudrate", False) is not None:
        # ST7789 write cycle 16 ns (datasheet 7.4); the ESP32 routes SPI
        # through the GPIO matrix at up to 40 MHz for writes.
        _number(board, "display.spi.baudrate", 100000, 40000000, "Hz")
    for f in ("display.cs", "display.dc"):
        _gpio(board, f, used, output=True)
    _gpio(board, "display.rst", used, output=True, required=False)

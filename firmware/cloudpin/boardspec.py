# Board definition format (boards/*.json, copied to the pin as /board.json):
# validated here, in firmware, so the host tools and the pin reject a bad
# board file with the same message naming the field.
# Pure logic: no hardware imports.

ACCEL_TYPES = ("lis3dh", "mpu6886", "mpu6050")
LED_TYPES = ("rgb", "single")
BATTERY_TYPES = ("adc", "axp192")
CHIPS = ("ESP32",)
# GPIO 6-11 drive the SPI flash; 34-39 are input only (ESP32 datasheet 2.2).
_FLASH_PINS = (6, 7, 8, 9, 10, 11)
_INPUT_ONLY = (34, 35, 36, 37, 38, 39)


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


def _gpio(d, path, output=False, required=True, flash_ok=False):
    n = _int(d, path) if required else _opt_int(d, path)
    if n is None:
        return None
    if not 0 <= n <= 39 or n in (20, 24, 28, 29, 30, 31):
        raise BoardError("board field '%s': GPIO%d does not exist on the ESP32" % (path, n))
    if output and n in _INPUT_ONLY:
        raise BoardError("board field '%s': GPIO%d is input-only and cannot drive an output" % (path, n))
    if n in _FLASH_PINS and not flash_ok:
        raise BoardError("board field '%s': GPIO%d is wired to the SPI flash" % (path, n))
    return n


def _choice(d, path, choices):
    v = _str(d, path)
    if v not in choices:
        raise BoardError("board field '%s' must be one of %s, got %r" % (path, ", ".join(choices), v))
    return v


def validate(board):
    """Check a board definition dict; returns it, or raises BoardError naming the field."""
    if not isinstance(board, dict):
        raise BoardError("board definition must be a JSON object")
    name = _str(board, "name")
    # MicroPython's str has no isalnum(): check the characters by hand.
    if not name or [c for c in name if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_")]:
        raise BoardError("board field 'name' must be lower-case letters, digits and '_', got %r" % name)
    _choice(board, "chip", CHIPS)
    _str(board, "mcu")
    size = _str(board, "flash_size")
    if size not in ("4MB", "8MB", "16MB"):
        raise BoardError("board field 'flash_size' must be 4MB, 8MB or 16MB, got %r" % size)
    _section(board, "i2c")
    bus = _int(board, "i2c.bus")
    if bus not in (0, 1):
        raise BoardError("board field 'i2c.bus' must be 0 or 1, got %r" % bus)
    _gpio(board, "i2c.scl", output=True)
    _gpio(board, "i2c.sda", output=True)
    freq = _int(board, "i2c.freq")
    if not 10000 <= freq <= 1000000:
        raise BoardError("board field 'i2c.freq' must be 10000..1000000 Hz, got %r" % freq)
    _section(board, "accel")
    _choice(board, "accel.type", ACCEL_TYPES)
    addr = _int(board, "accel.address")
    if not 0x08 <= addr <= 0x77:
        raise BoardError("board field 'accel.address' must be a 7-bit I2C address, got %r" % addr)
    _gpio(board, "accel.int1")
    _gpio(board, "accel.int2", required=False)
    odr = _int(board, "accel.odr")
    if not 10 <= odr <= 400:
        raise BoardError("board field 'accel.odr' must be 10..400 Hz, got %r" % odr)
    tap_odr = _opt_int(board, "accel.tap_odr")
    if tap_odr is not None and not odr <= tap_odr <= 1600:
        raise BoardError("board field 'accel.tap_odr' must be accel.odr..1600 Hz, got %r" % tap_odr)
    if _int(board, "accel.range_g") not in (2, 4, 8, 16):
        raise BoardError("board field 'accel.range_g' must be 2, 4, 8 or 16")
    if _section(board, "led", False) is not None:
        kind = _choice(board, "led.type", LED_TYPES)
        pins = _list(board, "led.pins")
        if len(pins) != (3 if kind == "rgb" else 1):
            raise BoardError("board field 'led.pins' must list %d pins for a %s LED" % (3 if kind == "rgb" else 1, kind))
        for i in range(len(pins)):
            # Checked by hand: on the PICO-D4, GPIO10 is free of flash duty
            # (the M5StickC Plus drives its LED with it).
            n = pins[i]
            if not isinstance(n, int) or not 0 <= n <= 39 or n in _INPUT_ONLY:
                raise BoardError("board field 'led.pins[%d]' must be an output-capable GPIO, got %r" % (i, n))
    if _section(board, "button", False) is not None:
        _gpio(board, "button.pin")
    if _section(board, "battery", False) is not None:
        kind = _choice(board, "battery.type", BATTERY_TYPES)
        if kind == "adc":
            pin = _int(board, "battery.adc_pin")
            if not 32 <= pin <= 39:
                raise BoardError("board field 'battery.adc_pin': GPIO%d is not on ADC1 (GPIO32-39); ADC2 is unusable with the radio on" % pin)
            lo, hi = _int(board, "battery.empty_mv"), _int(board, "battery.full_mv")
            if not 2500 <= lo < hi <= 4500:
                raise BoardError("board fields 'battery.empty_mv'/'battery.full_mv' must satisfy 2500 <= empty < full <= 4500")
    return board

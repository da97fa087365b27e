# Board definitions are validated on the pin and on the host by the same code.
import json

from cloudpin import boardspec


def _ref():
    return {
        "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
        "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
        "accel": {"type": "lis3dh", "address": 24, "int1": 34, "odr": 50, "range_g": 4},
        "led": {"type": "rgb", "pins": [25, 26, 27], "active_low": True},
        "button": {"pin": 0}, "battery": {"type": "adc", "adc_pin": 35, "empty_mv": 3300, "full_mv": 4200},
    }


def _error(board):
    try:
        boardspec.validate(board)
    except boardspec.BoardError as e:
        return str(e)
    return None


def test_valid_board_passes():
    assert _error(_ref()) is None


def test_errors_name_the_field():
    b = _ref()
    del b["accel"]["address"]
    assert "'accel.address' is missing" in _error(b)
    b = _ref()
    b["accel"]["type"] = "adxl345"
    assert "'accel.type' must be one of" in _error(b)
    b = _ref()
    b["i2c"]["scl"] = "22"
    assert "'i2c.scl' must be an integer" in _error(b)
    b = _ref()
    b["i2c"]["sda"] = 36
    assert "'i2c.sda'" in _error(b) and "input-only" in _error(b)
    b = _ref()
    b["battery"]["adc_pin"] = 4
    assert "ADC1" in _error(b)
    b = _ref()
    b["led"]["pins"] = [25, 26]
    assert "'led.pins' must list 3" in _error(b)
    assert "JSON object" in _error([1, 2])


def test_optional_parts_may_be_null():
    b = _ref()
    b["led"] = None
    b["battery"] = None
    b["button"] = None
    assert _error(b) is None


def test_roundtrip_through_json_text():
    b = json.loads(json.dumps(_ref()))
    assert boardspec.validate(b)["accel"]["odr"] == 50


def _m5():
    b = _ref()
    b["accel"] = {"type": "mpu6886", "address": 0x68, "int1": 35, "odr": 50, "range_g": 4, "tap_odr": 500}
    b["led"] = {"type": "single", "pins": [10], "active_low": True}
    b["battery"] = {"type": "axp192"}
    b["power"] = {"type": "axp192", "address": 0x34}
    b["display"] = {"type": "st7789", "width": 135, "height": 240, "x_offset": 52, "y_offset": 40,
                    "spi": {"bus": 1, "sck": 13, "mosi": 15}, "cs": 5, "dc": 23, "rst": 18}
    return b


def _refused(board, *words):
    """The board is refused with a message holding every word."""
    e = _error(board)
    assert e is not None and all(w in e for w in words), (e, words)


def test_misspelt_and_unknown_fields_name_the_nearest_known_one():
    assert _error(_m5()) is None
    b = _ref()
    b["accel"]["tapodr"] = 400  # ran the pin at 50 Hz silently before
    _refused(b, "'accel.tapodr'", "did you mean 'tap_odr'?")
    b = _ref()
    b["i2c"]["fraq"] = 100000
    _refused(b, "'i2c.fraq'", "did you mean 'freq'?")
    b = _ref()
    b["Button"] = {"pin": 0}
    _refused(b, "'Button'", "did you mean 'button'?")
    b = _m5()
    b["display"]["spi"]["mosí"] = 15
    _refused(b, "'display.spi.mosí'", "did you mean 'mosi'?")
    b = _ref()
    b["accel"]["colour"] = "red"
    _refused(b, "'accel.colour' is not known", "type, address")  # nothing near: the known names


def test_edit_distance():
    assert boardspec.distance("tapodr", "tap_odr") == 1
    assert boardspec.distance("tpa_odr", "tap_odr") == 1  # two letters swapped
    assert boardspec.distance("", "odr") == 3 and boardspec.distance("odr", "odr") == 0
    assert boardspec.distance("kitten", "sitting") == 3
    assert boardspec.closest("zzzzzz", ("odr", "type")) is None


def test_pin_clashes_are_refused():
    b = _ref()
    b["i2c"]["sda"] = 22
    _refused(b, "'i2c.sda'", "GPIO22", "'i2c.scl'")
    b = _ref()
    b["button"]["pin"] = 21
    _refused(b, "'button.pin'", "GPIO21", "'i2c.sda'", "I2C bus")
    b = _ref()
    b["led"]["pins"] = [25, 22, 27]
    _refused(b, "'led.pins[1]'", "'i2c.scl'", "I2C bus")
    b = _ref()
    b["accel"]["int1"] = 21
    _refused(b, "'accel.int1'", "I2C bus")
    b = _ref()
    b["battery"]["adc_pin"] = 34  # the LIS3DH's INT1
    _refused(b, "'battery.adc_pin'", "GPIO34", "'accel.int1'")
    b = _ref()
    b["led"]["pins"] = [25, 26, 25]
    _refused(b, "'led.pins[2]'", "'led.pins[0]'")
    b = _m5()
    b["display"]["dc"] = 37  # button A
    _refused(b, "'display.dc'", "input-only")
    b = _m5()
    b["display"]["cs"] = 37
    _refused(b, "'display.cs'", "input-only")
    b = _m5()
    b["display"]["rst"] = 0  # the button
    _refused(b, "'display.rst'", "'button.pin'")
    b = _ref()
    b["led"]["pins"] = [25, 26, 39]
    _refused(b, "'led.pins[2]'", "input-only")


def test_out_of_range_values_are_refused():
    for divider in (0, -2, 0.5, "2", True):
        b = _ref()
        b["battery"]["divider"] = divider  # 0 crashed the virtual badge before
        _refused(b, "'battery.divider'", "number from 1 to 10")
    b = _ref()
    b["battery"]["divider"] = 2.0
    assert _error(b) is None
    b = _ref()
    b["accel"]["tap_odr"] = 500  # an LIS3DH ran this at 1344 Hz
    _refused(b, "'accel.tap_odr'", "LIS3DH cannot run at 500 Hz", "would run at 400 Hz")
    b = _ref()
    b["accel"]["tap_odr"] = 1344  # raised in App.__init__ before
    _refused(b, "'accel.tap_odr'", "at most 1000 Hz")
    b = _m5()
    b["accel"]["tap_odr"] = 400
    _refused(b, "'accel.tap_odr'", "MPU6886 cannot run at 400 Hz", "333.3")
    b = _m5()
    b["accel"]["tap_odr"] = 1000
    assert _error(b) is None
    b = _ref()
    b["accel"]["tap_odr"] = 25
    _refused(b, "'accel.tap_odr' must be 50..1000 Hz")
    b = _ref()
    b["accel"]["odr"] = 30
    _refused(b, "'accel.odr'", "cannot run at 30 Hz")
    for freq in (1000000, 5, 400001):
        b = _ref()
        b["i2c"]["freq"] = freq
        _refused(b, "'i2c.freq'", "10000..400000")
    for addr, words in ((0x05, "0x08..0x77"), (0x78, "0x08..0x77"), (0x68, "0x18 or 0x19")):
        b = _ref()
        b["accel"]["address"] = addr
        _refused(b, "'accel.address'", words)
    b = _m5()
    b["power"]["address"] = 0x68
    _refused(b, "'power.address'", "0x34")
    b = _m5()
    b["power"] = None
    _refused(b, "'battery.type'", "power")
    b = _m5()
    b["battery"]["full_mv"] = 2000
    _refused(b, "'battery.empty_mv'/'battery.full_mv'")
    b = _m5()
    b["battery"]["divider"] = 2
    _refused(b, "'battery.divider'", "measured by the AXP192")
    b = _m5()
    b["display"]["x_offset"] = 200
    _refused(b, "'display.width'", "240x320")
    b = _m5()
    b["display"]["spi"]["bus"] = 0  # SPI0 drives the flash
    _refused(b, "'display.spi.bus'")
    b = _m5()
    b["display"]["spi"]["baudrate"] = 80000000
    _refused(b, "'display.spi.baudrate'")


def test_sensor_rate_is_what_the_chip_runs():
    assert boardspec.sensor_rate("lis3dh", 500) == 400
    assert boardspec.sensor_rate("lis3dh", 1100) == 1344
    assert boardspec.sensor_rate("lis3dh", 1200, low_power=True) == 1600
    assert boardspec.sensor_rate("mpu6886", 500) == 500
    assert boardspec.sensor_rate("mpu6050", 400) == 1000 / 3
    a = {"type": "lis3dh", "odr": 50, "tap_odr": 400}
    assert boardspec.motion_rate(a) == 400
    del a["tap_odr"]
    assert boardspec.motion_rate(a) == 50


def test_a_battery_curve_is_its_cells_volts_falling_from_full_to_empty():
    b = _ref()
    curve = [4200 - 40 * i for i in range(21)]
    b["battery"]["curve_mv"] = curve
    b["battery"]["cell"] = "150 mAh LiPo"
    assert _error(b) is None
    b["battery"]["curve_mv"] = curve[:20]
    assert "'battery.curve_mv' must be 21 millivolt integers" in _error(b)
    b["battery"]["curve_mv"] = curve[:10] + [curve[9]] + curve[11:]
    assert "must fall from full to empty: 3840 mV at 50 % is not below 3840 mV at 55 %" in _error(b)
    b["battery"]["curve_mv"] = curve[:20] + [2000]
    assert "2500..4500" in _error(b)
    b["battery"]["curve_mv"] = curve
    b["battery"]["cell"] = 150
    assert "'battery.cell' must be a string" in _error(b)
    b = _ref()
    b["power"] = {"type": "axp192", "address": 0x34}
    b["battery"] = {"type": "axp192", "curve_mv": curve}
    assert "only an adc battery takes its cell's curve" in _error(b)

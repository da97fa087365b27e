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
    b["battery"]["adc_pin"] = 25
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

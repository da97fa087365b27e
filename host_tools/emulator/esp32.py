# Emulated `esp32` module of MicroPython's ESP32 port (ports/esp32/modesp32.c,
# esp32_nvs.c). NVS keeps only i32 and blob values, as the port does; the data
# lives in Device.nvs and, when Device.nvs_file is set (the virtual badge:
# CLOUDPIN_NVS_FILE), commit() writes it there as JSON:
#   {"namespace": {"key": ["i32", 5], "other": ["blob", "<hex>"]}}
import binascii
import json

from cpsim.world import current

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
HEAP_EXEC = 1
HEAP_DATA = 4

# ESP-IDF error codes (esp_err.h, nvs.h) and how the port raises them:
# OSError(-code, name), see check_esp_err_() in ports/esp32/mphalport.c.
_ERRORS = {
    0x1102: "ESP_ERR_NVS_NOT_FOUND",
    0x1109: "ESP_ERR_NVS_KEY_TOO_LONG",
    0x110C: "ESP_ERR_NVS_INVALID_LENGTH",
}
_KEY_MAX = 15  # NVS_KEY_NAME_MAX_SIZE - 1


def _esp_err(code):
    return OSError(-code, _ERRORS[code])


def _check_key(key):
    if not isinstance(key, str):
        raise TypeError("can't convert to str implicitly")
    if len(key) > _KEY_MAX:
        raise _esp_err(0x1109)


class NVS:
    def __init__(self, namespace):
        _check_key(namespace)
        self._dev = current()
        self._ns = namespace

    def _items(self, create=False):
        nvs = self._dev.nvs
        d = nvs.get(self._ns)
        if d is None and create:
            d = nvs[self._ns] = {}
        return d

    def set_i32(self, key, value):
        _check_key(key)
        value = int(value)
        if not -0x80000000 <= value <= 0x7FFFFFFF:
            raise OverflowError("overflow converting long int to machine word")
        self._items(True)[key] = value

    def get_i32(self, key):
        _check_key(key)
        v = (self._items() or {}).get(key)
        if not isinstance(v, int):
            raise _esp_err(0x1102)  # a blob under this key is not an i32
        return v

    def set_blob(self, key, value):
        _check_key(key)
        self._items(True)[key] = bytes(value)

    def get_blob(self, key, buffer):
        _check_key(key)
        v = (self._items() or {}).get(key)
        if not isinstance(v, bytes):
            raise _esp_err(0x1102)
        if len(buffer) < len(v):
            raise _esp_err(0x110C)
        buffer[: len(v)] = v
        return len(v)

    def erase_key(self, key):
        _check_key(key)
        items = self._items()
        if not items or key not in items:
            raise _esp_err(0x1102)
        del items[key]

    def commit(self):
        path = self._dev.nvs_file
        if path:
            save(self._dev.nvs, path)

    def __repr__(self):
        return "<NVS namespace>"


def save(nvs, path):
    out = {}
    for ns, items in nvs.items():
        o = out[ns] = {}
        for k, v in items.items():
            o[k] = ["i32", v] if isinstance(v, int) else ["blob", binascii.hexlify(v).decode()]
    with open(path, "w") as f:
        json.dump(out, f)


def load(path):
    """NVS contents from a file written by save(); {} if there is none."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError:
        return {}
    nvs = {}
    for ns, items in raw.items():
        d = nvs[ns] = {}
        for k, (kind, v) in items.items():
            d[k] = int(v) if kind == "i32" else binascii.unhexlify(v)
    return nvs


def raw_temperature():
    """The ESP32's internal sensor, raw (about degrees Fahrenheit)."""
    return getattr(current(), "raw_temperature", 128)


def wake_on_ext0(pin, level):
    current().ext0_wake = (None if pin is None else pin._st.num, 1 if level else 0, None)


def wake_on_ext1(pins, level):
    current().ext1_wake = (None if pins is None else [p._st.num for p in pins], bool(level))


def wake_on_touch(wake):
    current().touch_wake = bool(wake)


def wake_on_ulp(wake):
    current().ulp_wake = bool(wake)


def gpio_deep_sleep_hold(enable):
    current().deep_sleep_hold = bool(enable)


def idf_heap_info(capabilities):
    # (total, free, largest free block, minimum free seen) per heap region
    return [(240000, 120000, 110000, 100000)] if capabilities in (HEAP_DATA, HEAP_EXEC) else []


# Emulated `esp32` module of MicroPython's ESP32 port (ports/esp32/modesp32.c,
# esp32_nvs.c). NVS keeps only i32 and blob values, as the port does; the data
# lives in Device.nvs and, when Device.nvs_file is set (the virtual badge:
# CLOUDPIN_NVS_FILE), commit() writes it there as JSON:
#   {"namespace": {"key": ["i32", 5], "other": ["blob", "<hex>"]}}
#
# A damaged file is a damaged NVS partition, and boots as the chip does: the
# port's boardctrl_startup() calls nvs_flash_init() and erases the partition
# only for ESP_ERR_NVS_NO_FREE_PAGES / NEW_VERSION_FOUND, which corruption does
# not cause. ESP-IDF's PageManager::load() puts a page whose header is invalid
# on the free list (erased when next used) and Page::load() drops an entry whose
# CRC fails, keeping the rest. So: a file that is not NVS JSON at all (or larger
# than the 24 KB partition could hold) is every page corrupt, an empty NVS; an
# entry that does not decode is dropped and the others kept. Nothing raises:
# the pin boots with all its hardware. The damaged bytes are copied to
# <file>.corrupt (what `esptool read_flash` would still find before the pages
# are reused) and a "warn" note says what was dropped.
import binascii
import json
import os

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
    # NVS writes survive a power cut at any instant: a new file, then a rename
    # over the old one (atomic), never a half-written partition.
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.rename(tmp, path)


# The largest file save() can write for the ESP32_GENERIC 0x6000 NVS partition:
# every byte as two hex digits. Anything bigger never came from a partition.
_FILE_MAX = 2 * 0x6000


def load(path, note=None):
    """NVS contents from a file written by save(); {} if there is none. A
    damaged file never raises (see the top of this module): note(text), if
    given, else the current device's note, hears what was dropped."""
    try:
        with open(path, "rb") as f:
            data = f.read(_FILE_MAX + 1)
    except OSError:
        return {}
    nvs = {}
    dropped = _decode(data, nvs)
    if dropped:
        _keep_damaged(path, data, bool(nvs))
        (note or _warn)("NVS %s: %s dropped, as an ESP32 drops corrupt NVS pages and entries; the damaged file "
                        "is kept as %s.corrupt" % (path, dropped, path))
    return nvs


def _decode(data, nvs):
    """Fill nvs from file bytes; what was dropped (text), "" if nothing."""
    raw = None
    if len(data) <= _FILE_MAX:
        try:
            raw = json.loads(data.decode())
        except ValueError:  # not JSON, or not UTF-8 (UnicodeError is a ValueError)
            pass
    if not isinstance(raw, dict):
        return "the whole partition (not NVS JSON)"
    bad = 0
    for ns, items in raw.items():
        if not isinstance(items, dict) or len(ns) > _KEY_MAX:
            bad += 1
            continue
        d = {}
        for k, entry in items.items():
            v = _entry(k, entry)
            if v is None:
                bad += 1
            else:
                d[k] = v
        if d:
            nvs[ns] = d
    return "%d damaged entries" % bad if bad else ""


def _entry(key, entry):
    """The value save() wrote for one key, or None if it does not decode."""
    if len(key) > _KEY_MAX or not isinstance(entry, list) or len(entry) != 2:
        return None
    kind, v = entry
    if kind == "i32" and isinstance(v, int) and not isinstance(v, bool) and -0x80000000 <= v <= 0x7FFFFFFF:
        return v
    if kind == "blob" and isinstance(v, str):
        try:
            return binascii.unhexlify(v)
        except ValueError:
            return None
    return None


def _keep_damaged(path, data, some_kept):
    # With nothing left to keep the file moves aside whole (it may be larger
    # than is worth reading); with good entries it stays until the next commit
    # rewrites it, so they survive a power cut before that, and a copy is made.
    try:
        if not some_kept:
            os.rename(path, path + ".corrupt")
            return
        with open(path + ".corrupt", "wb") as f:
            f.write(data)
    except OSError:
        pass


def _warn(text):
    current().note("warn", text)


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



# --- Partition (ports/esp32/esp32_partition.c) ---------------------------------
# One partition is emulated: the data partition labelled "romfs" of CloudPin's
# build (firmware/micropython-esp32/CLOUDPIN/partitions-cloudpin.csv), which the port's
# vfs.rom_ioctl hands out and memory-maps for /rom. It is backed by the file
# Device.romfs_file (the virtual badge: its folder's .romfs) and exists only
# while that file does: a badge folder without one is a pin with a stock
# firmware, whose table has no romfs (Partition("romfs") raises ENOENT, as the
# port does). Bytes past the end of the file are erased flash (0xFF). As on
# the chip: a plain writeblocks erases whole 4096-byte sectors first (an
# unaligned offset or length is refused), the 4-argument form only programs
# (bits go from 1 to 0 and never back), ioctl 6 erases one block.
ROMFS_LABEL = "romfs"
ROMFS_SUBTYPE = 0x8F
ROMFS_ADDRESS = 0x200000
ROMFS_SIZE = 0x40000
_SECTOR = 4096  # NATIVE_BLOCK_SIZE_BYTES, the flash's erase unit
_ERR_INVALID_ARG = 0x102
_ERR_INVALID_SIZE = 0x104
_ERRORS[_ERR_INVALID_ARG] = "ESP_ERR_INVALID_ARG"
_ERRORS[_ERR_INVALID_SIZE] = "ESP_ERR_INVALID_SIZE"


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_SECTOR):
        if not isinstance(id, str):
            # BOOT/RUNNING: the app partitions are not emulated
            raise NotImplementedError("esp32.Partition(%r): only the romfs partition is emulated" % (id,))
        self._path = _romfs_file(current())
        if id != ROMFS_LABEL or self._path is None:
            raise OSError(2)  # MP_ENOENT: no partition with this label
        self._bs = int(block_size)

    @staticmethod
    def find(type=0, subtype=0xFF, label=None, block_size=_SECTOR):
        if type != 1 or subtype not in (0xFF, ROMFS_SUBTYPE) or label not in (None, ROMFS_LABEL):
            return []
        if _romfs_file(current()) is None:
            return []
        return [Partition(ROMFS_LABEL, block_size)]

    def info(self):
        return (1, ROMFS_SUBTYPE, ROMFS_ADDRESS, ROMFS_SIZE, ROMFS_LABEL, False)

    def _range(self, offset, n):
        # esp_partition_read/write: an offset past the end, or a range that ends past it
        if offset > ROMFS_SIZE:
            raise _esp_err(_ERR_INVALID_ARG)
        if offset + n > ROMFS_SIZE:
            raise _esp_err(_ERR_INVALID_SIZE)

    def readblocks(self, block_num, buf, offset=0):
        offset += block_num * self._bs
        n = len(buf)
        self._range(offset, n)
        mv = memoryview(buf)
        with open(self._path, "rb") as f:
            f.seek(offset)
            got = f.readinto(mv) or 0
        for i in range(got, n):
            mv[i] = 0xFF

    def writeblocks(self, block_num, buf, offset=None):
        start = block_num * self._bs
        data = bytes(buf)
        if offset is None:
            # A simple write, which erases first: whole sectors when the block
            # size is the sector's (esp_partition_erase_range), else the port
            # keeps the rest of each sector it touches (its cache).
            if self._bs >= _SECTOR:
                if start % _SECTOR:
                    raise _esp_err(_ERR_INVALID_ARG)
                if len(data) % _SECTOR or start + len(data) > ROMFS_SIZE:
                    raise _esp_err(_ERR_INVALID_SIZE)
            self._range(start, len(data))
            self._put(start, data)
            return
        start += offset
        self._range(start, len(data))
        old = bytearray(len(data))
        self.readblocks(0, old, start)
        self._put(start, bytes(a & b for a, b in zip(old, data)))  # NOR flash only clears bits

    def ioctl(self, cmd, arg):
        if cmd in (1, 2, 3):  # INIT, DEINIT, SYNC
            return 0
        if cmd == 4:  # BLOCK_COUNT
            return ROMFS_SIZE // self._bs
        if cmd == 5:  # BLOCK_SIZE
            return self._bs
        if cmd == 6:  # BLOCK_ERASE
            if self._bs != _SECTOR:
                return -22  # -MP_EINVAL
            self._range(arg * _SECTOR, _SECTOR)
            self._put(arg * _SECTOR, b"\xff" * _SECTOR)
            return 0
        return None

    def _put(self, offset, data):
        with open(self._path, "r+b") as f:
            end = f.seek(0, 2)
            if end < offset:
                f.write(b"\xff" * (offset - end))  # erased flash up to the write
            f.seek(offset)
            f.write(data)

    def __repr__(self):
        return "<Partition type=1, subtype=%d, address=%d, size=%d, label=%s, encrypted=0>" % (
            ROMFS_SUBTYPE, ROMFS_ADDRESS, ROMFS_SIZE, ROMFS_LABEL)


def _romfs_file(dev):
    path = getattr(dev, "romfs_file", None)
    if not path:
        return None
    try:
        os.stat(path)
    except OSError:
        return None
    return path

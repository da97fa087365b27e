"""ESP32 family facts and MicroPython firmware files, for `flash` and `image`.

Chip facts come from esptool's own chip classes (names as esptool detects
them, image chip ids, bootloader offsets) so they cannot drift from the tool
that writes the flash. The flash layout comes from the firmware's own
partition table when a firmware file is given, else from MicroPython's
default tables (ports/esp32/partitions-4MiBplus.csv and -2MiB.csv), and the
`vfs` filesystem follows MicroPython's rule (ports/esp32 main.c since 1.26):
a partition labelled `vfs` if the table has one, otherwise everything from
the end of the last partition to the end of the physical flash. A data
partition labelled `romfs` (CloudPin's own build, firmware/micropython-esp32/CLOUDPIN)
holds the app as a ROMFS image that MicroPython mounts at /rom and runs in
place (ports/esp32/esp32_partition.c finds it by that label).
"""
import csv
import contextlib
import struct
from collections import namedtuple
from pathlib import Path

from esp_pylib.logger import EspLog, EspLogBase
from esptool.targets import CHIP_DEFS
from esptool.util import flash_size_bytes

IMAGE_MAGIC = 0xE9  # first byte of every ESP bootloader/app image
PARTITION_TABLE_OFFSET = 0x8000
_PT_MAGIC = b"\xaa\x50"
_PT_MD5_MAGIC = b"\xeb\xeb"
_PT_ENTRY = struct.Struct("<2sBBII16sI")
TYPE_APP, TYPE_DATA = 0x00, 0x01
SUBTYPE_NVS = 0x02
ROMFS_LABEL = "romfs"
SUBTYPE_ROMFS = 0x8F  # what MicroPython's partitions-4MiB-romfs.csv uses; the port matches the label only
# ESP-IDF's partition CSV names (components/partition_table/gen_esp32part.py).
_CSV_TYPES = {"app": TYPE_APP, "data": TYPE_DATA}
_CSV_SUBTYPES = {
    TYPE_APP: dict({"factory": 0x00, "test": 0x20}, **{"ota_%d" % i: 0x10 + i for i in range(16)}),
    TYPE_DATA: {"ota": 0x00, "phy": 0x01, "nvs": SUBTYPE_NVS, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
                "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}
# Where ESP-IDF places a partition with no offset: after the table, aligned.
_CSV_ALIGN = {TYPE_APP: 0x10000, TYPE_DATA: 0x1000}

# mpy-cross -march per CPU: Xtensa LX6/LX7 with the windowed ABI, or RISC-V.
_MPY_ARCH = {
    "ESP32": "xtensawin",
    "ESP32-S2": "xtensawin",
    "ESP32-S3": "xtensawin",
    "ESP32-C3": "rv32imc",
    "ESP32-C6": "rv32imc",
}

Partition = namedtuple("Partition", "name type subtype offset size")


class FirmwareError(ValueError):
    """A firmware file or chip name that cannot be used; the message says why."""


def chip_class(chip):
    """esptool's ROM class for a chip name as esptool reports it ("ESP32")."""
    for cls in CHIP_DEFS.values():
        if cls.CHIP_NAME == chip:
            return cls
    raise FirmwareError("unknown chip %r; esptool knows %s" % (
        chip, ", ".join(sorted(c.CHIP_NAME for c in CHIP_DEFS.values()))))


def esptool_name(chip):
    """The --chip spelling esptool's API wants ("esp32")."""
    cls = chip_class(chip)
    return next(k for k, v in CHIP_DEFS.items() if v is cls)


def mpy_arch(chip):
    chip_class(chip)
    if chip not in _MPY_ARCH:
        raise FirmwareError("no MicroPython port for %s" % chip)
    return _MPY_ARCH[chip]


def bootloader_offset(chip):
    return chip_class(chip).BOOTLOADER_FLASH_OFFSET


def flash_bytes(size):
    """"4MB" -> 4194304."""
    try:
        n = flash_size_bytes(size)
    except Exception:
        n = None
    if not n:
        raise FirmwareError("flash size %r is not like '4MB'" % (size,))
    return n


def default_partitions(flash_size):
    """MicroPython's default table for ESP32 boards of this flash size."""
    parts = [Partition("nvs", TYPE_DATA, SUBTYPE_NVS, 0x9000, 0x6000),
             Partition("phy_init", TYPE_DATA, 0x01, 0xF000, 0x1000)]
    if flash_size < 0x400000:  # partitions-2MiB.csv
        return parts + [Partition("factory", TYPE_APP, 0x00, 0x10000, 0x110000),
                        Partition("vfs", TYPE_DATA, 0x81, 0x120000, 0xA0000)]
    return parts + [Partition("factory", TYPE_APP, 0x00, 0x10000, 0x1F0000)]


def parse_partition_table(data):
    """Entries of a binary ESP-IDF partition table (0x8000 in flash)."""
    parts = []
    for off in range(0, min(len(data), 0xC00), _PT_ENTRY.size):
        raw = data[off:off + _PT_ENTRY.size]
        if len(raw) < _PT_ENTRY.size or raw[:2] in (_PT_MD5_MAGIC, b"\xff\xff"):
            break
        magic, ptype, subtype, offset, size, label, _flags = _PT_ENTRY.unpack(raw)
        if magic != _PT_MAGIC:
            raise FirmwareError("partition table entry %d has bad magic %s" % (len(parts), magic.hex()))
        parts.append(Partition(label.rstrip(b"\0").decode("ascii", "replace"), ptype, subtype, offset, size))
    if not parts:
        raise FirmwareError("partition table is empty")
    return parts


def _csv_int(text, what):
    """ESP-IDF's numbers: decimal or 0x hex, optionally with a K or M suffix."""
    t = text.strip().lower()
    scale = {"k": 1024, "m": 1024 * 1024}.get(t[-1:], 1)
    if scale > 1:
        t = t[:-1]
    try:
        return int(t, 0) * scale
    except ValueError:
        raise FirmwareError("%s %r is not a number" % (what, text)) from None


def parse_partition_csv(text):
    """Entries of an ESP-IDF partition table CSV (name, type, subtype, offset,
    size, flags), with ESP-IDF's rules for names and for an empty offset."""
    parts = []
    end = PARTITION_TABLE_OFFSET + 0x1000
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        row = [c.strip() for c in row]
        if not row or not row[0] or row[0].startswith("#"):
            continue
        if len(row) < 5:
            raise FirmwareError("partition CSV line %d: %d fields, want name, type, subtype, offset, size" % (n, len(row)))
        name, ptype, subtype, offset, size = row[:5]
        ptype = _CSV_TYPES[ptype] if ptype in _CSV_TYPES else _csv_int(ptype, "line %d: type" % n)
        names = _CSV_SUBTYPES.get(ptype, {})
        subtype = names[subtype] if subtype in names else _csv_int(subtype, "line %d: subtype" % n)
        align = _CSV_ALIGN.get(ptype, 0x1000)
        offset = _csv_int(offset, "line %d: offset" % n) if offset else -(-end // align) * align
        parts.append(Partition(name, ptype, subtype, offset, _csv_int(size, "line %d: size" % n)))
        end = offset + parts[-1].size
    if not parts:
        raise FirmwareError("partition CSV has no entries")
    return parts


def romfs_partition(partitions):
    """The data partition MicroPython mounts at /rom, or None (a stock build)."""
    return next((p for p in partitions if p.type == TYPE_DATA and p.name == ROMFS_LABEL), None)


def app_partition(partitions):
    """The partition the bootloader starts: "factory", else the first app."""
    app = next((p for p in partitions if p.name == "factory"), None)
    app = app or next((p for p in partitions if p.type == TYPE_APP), None)
    if app is None:
        raise FirmwareError("partition table has no app partition")
    return app


def layout(partitions, flash_size):
    """{"nvs": (offset, size), "vfs": (offset, size), "app": (offset, size)},
    and "romfs": (offset, size) when the table has one."""
    by_name = {p.name: p for p in partitions}
    nvs = by_name.get("nvs") or next((p for p in partitions if p.type == TYPE_DATA and p.subtype == SUBTYPE_NVS), None)
    if nvs is None:
        raise FirmwareError("partition table has no nvs partition")
    app = app_partition(partitions)
    if "vfs" in by_name:
        vfs = (by_name["vfs"].offset, by_name["vfs"].size)
    else:
        end = max(p.offset + p.size for p in partitions)
        if end >= flash_size:
            raise FirmwareError("no room for a vfs partition: the table ends at 0x%x, flash is 0x%x" % (end, flash_size))
        vfs = (end, flash_size - end)
    for p in partitions:
        if p.offset + p.size > flash_size:
            raise FirmwareError("partition %s (0x%x + 0x%x) does not fit in 0x%x bytes of flash" % (
                p.name, p.offset, p.size, flash_size))
    out = {"nvs": (nvs.offset, nvs.size), "vfs": vfs, "app": (app.offset, app.size)}
    romfs = romfs_partition(partitions)
    if romfs:
        out["romfs"] = (romfs.offset, romfs.size)
    return out


Firmware = namedtuple("Firmware", "path size chip offset partitions")


def read_firmware(path, chip):
    """Check that `path` is a combined MicroPython firmware for `chip` (bootloader,
    partition table and app, written at the chip's bootloader offset) and
    return what it holds; raises FirmwareError saying what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise FirmwareError("firmware file %s does not exist (download the .bin for your board from "
                            "https://micropython.org/download/ and pass its path)" % p)
    data = p.read_bytes()
    boff = bootloader_offset(chip)
    where = "0x%x" % boff
    if not data:
        raise FirmwareError("firmware file %s is empty" % p)
    if data[0] != IMAGE_MAGIC:
        hint = ""
        if boff and len(data) > boff and data[boff] == IMAGE_MAGIC:
            hint = " It has an image at 0x%x: it looks like a dump of the whole flash from 0x0." % boff
        raise FirmwareError("%s is not an %s firmware image for %s: first byte is 0x%02x, an ESP image starts "
                            "with 0x%02x.%s" % (p, chip, where, data[0], IMAGE_MAGIC, hint))
    if len(data) >= 14:
        chip_id = struct.unpack_from("<H", data, 12)[0]
        want = chip_class(chip).IMAGE_CHIP_ID
        if chip_id != want:
            other = next((c.CHIP_NAME for c in CHIP_DEFS.values() if c.IMAGE_CHIP_ID == chip_id), "chip id %d" % chip_id)
            raise FirmwareError("%s is built for %s, but the board has an %s" % (p, other, chip))
    pt = PARTITION_TABLE_OFFSET - boff
    if len(data) < pt + 32 or data[pt:pt + 2] != _PT_MAGIC:
        raise FirmwareError("%s has no partition table at file offset 0x%x (flash 0x%x): it looks like an app-only "
                            "image (micropython.bin from a build directory, meant for 0x10000). Use the combined "
                            "firmware .bin that starts with the bootloader, written at %s." % (p, pt, PARTITION_TABLE_OFFSET, where))
    parts = parse_partition_table(data[pt:pt + 0xC00])
    app = app_partition(parts)
    if len(data) <= app.offset - boff or data[app.offset - boff] != IMAGE_MAGIC:
        raise FirmwareError("%s holds no app image at flash 0x%x, where its partition table puts it" % (p, app.offset))
    return Firmware(p, len(data), chip, boff, parts)


class EsptoolEvents(EspLogBase):
    """An esptool logger that hands messages and progress to callbacks instead
    of the terminal. esptool's logger is one global, so it is installed for
    one call at a time (see `esptool_output`)."""

    def __init__(self, on_message=None, on_progress=None):
        self.on_message = on_message
        self.on_progress = on_progress

    def _msg(self, kind, args):
        if self.on_message:
            text = " ".join(str(a) for a in args).strip()
            if text:
                self.on_message(kind, text)

    def print(self, *args, **kwargs):
        self._msg("info", args)

    def err(self, *args, suggestion=None):
        self._msg("error", args)

    def warn(self, *args, suggestion=None):
        self._msg("warning", args)

    def note(self, *args):
        self._msg("note", args)

    def hint(self, *args):
        pass

    def debug(self, *args):
        pass

    def set_verbosity(self, mode):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        if self.on_progress:
            self.on_progress(cur_iter, total_iters)


@contextlib.contextmanager
def esptool_output(logger):
    """Route esptool's output to `logger` for the duration of a with-block."""
    old = EspLog.instance
    EspLog.instance = logger
    try:
        yield logger
    finally:
        EspLog.instance = old

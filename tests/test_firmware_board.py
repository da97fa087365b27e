"""CloudPin's MicroPython build definition (firmware/micropython-esp32/CLOUDPIN): its
partition table holds a ROMFS partition where the app fits, keeps the NVS
partition where the desk writes it and leaves the vfs after it; `make
firmware` names what is missing when it cannot build (CI has neither
ESP-IDF nor a MicroPython checkout)."""
import os
import re
import shutil
import subprocess

import pytest

from host_tools import REPO
from host_tools.images import chips, nvsimage, romfs

BOARD_DIR = REPO / "firmware" / "micropython-esp32" / "CLOUDPIN"
CSV = BOARD_DIR / "partitions-cloudpin.csv"
FLASH = chips.flash_bytes("4MB")
# Room the romfs partition keeps beyond today's app: this test fails (and the
# table should grow, docs/firmware.md) before a release stops fitting.
GROWTH_MARGIN = 64 * 1024


@pytest.fixture(scope="module")
def table():
    return chips.parse_partition_csv(CSV.read_text())


def test_the_table_has_the_stock_partitions_and_a_romfs_after_the_app(table):
    stock = {p.name: p for p in chips.default_partitions(FLASH)}
    by_name = {p.name: p for p in table}
    assert sorted(by_name) == ["factory", "nvs", "phy_init", "romfs"]
    # nvs and phy_init where MicroPython's table has them: the desk's NVS
    # image (nvsimage.NVS_SIZE bytes at 0x9000) lands on the same bytes.
    assert by_name["nvs"] == stock["nvs"]
    assert by_name["nvs"].size == nvsimage.NVS_SIZE
    assert by_name["phy_init"] == stock["phy_init"]
    # The app keeps the stock build's room: the ROMFS code is a few KB.
    assert by_name["factory"] == stock["factory"]
    romfs = chips.romfs_partition(table)
    assert romfs is by_name["romfs"] and romfs.subtype == chips.SUBTYPE_ROMFS
    assert romfs.offset == stock["factory"].offset + stock["factory"].size


def test_the_apps_xtensawin_romfs_image_fits_with_room_to_grow(table):
    image = romfs.build_package(chips.mpy_arch("ESP32"))
    part = chips.romfs_partition(table)
    assert romfs.check_size(image, part.size) == len(image)
    assert len(image) + GROWTH_MARGIN <= part.size, "%d bytes of %d" % (len(image), part.size)


def test_partitions_are_aligned_and_do_not_overlap(table):
    ordered = sorted(table, key=lambda p: p.offset)
    assert ordered[0].offset >= chips.PARTITION_TABLE_OFFSET + 0x1000
    for p in ordered:
        # ESP-IDF: apps on 64 KB boundaries, data on flash sectors; the romfs
        # on a 64 KB MMU page too, so esp_partition_mmap maps it alone.
        align = 0x10000 if p.type == chips.TYPE_APP or p.name == chips.ROMFS_LABEL else 0x1000
        assert p.offset % align == 0 and p.size % 0x1000 == 0, p
    for a, b in zip(ordered, ordered[1:]):
        assert a.offset + a.size <= b.offset, (a, b)


def test_the_vfs_follows_the_romfs_to_the_end_of_the_flash(table):
    lay = chips.layout(table, FLASH)
    romfs = chips.romfs_partition(table)
    assert lay["romfs"] == (romfs.offset, romfs.size)
    assert lay["vfs"] == (romfs.offset + romfs.size, FLASH - romfs.offset - romfs.size)
    # Room for the wearer's data and a LittleFS copy of the app (a stock
    # firmware's way, which `cloudpin image` still supports).
    assert lay["vfs"][1] >= 0x100000


def test_the_csv_reader_follows_esp_idfs_rules():
    parts = chips.parse_partition_csv(
        "# Name, Type, SubType, Offset, Size\n"
        "nvs, data, nvs, , 24K,\n"
        "phy_init, data, phy, , 4K\n"
        "factory, app, factory, , 1M\n"
        "romfs, data, 0x8f, , 0x20000\n")
    assert [(p.name, p.type, p.subtype, p.offset, p.size) for p in parts] == [
        ("nvs", 1, 2, 0x9000, 0x6000), ("phy_init", 1, 1, 0xF000, 0x1000),
        ("factory", 0, 0, 0x10000, 0x100000), ("romfs", 1, 0x8F, 0x110000, 0x20000)]
    with pytest.raises(chips.FirmwareError, match="line 1: size"):
        chips.parse_partition_csv("nvs, data, nvs, 0x9000, lots\n")
    with pytest.raises(chips.FirmwareError, match="line 2: 3 fields"):
        chips.parse_partition_csv("# x\nnvs, data, nvs\n")


def test_the_board_turns_romfs_on_and_uses_this_table():
    header = (BOARD_DIR / "mpconfigboard.h").read_text()
    assert re.search(r"^#define MICROPY_VFS_ROM \(1\)$", header, re.M)
    cmake = (BOARD_DIR / "mpconfigboard.cmake").read_text()
    # What ESP32_GENERIC builds: the port's base and BLE sdkconfig fragments.
    assert re.search(r"set\(SDKCONFIG_DEFAULTS\s+boards/sdkconfig\.base\s+boards/sdkconfig\.ble\s*\)", cmake)
    assert "${MICROPY_BOARD_DIR}/" + CSV.name in cmake
    # No Python in the board folder: the app image compiles every .py under firmware/.
    assert not list(BOARD_DIR.rglob("*.py"))
    # firmware/ is on the VM's path (tests/conftest.py) and MicroPython imports
    # a folder as a package: one named like a module ("esp32") would shadow the
    # emulator's. A name with a dash can never be imported.
    assert "-" in BOARD_DIR.parent.name and BOARD_DIR.parent.parent == REPO / "firmware"


def _make_firmware(tmp_path, micropython_dir, path=None):
    env = dict(os.environ, PATH=path or os.environ["PATH"])
    cmd = [shutil.which("make"), "--no-print-directory", "-C", str(REPO), "firmware"]
    if micropython_dir is not None:
        cmd.append("MICROPYTHON_DIR=%s" % micropython_dir)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def test_make_firmware_names_what_is_missing_in_one_line(tmp_path):
    checkout = tmp_path / "micropython"
    port_c = checkout / "ports" / "esp32" / "esp32_partition.c"
    cases = [(None, "MICROPYTHON_DIR is not set"),
             (checkout, "is not a MicroPython checkout")]
    for where, problem in cases:
        r = _make_firmware(tmp_path, where)
        assert r.returncode != 0
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and problem in r.stderr, r.stderr
    port_c.parent.mkdir(parents=True)
    port_c.write_text("/* a port from before ROMFS */\n")
    r = _make_firmware(tmp_path, checkout)
    assert r.returncode != 0 and len(r.stderr.splitlines()) == 1 and "has no ROMFS" in r.stderr, r.stderr
    port_c.write_text("mp_obj_t mp_vfs_rom_ioctl(size_t n_args, const mp_obj_t *args) {\n")
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("grep", "sh"):
        (bare / tool).symlink_to(shutil.which(tool))
    r = _make_firmware(tmp_path, checkout, path=str(bare))
    assert r.returncode != 0 and len(r.stderr.splitlines()) == 1 and "idf.py not found" in r.stderr, r.stderr

"""Build one image per badge for mass flashing: the app compiled with mpy-cross
for the board's CPU in a LittleFS filesystem with the event pack (/pack.bin,
--pack, --no-pack), a per-badge NVS partition
(the identity keys of firmware/cloudpin/identity.py: badge_id, or badge_id,
pair_key, id_key, event_key, utc_offset and prov_gen), and, with --firmware,
MicroPython's bootloader, partition table and app, merged with esptool into
one file written at the chip's bootloader offset (0x1000 on the ESP32).
Addresses come from the firmware's own partition table. A firmware whose
table has a `romfs` partition (CloudPin's build, docs/firmware.md) gets the
app's modules there as a ROMFS image that runs in place, and LittleFS keeps
only boot.py, main.py, /board.json and /pack.bin; a stock firmware gets them
all on LittleFS, as before. The parts are also written next to the output
(OUT.fs.bin, OUT.nvs.bin, OUT.romfs.bin) with a manifest (OUT.json)."""
import argparse
import hashlib
import json
import sys
from pathlib import Path

from esptool.cmds import merge_bin

from host_tools import FIRMWARE_DIR
from host_tools.boards import BoardError, load_board
from host_tools.designs import DEFAULT_PACK, PackError, pack_cli, pack_error_line
from host_tools.fw import source as fwsource
from host_tools.images import chips, fsimage, nvsimage, romfs


class MergeError(ValueError):
    pass


firmware_version = fwsource.version


def _data(part):
    return part if isinstance(part, (bytes, bytearray)) else Path(part).read_bytes()


def merge_image(out, chip, parts, target_offset=None):
    """Merge [(flash address, bytes or path)] into one raw image at `out`
    starting at `target_offset` (default: the chip's bootloader offset), gaps
    filled with 0xFF as erased flash reads; returns the path."""
    start = chips.bootloader_offset(chip) if target_offset is None else target_offset
    regions = sorted((addr, bytes(_data(p))) for addr, p in parts)
    if not regions:
        raise MergeError("nothing to merge")
    prev_end, prev_addr = start, None
    for addr, data in regions:
        if addr < prev_end:
            if prev_addr is None:
                raise MergeError("part at 0x%x lies before the image start 0x%x" % (addr, start))
            raise MergeError("part at 0x%x overlaps the part at 0x%x (which ends at 0x%x)" % (addr, prev_addr, prev_end))
        prev_end, prev_addr = addr + len(data), addr
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with chips.esptool_output(chips.EsptoolEvents()):
        merge_bin(regions, chips.esptool_name(chip), output=str(out), target_offset=start)
    return out


def split_firmware(fw, nvs):
    """The firmware file as [(address, bytes)] with the NVS partition's range
    cut out, so the per-badge NVS can take its place. A combined MicroPython
    image holds only erased bytes there; anything else is refused."""
    data = fw.path.read_bytes()
    lo, hi = nvs[0] - fw.offset, nvs[0] + nvs[1] - fw.offset
    if lo < 0:
        raise MergeError("the NVS partition at 0x%x lies before the firmware's start 0x%x" % (nvs[0], fw.offset))
    hole = data[lo:hi]
    if hole.strip(b"\xff"):
        raise MergeError("%s holds data at 0x%x-0x%x, where the NVS partition goes" % (fw.path, nvs[0], nvs[0] + nvs[1]))
    parts = [(fw.offset, data[:lo])]
    if len(data) > hi:
        parts.append((fw.offset + hi, data[hi:]))
    return parts


def partition_table(path):
    """Partitions from an ESP-IDF partition CSV file (--partitions)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeError) as e:
        raise chips.FirmwareError("cannot read the partition table %s: %s" % (path, e)) from None
    return chips.parse_partition_csv(text)


def build_image(board, out, *, firmware=None, nvs_values=None, nvs_csv=None, arch=None, root=FIRMWARE_DIR,
                pack=DEFAULT_PACK, partitions=None):
    """Build the parts and, with `firmware`, the merged image. Returns the
    manifest (also written to OUT.json): board, chip, layout, parts, romfs.
    `partitions` (a list of chips.Partition) stands for the firmware's table
    when there is no firmware; default: MicroPython's stock table."""
    board = board if isinstance(board, dict) else load_board(board)
    chip = board["chip"]
    flash = chips.flash_bytes(board["flash_size"])
    fw = chips.read_firmware(firmware, chip) if firmware else None
    parts_table = fw.partitions if fw else (partitions or chips.default_partitions(flash))
    lay = chips.layout(parts_table, flash)
    out = Path(out)
    stem = out.with_suffix("")
    arch = arch or chips.mpy_arch(chip)
    rom = None
    if "romfs" in lay:
        rom = romfs.build_package(arch, root)
        romfs.check_size(rom, lay["romfs"][1])
    fs_path = fsimage.build_fs_image(board, str(stem) + ".fs.bin", partition_size=lay["vfs"][1], arch=arch, root=root,
                                     event_pack=pack, package=rom is None)
    nvs_out = str(stem) + ".nvs.bin"
    keys = nvsimage.firmware_keys(root)
    if nvs_csv:
        nvs_path = nvsimage.build_nvs_image_from_csv(nvs_csv, nvs_out, size=lay["nvs"][1], keys=keys)
    else:
        nvs_path = nvsimage.build_nvs_image(nvs_values or {}, nvs_out, size=lay["nvs"][1], keys=keys)
    regions = [("nvs", lay["nvs"][0], nvs_path), ("vfs", lay["vfs"][0], fs_path)]
    if rom is not None:
        rom_path = Path(str(stem) + ".romfs.bin")
        rom_path.write_bytes(rom)
        regions.append(("romfs", lay["romfs"][0], rom_path))
    manifest = {
        "board": board["name"], "chip": chip, "flash_size": board["flash_size"], "mpy_arch": arch,
        "app_version": firmware_version(root), "pack": str(pack) if pack is not None else None,
        "layout": {k: {"offset": v[0], "size": v[1]} for k, v in lay.items()},
        "parts": [{"name": n, "offset": a, "file": str(p), "size": Path(p).stat().st_size,
                   "sha256": hashlib.sha256(Path(p).read_bytes()).hexdigest()}
                  for n, a, p in sorted(regions, key=lambda r: r[1])],
        "romfs": rom is not None,
        "image": None,
    }
    if fw:
        pieces = split_firmware(fw, lay["nvs"]) + [(a, p) for _, a, p in regions]
        last = max(a + len(_data(p)) for a, p in pieces)
        if last > flash:
            raise MergeError("the image ends at 0x%x, beyond the %s flash" % (last, board["flash_size"]))
        merged = merge_image(out, chip, pieces)
        manifest["image"] = {"file": str(merged), "offset": fw.offset, "size": merged.stat().st_size,
                             "firmware": str(fw.path),
                             "sha256": hashlib.sha256(merged.read_bytes()).hexdigest()}
    Path(str(stem) + ".json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def describe(manifest):
    lines = []
    img = manifest["image"]
    if img:
        lines.append("%s: %d bytes for %s (%s, %s); flash it at 0x%x:" % (
            img["file"], img["size"], manifest["board"], manifest["chip"], manifest["flash_size"], img["offset"]))
        lines.append("  0x%06x  bootloader, partition table, app   from %s" % (img["offset"], img["firmware"]))
    else:
        lines.append("parts for %s (%s, %s), no --firmware so no merged image: a single raw file would "
                     "have to overwrite the app between them with 0xFF." % (
                         manifest["board"], manifest["chip"], manifest["flash_size"]))
    for part in manifest["parts"]:
        size = manifest["layout"][part["name"]]["size"]
        lines.append("  0x%06x  %-5s partition 0x%x bytes   %s" % (part["offset"], part["name"], size, part["file"]))
    if manifest["romfs"]:
        rom = next(p for p in manifest["parts"] if p["name"] == "romfs")
        lines.append("app modules in the romfs partition (%d of %d bytes), run in place from /rom; LittleFS holds "
                     "boot.py, main.py and data" % (rom["size"], manifest["layout"]["romfs"]["size"]))
    else:
        lines.append("no romfs partition in %s: the app modules go on LittleFS and load into the heap "
                     "(`make firmware` builds CloudPin's MicroPython, which runs them in place)" % (
                         "the firmware" if img else "the partition table"))
    if not img:
        args = " ".join("0x%x %s" % (p["offset"], p["file"]) for p in manifest["parts"])
        lines.append("flash the parts onto a badge that runs MicroPython with:")
        lines.append("  esptool --chip %s write-flash %s" % (chips.esptool_name(manifest["chip"]), args))
    lines.append("app %s compiled for %s; designs: %s" % (manifest["app_version"], manifest["mpy_arch"],
                                                         manifest["pack"] or "none (--no-pack)"))
    return "\n".join(lines)


def add_arguments(p):
    p.add_argument("--board", required=True, help="board name (boards/NAME.json) or path to a board JSON")
    p.add_argument("-o", "--output", required=True, help="merged image to write (parts go next to it)")
    p.add_argument("--firmware", help="combined MicroPython .bin for the board (bootloader + partition table + app); "
                                      "with a romfs partition (`make firmware`) the app's modules go there")
    p.add_argument("--partitions", metavar="CSV",
                   help="without --firmware: the partition table the badge's firmware has, as ESP-IDF CSV (e.g. "
                        "firmware/micropython-esp32/CLOUDPIN/partitions-cloudpin.csv); default: MicroPython's stock table")
    p.add_argument("--nvs", action="append", default=[], metavar="KEY[:TYPE]=VALUE",
                   help="per-badge NVS value in namespace cloudpin; TYPE str (default, a UTF-8 blob), i32, hex or b64. "
                        "Keys as in firmware/cloudpin/identity.py, e.g. --nvs badge_id:hex=0000000000000042 "
                        "(a blank badge), plus pair_key:hex=..., id_key:hex=..., event_key:hex=..., utc_offset:i32=MINUTES_EAST_OF_UTC, "
                        "prov_gen:i32=1 (provisioned)")
    p.add_argument("--nvs-csv", help="NVS values as an esp-idf-nvs-partition-gen CSV (i32 and blob encodings only)")
    p.add_argument("--arch", help="mpy-cross architecture instead of the board's (x64 or bytecode: run the image in "
                                  "the host's MicroPython VM)")
    pack_cli.add_pack_option(p)
    p.add_argument("--app", default=str(FIRMWARE_DIR), help=argparse.SUPPRESS)


def run(args):
    if args.nvs and args.nvs_csv:
        print("error: give per-badge values with --nvs or --nvs-csv, not both", file=sys.stderr)
        return 2
    if args.partitions and args.firmware:
        print("error: --partitions is for parts without a firmware; the firmware's own table is used", file=sys.stderr)
        return 2
    try:
        values = dict(nvsimage.parse_assignment(a) for a in args.nvs)
        table = partition_table(args.partitions) if args.partitions else None
        manifest = build_image(args.board, args.output, firmware=args.firmware, nvs_values=values,
                               nvs_csv=args.nvs_csv, arch=args.arch, root=args.app, pack=args.pack, partitions=table)
    except PackError as e:
        print("error: %s" % pack_error_line(e, args.pack), file=sys.stderr)
        return 2
    except (BoardError, chips.FirmwareError, fsimage.ImageError, fwsource.SourceError, nvsimage.NvsError, MergeError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print(describe(manifest))
    return 0

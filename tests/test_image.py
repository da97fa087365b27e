"""Images for mass flashing, proved without hardware: the real MicroPython VM
mounts the LittleFS image with vfs.VfsLfs2 and boots the app from it, the NVS
image parses back to what was written, and the merged file has each part at
its flash address."""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from host_tools import EMULATOR_DIR, FIRMWARE_DIR, cli
from host_tools.boards import load_board
from host_tools.designs import DEFAULT_PACK, compile_pack
from host_tools.fw import source as fwsource
from host_tools.images import chips, fsimage, image, nvsimage, romfs

MICROPYTHON = str(Path(sys.executable).parent / "micropython")
MB = 1024 * 1024
# Frozen modules (asyncio) and the emulated hardware only: every app module
# must come from the image.
VM_PATH = ".frozen" + os.pathsep + str(EMULATOR_DIR)
DEFAULT_TABLE = [("nvs", 1, 2, 0x9000, 0x6000), ("phy_init", 1, 1, 0xF000, 0x1000), ("factory", 0, 0, 0x10000, 0x1F0000)]
# CloudPin's own build (firmware/micropython-esp32/CLOUDPIN): the stock table plus a romfs partition.
CLOUDPIN_CSV = FIRMWARE_DIR / "micropython-esp32" / "CLOUDPIN" / "partitions-cloudpin.csv"
CLOUDPIN_TABLE = [tuple(p) for p in chips.parse_partition_csv(CLOUDPIN_CSV.read_text())]


def make_firmware(path, chip="ESP32", table=DEFAULT_TABLE, app_size=0x30000, chip_id=None):
    """A stand-in for a combined MicroPython .bin: bootloader image header,
    binary partition table and app image header where ESP-IDF puts them,
    distinctive bytes elsewhere so misplaced copies show."""
    boff = chips.bootloader_offset(chip)
    app_off = next(p[3] for p in table if p[1] == 0)
    data = bytearray(b"\xff" * (app_off - boff + app_size))
    boot = bytearray(hashlib.sha256(b"boot").digest() * 600)[:0x5000]
    boot[0:4] = bytes([chips.IMAGE_MAGIC, 3, 2, 0x20])
    struct.pack_into("<H", boot, 12, chips.chip_class(chip).IMAGE_CHIP_ID if chip_id is None else chip_id)
    data[0:len(boot)] = boot
    pt = b"".join(struct.pack("<2sBBII16sI", b"\xaa\x50", t, st, off, size, name.encode().ljust(16, b"\0"), 0)
                  for name, t, st, off, size in table)
    pt += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(pt).digest()
    data[0x8000 - boff:0x8000 - boff + len(pt)] = pt
    app = bytearray(hashlib.sha256(b"app").digest() * (app_size // 32))
    app[0:14] = boot[0:14]  # app images carry the same header and chip id
    data[app_off - boff:] = app
    Path(path).write_bytes(data)
    return Path(path)


# A block device over an image file, as the ESP32 port's Partition class is
# over flash: read-only, 4096-byte blocks, byte offsets for littlefs.
VM_MOUNT = r"""
import os, sys, vfs

class ImageBdev:
    def __init__(self, path):
        self.f = open(path, "rb")
        self.f.seek(0, 2)
        self.blocks = self.f.tell() // 4096
    def readblocks(self, n, buf, off=0):
        self.f.seek(n * 4096 + off)
        self.f.readinto(buf)
    def writeblocks(self, n, buf, off=0):
        raise OSError(30)
    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return 4096
        return 0

vfs.mount(vfs.VfsLfs2(ImageBdev(sys.argv[1]), readsize=32, progsize=32, lookahead=32), "/flash", readonly=True)

def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + "/" + name
        if kind == 0x4000:
            yield from walk(p)
        else:
            yield p
"""


def run_vm(tmp_path, script, *args, timeout=60, env=None):
    path = tmp_path / "vm_script.py"
    path.write_text(VM_MOUNT + script)
    env = dict(os.environ, MICROPYPATH=VM_PATH, **(env or {}))
    proc = subprocess.run([MICROPYTHON, str(path)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def board():
    return load_board("cloudpin_ref")


@pytest.fixture(scope="module")
def xtensa_fs(tmp_path_factory, board):
    return fsimage.build_fs_image(board, tmp_path_factory.mktemp("fs") / "fs.bin")


def test_fs_image_has_the_vfs_partition_geometry(xtensa_fs):
    # MicroPython's 4 MB table ends at 0x200000; vfs is the rest of the flash.
    assert xtensa_fs.stat().st_size == 0x200000
    assert fsimage.block_count(0x200000) == 512
    sb = xtensa_fs.read_bytes()[:64]
    assert sb[8:16] == b"littlefs"
    # Superblock inline struct: version, block_size, block_count.
    assert struct.unpack_from("<III", sb, 20) == (0x00020000, 4096, 512)


def test_micropython_mounts_the_fs_image_and_reads_every_file(tmp_path, board, xtensa_fs):
    out = run_vm(tmp_path, r"""
import hashlib, binascii
for p in sorted(walk("/flash")):
    print(p, binascii.hexlify(hashlib.sha256(open(p, "rb").read()).digest()).decode())
""", xtensa_fs)
    seen = dict(line.split() for line in out.splitlines())
    want = {"/flash/board.json", "/flash/boot.py", "/flash/main.py", "/flash/pack.bin"}
    for rel in fsimage.app_files():
        if rel not in ("boot.py", "main.py"):
            want.add("/flash/" + rel[:-3] + ".mpy")
    assert set(seen) == want
    for name in ("boot.py", "main.py"):  # MicroPython runs these only from source
        assert seen["/flash/" + name] == hashlib.sha256((FIRMWARE_DIR / name).read_bytes()).hexdigest()
    on_pin = json.loads(fsimage.unpack(xtensa_fs.read_bytes())["/board.json"])
    assert on_pin == board
    assert seen["/flash/board.json"] == hashlib.sha256(fsimage.unpack(xtensa_fs.read_bytes())["/board.json"]).hexdigest()
    assert seen["/flash/pack.bin"] == hashlib.sha256(compile_pack(DEFAULT_PACK)).hexdigest()


def test_the_firmware_loads_the_images_event_pack_and_no_pack_leaves_it_out(tmp_path, board):
    img = fsimage.build_fs_image(board, tmp_path / "fs64.bin", arch="x64")
    out = run_vm(tmp_path, r"""
sys.path.insert(0, "/flash")
from cloudpin.designs import pack
p = pack.load("/flash/pack.bin")
print(pack.__file__, p.count, p.ids[0], p.ids[-1])
""", img)
    sports = json.loads(DEFAULT_PACK.read_text())["sports"]
    assert out.split() == ["/flash/cloudpin/designs/pack.mpy", str(len(sports)), sports[0]["id"], sports[-1]["id"]]
    bare = fsimage.unpack(fsimage.build_fs_image(board, tmp_path / "bare.bin", event_pack=None).read_bytes())
    assert "/pack.bin" not in bare and "/board.json" in bare
    other = tmp_path / "mini.json"
    doc = json.loads(DEFAULT_PACK.read_text())
    doc["event"], doc["sports"] = "Mini", doc["sports"][:2]
    other.write_text(json.dumps(doc))
    mini = fsimage.unpack(fsimage.build_fs_image(board, tmp_path / "mini.bin", event_pack=other).read_bytes())
    assert mini["/pack.bin"] == compile_pack(other) != compile_pack(DEFAULT_PACK)


def test_modules_are_compiled_for_the_boards_cpu(tmp_path, board):
    root = tmp_path / "app"
    shutil.copytree(FIRMWARE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "cloudpin" / "fast.py").write_text(
        "import micropython\n\n@micropython.native\ndef double(x):\n    return x * 2\n")
    files = fsimage.unpack(fsimage.build_fs_image(board, tmp_path / "fs.bin", root=root).read_bytes())
    mpys = {p: d for p, d in files.items() if p.endswith(".mpy")}
    assert mpys and all(d[:2] == b"M\x06" for d in mpys.values())
    # The arch field is set only where there is native code: xtensawin (10).
    assert mpys["/cloudpin/fast.mpy"][2] >> 2 == 10
    assert all(d[2] >> 2 in (0, 10) for d in mpys.values())
    assert chips.mpy_arch("ESP32-C3") == "rv32imc"


def test_micropython_imports_the_compiled_app_from_the_image(tmp_path, board):
    img = fsimage.build_fs_image(board, tmp_path / "fs64.bin", arch="x64")
    mods = sorted("cloudpin." + p[len("cloudpin/"):-3] for p in fsimage.app_files()
                  if p.startswith("cloudpin/") and p != "cloudpin/__init__.py")
    out = run_vm(tmp_path, r"""
sys.path.insert(0, "/flash")
for name in sys.argv[2:]:
    m = __import__(name, None, None, ["x"])
    print(name, m.__file__)
""", img, *mods)
    got = dict(line.split() for line in out.splitlines())
    assert got == {m: "/flash/" + m.replace(".", "/") + ".mpy" for m in mods}


def test_micropython_boots_the_firmware_from_the_image_on_a_virtual_badge(tmp_path, board):
    # The image for the host's CPU (x64) so that native code runs in the VM.
    m = image.build_image(board, tmp_path / "badge.bin", nvs_values=IDENTITY, arch="x64")
    fs = Path(next(p["file"] for p in m["parts"] if p["name"] == "vfs"))
    nvs = nvsimage.parse_nvs(Path(next(p["file"] for p in m["parts"] if p["name"] == "nvs")).read_bytes())
    # The virtual badge's NVS, loaded from what the image's NVS partition holds
    # (the emulator's esp32.NVS file format), its hardware from the image's /board.json.
    (tmp_path / "nvs.json").write_text(json.dumps({ns: {k: ["i32", v] if isinstance(v, int) else ["blob", v.hex()]
                                                        for k, v in items.items()} for ns, items in nvs.items()}))
    (tmp_path / "board.json").write_bytes(fsimage.unpack(fs.read_bytes())["/board.json"])
    script = tmp_path / "boot_script.py"
    # As the ESP32 port does at reset: the filesystem is the working directory
    # and the front of the search path; boot.py, then main.py.
    script.write_text(VM_MOUNT + r"""
os.chdir("/flash")
sys.path.insert(0, "/flash")
exec(open("boot.py").read())
import cloudpin
from cloudpin import identity
print("app from", cloudpin.__file__)
print("identity", identity.public(identity.load(identity.open_nvs())))
exec(open("main.py").read())
""")
    env = dict(os.environ, MICROPYPATH=VM_PATH, CLOUDPIN_EMU_BOARD=str(tmp_path / "board.json"),
               CLOUDPIN_NVS_FILE=str(tmp_path / "nvs.json"))
    proc = subprocess.Popen([MICROPYTHON, str(script), str(fs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=tmp_path, env=env)
    lines = []
    guard = threading.Timer(60, proc.kill)  # if the boot line never comes
    guard.start()
    try:
        for line in proc.stdout:  # main.py runs the app until the badge is reset
            lines.append(line.rstrip())
            if " cloudpin " in line and "board=" in line:
                break
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
    text = "\n".join(lines)
    assert "app from /flash/cloudpin/__init__.mpy" in text, text
    assert "'badge_id': '0000c10d00000042'" in text and "'provisioned': True" in text, text
    boot = [ln for ln in lines if " cloudpin " in ln and "board=" in ln]
    assert boot and "cloudpin %s " % image.firmware_version() in boot[0], text
    assert "board=cloudpin_ref" in boot[0] and "badge=0000c10d00000042" in boot[0], text


def test_a_romfs_firmware_gets_the_app_in_its_romfs_partition_and_runs_it_from_rom(tmp_path, board):
    fw = make_firmware(tmp_path / "cloudpin-fw.bin", table=CLOUDPIN_TABLE)
    # x64: the VM runs the image as the chip would run the xtensawin one.
    m = image.build_image(board, tmp_path / "out" / "rom-image.bin", firmware=fw, nvs_values=IDENTITY, arch="x64")
    merged = Path(m["image"]["file"]).read_bytes()
    rom_off, rom_size = 0x200000, 0x40000
    assert m["romfs"] and m["layout"]["romfs"] == {"offset": rom_off, "size": rom_size}
    assert [p["name"] for p in m["parts"]] == ["nvs", "romfs", "vfs"]

    def at(addr, n):
        return merged[addr - 0x1000:addr - 0x1000 + n]

    rom = (tmp_path / "out" / "rom-image.romfs.bin").read_bytes()
    assert at(rom_off, len(rom)) == rom and len(rom) < rom_size
    modules = {"/" + p[:-3] + ".mpy" for p in fsimage.app_files() if p not in fsimage.SOURCE_ONLY}
    assert set(romfs.files(at(rom_off, rom_size))) == modules
    # LittleFS (after the romfs, to the end of the flash) keeps what is not code.
    fs = at(0x240000, 0x1C0000)
    assert fs == (tmp_path / "out" / "rom-image.fs.bin").read_bytes()
    assert sorted(fsimage.unpack(fs)) == ["/board.json", "/boot.py", "/main.py", "/pack.bin"]
    (tmp_path / "part.romfs").write_bytes(at(rom_off, rom_size))  # the whole partition, as the port maps it
    out = run_vm(tmp_path, r"""
rom = open(sys.argv[2], "rb").read()
vfs.mount(vfs.VfsRom(rom), "/rom")
# As the ESP32 port at reset: the filesystem is the working directory, '' comes
# first, /rom and /rom/lib are appended.
os.chdir("/flash")
sys.path[:0] = [""]
sys.path.extend(["/rom", "/rom/lib"])
import cloudpin
from cloudpin.designs import pack
print(cloudpin.__file__, pack.__file__, pack.load("pack.bin").count, sorted(os.listdir("")))
""", tmp_path / "out" / "rom-image.fs.bin", tmp_path / "part.romfs")
    count = len(json.loads(DEFAULT_PACK.read_text())["sports"])
    assert out.split() == ["/rom/cloudpin/__init__.mpy", "/rom/cloudpin/designs/pack.mpy", str(count),
                           "['board.json',", "'boot.py',", "'main.py',", "'pack.bin']"], out
    assert "run in place from /rom" in image.describe(m)


def test_an_app_too_big_for_the_romfs_partition_is_refused(tmp_path, board, capsys):
    small = CLOUDPIN_TABLE[:3] + [("romfs", 1, 0x8F, 0x200000, 0x10000)]
    fw = make_firmware(tmp_path / "small.bin", table=small)
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "s.bin"), "--firmware", str(fw)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "does not fit the 0x10000-byte romfs partition" in err, err
    assert not (tmp_path / "s.bin").exists()


def test_parts_for_a_romfs_badge_without_the_firmware_file(tmp_path, capsys):
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "p.bin"), "--partitions", str(CLOUDPIN_CSV)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "0x200000  romfs" in text and "0x240000  vfs" in text and "run in place from /rom" in text
    assert "0x200000 %s" % (tmp_path / "p.romfs.bin") in text  # in the esptool command
    assert "/cloudpin/app.mpy" in romfs.files((tmp_path / "p.romfs.bin").read_bytes())
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "q.bin"), "--partitions",
                   str(tmp_path / "none.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "none.csv" in err, err
    fw = make_firmware(tmp_path / "fw.bin")
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "q.bin"), "--firmware", str(fw),
                   "--partitions", str(CLOUDPIN_CSV)])
    assert rc == 2 and "--partitions" in capsys.readouterr().err


def test_fs_image_refuses_an_app_that_does_not_fit(tmp_path, board):
    root = tmp_path / "app"
    (root / "cloudpin").mkdir(parents=True)
    (root / "cloudpin" / "__init__.py").write_text('VERSION = "1.0.0"\n')
    (root / "cloudpin" / "big.py").write_text("DATA = %r\n" % os.urandom(30000).hex())
    with pytest.raises(fsimage.ImageError, match="does not fit"):
        fsimage.build_fs_image(board, tmp_path / "fs.bin", partition_size=8 * 4096, root=root)
    (root / "cloudpin" / "bad.py").write_text("def f(a, /, b):\n    pass\n")
    with pytest.raises(fsimage.ImageError, match="bad.py"):
        fsimage.build_fs_image(board, tmp_path / "fs.bin", root=root)


# -- NVS -------------------------------------------------------------------------

IDENTITY = {"badge_id": bytes.fromhex("0000c10d00000042"), "pair_key": bytes(range(16)),
            "id_key": bytes(range(16, 32)), "event_key": bytes(range(32, 48)), "utc_offset": -300, "prov_gen": 3}


def test_nvs_image_parses_back_to_the_values_written(tmp_path):
    path = nvsimage.build_nvs_image(IDENTITY, tmp_path / "nvs.bin")
    data = path.read_bytes()
    assert len(data) == nvsimage.NVS_SIZE
    assert data[-4096:] == b"\xff" * 4096  # the page NVS keeps free for itself
    assert nvsimage.parse_nvs(data) == {"cloudpin": IDENTITY}
    # Other namespaces take any i32 or blob, including blobs spanning pages.
    other = {"text": "CP-0042", "neg": -5, "photo": os.urandom(6000)}
    data = nvsimage.build_nvs_image(other, tmp_path / "other.bin", namespace="extra").read_bytes()
    assert nvsimage.parse_nvs(data) == {"extra": dict(other, text=b"CP-0042")}


def test_nvs_image_uses_only_what_esp32_nvs_can_read(tmp_path):
    data = nvsimage.build_nvs_image(IDENTITY, tmp_path / "nvs.bin").read_bytes()
    types = set()
    for page in range(0, len(data), 4096):
        if data[page:page + 4] == b"\xff" * 4:
            continue
        i = 0
        while i < 126:
            entry = data[page + 64 + 32 * i:page + 96 + 32 * i]
            if (data[page + 32 + i // 4] >> (2 * (i % 4))) & 3 != 2:  # not a written entry
                i += 1
                continue
            types.add((entry[0] == 0, entry[1]))
            i += entry[2]  # span: blob data follows its header
    # Namespace records (u8 in namespace 0), then i32, blob data and blob index only.
    assert types == {(True, 0x01), (False, 0x14), (False, 0x42), (False, 0x48)}


def test_nvs_parser_catches_corruption(tmp_path):
    data = bytearray(nvsimage.build_nvs_image({"n": 7}, tmp_path / "nvs.bin", namespace="x").read_bytes())
    data[64 + 32 + 24] ^= 1  # flip a bit in n's value
    with pytest.raises(nvsimage.NvsError, match="CRC"):
        nvsimage.parse_nvs(bytes(data))


@pytest.mark.parametrize("values,match", [
    ({"ratio": 1.5}, "neither an int"),
    ({"flag": True}, "neither an int"),
    ({"n": 1 << 31}, "does not fit an i32"),
    ({"a_key_that_is_too_long": 1}, "1..15"),
    ({"big": bytes(30000)}, "do not fit"),
])
def test_nvs_rejects_what_micropython_could_not_read(tmp_path, values, match):
    with pytest.raises(nvsimage.NvsError, match=match):
        nvsimage.build_nvs_image(values, tmp_path / "nvs.bin", namespace="x")


@pytest.mark.parametrize("values,match", [
    ({"fw_ver": 1}, "not one the firmware reads"),
    ({"badge_id": b"short"}, "8-byte blob"),
    ({"badge_id": 5}, "8-byte blob"),
    (dict(IDENTITY, prov_gen=b"1234"), "must be an i32"),
    (dict(IDENTITY, prov_gen=0), "must be > 0"),
    ({"badge_id": IDENTITY["badge_id"], "pair_key": IDENTITY["pair_key"]}, "missing event_key, id_key, prov_gen, utc_offset"),
    ({"prov_gen": 1}, "missing badge_id, event_key, id_key, pair_key, utc_offset"),
    (dict(IDENTITY, utc_offset=841), r"minutes east of UTC, -720\.\.840; got 841"),
    (dict(IDENTITY, utc_offset=-721), "got -721"),
])
def test_nvs_identity_follows_the_firmwares_keys(tmp_path, values, match):
    with pytest.raises(nvsimage.NvsError, match=match):
        nvsimage.build_nvs_image(values, tmp_path / "nvs.bin")


def test_nvs_identity_keys_come_from_the_firmware():
    keys = nvsimage.firmware_keys()
    assert keys["badge_id"] == ("blob", 8) and keys["prov_gen"][0] == "i32"
    assert set(keys) == set(IDENTITY)


def test_host_tools_read_the_firmwares_constants_and_version_from_its_source(tmp_path):
    pkg = tmp_path / "cloudpin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('VERSION = "9.8.7"\n')
    (pkg / "limits.py").write_text("from micropython import const\nfrom cloudpin.store import Store\n"
                                   "A = const(12)\nB = (1, 'x')\nC = A * 2\nD: int = 3\n")
    assert fwsource.constants("limits", tmp_path) == {"A": 12, "B": (1, "x")}  # C is computed at run time
    assert fwsource.version(tmp_path) == "9.8.7"
    (pkg / "__init__.py").write_text("VERSION = make()\n")
    with pytest.raises(fwsource.SourceError, match="no VERSION"):
        fwsource.version(tmp_path)
    # The real firmware: the desk's limits and digest are the badge's own.
    from host_tools.desk import provision, roster

    owner = fwsource.constants("owner")
    assert (roster.MAX_TEXT, roster.MAX_HANDLES, roster.MAX_HANDLE) == (owner["MAX_TEXT"], owner["MAX_HANDLES"],
                                                                        owner["MAX_HANDLE"])
    assert provision.digest(b"p" * 16, b"i" * 16) == hashlib.sha256(b"p" * 16 + b"i" * 16).hexdigest()


def test_nvs_from_csv(tmp_path):
    (tmp_path / "cert.der").write_bytes(b"\x30\x82cert")
    csv = tmp_path / "in.csv"
    csv.write_text("key,type,encoding,value\n# per badge\ncloudpin,namespace,,\nbadge_id,data,hex2bin,0000c10d00000042\n"
                   "pair_key,data,base64,AAECAwQFBgcICQoLDA0ODw==\nid_key,data,binary,abcdefghijklmnop\n"
                   "event_key,data,hex2bin,202122232425262728292a2b2c2d2e2f\nutc_offset,data,i32,-300\n"
                   "prov_gen,data,i32,0x3\nother,namespace,,\ncert,file,binary,cert.der\n")
    nvs = nvsimage.build_nvs_image_from_csv(csv, tmp_path / "nvs.bin")
    assert nvsimage.parse_nvs(nvs.read_bytes()) == {
        "cloudpin": dict(IDENTITY, id_key=b"abcdefghijklmnop"), "other": {"cert": b"\x30\x82cert"}}
    csv.write_text("key,type,encoding,value\ncloudpin,namespace,,\nname,data,string,Ada\n")
    with pytest.raises(nvsimage.NvsError, match="line 3 .*'string'.*i32 and blobs"):
        nvsimage.entries_from_csv(csv)
    csv.write_text("key,type,encoding,value\ncloudpin,namespace,,\ncount,data,u8,3\n")
    with pytest.raises(nvsimage.NvsError, match="'u8'"):
        nvsimage.entries_from_csv(csv)


def test_nvs_assignments():
    assert nvsimage.parse_assignment("name=CP-0042") == ("name", "CP-0042")
    assert nvsimage.parse_assignment("prov_gen:i32=0x10") == ("prov_gen", 16)
    assert nvsimage.parse_assignment("pair_key:hex=00ff") == ("pair_key", b"\x00\xff")
    assert nvsimage.parse_assignment("s:b64=AP8=") == ("s", b"\x00\xff")
    for bad in ("novalue", "x:f32=1.0", "x:hex=zz"):
        with pytest.raises(nvsimage.NvsError):
            nvsimage.parse_assignment(bad)


# -- firmware files, layout and the merged image -------------------------------------

def test_merged_image_has_each_part_at_its_address(tmp_path, board):
    fw = make_firmware(tmp_path / "micropython.bin")
    m = image.build_image(board, tmp_path / "out" / "ref-image.bin", firmware=fw, nvs_values=IDENTITY)
    merged = Path(m["image"]["file"]).read_bytes()
    base = 0x1000  # written at the ESP32's bootloader offset
    assert m["image"]["offset"] == base
    assert len(merged) == 4 * MB - base  # up to the end of the vfs partition
    fwb = fw.read_bytes()

    def at(addr, n):
        return merged[addr - base:addr - base + n]

    assert at(0x1000, 0x7000) == fwb[:0x7000]  # bootloader
    assert at(0x8000, 0x1000) == fwb[0x7000:0x8000]  # partition table
    assert at(0x9000, 0x6000) == (tmp_path / "out" / "ref-image.nvs.bin").read_bytes()
    assert at(0xF000, 0x1000) == b"\xff" * 0x1000  # phy_init stays erased
    assert at(0x10000, len(fwb) - 0xF000) == fwb[0xF000:]  # app
    assert at(0x200000, 0x200000) == (tmp_path / "out" / "ref-image.fs.bin").read_bytes()
    assert nvsimage.parse_nvs(at(0x9000, 0x6000)) == {"cloudpin": IDENTITY}
    assert "/board.json" in fsimage.unpack(at(0x200000, 0x200000))
    saved = json.loads((tmp_path / "out" / "ref-image.json").read_text())
    assert saved["image"]["sha256"] == hashlib.sha256(merged).hexdigest()
    # The merged file is itself a firmware file that flash accepts.
    assert chips.read_firmware(m["image"]["file"], "ESP32").partitions == chips.read_firmware(fw, "ESP32").partitions


def test_layout_follows_the_firmwares_partition_table(tmp_path, board):
    ota = [("nvs", 1, 2, 0x9000, 0x4000), ("otadata", 1, 0, 0xD000, 0x2000), ("phy_init", 1, 1, 0xF000, 0x1000),
           ("ota_0", 0, 0x10, 0x10000, 0x180000), ("ota_1", 0, 0x11, 0x190000, 0x180000)]
    fw = make_firmware(tmp_path / "ota.bin", table=ota)
    m = image.build_image(board, tmp_path / "ota-image.bin", firmware=fw)
    assert m["layout"]["nvs"] == {"offset": 0x9000, "size": 0x4000}
    assert m["layout"]["vfs"] == {"offset": 0x310000, "size": 0xF0000}
    merged = Path(m["image"]["file"]).read_bytes()
    assert len(merged) == 0x400000 - 0x1000
    with_vfs = DEFAULT_TABLE[:2] + [("factory", 0, 0, 0x10000, 0x100000), ("vfs", 1, 0x81, 0x110000, 0x80000)]
    m = image.build_image(board, tmp_path / "v-image.bin", firmware=make_firmware(tmp_path / "v.bin", table=with_vfs))
    assert m["layout"]["vfs"] == {"offset": 0x110000, "size": 0x80000}


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d[:0] + b"\x00" + d[1:], "first byte is 0x00"),
    (lambda d: b"\xff" * 0x1000 + d, "whole flash from 0x0"),
    (lambda d: d[0xF000:], "app-only"),
    (lambda d: d[:12] + b"\x05\x00" + d[14:], "built for ESP32-C3"),
    (lambda d: d[:0x10], "app-only"),
    (lambda d: b"", "empty"),
])
def test_bad_firmware_files_are_refused_with_a_reason(tmp_path, mutate, match):
    good = make_firmware(tmp_path / "good.bin").read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(mutate(good))
    with pytest.raises(chips.FirmwareError, match=match):
        chips.read_firmware(bad, "ESP32")
    with pytest.raises(chips.FirmwareError, match="does not exist"):
        chips.read_firmware(tmp_path / "missing.bin", "ESP32")


def test_merge_refuses_overlaps_and_data_where_nvs_goes(tmp_path, board):
    with pytest.raises(image.MergeError, match="overlaps"):
        image.merge_image(tmp_path / "m.bin", "ESP32", [(0x1000, b"\xe9" * 0x2000), (0x2000, b"x")])
    with pytest.raises(image.MergeError, match="before the image start"):
        image.merge_image(tmp_path / "m.bin", "ESP32", [(0x0, b"x")])
    fw = make_firmware(tmp_path / "fw.bin")
    data = bytearray(fw.read_bytes())
    data[0x9100 - 0x1000] = 0
    fw.write_bytes(data)
    with pytest.raises(image.MergeError, match="0x9000-0xf000"):
        image.build_image(board, tmp_path / "x.bin", firmware=fw)


def test_image_command(tmp_path, capsys):
    fw = make_firmware(tmp_path / "fw.bin")
    out = tmp_path / "build" / "cloudpin_ref-image.bin"
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(out), "--firmware", str(fw),
                   "--nvs", "badge_id:hex=0000c10d00000001"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "flash it at 0x1000" in text and "0x009000  nvs" in text and "0x200000  vfs" in text
    # A stock firmware: the app on LittleFS as before, and the output says why.
    assert "no romfs partition in the firmware" in text and "romfs.bin" not in text
    assert nvsimage.parse_nvs(out.read_bytes()[0x8000:0xE000]) == {"cloudpin": {"badge_id": bytes.fromhex("0000c10d00000001")}}
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "p.bin")])
    text = capsys.readouterr().out
    assert rc == 0 and "no --firmware" in text and "write-flash 0x9000" in text
    assert not (tmp_path / "p.bin").exists() and (tmp_path / "p.fs.bin").exists()
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "q.bin"), "--nvs", "x:f32=1"])
    assert rc == 2 and "f32" in capsys.readouterr().err
    rc = cli.main(["image", "--board", "no_such_board", "-o", str(tmp_path / "q.bin")])
    assert rc == 2 and "unknown board" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "p.json").read_text())
    assert manifest["pack"] == str(DEFAULT_PACK)
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "n.bin"), "--no-pack"])
    assert rc == 0 and "designs: none" in capsys.readouterr().out
    assert "/pack.bin" not in fsimage.unpack((tmp_path / "n.fs.bin").read_bytes())
    bad = tmp_path / "bad.json"
    doc = json.loads(DEFAULT_PACK.read_text())
    doc["sports"][3]["task"]["n"] = 0
    doc["sports"][4]["led"] = []
    bad.write_text(json.dumps(doc))
    rc = cli.main(["image", "--board", "cloudpin_ref", "-o", str(tmp_path / "b.bin"), "--pack", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "sports[3].task.n" in err and "1 more" in err, err
    assert not (tmp_path / "b.fs.bin").exists()

"""cloudpin deploy: the plan (pure), the badge-side agent inside the real
MicroPython VM, and whole deploys onto virtual badges over ptys: user data
kept, stale files removed, unchanged files skipped, an unplug mid-deploy
leaving nothing half-written, clear errors, several ports at once."""
import base64
import hashlib
import json
import os
import random
import subprocess
import threading
import time
import zlib

import pytest

from host_tools import EMULATOR_DIR, FIRMWARE_DIR, cli
from host_tools.boards import load_board
from host_tools.designs import DEFAULT_PACK, compile_pack
from host_tools.link import deploy, deploy_cli, logreader
from host_tools.images import chips, romfs
from host_tools.link.deploy import DeployError, Inventory, RomInfo, make_plan
from host_tools.link.session import BadgeError, SerialSession
from host_tools.ports import usb
from host_tools.vbadge.boot_shim import CHIP_NAME
from host_tools.virtual_badge import VirtualBadge, micropython_binary

BAUD = 921600  # the tests check behaviour; speed at 115200 is the benchmark's job


def _digest(data):
    return deploy.digest(data)


# -- pure parts ------------------------------------------------------------------------

def _inflate(text, z):
    data = base64.b64decode(text)
    return zlib.decompress(data) if z else data


def test_chunks_round_trip_and_deflate_only_what_shrinks():
    rnd = random.Random(1)
    noise = bytes(rnd.randrange(256) for _ in range(7000))
    text = b"I 10 steps count=1\n" * 400
    for data in (noise, text, bytes(range(256)) * 3, b""):
        pieces = deploy.chunks(data)
        assert b"".join(_inflate(t, z) for t, z, _ in pieces) == data
        assert [n for _, _, n in pieces] == [len(data[i:i + deploy.CHUNK]) for i in range(0, len(data), deploy.CHUNK)
                                             or [0]]
    assert not any(z for _, z, _ in deploy.chunks(noise))
    assert all(z for _, z, _ in deploy.chunks(text))
    assert not any(z for _, z, _ in deploy.chunks(text, deflate=False))  # a badge without `deflate`
    # A small window, so the badge's inflater needs 1 KB.
    assert zlib.decompressobj(deploy.WBITS).decompress(base64.b64decode(deploy.chunks(text)[0][0]))


def _inv(have=None, strays=None, platform="esp32", mpy=(10 << 10) | 6):
    return Inventory(platform, mpy, True, 50000, have or {}, strays or {})


def test_plan_skips_identical_files_and_writes_the_rest():
    files = {"boot.py": b"b", "cloudpin/a.mpy": b"A", "cloudpin/b.mpy": b"B2"}
    inv = _inv(have={"boot.py": (1, _digest(b"b")), "cloudpin/b.mpy": (2, _digest(b"B1"))})
    plan = make_plan(files, inv)
    assert plan.unchanged == ["boot.py"]
    assert plan.write == ["cloudpin/a.mpy", "cloudpin/b.mpy"]
    assert make_plan(files, inv, force=True).write == sorted(files)


def test_plan_deletes_stale_app_files_and_empty_dirs_reuses_complete_temps():
    files = {"main.py": b"m", "cloudpin/a.mpy": b"A", "cloudpin/b.mpy": b"B"}
    inv = _inv(strays={"cloudpin/a.py": None, "cloudpin/old/x.mpy": None, "cloudpin/old/deep/y.mpy": None,
                       "cloudpin/a.mpy.new": (1, _digest(b"A")),  # complete: renamed, not re-sent
                       "cloudpin/b.mpy.new": (1, _digest(b"x")),  # a different build: rewritten
                       "cloudpin/c.mpy.new": (3, "?")})  # of a module since dropped
    plan = make_plan(files, inv)
    assert plan.reuse == ["cloudpin/a.mpy"]
    assert plan.write == ["cloudpin/b.mpy", "main.py"]
    assert plan.delete == ["cloudpin/a.py", "cloudpin/c.mpy.new", "cloudpin/old/deep/y.mpy", "cloudpin/old/x.mpy"]
    assert plan.rmdirs == ["cloudpin/old/deep", "cloudpin/old"]
    assert plan.changes


def test_inventory_parses_the_agents_answer():
    text = "cp1 esp32 10246 1 81234\r\n3 aGFzaA==\r\n-\r\n+cloudpin/x.py\r\n+cloudpin/a.mpy.new 5 h5\r\n"
    inv = Inventory.parse(text, ["boot.py", "main.py"])
    assert (inv.platform, inv.arch, inv.can_inflate, inv.mem_free) == ("esp32", "xtensawin", True, 81234)
    assert inv.have == {"boot.py": (3, "aGFzaA==")}
    assert inv.strays == {"cloudpin/x.py": None, "cloudpin/a.mpy.new": (5, "h5")}
    with pytest.raises(DeployError, match="unexpected answer"):
        Inventory.parse("Traceback ...", ["boot.py"])


def test_arch_is_the_boards_and_a_real_badge_of_another_cpu_is_refused():
    board = load_board("cloudpin_ref")
    assert deploy.choose_arch(board, _inv()) == "xtensawin"
    assert deploy.choose_arch(board, _inv(platform="linux", mpy=(2 << 10) | 6)) == "x64"  # a virtual badge
    with pytest.raises(DeployError, match="wrong --board"):
        deploy.choose_arch(board, _inv(mpy=(11 << 10) | 6))  # an ESP32-C3 (rv32imc)
    assert deploy.choose_arch(board, _inv(mpy=(11 << 10) | 6), "rv32imc") == "rv32imc"
    with pytest.raises(DeployError, match=".mpy version 5"):
        deploy.choose_arch(board, _inv(mpy=(10 << 10) | 5))


def test_upload_commands_stay_within_the_batch_and_cover_every_file():
    rnd = random.Random(2)
    files = {"a": bytes(rnd.randrange(256) for _ in range(9000)), "b": b"small", "c": b""}
    cmds = deploy.upload_commands(files, ["a", "b", "c"], True)
    assert all(len(text) < deploy.BATCH + 200 for text, _, _ in cmds)
    assert [p for _, closes, _ in cmds for p in closes] == ["a", "b", "c"]
    assert sum(n for _, _, n in cmds) == 9000 + 5


def test_agent_source_compiles_for_the_esp32(tmp_path):
    src = tmp_path / "agent.py"
    src.write_text(deploy.agent_source())
    exe = os.path.join(os.path.dirname(micropython_binary()), "mpy-cross")
    proc = subprocess.run([exe, "-march=xtensawin", "-o", str(tmp_path / "a.mpy"), str(src)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_agent_in_micropython_writes_binary_files_atomically_and_commits(tmp_path):
    rnd = random.Random(3)
    files = {"cloudpin/bin.mpy": bytes(range(256)) * 20 + bytes(rnd.randrange(256) for _ in range(5000)),
             "cloudpin/sub/t.mpy": b"text " * 900, "main.py": b"print('hi')\n", "empty.txt": b""}
    (tmp_path / "cloudpin").mkdir()
    (tmp_path / "cloudpin" / "stale.py").write_text("x = 1\n")
    (tmp_path / "owner.json").write_text("{}")
    want = sorted(files) + [deploy.MANIFEST]
    script = deploy.agent_source() + "_cp_inv(%r, %r, %r, %r)\n" % (want, list(deploy.APP_DIRS), deploy.MANIFEST,
                                                                     deploy.TMP)
    for cmd, _, _ in deploy.upload_commands(files, sorted(files), True):
        script += cmd
    script += "_cp_commit(%r, %r, %r, %r, %r)\n" % ([(p + ".new", p) for p in sorted(files)], ["cloudpin/stale.py"],
                                                    [], deploy.MANIFEST, "# m\nmain.py\n")
    (tmp_path / "run.py").write_text(script)
    proc = subprocess.run([micropython_binary(), "run.py"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    inv = Inventory.parse("\n".join(lines[:1 + len(want) + 1]), want)
    assert inv.platform == "linux" and inv.can_inflate and inv.have == {}
    assert inv.strays == {"cloudpin/stale.py": None}
    # What the badge reports after each write is what was sent.
    assert lines[-len(files) - 1:-1] == ["%d %s" % (len(files[p]), _digest(files[p])) for p in sorted(files)]
    assert lines[-1] == "ok"
    for path, data in files.items():
        assert (tmp_path / path).read_bytes() == data
    assert not (tmp_path / "cloudpin" / "stale.py").exists() and (tmp_path / "owner.json").exists()
    assert not list(tmp_path.rglob("*.new"))
    assert (tmp_path / deploy.MANIFEST).read_text() == "# m\nmain.py\n"


def test_rom_plan_writes_changed_blocks_and_the_header_block_last():
    rnd = random.Random(6)
    old = bytes(rnd.randrange(256) for _ in range(3 * 4096 + 100))
    blocks = deploy.rom_blocks(old)
    assert len(blocks) == 4 and blocks[-1][100:] == b"\xff" * (4096 - 100)
    rom = RomInfo(0x40000, False, [deploy.block_digest(b) for b in blocks])
    assert deploy.rom_plan(old, rom) == []
    assert deploy.rom_plan(old, rom, force=True) == [1, 2, 3, 0]
    new = old[:5000] + b"changed" + old[5007:]  # in block 1
    assert deploy.rom_plan(new, rom) == [1, 0]  # block 0 is erased first, so always rewritten
    assert deploy.rom_plan(new + b"more" * 2000, rom) == [1, 3, 4, 0]
    assert deploy.rom_plan(new, RomInfo(0x40000, False, [])) == [1, 2, 3, 0]  # nothing mounts there now
    assert RomInfo.parse("rom -") is None
    assert vars(RomInfo.parse("rom 262144 1 AAAA BBBB")) == {"size": 262144, "dog": True, "blocks": ["AAAA", "BBBB"]}
    with pytest.raises(DeployError, match="romfs line"):
        RomInfo.parse("rom x")
    cmds = deploy.rom_commands(new, [1, 0], True)
    assert all(len(text) < deploy.BATCH + 200 for text, _ in cmds)
    assert sum(n for _, n in cmds) == 2 * 4096
    assert cmds[-1][0].rstrip().endswith("_cp_rw(0,4096)")


def test_the_rom_writer_keeps_the_apps_watchdog_timeout():
    import inspect

    from host_tools.fw import source as fwsource

    build = fwsource.load("board").build
    assert inspect.signature(build).parameters["wdt_timeout_ms"].default == deploy.WDT_MS


def test_the_emulated_romfs_partition_is_the_ports(tmp_path):
    # What the agent relies on, in the VM with the emulator's esp32 module:
    # the ESP32 port's Partition API (ports/esp32/esp32_partition.c), the
    # CloudPin table's size, erased flash past the file, NOR programming.
    table = chips.parse_partition_csv((FIRMWARE_DIR / "micropython-esp32" / "CLOUDPIN" / "partitions-cloudpin.csv").read_text())
    part = chips.romfs_partition(table)
    (tmp_path / "rom.bin").write_bytes(b"\x00" * 10)
    script = r"""
import esp32
p = esp32.Partition("romfs")
print(p.info(), p.ioctl(4, 0), p.ioctl(5, 0))
b = bytearray(16)
p.readblocks(0, b, 4)
print(bytes(b).hex())
p.writeblocks(1, b"\x0f" * 4096)
p.writeblocks(1, b"\xfc", 1)  # programs only: 0x0f & 0xfc
p.readblocks(1, b)
print(bytes(b[:3]).hex())
try:
    p.writeblocks(1, b"x" * 100)  # an erase needs whole sectors
except OSError as e:
    print("refused", e.args[0])
try:
    p.readblocks(64, b)
except OSError as e:
    print("past the end", e.args[0])
print(p.ioctl(6, 1), end=" ")
p.readblocks(1, b)
print(bytes(b[:2]).hex())
try:
    esp32.Partition("vfs")
except OSError as e:
    print("no vfs", e.args[0])
"""
    env = dict(os.environ, MICROPYPATH=str(EMULATOR_DIR) + os.pathsep + ".frozen", CLOUDPIN_ROMFS_FILE="rom.bin")
    proc = subprocess.run([micropython_binary(), "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0] == "(1, %d, %d, %d, 'romfs', False) %d 4096" % (
        part.subtype, part.offset, part.size, part.size // 4096)
    assert lines[1] == "000000000000" + "ff" * 10  # erased flash past the file's 10 bytes
    assert lines[2:] == ["0f0c0f", "refused -260", "past the end -260", "0 ffff", "no vfs 2"]
    env.pop("CLOUDPIN_ROMFS_FILE")
    proc = subprocess.run([micropython_binary(), "-c", "import esp32\ntry:\n esp32.Partition('romfs')\n"
                           "except OSError as e:\n print(e.args[0])\n"], cwd=tmp_path, capture_output=True,
                          text=True, env=env)
    assert proc.stdout.split() == ["2"], proc.stderr  # a stock firmware: no romfs partition


def test_agent_in_micropython_rewrites_the_romfs_partition_block_by_block(tmp_path):
    rnd = random.Random(7)
    old_files = {"/cloudpin/a.mpy": rnd.randbytes(6000), "/cloudpin/b.mpy": b"b" * 9000}
    new_files = dict(old_files, **{"/cloudpin/b.mpy": b"B" * 9000, "/cloudpin/c.mpy": rnd.randbytes(3000)})
    old, new = romfs.build(old_files), romfs.build(new_files)
    (tmp_path / ".romfs").write_bytes(old)
    agent = deploy.agent_source("inventory") + deploy.agent_source("rom")
    inv_cmd = "_cp_inv([], %r, %r, %r)\n" % (list(deploy.APP_DIRS), deploy.MANIFEST, deploy.TMP)
    env = dict(os.environ, MICROPYPATH=str(EMULATOR_DIR) + os.pathsep + ".frozen", CLOUDPIN_ROMFS_FILE=".romfs")

    def run(code):
        proc = subprocess.run([micropython_binary(), "-c", agent + code], cwd=tmp_path, capture_output=True,
                              text=True, env=env)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc.stdout

    rom = Inventory.parse(run(inv_cmd), []).rom
    assert rom.size == 0x40000 and not rom.dog
    assert rom.blocks == [deploy.block_digest(b) for b in deploy.rom_blocks(old)]
    order = deploy.rom_plan(new, rom)
    assert order[-1] == 0 and len(order) <= len(deploy.rom_blocks(new))
    # With the watchdog a stopped app leaves running after the soft reset: fed by each command.
    code = "_cp_ro(%d)\n_cp_p.ioctl(6,0)\n" % deploy.WDT_MS + "".join(c for c, _ in deploy.rom_commands(new, order, True))
    code += "import machine\nassert _cp_dog is machine.WDT()\n"
    assert run(code + "_cp_rs(%d)\n" % len(new)).strip() == deploy.digest(new)
    flash = (tmp_path / ".romfs").read_bytes()
    assert flash[:len(new)] == new and romfs.files(flash) == new_files
    assert deploy.rom_plan(new, Inventory.parse(run(inv_cmd), []).rom) == []


# -- on virtual badges -----------------------------------------------------------------------

def _app(root, version, extra=None):
    """A small app: main.py records that it ran; a module of binary data
    bigger than a chunk, one of noise that does not compress."""
    (root / "cloudpin").mkdir(parents=True, exist_ok=True)
    (root / "cloudpin" / "__init__.py").write_text('VERSION = "%s"\n' % version)
    (root / "cloudpin" / "data.py").write_text("DATA = %r\n" % (bytes(range(256)) * 16))
    (root / "cloudpin" / "noise.py").write_text("NOISE = %r\n" % random.Random(4).randbytes(4000))
    (root / "cloudpin" / "fast.py").write_text(
        "import micropython\n@micropython.viper\ndef twice(x: int) -> int:\n    return x * 2\n")
    (root / "boot.py").write_text("import gc\ngc.collect()\n")
    (root / "main.py").write_text(
        "import cloudpin\nfrom cloudpin import data, fast\n"
        "with open('ran.txt', 'w') as f:\n    f.write(cloudpin.VERSION + ' %d' % fast.twice(len(data.DATA)))\n")
    for name, text in (extra or {}).items():
        (root / "cloudpin" / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def board():
    return load_board("cloudpin_ref")


@pytest.fixture
def vb(tmp_path):
    b = VirtualBadge(tmp_path / "badge", baud=BAUD, board=None, name="deploy")
    b.start()
    assert b.wait_repl(30)
    yield b
    b.stop()


def _on_badge(vb, files):
    return {p: (vb.root / p).read_bytes() if (vb.root / p).exists() else None for p in files}


def test_deploy_copies_the_app_keeps_user_data_removes_stale_files_and_restarts(vb, board, tmp_path):
    user = {"owner.json": b'{"acc": "A1"}', "stats.json": b"{}", "friends/0001.json": b"{}"}
    for p, data in user.items():
        (vb.root / p).parent.mkdir(parents=True, exist_ok=True)
        (vb.root / p).write_bytes(data)
    # Leftovers of an older app copied with mpremote: a .py that would shadow
    # its .mpy, a package since dropped, and a temp file of a cut-off deploy.
    (vb.root / "cloudpin" / "gone").mkdir(parents=True)
    (vb.root / "cloudpin" / "data.py").write_text("DATA = b''\n")
    (vb.root / "cloudpin" / "gone" / "x.mpy").write_bytes(b"M\x06")
    (vb.root / "cloudpin" / "old.mpy.new").write_bytes(b"half")
    app = _app(tmp_path / "app", "1.0")

    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert "error" not in r, r
    files = deploy.build(board, "x64", app)
    assert r["arch"] == "x64" and sorted(r["written"]) == sorted(files)
    assert _on_badge(vb, files) == files
    assert files["cloudpin/fast.mpy"][2] >> 2 == 2  # viper code for the virtual badge's CPU, x64
    assert _on_badge(vb, user) == user
    assert sorted(r["deleted"]) == ["cloudpin/data.py", "cloudpin/gone/x.mpy", "cloudpin/old.mpy.new"]
    assert not (vb.root / "cloudpin" / "gone").exists()
    assert (vb.root / deploy.MANIFEST).read_text().splitlines()[1:] == sorted(files)
    # Restarted: main.py ran and imported the new package.
    assert r["restarted"] and vb.wait_repl(30)
    assert (vb.root / "ran.txt").read_text() == "1.0 8192"


@pytest.fixture
def rom_vb(tmp_path):
    """A virtual badge whose folder gets a .romfs file: from then on its
    firmware has a romfs partition (the emulator's esp32.Partition("romfs"))."""
    b = VirtualBadge(tmp_path / "badge", baud=BAUD, board=None, name="rom")
    b.start()
    assert b.wait_repl(30)
    yield b
    b.stop()


def test_deploy_writes_the_package_into_the_romfs_partition_and_removes_shadowing_copies(rom_vb, board, tmp_path):
    vb = rom_vb
    app = _app(tmp_path / "app", "1.0", {"zz.py": "Z = %r\n" % (b"a" * 3000)})
    # First as a stock firmware (no partition yet): the package on the filesystem.
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert "error" not in r and r["romfs"] is None and "cloudpin/data.mpy" in r["written"], r
    assert "no romfs partition" in deploy_cli.describe(r)
    vb.wait_repl(30)
    (vb.root / ".romfs").write_bytes(b"")  # now a firmware with an erased romfs partition
    (app / "cloudpin" / "__init__.py").write_text('VERSION = "1.1"\n')
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert "error" not in r, r
    files = deploy.build(board, "x64", app)
    package = {"/" + p: d for p, d in files.items() if p.startswith("cloudpin/")}
    image = romfs.build(package)
    flash = (vb.root / ".romfs").read_bytes()
    assert flash[:len(image)] == image and romfs.files(flash) == package
    n = len(deploy.rom_blocks(image))
    assert r["romfs"] == {"image": len(image), "partition": 0x40000, "blocks": n, "of": n}
    # The filesystem copies would shadow /rom ('' comes first on sys.path): gone.
    assert sorted(r["deleted"]) == sorted(p for p in files if p.startswith("cloudpin/"))
    assert not (vb.root / "cloudpin").exists() and (vb.root / "main.py").read_bytes() == files["main.py"]
    assert r["written"] == [] and "romfs: wrote %d of %d blocks" % (n, n) in deploy_cli.describe(r)
    assert (vb.root / deploy.MANIFEST).read_text().splitlines()[1:] == ["board.json", "boot.py", "main.py",
                                                                         "pack.bin"]
    # Restarted: main.py imported the new package (only /rom has it).
    assert vb.wait_repl(30) and (vb.root / "ran.txt").read_text() == "1.1 8192"
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert (r["written"], r["deleted"], r["romfs"]["blocks"], r["bytes"]) == ([], [], 0, 0), r
    assert "romfs unchanged" in deploy_cli.describe(r)
    vb.wait_repl(30)
    # A change at the end of the image (zz.mpy comes last), its length kept:
    # only its blocks are written, and block 0 (erased first) last.
    (app / "cloudpin" / "zz.py").write_text("Z = %r\n" % (b"b" * 3000))
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert "error" not in r and 1 < r["romfs"]["blocks"] < r["romfs"]["of"], r
    image = romfs.build({"/" + p: d for p, d in deploy.build(board, "x64", app).items() if p.startswith("cloudpin/")})
    assert (vb.root / ".romfs").read_bytes()[:len(image)] == image


def test_deploy_refuses_an_app_too_big_for_the_romfs_partition(rom_vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0", {"big.py": "BIG = %r\n" % random.Random(8).randbytes(0x41000)})
    (rom_vb.root / ".romfs").write_bytes(b"")
    r = deploy.deploy_port(rom_vb.port, board, baud=BAUD, root=app)
    assert "does not fit the badge's romfs partition (262144 bytes)" in r.get("error", ""), r
    assert (rom_vb.root / ".romfs").read_bytes() == b""


def test_deploy_puts_the_event_pack_on_the_pin_and_no_pack_removes_it(vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0")
    (app / "cloudpin" / "designs").mkdir()  # the firmware's pack loader, for the badge to read the pack with
    (app / "cloudpin" / "designs" / "__init__.py").write_text("")
    (app / "cloudpin" / "designs" / "pack.py").write_bytes((FIRMWARE_DIR / "cloudpin" / "designs" / "pack.py").read_bytes())
    (vb.root / "designs.json").write_bytes(b'{"got": 1}')  # the wearer's unlocks: user data
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert "error" not in r and "pack.bin" in r["written"], r
    assert (vb.root / "pack.bin").read_bytes() == compile_pack(DEFAULT_PACK)
    assert "pack.bin" in (vb.root / deploy.MANIFEST).read_text().splitlines()
    vb.wait_repl(30)
    # The badge's own MicroPython reads what landed with the firmware's loader.
    sports = json.loads(DEFAULT_PACK.read_text())["sports"]
    code = "from cloudpin.designs import pack\np = pack.load('pack.bin')\nprint(p.count, p.ids[0])\n"
    with SerialSession(vb.port, BAUD) as s:
        assert s.run(code).split() == [str(len(sports)), sports[0]["id"]]

    doc = json.loads(DEFAULT_PACK.read_text())  # an organiser's other event
    doc["event"], doc["sports"] = "Mini", doc["sports"][:3]
    mini = tmp_path / "mini.json"
    mini.write_text(json.dumps(doc))
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app, pack=mini)
    assert r["written"] == ["pack.bin"] and (vb.root / "pack.bin").read_bytes() == compile_pack(mini), r
    vb.wait_repl(30)
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app, pack=None)
    assert (r["written"], r["deleted"]) == ([], ["pack.bin"]), r
    assert not (vb.root / "pack.bin").exists() and (vb.root / "designs.json").read_bytes() == b'{"got": 1}'


def test_redeploy_sends_only_what_changed_and_nothing_when_nothing_did(vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0", {"extra.py": "X = 1\n"})
    assert "error" not in deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    vb.wait_repl(30)
    # (the chip's RTC registers, kept through its resets, are no file of the app's)
    stamp = {p: p.stat().st_mtime_ns for p in vb.root.rglob("*") if p.is_file() and p.name not in ("ran.txt", CHIP_NAME)}

    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert (r["written"], r["deleted"], r["bytes"]) == ([], [], 0), r
    vb.wait_repl(30)
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # not even rewritten

    (app / "cloudpin" / "__init__.py").write_text('VERSION = "1.1"\n')
    (app / "cloudpin" / "extra.py").unlink()
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert r["written"] == ["cloudpin/__init__.mpy"] and r["deleted"] == ["cloudpin/extra.mpy"], r
    assert vb.wait_repl(30) and (vb.root / "ran.txt").read_text() == "1.1 8192"

    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app, force=True)
    assert len(r["written"]) == len(deploy.build(board, "x64", app))


def test_deploy_right_after_a_restart_while_the_app_boots(vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0")
    for _ in range(3):  # no waiting for the REPL in between: Ctrl-C lands during boot
        r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
        assert "error" not in r, r
    assert vb.wait_repl(30) and (vb.root / "ran.txt").read_text() == "1.0 8192"


def test_a_badge_whose_app_filled_the_heap_is_soft_reset_and_deployed(vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0")
    # An app that holds nearly all of the heap when stopped: the next deploy's
    # first command cannot even be compiled on the badge.
    (app / "main.py").write_text(
        "import gc\n_hog = []\ntry:\n    while True:\n        _hog.append(bytearray(64))\n"
        "except MemoryError:\n    pass\ndel _hog[-16:]\ngc.collect()\n")
    assert "error" not in deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert vb.wait_repl(30)
    (app / "cloudpin" / "__init__.py").write_text('VERSION = "1.1"\n')
    events = []
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app, progress=lambda ev, **info: events.append(ev))
    assert "error" not in r, r
    assert "MemoryError" in r["retried"] and events.count("retry") == 1
    assert r["written"] == ["cloudpin/__init__.mpy"] and "out of memory" in deploy_cli.describe(r)
    files = deploy.build(board, "x64", app)
    assert _on_badge(vb, ["cloudpin/__init__.mpy"]) == {"cloudpin/__init__.mpy": files["cloudpin/__init__.mpy"]}


def test_dry_run_changes_nothing(vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0")
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app, dry_run=True)
    assert r["dry_run"] and "main.py" in r["written"]
    assert sorted(p.name for p in vb.root.iterdir() if p.name != CHIP_NAME) == []
    assert "would write" in deploy_cli.describe(r)


def test_unplug_mid_deploy_leaves_no_half_file_and_the_next_deploy_finishes(vb, board, tmp_path):
    app = _app(tmp_path / "app", "1.0")
    assert "error" not in deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    vb.wait_repl(30)
    old = deploy.build(board, "x64", app)
    # A small module, then one of several commands' worth (noise does not compress).
    (app / "cloudpin" / "__init__.py").write_text('VERSION = "2.0"\n')
    (app / "cloudpin" / "noise.py").write_text("NOISE = %r\n" % random.Random(5).randbytes(9000))
    new = deploy.build(board, "x64", app)
    seen = []

    def pull_the_cable(event, **info):
        if event == "file":
            seen.append(info["path"])
            vb.unplug()

    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app, progress=pull_the_cable)
    assert "unplugged" in r.get("error", ""), r
    assert seen == ["cloudpin/__init__.mpy"]
    # Every app file is whole: the old version. The new ones wait as .new, the
    # last one cut short.
    assert _on_badge(vb, old) == old
    assert (vb.root / "cloudpin" / "__init__.mpy.new").read_bytes() == new["cloudpin/__init__.mpy"]
    assert len((vb.root / "cloudpin" / "noise.mpy.new").read_bytes()) < len(new["cloudpin/noise.mpy"])
    vb.replug()
    assert vb.wait_repl(30)
    r = deploy.deploy_port(vb.port, board, baud=BAUD, root=app)
    assert "error" not in r, r
    assert r["reused"] == ["cloudpin/__init__.mpy"] and r["written"] == ["cloudpin/noise.mpy"]
    assert _on_badge(vb, new) == new and not list(vb.root.rglob("*.new"))
    assert vb.wait_repl(30) and (vb.root / "ran.txt").read_text() == "2.0 8192"


def test_errors_say_what_is_wrong(vb, board, tmp_path):
    assert "no such port" in deploy.deploy_port(str(tmp_path / "ttyUSB9"), board)["error"]
    # Busy: another program holds the port (here, a log reader).
    held = logreader.open_port(vb.port)
    try:
        assert "port busy" in deploy.deploy_port(vb.port, board, baud=BAUD)["error"]
    finally:
        held.close()
    # A port where nothing answers, and one where something that is not MicroPython does.
    master, slave = os.openpty()
    silent = os.ttyname(slave)
    with pytest.raises(BadgeError, match="not answering"):
        SerialSession(silent, wake_timeout=1, boot_wait=1).connect()
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            try:
                os.read(master, 1024)
            except BlockingIOError:
                pass
            os.write(master, b"GPS fix 3 sats\r\n")
            time.sleep(0.05)

    os.set_blocking(master, False)
    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    try:
        with pytest.raises(BadgeError, match="not a MicroPython REPL.*GPS fix"):
            SerialSession(silent, wake_timeout=1, boot_wait=1).connect()
    finally:
        stop.set()
        t.join()
        os.close(master)
        os.close(slave)


def test_cli_deploys_several_ports_at_once(board, tmp_path, monkeypatch, capsys):
    app = _app(tmp_path / "app", "3.0")
    badges = [VirtualBadge(tmp_path / ("b%d" % i), baud=BAUD, board=None, name="b%d" % i) for i in range(2)]
    try:
        for b in badges:
            b.start()
        assert all(b.wait_repl(30) for b in badges)
        argv = ["deploy", "--board", "cloudpin_ref", "--app", str(app), "--baud", str(BAUD)]
        assert cli.main(argv + ["--port", badges[0].port, "--port", badges[1].port]) == 0
        out = capsys.readouterr().out
        assert out.count("app restarted") == 2, out
        assert all(b.wait_repl(30) and (b.root / "ran.txt").read_text() == "3.0 8192" for b in badges)
        # --all finds the badges the way flash does (USB adapters), here the two ptys.
        monkeypatch.setattr(usb, "discover_ports", lambda: [b.port for b in badges])
        assert cli.main(argv + ["--all"]) == 0
        assert capsys.readouterr().out.count("0 files (0 bytes)") == 2
        monkeypatch.setattr(usb, "discover_ports", lambda: [])
        assert cli.main(argv + ["--all"]) == 1
        assert "no USB serial port found" in capsys.readouterr().err
        # A bad pack is refused before any badge is stopped, in one line.
        bad = tmp_path / "bad.json"
        doc = json.loads(DEFAULT_PACK.read_text())
        doc["sports"][0]["id"] = "Bad Id"
        bad.write_text(json.dumps(doc))
        assert cli.main(argv + ["--port", badges[0].port, "--pack", str(bad)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "sports[0].id" in err, err
        assert cli.main(argv + ["--port", badges[0].port, "--no-pack"]) == 0
        assert "deleted 1 stale (pack.bin)" in capsys.readouterr().out
    finally:
        for b in badges:
            b.stop()


def test_cli_has_the_deploy_command():
    args = cli.build_parser().parse_args(["deploy", "--board", "cloudpin_ref", "--port", "/dev/ttyUSB0",
                                          "--dry-run", "--force", "--arch", "bytecode"])
    assert (args.port, args.dry_run, args.force, args.arch) == (["/dev/ttyUSB0"], True, True, "bytecode")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["deploy", "--board", "cloudpin_ref"])  # --port or --all


def test_digest_is_sha256():
    assert deploy.digest(b"abc") == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_the_app_deployed_into_the_romfs_boots_from_rom_on_a_virtual_badge(board, tmp_path):
    # The whole firmware onto a badge whose firmware has an erased romfs
    # partition, then Ctrl-C into the running app: it was imported from /rom.
    root = tmp_path / "badge"
    root.mkdir()
    (root / ".romfs").write_bytes(b"")
    b = VirtualBadge(root, baud=BAUD, name="rom-app")
    try:
        b.start()
        assert b.wait_repl(30)  # blank: no main.py yet
        r = deploy.deploy_port(b.port, board, baud=BAUD)
        assert "error" not in r and r["restarted"], r
        assert r["romfs"]["blocks"] == r["romfs"]["of"] > 20 and not (root / "cloudpin").exists(), r
        # The app's first log line before the Ctrl-C: a session that finds the
        # badge quiet interrupts at once, and in main.py's import of the app
        # from /rom (silent for seconds on a loaded host) that left no
        # cloudpin.app to look at (KeyError, 1 of 2 runs at load ~4).
        import serial

        with serial.Serial(b.port, BAUD, timeout=0.1) as port:
            seen, end = b"", time.monotonic() + 60  # the boot's time is not what this test is about
            while b" app cloudpin " not in seen and time.monotonic() < end:
                seen += port.read(4096)
        assert b" app cloudpin " in seen, seen[-2000:]
        with SerialSession(b.port, BAUD) as s:
            out = s.run("import sys\nprint(sys.modules['cloudpin.app'].__file__, 'cloudpin.board' in sys.modules)\n")
        assert out.split() == ["/rom/cloudpin/app.mpy", "True"], out
    finally:
        b.stop()

"""Copy the compiled app to running badges over the raw REPL.

The app is compiled with mpy-cross (boot.py and main.py stay source), the
board definition goes in as /board.json, the event pack compiled as
/pack.bin (the designs, docs/designs.md; `pack=None` leaves it out and a
later deploy removes it), and each badge gets only what changed:
  - one round trip hashes every app file on the badge (sha256);
  - changed files travel as base64 of zlib-compressed chunks (the badge
    inflates them with its `deflate` module), about their own size on the
    wire where mpremote's repr framing doubles to quadruples binary .mpy data;
  - each file lands as NAME.new, is hashed again on the badge, and all of
    them are renamed into place in one last command, so an unplug mid-deploy
    never leaves half a file importable (a later deploy reuses complete .new
    files);
  - files of an earlier deploy that the build no longer has are removed:
    everything under cloudpin/ (the app's package) and whatever the last
    deploy's manifest (.cloudpin-deploy) lists. User data (owner.json,
    stats, friends) lives outside both and is never touched;
  - a badge whose firmware has a romfs partition (CloudPin's own build,
    docs/firmware.md) gets the app's modules there instead, as one ROMFS
    image (host_tools/images/romfs.py) that runs in place from /rom: the
    inventory hashes each 4 KB block of the image there, and only blocks
    that differ are written, through esp32.Partition("romfs") (the object
    the port's vfs.rom_ioctl hands out; its ioctl(6) erase and writeblocks
    are what mpremote's `romfs deploy` uses on an ESP32), on a badge
    soft-reset first so that nothing of the stopped app runs code from the
    flash being rewritten; the image's first block is erased first and
    written last, then the whole image is hashed back from flash. Modules
    an earlier deploy left on the filesystem are removed: '' comes before
    /rom on sys.path and they would shadow it;
  - finally a soft reset (Ctrl-B, Ctrl-D) starts the new app.
The running app is stopped with Ctrl-C, as mpremote does; the firmware keeps
its watchdog fed from a timer once interrupted.
"""
import base64
import hashlib
import json
import os
import sys
import threading
import time
import zlib
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO
from host_tools.designs import DEFAULT_PACK, PACK_FILE, PackError, compile_pack
from host_tools.fw import source as fwsource
from host_tools.images import chips, fsimage, romfs
from host_tools.link.session import BAUD, BadgeError, LinkError, SerialSession
from host_tools.ports.pool import crashed, each_port
APP_DIRS = ("cloudpin",)
MANIFEST = ".cloudpin-deploy"
TMP = ".new"
CHUNK = 3072  # raw bytes per chunk: a few KB of source for the badge to hold at once
BATCH = 4096  # base64 characters per command (several small files share one)
WBITS = 10  # a 1 KB inflate window on the badge
# sys.implementation._mpy >> 10, as mpy-cross names the architectures.
MPY_ARCHS = ("bytecode", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc")
MPY_VERSION = 6  # what this mpy-cross writes
CACHE_DIR = REPO / ".cache" / "deploy-mpy"
AGENT = Path(__file__).with_name("deploy_agent.py")
ROM_BLOCK = 4096  # the flash sector: the romfs partition's block, erased and written whole
ROM_PIECE = 2048  # raw bytes of a block per _cp_rb call (its base64 stays within a batch)
# The app's watchdog timeout (firmware/cloudpin/board.py build()'s default): the
# rom writer sets the same while it feeds the watchdog after the soft reset.
WDT_MS = 8000


class DeployError(BadgeError):
    """A badge that could not be deployed; the message says why and what to do."""


# -- the build -----------------------------------------------------------------

def board_json(board):
    return (json.dumps(board, indent=1, sort_keys=True) + "\n").encode()


def _mpy_cross_id():
    exe = Path(sys.executable).parent / "mpy-cross"
    try:
        st = exe.stat()
    except OSError:
        return "missing"
    return "%d-%d" % (st.st_size, int(st.st_mtime))


_compile_lock = threading.Lock()


def _compile(src_path, rel, arch):
    """fsimage's mpy-cross, cached by content so an unchanged re-deploy
    does not pay one mpy-cross process per module."""
    src = src_path.read_bytes()
    key = hashlib.sha256(b"\0".join([src, rel.encode(), arch.encode(), _mpy_cross_id().encode()])).hexdigest()
    cached = CACHE_DIR / (key + ".mpy")
    if cached.exists():
        return cached.read_bytes()
    data = fsimage.compile_module(src_path, rel, arch)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".%d-%d.tmp" % (os.getpid(), threading.get_ident()))
    tmp.write_bytes(data)
    os.replace(tmp, cached)
    return data


def targets(root=FIRMWARE_DIR):
    """[(source path relative to root, path on the badge)] for the app's
    modules, as fsimage lays them out (boot.py and main.py stay source)."""
    return [(rel, rel if rel in fsimage.SOURCE_ONLY else rel[:-3] + ".mpy") for rel in fsimage.app_files(root)]


def build(board, arch, root=FIRMWARE_DIR, pack=DEFAULT_PACK):
    """{relative path on the badge: bytes}: what fsimage puts in an image
    (`pack`: the event pack's JSON file, or None for no designs)."""
    root = Path(root)
    files = {}
    with _compile_lock:
        for rel, path in targets(root):
            src = root / rel
            files[path] = src.read_bytes() if rel == path else _compile(src, rel, arch)
    files["board.json"] = board_json(board)
    if pack is not None:
        files[PACK_FILE] = compile_pack(pack)
    return files


def digest(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def chunks(data, size=CHUNK, deflate=True):
    """[(base64 text, compressed?, raw length)] for one file. With deflate,
    a chunk is compressed if that makes it smaller, each on its own so that
    the badge keeps no state between commands."""
    out = []
    for i in range(0, len(data), size) or [0]:
        raw = data[i:i + size]
        packed = raw
        if deflate:
            z = zlib.compressobj(9, zlib.DEFLATED, WBITS)
            packed = z.compress(raw) + z.flush()
        if len(packed) < len(raw):
            out.append((base64.b64encode(packed).decode(), True, len(raw)))
        else:
            out.append((base64.b64encode(raw).decode(), False, len(raw)))
    return out


# -- what the badge holds vs the build ----------------------------------------------

class Inventory:
    """Parsed answer of the agent's _cp_inv: platform, mpy, inflate support,
    free heap, {path: (size, hash)} for the build's paths present, and
    {stray path: (size, hash) or None}."""

    def __init__(self, platform, mpy, can_inflate, mem_free, have, strays, rom=None):
        self.platform, self.mpy, self.can_inflate, self.mem_free = platform, mpy, can_inflate, mem_free
        self.have, self.strays = have, strays
        self.rom = rom  # RomInfo of the badge's romfs partition, None on a stock firmware

    @property
    def arch(self):
        i = self.mpy >> 10
        return MPY_ARCHS[i] if i < len(MPY_ARCHS) else "arch%d" % i

    @classmethod
    def parse(cls, text, want):
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines or not lines[0].startswith("cp1 "):
            raise DeployError("unexpected answer from the badge: %r" % text[:200])
        _, platform, mpy, z, mem = lines[0].split()
        body = lines[1:]
        if len(body) < len(want):
            raise DeployError("the badge's file list was cut short")
        have = {}
        for path, line in zip(want, body):
            if line != "-":
                size, h = line.split(" ", 1)
                have[path] = (int(size), h)
        strays = {}
        rom = None
        for line in body[len(want):]:
            if line.startswith("rom "):
                rom = RomInfo.parse(line)
                continue
            if not line.startswith("+"):
                raise DeployError("unexpected line from the badge: %r" % line)
            parts = line[1:].rsplit(" ", 2)
            if len(parts) == 3 and parts[1].isdigit():
                strays[parts[0]] = (int(parts[1]), parts[2])
            else:
                strays[line[1:]] = None
        return cls(platform, int(mpy), z == "1", int(mem), have, strays, rom)


class RomInfo:
    """The agent's "rom SIZE DOG HASH..." line: the romfs partition's size,
    whether the stopped app's watchdog runs, a short hash per block of the
    image it holds now."""

    def __init__(self, size, dog, blocks):
        self.size, self.dog, self.blocks = size, dog, blocks

    @classmethod
    def parse(cls, line):
        parts = line.split()
        if parts[1:] == ["-"]:
            return None
        try:
            return cls(int(parts[1]), parts[2] == "1", parts[3:])
        except (IndexError, ValueError):
            raise DeployError("unexpected romfs line from the badge: %r" % line[:80]) from None


def block_digest(block):
    """What the agent's _cp_rom prints for one 4 KB block."""
    return base64.b64encode(hashlib.sha256(block).digest()[:9]).decode()


def rom_blocks(image):
    """The image as whole flash blocks, erased bytes (0xFF) after its end."""
    return [image[i:i + ROM_BLOCK].ljust(ROM_BLOCK, b"\xff") for i in range(0, len(image), ROM_BLOCK)]


def rom_plan(image, rom, force=False):
    """Pure: the block numbers to write, block 0 last; [] if the partition
    holds this image already. Any write includes block 0: it is erased first."""
    blocks = rom_blocks(image)
    stale = [k for k, b in enumerate(blocks)
             if force or k >= len(rom.blocks) or rom.blocks[k] != block_digest(b)]
    if not stale:
        return []
    return [k for k in stale if k] + [0]


def rom_commands(image, order, can_inflate, batch=BATCH):
    """[(command text, raw bytes covered)] writing blocks `order` of `image`."""
    cmds, cur, size = [], [], 0
    for k in order:
        data = image[k * ROM_BLOCK:(k + 1) * ROM_BLOCK]
        off = 0
        for text, z, n in chunks(data, ROM_PIECE, can_inflate):
            if cur and sum(len(c) for c in cur) + len(text) > batch:
                cmds.append(("\n".join(cur) + "\n", size))
                cur, size = [], 0
            cur.append("_cp_rb(%d,%r,%d)" % (off, text, z))
            off += n
            size += n
        cur.append("_cp_rw(%d,%d)" % (k, len(data)))
    if cur:
        cmds.append(("\n".join(cur) + "\n", size))
    return cmds


class Plan:
    """What a deploy does to one badge."""

    def __init__(self, write, reuse, unchanged, delete, rmdirs):
        self.write = write  # paths to upload
        self.reuse = reuse  # paths whose complete .new file is already on the badge
        self.unchanged = unchanged
        self.delete = delete  # stale app files and temp files
        self.rmdirs = rmdirs  # directories that may be left empty, deepest first

    @property
    def changes(self):
        return bool(self.write or self.reuse or self.delete)


def _parents(path):
    parts = path.split("/")[:-1]
    return {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}


def make_plan(files, inv, force=False):
    """Pure: compare the build ({path: bytes}) with an Inventory."""
    write, reuse, unchanged = [], [], []
    for path in sorted(files):
        data = files[path]
        want = (len(data), digest(data))
        if not force and inv.have.get(path) == want:
            unchanged.append(path)
        elif not force and inv.strays.get(path + TMP) == want:
            reuse.append(path)
        else:
            write.append(path)
    reused = {p + TMP for p in reuse}
    # Temp files are rewritten or renamed; anything else the build lacks goes.
    delete = sorted(p for p in inv.strays if p not in reused and p[:-len(TMP)] not in write)
    keep_dirs = set().union(*(_parents(p) for p in files)) if files else set()
    gone_dirs = set().union(*(_parents(p) for p in delete)) if delete else set()
    rmdirs = sorted(gone_dirs - keep_dirs, key=lambda d: (-d.count("/"), d))
    return Plan(write, reuse, unchanged, delete, rmdirs)


def manifest_text(files, version):
    return "# cloudpin app %s: files of the last deploy, removed once a build drops them\n%s\n" % (
        version, "\n".join(sorted(files)))


# -- one badge -----------------------------------------------------------------------

WRITER = "# ---- writer"
ROM_WRITER = "# ---- rom writer"


def agent_source(part=None):
    """The badge-side helpers without comments, blank lines or deep indents
    (every byte costs 87 us at 115200 baud): part "inventory" (what an
    unchanged deploy needs), "writer", "rom" (the romfs writer, which needs
    the inventory part's helpers), or None for all."""
    text = AGENT.read_text()
    cut, rom = text.index(WRITER), text.index(ROM_WRITER)
    text = {"inventory": text[:cut], "writer": text[cut:rom], "rom": text[rom:]}.get(part, text)
    out = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        out.append(" " * (indent // 4) + body)
    return "\n".join(out) + "\n"


def inventory(badge, want):
    """Send the agent and hash every app file on the badge in one command."""
    code = agent_source("inventory") + "_cp_inv(%r, %r, %r, %r)\n" % (want, list(APP_DIRS), MANIFEST, TMP)
    return Inventory.parse(badge.run(code), want)


def choose_arch(board, inv, arch=None):
    """The mpy-cross target: --arch, else the board's CPU; a virtual badge
    (the unix port) gets its own CPU. A real badge whose CPU is not the
    board's is refused: the --board is probably wrong."""
    if inv.mpy & 0xFF != MPY_VERSION:
        raise DeployError("the badge's MicroPython loads .mpy version %d, this mpy-cross writes version %d: "
                          "flash a current MicroPython (cloudpin flash)" % (inv.mpy & 0xFF, MPY_VERSION))
    if arch:
        return arch
    want = chips.mpy_arch(board["chip"])
    if inv.arch == want:
        return want
    if inv.platform in ("linux", "darwin"):
        return inv.arch  # a virtual badge: the host's MicroPython
    raise DeployError("the badge's CPU is %s but board %s (%s) needs %s: wrong --board? (--arch %s forces it)"
                      % (inv.arch, board["name"], board["chip"], want, inv.arch))


def upload_commands(files, paths, can_inflate, batch=BATCH):
    """[(command text, [path whose close result it prints], raw bytes covered)]"""
    cmds, cur, closes, size = [], [], [], 0

    def flush():
        nonlocal cur, closes, size
        if cur:
            cmds.append(("\n".join(cur) + "\n", closes, size))
        cur, closes, size = [], [], 0

    for path in paths:
        data = files[path]
        cur.append("_cp_o(%r)" % (path + TMP))
        for text, z, n in chunks(data, deflate=can_inflate):
            if sum(len(c) for c in cur) + len(text) > batch:
                flush()
            cur.append("_cp_w(%r,%d)" % (text, z))
            size += n
        cur.append("_cp_c(%r)" % (path + TMP))
        closes.append(path)
    flush()
    return cmds


def deploy_badge(badge, board, *, progress=None, **kw):
    """Deploy to a connected SerialSession. progress(event, **info) hears
    "plan" (total bytes, files), "bytes" (n), "file" (path), and "retry"
    (reason) when the badge ran out of memory and the deploy starts over once
    on a soft-reset badge: every step is idempotent (files land as temps, an
    inventory decides what is left to send). After a write into the romfs
    partition /rom is unmounted: the new package imports only after the
    restart (mp_init mounts /rom at every reset). Returns a result dict
    ("romfs": None on a stock firmware, else what was written there)."""
    retried = []

    def on_retry(e):
        retried.append(str(e))
        if progress:
            progress("retry", reason=str(e))

    result = badge.after_oom(lambda: _deploy_once(badge, board, progress=progress, **kw), on_retry)
    if retried:
        result["retried"] = retried[0]
    return result


def _deploy_once(badge, board, *, arch=None, force=False, dry_run=False, root=FIRMWARE_DIR, progress=None,
                 restart=True, pack=DEFAULT_PACK):
    t0 = time.monotonic()
    note = progress or (lambda *a, **k: None)
    # The badge's paths follow from the sources alone; the arch from the badge.
    want = [p for _, p in targets(root)] + ["board.json"] + ([PACK_FILE] if pack is not None else []) + [MANIFEST]
    try:
        inv = inventory(badge, want)
    except BadgeError:
        # A badge that reset while we connected (plugged in, still booting,
        # a watchdog) garbles the first exchange; nothing is written yet.
        if not os.path.exists(badge.port):
            raise
        badge.close(restart=False)
        time.sleep(0.5)
        badge.connect()
        inv = inventory(badge, want)
    arch = choose_arch(board, inv, arch)
    files = build(board, arch, root, pack)
    image, order = None, []
    if inv.rom is not None:
        image, order, inv = _rom_side(badge, files, inv, root, force)
    plan = make_plan(files, inv, force)
    manifest = manifest_text(files, fwsource.version(root)).encode()
    total = sum(len(files[p]) for p in plan.write) + sum(len(image[k * ROM_BLOCK:(k + 1) * ROM_BLOCK]) for k in order)
    note("plan", total=total, files=len(plan.write), plan=plan)
    result = {"port": badge.port, "arch": arch, "platform": inv.platform, "written": list(plan.write),
              "reused": list(plan.reuse), "unchanged": list(plan.unchanged), "deleted": list(plan.delete),
              "bytes": total, "restarted": False, "dry_run": dry_run, "romfs": None}
    if image is not None:
        result["romfs"] = {"image": len(image), "partition": inv.rom.size, "blocks": len(order),
                           "of": len(rom_blocks(image))}
    if dry_run:
        if restart:
            result["restarted"] = badge.restart()
        result["seconds"] = time.monotonic() - t0
        return result
    if order:
        _write_rom(badge, image, order, inv, note)
    writer = agent_source("writer")
    for cmd, closes, size in upload_commands(files, plan.write, inv.can_inflate):
        out = [ln for ln in badge.run(writer + cmd).splitlines() if ln.strip()]
        writer = ""
        if len(out) != len(closes):
            raise DeployError("%s: unexpected answer while writing: %r" % (badge.port, out[-3:]))
        for path, line in zip(closes, out):
            want = "%d %s" % (len(files[path]), digest(files[path]))
            if line != want:
                raise DeployError("%s: %s arrived damaged (badge has %s, sent %s): deploy again"
                                  % (badge.port, path, line, want))
            note("file", path=path)
        note("bytes", n=size)
    if plan.changes or inv.have.get(MANIFEST) != (len(manifest), digest(manifest)):
        moves = [(p + TMP, p) for p in plan.write + plan.reuse]
        # Renames in one command: the old and the new app never mix for long.
        badge.run(writer + "_cp_commit(%r, %r, %r, %r, %r)\n" % (
            moves, plan.delete, plan.rmdirs, MANIFEST, manifest.decode()))
    if restart:
        result["restarted"] = badge.restart()
    result["seconds"] = time.monotonic() - t0
    return result


def _rom_side(badge, files, inv, root, force):
    """Move the package out of `files` into a ROMFS image; (image, blocks to
    write, the inventory with the package's filesystem copies as strays)."""
    pkg = sorted(path for rel, path in targets(root) if rel != path)
    image = romfs.build({"/" + p: files.pop(p) for p in pkg})
    if len(image) > inv.rom.size:
        raise DeployError("%s: the app's romfs image (%d bytes) does not fit the badge's romfs partition (%d bytes)"
                          % (badge.port, len(image), inv.rom.size))
    # '' (the filesystem) comes before /rom on sys.path: copies there would shadow it.
    gone = set(pkg)
    inv = Inventory(inv.platform, inv.mpy, inv.can_inflate, inv.mem_free,
                    {p: v for p, v in inv.have.items() if p not in gone},
                    dict(inv.strays, **{p: None for p in inv.have if p in gone}), inv.rom)
    return image, rom_plan(image, inv.rom, force), inv


def _write_rom(badge, image, order, inv, note):
    """Write blocks `order` of the image into the badge's romfs partition,
    on a soft-reset badge (no code of the stopped app may run from the flash
    being rewritten), block 0 erased first and written last; then check
    the whole image read back from flash."""
    badge.soft_reset()
    badge.run(agent_source("inventory") + agent_source("rom") +
              "_cp_ro(%d)\n_cp_p.ioctl(6,0)\n" % (WDT_MS if inv.rom.dog else 0))
    for cmd, size in rom_commands(image, order, inv.can_inflate):
        badge.run(cmd)
        note("bytes", n=size)
    note("file", path="romfs")
    got = badge.run("_cp_rs(%d)\n" % len(image)).strip()
    if got != digest(image):
        raise DeployError("%s: the romfs image arrived damaged (flash holds %s, sent %s): deploy again"
                          % (badge.port, got, digest(image)))


def deploy_port(port, board, *, baud=BAUD, **kw):
    """Connect to `port`, deploy, restart the app; a result dict (with
    "error" instead when it failed)."""
    try:
        with SerialSession(port, baud, wake_timeout=6.0) as badge:
            return deploy_badge(badge, board, **kw)
    except (LinkError, fsimage.ImageError, fwsource.SourceError, chips.FirmwareError, PackError) as e:
        return {"port": port, "error": str(e)}


def deploy_ports(ports, board, *, progress=None, **kw):
    """Deploy to several ports at once, one worker each. progress(port,
    event, **info). Returns {port: result}."""

    def one(port):
        note = (lambda ev, **info: progress(port, ev, **info)) if progress else None
        return deploy_port(port, board, progress=note, **kw)

    return each_port(ports, one, lambda port, e: {"port": port, "error": crashed(port, e)},
                     done=(lambda port, result: progress(port, "done", result=result)) if progress else None,
                     name="deploy")

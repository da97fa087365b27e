"""The app as the pin's filesystem image.

Every firmware module except boot.py and main.py is compiled with mpy-cross
for the board's CPU (MicroPython runs those two only from source); the result,
the board definition (/board.json) and the event pack compiled (/pack.bin,
the designs: docs/designs.md) are packed into a LittleFS v2 image
laid out the way MicroPython mounts its `vfs` partition: flash sectors of
4096 bytes as blocks, and vfs.VfsLfs2's defaults of 32-byte read and program
sizes and a 32-byte lookahead (extmod/vfs_lfs.c)."""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from littlefs import LittleFS, LittleFSError

from host_tools import FIRMWARE_DIR
from host_tools.designs import DEFAULT_PACK, PACK_FILE, compile_pack
from host_tools.images import chips

BLOCK_SIZE = 4096
READ_SIZE = 32
PROG_SIZE = 32
LOOKAHEAD = 32
# On-disk format 2.0, which every littlefs v2 reader accepts: a 2.1 image (the
# library's default) does not mount on MicroPython builds with older littlefs.
DISK_VERSION = 0x00020000
SOURCE_ONLY = ("boot.py", "main.py")
# "bytecode": portable .mpy without native code, for any VM (no @native/@viper).
BYTECODE = "bytecode"


class ImageError(ValueError):
    """Bad input for an image; the message says what to fix."""


def app_files(root=FIRMWARE_DIR):
    """Relative paths of the app's modules under `root`."""
    root = Path(root)
    files = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        files.append(rel.as_posix())
    if not files:
        raise ImageError("no .py files under %s" % root)
    return files


def compile_module(src, rel, arch):
    """mpy-cross one module; `rel` is the path embedded for tracebacks."""
    exe = Path(sys.executable).parent / "mpy-cross"
    with tempfile.TemporaryDirectory(prefix="cloudpin-mpy-") as tmp:
        out = Path(tmp) / "out.mpy"
        cmd = [str(exe), "-o", str(out), "-s", rel, str(src)]
        if arch != BYTECODE:
            cmd.insert(1, "-march=" + arch)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            raise ImageError("mpy-cross not found at %s: run `make install`" % exe) from None
        if proc.returncode != 0:
            raise ImageError("mpy-cross -march=%s failed on %s:\n%s" % (arch, rel, (proc.stdout + proc.stderr).strip()))
        return out.read_bytes()


def compile_app(root=FIRMWARE_DIR, arch="xtensawin", package=True):
    """{filesystem path: contents} for the app: .mpy modules, boot.py/main.py as
    source; package=False: boot.py and main.py only (the modules go in a ROMFS image)."""
    root = Path(root)
    files = {}
    for rel in app_files(root):
        if rel in SOURCE_ONLY:
            files["/" + rel] = (root / rel).read_bytes()
        elif package:
            files["/" + rel[:-3] + ".mpy"] = compile_module(root / rel, rel, arch)
    return files


def block_count(partition_size):
    if partition_size <= 0 or partition_size % BLOCK_SIZE:
        raise ImageError("vfs partition size 0x%x is not a positive multiple of %d" % (partition_size, BLOCK_SIZE))
    return partition_size // BLOCK_SIZE


def _lfs(blocks, mount):
    return LittleFS(block_size=BLOCK_SIZE, block_count=blocks, read_size=READ_SIZE, prog_size=PROG_SIZE,
                    lookahead_size=LOOKAHEAD, disk_version=DISK_VERSION, mount=mount)


def pack(files, partition_size):
    """A LittleFS image of `partition_size` bytes holding `files` ({path: bytes})."""
    fs = _lfs(block_count(partition_size), True)
    try:
        for path in sorted(files):
            parent = path.rsplit("/", 1)[0]
            if parent:
                fs.makedirs(parent, exist_ok=True)
            with fs.open(path, "wb") as f:
                f.write(files[path])
    except LittleFSError as e:
        total = sum(len(v) for v in files.values())
        raise ImageError("the app (%d files, %d bytes) does not fit a 0x%x-byte filesystem: %s" % (
            len(files), total, partition_size, e)) from None
    fs.unmount()
    return bytes(fs.context.buffer)


def unpack(image):
    """{path: bytes} of every file in a LittleFS image made by `pack`."""
    if len(image) % BLOCK_SIZE:
        raise ImageError("image size %d is not a multiple of %d" % (len(image), BLOCK_SIZE))
    fs = _lfs(len(image) // BLOCK_SIZE, False)
    fs.context.buffer[:] = image
    fs.mount()
    files = {}
    for top, _dirs, names in fs.walk("/"):
        for name in names:
            path = top.rstrip("/") + "/" + name
            with fs.open(path, "rb") as f:
                files[path] = f.read()
    return files


def default_vfs_size(board):
    flash = chips.flash_bytes(board["flash_size"])
    return chips.layout(chips.default_partitions(flash), flash)["vfs"][1]


def build_fs_image(board, out, *, partition_size=None, arch=None, root=FIRMWARE_DIR, event_pack=DEFAULT_PACK,
                   package=True):
    """Compile the app under `root` for `board` (a loaded board dict) and write
    its filesystem image to `out`; returns the path. `partition_size` defaults
    to MicroPython's vfs size for the board's flash; `arch` to the board's CPU
    (BYTECODE or "x64" build an image the host's MicroPython VM can run);
    `event_pack` is the event pack's JSON file (None: a pin without designs),
    compiled by the firmware's own code (PackError names what is wrong);
    package=False leaves the modules out (a firmware that runs them from its
    romfs partition, host_tools/images/romfs.py)."""
    arch = arch or chips.mpy_arch(board["chip"])
    size = partition_size or default_vfs_size(board)
    files = compile_app(root, arch, package)
    files["/board.json"] = (json.dumps(board, indent=1, sort_keys=True) + "\n").encode()
    if event_pack is not None:
        files["/" + PACK_FILE] = compile_pack(event_pack)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pack(files, size))
    return out

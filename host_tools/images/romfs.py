"""The firmware package as a ROMFS image, run in place by the pin.

MicroPython >= 1.25 built with MICROPY_VFS_ROM mounts a "romfs" partition at
/rom and imports .mpy files from it in place (extmod/vfs_reader.c reads a
VfsRom file as memory, py/persistentcode.c keeps bytecode, constants and the
names' characters where they lie): the package's code stays in flash, not in
the GC heap. The image holds the `cloudpin` package compiled by fsimage's own
compiler (mpy-cross for the board's CPU, or the VM's); boot.py and main.py stay
on the littlefs filesystem, which MicroPython runs only from source. The bytes
are written by mpremote's VfsRomWriter (the format's reference writer,
extmod/vfs_rom.c describes the format); `files` reads an image back."""
from pathlib import PurePosixPath

from mpremote.romfs import VfsRomWriter

from host_tools import FIRMWARE_DIR
from host_tools.images.fsimage import SOURCE_ONLY, ImageError, compile_app

# The ROMFS record's kind, varuint-encoded: "RM1" with the first two high bits set.
HEADER = VfsRomWriter.ROMFS_HEADER
_VERBATIM = VfsRomWriter.ROMFS_RECORD_KIND_DATA_VERBATIM
_POINTER = VfsRomWriter.ROMFS_RECORD_KIND_DATA_POINTER
_DIRECTORY = VfsRomWriter.ROMFS_RECORD_KIND_DIRECTORY
_FILE = VfsRomWriter.ROMFS_RECORD_KIND_FILE


# MicroPython source for a VM: mount the image in file %(file)r at /rom as the
# port mounts its romfs partition at start (micropython extmod/vfs.c
# mp_vfs_mount_romfs_protected; then ports/esp32/main.c appends "/lib"): imports
# from it run its .mpy in place. The bytes are read into the VM's heap, so a
# run that cuts a pin's share mounts first: on the chip they are flash.
_MOUNT = """
import sys, vfs
with open(%(file)r, "rb") as f:
    rom = f.read()
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path[sys.path.index("/lib") if "/lib" in sys.path else len(sys.path):0] = ["/rom", "/rom/lib"]
del rom, f
"""


def vm_mount_source(path):
    """MicroPython source that mounts the ROMFS image file at `path` at /rom."""
    return _MOUNT % {"file": path}


def package_files(arch, root=FIRMWARE_DIR):
    """{path in the image: contents}: every firmware module but boot.py and
    main.py, as .mpy for `arch` (a -march name or fsimage.BYTECODE)."""
    files = compile_app(root, arch)
    return {path: data for path, data in files.items() if path.lstrip("/") not in SOURCE_ONLY}


def build(files):
    """ROMFS image bytes holding `files` ({"/dir/name": bytes})."""
    tree = {}
    for path, data in files.items():
        parts = PurePosixPath("/" + path.lstrip("/")).parts[1:]
        if not parts:
            raise ImageError("empty file path in a romfs image: %r" % (path,))
        node = tree
        for d in parts[:-1]:
            node = node.setdefault(d, {})
            if not isinstance(node, dict):
                raise ImageError("%s is both a file and a directory" % d)
        node[parts[-1]] = bytes(data)
    writer = VfsRomWriter()

    def write(node):
        for name in sorted(node):
            try:
                name.encode("ascii")
            except UnicodeEncodeError:
                raise ImageError("romfs names are ASCII: %r" % name) from None
            if isinstance(node[name], dict):
                writer.opendir(name)
                write(node[name])
                writer.closedir()
            else:
                writer.mkfile(name, node[name])

    write(tree)
    return bytes(writer.finalise())


def build_package(arch, root=FIRMWARE_DIR):
    """The firmware package's ROMFS image for `arch`."""
    return build(package_files(arch, root))


def _uint(buf, pos, end):
    value = 0
    while True:
        if pos >= end:
            raise ImageError("truncated romfs image (a number runs past its record)")
        b = buf[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def _records(buf, pos, end):
    while pos < end:
        kind, pos = _uint(buf, pos, end)
        length, pos = _uint(buf, pos, end)
        if pos + length > end:
            raise ImageError("truncated romfs image (a record runs past its directory)")
        yield kind, pos, pos + length
        pos += length


def files(image):
    """{"/dir/name": bytes} of every file in a ROMFS image (as extmod/vfs_rom.c
    reads it: unknown records are skipped, a file's first data record is its data)."""
    buf = bytes(image)
    if buf[:3] != HEADER:
        raise ImageError("not a romfs image (no RM1 header)")
    length, start = _uint(buf, 3, len(buf))
    if start + length > len(buf):
        raise ImageError("romfs image says %d bytes, has %d" % (length, len(buf) - start))
    out = {}

    def walk(pos, end, prefix):
        for kind, p, q in _records(buf, pos, end):
            if kind not in (_DIRECTORY, _FILE):
                continue
            n, p = _uint(buf, p, q)
            name = prefix + "/" + buf[p:p + n].decode("ascii")
            if kind == _DIRECTORY:
                walk(p + n, q, name)
                continue
            for sub, a, b in _records(buf, p + n, q):
                if sub == _VERBATIM:
                    out[name] = buf[a:b]
                    break
                if sub == _POINTER:
                    size, a = _uint(buf, a, b)
                    offset, a = _uint(buf, a, b)
                    out[name] = buf[offset:offset + size]  # from the image's first byte
                    break
            else:
                raise ImageError("romfs file %s has no data record" % name)

    walk(start, start + length, "")
    return out


def check_size(image, partition_bytes):
    """Raise ImageError unless `image` fits a romfs partition of `partition_bytes`."""
    if len(image) > partition_bytes:
        raise ImageError("the romfs image (%d bytes) does not fit the 0x%x-byte romfs partition (%d bytes over)" % (
            len(image), partition_bytes, len(image) - partition_bytes))
    return len(image)

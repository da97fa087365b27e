# Runs ON THE BADGE (MicroPython), sent as source over the raw REPL by
# host_tools/link/deploy.py, the part above the writer line with the inventory
# command, the rest before the first write; its functions then stay in the
# REPL's globals for the short commands that follow. Comment lines and blank
# lines are stripped before sending (they would cost serial time). Names start
# with _cp_ so that nothing the app left in the REPL's globals is shadowed.
# Paths are relative to the working directory, as mpremote's are: / on a pin.
import os
import gc
import sys
import io
import hashlib
import binascii

_cp_buf = bytearray(512)
_cp_dog = None  # the app's watchdog, fed by each write after a soft reset (_cp_ro)


def _cp_hash(p):
    # (size, base64 sha256) of a file, or None if it is not a readable file.
    h = hashlib.sha256()
    n = 0
    mv = memoryview(_cp_buf)
    try:
        with open(p, "rb") as f:
            while True:
                k = f.readinto(_cp_buf)
                if not k:
                    break
                h.update(mv[:k])
                n += k
    except OSError:
        return None
    return n, binascii.b2a_base64(h.digest()).decode().strip()


def _cp_files(d, out):
    # Every file below directory d ("" = the working directory), as relative paths.
    try:
        entries = list(os.ilistdir(d or "."))
    except OSError:
        return
    for e in entries:
        p = d + "/" + e[0] if d else e[0]
        if e[1] == 0x4000:
            _cp_files(p, out)
        else:
            out.append(p)


def _cp_unz_init():
    try:
        import deflate

        def unz(d):
            return deflate.DeflateIO(io.BytesIO(d), deflate.ZLIB).read()

        return unz
    except ImportError:
        pass
    try:
        import zlib

        return zlib.decompress
    except (ImportError, AttributeError):
        return None


_cp_unz = _cp_unz_init()


def _cp_rom():
    # "rom -" on a firmware without a romfs partition; else "rom SIZE DOG" and a
    # short hash of each 4 KB block the image there covers (its header gives
    # its length). DOG: the app ran, so its watchdog runs (board.build makes
    # one), and a soft reset leaves it running unfed.
    try:
        import esp32

        p = esp32.Partition("romfs")
    except Exception:
        return "rom -"
    b = _cp_buf
    p.readblocks(0, b, 0)
    n = 0
    if b[0] == 0xD2 and b[1] == 0xCD and b[2] == 0x31:
        i = 3
        while i < 16:
            v = b[i]
            i += 1
            n = (n << 7) | (v & 0x7F)
            if not v & 0x80:
                break
        n += i
    size = p.ioctl(4, 0) * p.ioctl(5, 0)
    out = ["rom %d %d" % (size, "cloudpin.board" in sys.modules)]
    for k in range(min((n + 4095) // 4096, size // 4096)):
        h = hashlib.sha256()
        for o in range(0, 4096, 512):
            p.readblocks(k, b, o)
            h.update(b)
        out.append(binascii.b2a_base64(h.digest()[:9]).decode().strip())
    return " ".join(out)


def _cp_inv(want, dirs, manifest, tmp):
    # One round trip: a header line, then "size hash" (or "-") for each wanted
    # path in order, then "+path" for files found under the app's dirs or in
    # the last deploy's manifest that the build lacks ("+path size hash" for
    # our own temp files, which a later deploy may reuse), then the romfs
    # partition's line (_cp_rom).
    gc.collect()
    print("cp1 %s %d %d %d" % (sys.platform, sys.implementation._mpy, _cp_unz is not None, gc.mem_free()))
    for p in want:
        r = _cp_hash(p)
        print("%d %s" % r if r else "-")
    seen = set(want)
    found = []
    for d in dirs:
        _cp_files(d, found)
    try:
        with open(manifest) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    found.append(line)
    except OSError:
        pass
    for p in found:
        if p in seen:
            continue
        seen.add(p)
        if p.endswith(tmp):
            r = _cp_hash(p)
            if r:
                print("+%s %d %s" % (p, r[0], r[1]))
                continue
        try:
            os.stat(p)
        except OSError:
            continue  # listed by an old manifest, gone already
        print("+" + p)
    print(_cp_rom())


# ---- writer: sent only when there is something to write ----
_cp_f = None


def _cp_mkdirs(p):
    i = p.find("/")
    while i > 0:
        try:
            os.mkdir(p[:i])
        except OSError:
            pass  # exists
        i = p.find("/", i + 1)


def _cp_o(p):
    # Start writing a temp file (the final name only comes with _cp_commit).
    global _cp_f
    _cp_mkdirs(p)
    _cp_f = open(p, "wb")


def _cp_w(s, z):
    if _cp_dog:
        _cp_dog.feed()
    d = binascii.a2b_base64(s)
    if z:
        d = _cp_unz(d)
    _cp_f.write(d)


def _cp_c(p):
    # Close and report what actually reached the filesystem.
    global _cp_f
    _cp_f.close()
    _cp_f = None
    r = _cp_hash(p)
    print("%d %s" % r if r else "-")


def _cp_rename(a, b):
    try:
        os.rename(a, b)  # LittleFS replaces b atomically
    except OSError:
        os.remove(b)  # FAT refuses to replace: no longer atomic, but done
        os.rename(a, b)


def _cp_commit(moves, drop, dirs, manifest, text):
    for a, b in moves:
        _cp_rename(a, b)
    for p in drop:
        try:
            os.remove(p)
        except OSError:
            pass
    for d in dirs:
        # Deepest first; a directory still holding files refuses, which is fine.
        try:
            os.rmdir(d)
        except OSError:
            pass
    if text is not None:
        with open(manifest + ".new", "w") as f:
            f.write(text)
        _cp_rename(manifest + ".new", manifest)
    print("ok")


# ---- rom writer: sent to a soft-reset badge when its romfs partition is rewritten ----
# (host_tools/link/deploy.py: block 0, the image's header, is erased first and
# written last, so a cut-off write leaves no image that mounts half-made.)
_cp_p = None
_cp_blk = None


def _cp_ro(dog_ms):
    # Nothing may read /rom while its flash is rewritten; the app's watchdog
    # (still running after the soft reset) is fed by each command.
    global _cp_p, _cp_dog, _cp_blk
    import esp32
    import vfs
    import machine

    try:
        vfs.umount("/rom")
    except OSError:
        pass
    _cp_p = esp32.Partition("romfs")
    _cp_dog = machine.WDT(timeout=dog_ms) if dog_ms else None
    _cp_blk = bytearray(4096)


def _cp_rb(o, s, z):
    # Part of the next block, at offset o of it.
    if _cp_dog:
        _cp_dog.feed()
    d = binascii.a2b_base64(s)
    if z:
        d = _cp_unz(d)
    _cp_blk[o:o + len(d)] = d


def _cp_rw(k, n):
    # Write block k: its n bytes received, erased flash (0xFF) after them.
    for i in range(n, 4096):
        _cp_blk[i] = 0xFF
    _cp_p.writeblocks(k, _cp_blk)


def _cp_rs(n):
    # sha256 of the partition's first n bytes, read back from flash.
    if _cp_dog:
        _cp_dog.feed()
    h = hashlib.sha256()
    b = _cp_buf
    mv = memoryview(b)
    for o in range(0, n, 512):
        _cp_p.readblocks(0, b, o)
        h.update(mv[:min(512, n - o)])
    print(binascii.b2a_base64(h.digest()).decode().strip())

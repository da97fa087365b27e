"""One virtual badge: the MicroPython unix port behind a pseudo-terminal,
powered on, unplugged, replugged and reset as an ESP32 badge would be.

This module owns the VM's life: power-on, the chip's resets (the emulated
machine module ends the VM with exit status 64 + reset cause; the badge
prints what the chip would and boots it again), the environment that points
the emulated hardware at the badge folder, board and recording. The bytes
themselves go through serial_link.py and console.py, mixed into VirtualBadge.
"""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from host_tools import EMULATOR_DIR
from host_tools.boards import BoardError, board_path
from host_tools.fw.vm import emulator_dir, firmware_heap_in_vm
from host_tools.images import fsimage
from host_tools.vbadge.boot_shim import CHIP_NAME, DISPLAY_NAME, NVS_NAME, RECORDING_NAME, ROMFS_NAME, VM_BOARD_DIR, shim_source
from host_tools.vbadge.console import BOARD_MACHINE, BoardConsole
from host_tools.vbadge.serial_link import SerialLink
from host_tools.vbadge.vm_interrupt import VmInterrupt
from host_tools.vbadge.vm_process import default_heap, kill_vm, micropython_binary, spawn_vm, vm_machine

DEFAULT_BOARD = "cloudpin_ref"
DEFAULT_BAUD = 115200
DEFAULT_VFS_BYTES = 0x200000

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


def check_recording(path):
    """Refuse, before any VM starts, a recording the accelerometer could not
    replay: host_tools.bench.resample.RecordingError naming the file and the
    problem. It must read as the benches read recordings (UTF-8 text, a
    t_ms,x,y,z header, numbers, ms and g) and parse to its end with the
    emulator's own reader (cpsim/recording.py), which the VM runs."""
    from host_tools.bench.resample import RecordingError, load_csv

    load_csv(path)
    if str(EMULATOR_DIR) not in sys.path:
        sys.path.append(str(EMULATOR_DIR))  # cpsim, and its CPython `micropython`
    from cpsim.recording import check

    try:
        check(str(path))
    except (OSError, ValueError) as e:
        raise RecordingError(str(e)) from None


def vfs_bytes(board):
    """Size of the filesystem a badge of this board (a JSON path, or None) has:
    its vfs partition as MicroPython lays out its flash; 2 MB (a 4 MB
    ESP32_GENERIC) when the board does not say."""
    if board is not None:
        try:
            return fsimage.default_vfs_size(json.loads(Path(board).read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return DEFAULT_VFS_BYTES


def board_file(board):
    """Path of a board JSON given a name in boards/ or a path; None for no
    board. Raises host_tools.boards.BoardError."""
    if board is None:
        return None
    p = Path(board_path(board))
    if not p.is_file():
        raise BoardError("board file %s does not exist" % p)
    return p.resolve()


class VirtualBadge(SerialLink, BoardConsole):
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
                 link=None, name="badge", recording=None, check=True, air=None, uid=None, share_extra=0):
        if recording and check:  # (a farm checks its one recording once)
            check_recording(recording)
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
        self.fs_bytes = vfs_bytes(self.board)  # what statvfs in the badge reports
        self.link = Path(link) if link else None
        self.name = name
        self.air = str(air) if air else None  # air hub socket (host_tools/air): radio shared with others
        self.uid = uid  # machine.unique_id() (bytes; None: the emulator's default)
        self.slow_clock = self._slow_clock()
        self.nvs_path = self.root / NVS_NAME
        self.port = None
        self.exe = micropython_binary()
        self.heap = heap or default_heap(self.exe, self.board, share_extra)
        # The firmware's share of a default heap; the boot shim's ballast keeps
        # the rest from it (none when the heap was given by hand). share_extra:
        # bytes more than a pin's share, still exact (a test that states what
        # the share lacks for something: tests/test_phone_e2e.py).
        self.fw_heap = firmware_heap_in_vm() + share_extra if not heap and not os.environ.get("CLOUDPIN_MP_HEAP") else 0
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
        self.warnings = []  # what the emulated hardware said of bad input (also on stderr)

    # ---- public API ----

    def start(self):
        if self._thread is not None:
            return self
        self._open_port()
        self._stopping = False
        self._reset_link()
        self._reset_console()
        self._cause = PWRON_RESET
        (self.root / CHIP_NAME).unlink(missing_ok=True)  # power-on: the RTC starts again at 2000
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
        self._close_port()

    def replug(self):
        """Plug the badge back in: power-on boot on a fresh port."""
        return self.start()

    def stop(self):
        self.unplug()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def save_display_png(self, path):
        """Save what the badge's display shows now as a PNG; False when its
        board has no display or the firmware has not drawn since power-on."""
        import importlib.util
        import json

        memory = self.root / DISPLAY_NAME
        cfg = json.loads(self.board.read_text()).get("display") if self.board else None
        if not cfg or not memory.exists():
            return False
        from host_tools import EMULATOR_DIR

        spec = importlib.util.spec_from_file_location("cpsim_st7789", EMULATOR_DIR / "cpsim" / "st7789.py")
        st7789 = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(st7789)
        tmp = "%s.tmp" % path  # a viewer never sees half a file
        st7789.save_png(st7789.read_file(str(memory)), cfg["width"], cfg["height"], tmp)
        os.replace(tmp, path)
        return True

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

    def _slow_clock(self):
        # What the VM draws at power-on (cpsim.default_device.slow_clock), the
        # same draw made here: None when exact. ValueError for a bad
        # CLOUDPIN_EMU_CLOCK_PPM, before any VM starts.
        from host_tools.emulator.cpsim import slowclock

        if self.board is None:
            return None
        uid = self.uid or bytes((0x24, 0x0A, 0xC4, 0, 0, 1))  # the emulator's first device (cpsim.world.Device)
        return slowclock.for_badge(uid, os.environ.get("CLOUDPIN_EMU_CLOCK_PPM") or None)

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
        env["CLOUDPIN_EMU_DISPLAY"] = "/" + DISPLAY_NAME
        env["CLOUDPIN_ROMFS_FILE"] = "/" + ROMFS_NAME  # the emulator's esp32.Partition("romfs")
        env["CLOUDPIN_CHIP_FILE"] = "/" + CHIP_NAME  # the RTC and watchdog through a reset (cpsim/chipstate.py)
        env.pop("CLOUDPIN_CHIP_KEPT", None)
        if (self.root / CHIP_NAME).exists():
            env["CLOUDPIN_CHIP_KEPT"] = "1"  # (a power-on has none: the VM does not look)
        env.pop("CLOUDPIN_AIR", None)
        env.pop("CLOUDPIN_EMU_UID", None)
        if self.uid:
            env["CLOUDPIN_EMU_UID"] = bytes(self.uid).hex()
        if self.air:
            env["CLOUDPIN_AIR"] = self.air
            env["CLOUDPIN_AIR_NAME"] = self.name
        return env

    def _spawn(self, text, target):
        """Start a VM after printing `text`, heading for the friendly or raw REPL."""
        self._emit(text)
        files = ("boot.py", "main.py") if target == "friendly" else ("boot.py",)
        src = shim_source(self.root, files, self.board.parent if self.board else None, self.fs_bytes,
                          self.fw_heap, self.air is not None)
        heap = self.heap
        rom = self.root / ROMFS_NAME
        if self.fw_heap and rom.is_file():
            # the shim reads the romfs image into the VM's heap outside the
            # firmware's share (on the chip it is flash): room for it on top
            heap = str(int(heap) + rom.stat().st_size + 64)
        self._vm, self._vm_fd = spawn_vm(self.exe, heap, src, str(self.root), self._env())
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

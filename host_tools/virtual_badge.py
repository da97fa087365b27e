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
port; without it each badge gets a temporary folder, deleted on exit. One
process at a time serves a DIR (it holds DIR/.virtual-badge.lock, with its
pid): a second is refused rather than take over the first one's badges.

Inside the VM, the emulated built-ins live at /.emu and the board files at
/.board (read-only, left out of listings, as C modules and the partition table
are on a pin); os.statvfs reports the board's vfs partition (2 MB on a 4 MB
ESP32), with its files counted in LittleFS blocks, not the host's disk; the NVS partition is the hidden file .nvs.json in the badge
folder. A damaged one boots as an ESP32 with damaged NVS pages does: what does
not decode is dropped (the file kept as .nvs.json.corrupt), the rest and all
the hardware come up, and the badge says so on stderr. machine.reset() and friends end the VM with exit status 64 + reset
cause and the badge boots it again as the chip would. Output sent while no
program reads the port is lost once the port's buffer is full, as on a UART.

A badge with a board keeps time asleep on a drifting slow clock, as a pin
does (docs/clock.md): its error is drawn from its unique id (the same every
run, shown on stderr at start); CLOUDPIN_EMU_CLOCK_PPM=N sets it to N ppm, 0
gives an exact clock.
"""
# The docstring above is also `cloudpin virtual-badge --help`. The badge
# itself is in host_tools/vbadge/, one module per job; this module is its
# public face and the command.
import argparse
import fcntl
import os
import signal
import sys
import threading
from pathlib import Path

from host_tools.bench.resample import RecordingError
from host_tools.boards import BoardError, load_board
from host_tools.vbadge.badge import DEFAULT_BAUD, DEFAULT_BOARD, VirtualBadge, board_file, check_recording
from host_tools.vbadge.console import RAW_BANNER
from host_tools.vbadge.vm_process import micropython_binary

# What other code imports from here, wherever it is defined.
__all__ = ["DEFAULT_BAUD", "DEFAULT_BOARD", "RAW_BANNER", "VirtualBadge", "VirtualBadgeFarm", "add_arguments",
           "board_file", "check_recording", "lock_root", "micropython_binary", "run", "serve_until_signalled"]


LOCK_NAME = ".virtual-badge.lock"


class RootInUse(RuntimeError):
    """Another process serves virtual badges from this --root."""


def lock_root(root):
    """Hold folder `root` for this process: an flock on ROOT/.virtual-badge.lock
    with our pid in it; returns its fd. The kernel lets go when the fd is
    closed or the process ends however it ends, so a lock is never stale.
    RootInUse, naming the holder, while another process holds it: a second
    farm would boot a second VM on each badge's folder and repoint its link."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise RootInUse("%s is in use by another virtual-badge (pid %s): stop that one first, or give another --root"
                        % (root, holder)) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


class VirtualBadgeFarm:
    """count badges. With root, badge N lives in root/badge-N with a stable
    symlink root/badge-N.tty; without, each has a temporary folder. With a
    board, the badges share one air (`.air`, a host_tools.air.AirHub: they
    hear each other, and host_tools.air.Central joins them)."""

    def __init__(self, count=1, root=None, baud=DEFAULT_BAUD, board=DEFAULT_BOARD, heap=None, recording=None,
                 share_extra=0):
        self.root = Path(root).resolve() if root else None
        self.badges = []
        self.air = None
        if board:
            from host_tools.air import AirHub

            self.air = AirHub()
            self.air.commands = self._command
        self._taps = 0
        self._lock = None
        if recording:
            check_recording(recording)
        self._hold_root()
        try:
            self._make(count, baud, board, heap, recording, share_extra)
        except BaseException:
            self._release_root()
            raise

    def _hold_root(self):
        if self.root is not None and self._lock is None:
            self._lock = lock_root(self.root)

    def _release_root(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _make(self, count, baud, board, heap, recording, share_extra):
        for n in range(1, count + 1):
            name = "badge-%d" % n
            shared = {"air": self.air and self.air.path, "uid": bytes((0x24, 0x0A, 0xC4, 0, n >> 8, n & 0xFF)),
                      "share_extra": share_extra}
            if self.root is None:
                self.badges.append(VirtualBadge(None, baud, board, heap, name=name, recording=recording,
                                                check=False, **shared))
            else:
                self.badges.append(VirtualBadge(self.root / name, baud, board, heap,
                                                link=self.root / (name + ".tty"), name=name, recording=recording,
                                                check=False, **shared))

    @property
    def ports(self):
        return [b.port for b in self.badges]

    def find(self, target):
        """The badge called `target`, on port `target`, or behind link `target`; None."""
        t = str(target)
        real = os.path.realpath(t)
        for b in self.badges:
            if t in (b.name, b.port) or (b.link is not None and (t == str(b.link) or real == str(b.link))) \
                    or (b.port is not None and real == os.path.realpath(b.port)):
                return b
        return None

    def tap(self, targets, solo=False, rng=None):
        """Tap the badges `targets` (names, ports or links) at one instant:
        each feels a touch drawn from the tap bench's model, two touched
        together one contact (host_tools/vbadge/tap.py touch_csvs).
        Returns the contact's wall-clock time (time.time()); TapError if a
        badge is unknown, has no accelerometer or is not on the air (a badge
        joins it at power-on: host_tools/vbadge/boot_shim.py)."""
        import json
        import time

        from host_tools.vbadge import tap as taplib

        badges = []
        for t in targets:
            b = self.find(t)
            if b is None:
                raise taplib.TapError("no badge %s in this farm (%s)" % (t, ", ".join(
                    "%s %s" % (x.name, x.port) for x in self.badges)))
            if b.board is None or "accel" not in json.loads(b.board.read_text()):
                raise taplib.TapError("%s has no accelerometer to feel a tap" % b.name)
            if self.air is None or b.name not in self.air.names():
                raise taplib.TapError("%s is not on the air: its VM is not running (unplugged, or still booting)" % b.name)
            if b not in badges:
                badges.append(b)
        if not badges:
            raise taplib.TapError("name at least one badge to tap")
        boards = [json.loads(b.board.read_text()) for b in badges]
        touches = [(b, text, contact_ms, length_ms, taplib.lead_ms(board)) for b, board, (text, contact_ms, length_ms)
                   in zip(badges, boards, taplib.touch_csvs(boards, rng or taplib.seed_rng(), solo))]
        # every touch's contact at one instant, each file starting its own lead before it
        contact_ns = time.time_ns() + int(max(t[4] + t[2] for t in touches) * 1e6)
        for b, text, contact_ms, length_ms, _ in touches:
            self._taps += 1
            name = taplib.write_touch(b.root, self._taps, text)
            self.air.tell(b.name, taplib.frame(contact_ns - int(contact_ms * 1e6), length_ms, name))
        return contact_ns / 1e9

    def _command(self, cmd):
        # a tool's command through the air hub's socket (host_tools/vbadge/tap.py)
        from host_tools.vbadge.tap import TapError

        targets = cmd.get("tap")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            return {"ok": False, "error": "unknown command"}
        try:
            at = self.tap(targets, bool(cmd.get("solo")))
        except (TapError, LookupError) as e:
            return {"ok": False, "error": str(e)}
        return {"ok": True, "tapped": [self.find(t).name for t in targets], "contact_at": at}

    def start(self):
        self._hold_root()  # again, after a stop()
        try:
            if self.air is not None:
                self.air.start()
            for b in self.badges:
                b.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for b in self.badges:
            b.stop()
        if self.air is not None:
            self.air.stop()
        self._release_root()

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
                        "lies still); checked to its end before any badge starts")
    parser.add_argument("--display-png", metavar="PATH", help="keep PATH a PNG of what the badge's display shows "
                        "(boards with a display, e.g. m5stickc_plus), rewritten every second; with --count N, "
                        "badge K writes PATH with -badge-K before its suffix")
    parser.add_argument("--heap", help="MicroPython -X heapsize (default: CLOUDPIN_MP_HEAP, else the pin's 100 KB "
                        "in the VM's word size plus what the emulated hardware occupies)")
    sub = parser.add_subparsers(dest="vb_command", metavar="SUBCOMMAND")
    from host_tools.vbadge import tap

    t = sub.add_parser("tap", help="tap running virtual badges together (their accelerometers feel it)",
                       description=tap.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("targets", nargs="+", metavar="BADGE",
                   help="badge name (badge-1), port (/dev/pts/7) or link (ROOT/badge-1.tty); two are touched "
                   "together (one contact), more in pairs in the order named, all at one instant")
    t.add_argument("--solo", action="store_true", help="a knock on the pin (no second pin, no reach)")
    t.add_argument("--air", metavar="SOCKET", help="the farm's air hub socket (default: ask every farm running here)")


def serve_until_signalled(farm, display_png=None):
    """Run farm until SIGINT, SIGTERM or SIGHUP, then stop it; meanwhile
    keep display_png (a path) showing each badge's display."""
    done = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, lambda *a: done.set())
    try:
        farm.start()
        for b in farm:
            sys.stderr.write("%s: %s  folder %s  %d baud%s  clock %s\n" % (
                b.name, b.port, b.root, b.baud, "  link %s" % b.link if b.link else "",
                "%+.0f ppm asleep" % b.slow_clock.ppm if b.slow_clock else "exact"))
        if farm.air is not None:  # for tools in other terminals (`cloudpin phone --air`, `virtual-badge tap --air`)
            sys.stderr.write("air hub: %s\n" % farm.air.path)
        sys.stderr.flush()
        for b in farm:
            print(b.port)
        sys.stdout.flush()
        while not done.wait(1.0):
            for b in farm if display_png else ():
                p = Path(display_png)
                b.save_display_png(p if len(farm) == 1 else p.with_name("%s-%s%s" % (p.stem, b.name, p.suffix)))
    finally:
        farm.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_tap(args):
    from host_tools.vbadge import tap

    try:
        answer = tap.request(args.targets, args.solo, args.air)
    except tap.TapError as e:
        sys.stderr.write("tap: %s\n" % e)
        return 1
    import time

    sys.stderr.write("tapped %s: contact in %.1f s\n" % (" and ".join(answer["tapped"]),
                                                         max(0.0, answer["contact_at"] - time.time())))
    return 0


def run(args):
    if getattr(args, "vb_command", None) == "tap":
        return run_tap(args)
    if args.count < 1:
        sys.stderr.write("--count must be at least 1\n")
        return 2
    try:
        if args.display_png and not load_board(args.board).get("display"):
            raise BoardError("--display-png: board %s has no display" % args.board)
        farm = VirtualBadgeFarm(args.count, args.root, args.baud, args.board, args.heap, args.recording)
    except (BoardError, RecordingError, RootInUse, ValueError) as e:
        sys.stderr.write("%s\n" % e)
        return 2
    serve_until_signalled(farm, args.display_png)
    return 0

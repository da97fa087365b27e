"""Two badges meet: boot the firmware on two virtual badges on one shared
air, provision them at the desk, tap them together and show both logs.

Starts two virtual badges (--badges 1 for one) sharing one radio
(host_tools/air), puts the firmware into each one's filesystem (boot.py and
main.py as source, the package compiled with mpy-cross for the VM's CPU into
a ROMFS image that the badge mounts at /rom and runs in place, as a pin with
a romfs partition does) and the
board file as /board.json, provisions them with the desk's own code for two
demo journalists (owner card, keys, the event's key and time zone: a
throw-away desk database in a temporary folder), soft-resets each over its
serial port with Ctrl-D as a user would, and prints what both send, line by
line, each line after its badge's name, until Ctrl-C (or for --seconds; 25 s
when stdout is not a terminal). --tap-at seconds in, the two wearers touch
their pins together: on the shared air the two pins, 0.8 m apart while their
wearers face each other, come within 2 cm for the touch, the demo taps both
badges at one instant (as `cloudpin virtual-badge tap badge-1 badge-2` does)
and the logs show each detecting the tap, the handshake and the new friend;
a pin that asks for it ("tap again") is touched again.

Two badges stand still (their wearers face each other), so the touch is all
they feel; one badge walks by default: its accelerometer replays a minute of
a real walk shipped in host_tools/data (looped), so the pin counts steps
from a fresh clone. --still or --recording choose either way, and the demo
says which it is.
"""
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO
from host_tools.boards import BoardError
from host_tools.bench.resample import RecordingError
from host_tools.link.session import BadgeError, LinkError, SerialSession
from host_tools.virtual_badge import DEFAULT_BAUD, DEFAULT_BOARD, VirtualBadgeFarm, board_file, check_recording

# sys.implementation._mpy >> 10 -> mpy-cross -march name (py/persistentcode.h order)
_MPY_ARCHS = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
              "xtensa", "xtensawin", "rv32imc", "rv64imc")

NOT_A_TTY_SECONDS = 25  # long enough for a few status lines (every 10 s) with steps counted
TAP_AT_S = 8.0  # the app is up and its radio settled by then
APART_M = 0.8  # two people talking face to face, pins on their chests
TOUCH_M = 0.02  # the pins touched together: a couple of centimetres (as cloudpin sim's taps)
TOUCH_HOLD_S = 2.0  # how long the pins stay together around the contact
DEMO_ROSTER = (("DEMO-1", "Ada Lovelace", "Analytical Engine Weekly", "reporter", ("@ada",)),
               ("DEMO-2", "Grace Hopper", "COBOL Times", "photographer", ("@grace",)))
# A minute of a real walk, phone in a neck pouch (CC BY 4.0: host_tools/data/README.md).
DEMO_RECORDING = Path(__file__).resolve().parent / "data" / "walk_neckpouch_60s.csv"


def vm_arch(exe):
    """mpy-cross -march for the VM's CPU ("" when it runs bytecode only)."""
    out = subprocess.run([exe, "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                         capture_output=True, text=True, timeout=30, check=True)
    n = int(out.stdout.split()[-1])
    return _MPY_ARCHS[n] if n < len(_MPY_ARCHS) else ""


def install_firmware(firmware_dir, badge_root, board=None, arch=None, romfs=True):
    """Put the firmware into a badge folder: top-level .py files (boot.py,
    main.py) as source; with `arch` (a -march name, "" for bytecode) the
    packages compiled for it, as the pin's ROMFS image (the badge folder's
    boot_shim.ROMFS_NAME, mounted at /rom as the pin's romfs partition: the
    package runs in place, host_tools/images/romfs.py; a package folder left
    on the badge's filesystem by an older install would shadow it, as on a
    pin, and is removed), or as .mpy files in the folder when `romfs` is
    False; without `arch` as source. The board file becomes board.json.
    Returns the badge-side names written."""
    from host_tools.images import romfs as images_romfs
    from host_tools.images.fsimage import BYTECODE
    from host_tools.vbadge.boot_shim import ROMFS_NAME

    firmware_dir, badge_root = Path(firmware_dir), Path(badge_root)
    mpy_cross = str(Path(sys.executable).parent / "mpy-cross")
    to_rom = arch is not None and romfs
    copied = []
    for src in sorted(firmware_dir.rglob("*.py")):
        rel = src.relative_to(firmware_dir)
        if "__pycache__" in rel.parts:
            continue
        if to_rom and len(rel.parts) > 1:
            old = badge_root / rel.parts[0]
            if old.is_dir():
                shutil.rmtree(old)
            continue
        dst = badge_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if arch is None or len(rel.parts) == 1:
            shutil.copyfile(src, dst)
        else:
            dst = dst.with_suffix(".mpy")
            cmd = [mpy_cross, "-o", str(dst), "-s", rel.as_posix()] + (["-march=" + arch] if arch else [])
            proc = subprocess.run(cmd + [str(src)], capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError("mpy-cross failed on %s:\n%s" % (src, proc.stderr))
        copied.append(dst.relative_to(badge_root).as_posix())
    if to_rom:
        files = images_romfs.package_files(arch or BYTECODE, firmware_dir)
        image = images_romfs.build({p: d for p, d in files.items() if p.count("/") > 1})  # packages only
        tmp = badge_root / (ROMFS_NAME + ".tmp")
        tmp.write_bytes(image)
        tmp.replace(badge_root / ROMFS_NAME)  # a badge booting now reads all of it or the old one
        copied.append(ROMFS_NAME)
    if board is not None:
        shutil.copyfile(board, badge_root / "board.json")
        copied.append("board.json")
    return copied


def reset_raw(port, baud=DEFAULT_BAUD):
    """A soft reset through the raw REPL (boot.py runs, main.py does not, as
    mpremote's soft-reset), back at the friendly REPL. A romfs partition just
    written mounts at the next reset, as on a pin (mpremote's romfs deploy
    unmounts /rom and leaves it so): install_firmware then this, before the
    desk looks for the app. Through the host tools' one serial session."""
    s = SerialSession(port, baud)
    try:
        s.connect()
        s.soft_reset()
    finally:
        s.close(restart=False)


def start_app(port, baud=DEFAULT_BAUD):
    """Stop what runs and soft-reset at the friendly REPL, so boot.py and
    main.py run, as at a terminal. (the open pyserial port, what the badge
    printed from its 'soft reboot' line on while the session read it)."""
    s = SerialSession(port, baud)
    try:
        s.connect()
        if not s.restart():
            raise BadgeError("%s: the badge did not soft-reboot" % port)
        tail, ser = s.reboot_output, s.detach()
    except BaseException:
        s.close(restart=False)
        raise
    ser.timeout = 0.1
    return ser, tail


def stream_lines(ser, seconds, out, prefix="", at=(), on_line=None, first=None):
    """Copy the badge's output to `out` line by line for `seconds` (None:
    forever); ser may be a list of ports, each line then after its prefix.
    `at`: [(seconds, fn)] run that far in (fn may return more of them);
    on_line(k, text) sees each line of port k; first: bytes each port sent
    before (start_app's)."""
    sers = ser if isinstance(ser, (list, tuple)) else [ser]
    prefixes = prefix if isinstance(prefix, (list, tuple)) else [prefix] * len(sers)
    start = time.monotonic()
    end = None if seconds is None else start + seconds
    todo = sorted(at, key=lambda a: a[0])
    partial = list(first) if first else [b""] * len(sers)
    while end is None or time.monotonic() < end:
        while todo and time.monotonic() - start >= todo[0][0]:
            todo.extend(todo.pop(0)[1]() or ())
            todo.sort(key=lambda a: a[0])
        got = False
        for k, s in enumerate(sers):
            waiting = s.in_waiting
            if not waiting and len(sers) > 1:
                continue
            partial[k] += s.read(max(1, waiting))
            *lines, partial[k] = partial[k].split(b"\n")
            for line in lines:
                text = line.rstrip(b"\r").decode("utf-8", "replace")
                out.write(prefixes[k] + text + "\n")
                if on_line is not None:
                    on_line(k, text)
            if lines:
                got = True
        if got:
            out.flush()
        elif len(sers) > 1:
            time.sleep(0.02)
    # Time is up: finish the line being sent rather than print half of it.
    for k, s in enumerate(sers):
        finish = time.monotonic() + 1.0
        while partial[k].strip() and b"\n" not in partial[k] and time.monotonic() < finish:
            partial[k] += s.read(max(1, s.in_waiting))
        line = partial[k].split(b"\n")[0].rstrip(b"\r")
        if line.strip():
            out.write(prefixes[k] + line.decode("utf-8", "replace") + "\n")
            out.flush()


def accelerometer_says(recording):
    """The line that tells the user what the pin feels."""
    if recording:
        return "accelerometer: replays %s, looped (a walk: expect steps)" % recording
    return "accelerometer: the pin lies still on a table, so it counts no steps (give --recording to walk)"


def add_arguments(parser):
    parser.add_argument("--board", default=DEFAULT_BOARD, help="board name in boards/ or JSON path (default %s)" % DEFAULT_BOARD)
    parser.add_argument("--badges", type=int, choices=(1, 2), default=2,
                        help="2 (default): two badges meet; 1: one badge, booted and walking, no desk")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: at Ctrl-C, or %d s when "
                        "stdout is not a terminal)" % NOT_A_TTY_SECONDS)
    parser.add_argument("--tap-at", type=float, default=TAP_AT_S, metavar="S",
                        help="with two badges: tap them together S seconds after they boot (default %g)" % TAP_AT_S)
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="serial line rate (default %d)" % DEFAULT_BAUD)
    parser.add_argument("--firmware", default=str(FIRMWARE_DIR), help="firmware folder to copy (default firmware/)")
    motion = parser.add_mutually_exclusive_group()
    motion.add_argument("--recording", help="t_ms,x,y,z CSV (g) the accelerometers replay, looped (default with one "
                        "badge: a minute of a real walk, %s)" % DEMO_RECORDING.relative_to(REPO))
    motion.add_argument("--still", action="store_true", help="no recording: the pins lie still (the default with "
                        "two badges) and count no steps")


OVERRUN_WINDOW_MS = (-50, 500)  # a FIFO overrun logged this near the contact may have cost it


class Toucher:
    """The two wearers touch their pins at `first` seconds; if a pin did not
    feel it (the firmware logs every detected tap; the tap bench's touches
    are not all detected), they touch again, as people do, up to TRIES times,
    and say why: the pin asked for it, or its sensor's FIFO overran around
    the contact (the firmware logs `fifo overrun` when samples were lost: a
    busy or starved VM drained its 80 ms FIFO late), or its detector missed
    it. Each touch's contact is said in the badges' ticks_ms (the VMs share
    the host's monotonic clock), so the logs can be checked against it.

    Why a loaded host loses touches: awake, the firmware's FIFO watermark (24
    of 32 samples at 400 Hz) leaves 20 ms to drain before the FIFO overflows;
    a badge's VM on a loaded host drains 15-50 ms after the watermark
    (measured at load 5 on 2 cores), so an awake pin overruns about every
    100 ms and a contact then is lost. The touch's own reach wakes a dozing
    pin before the contact."""

    TRIES = 3
    WAIT_S = 3.0  # for both taps to show in the logs

    def __init__(self, farm, first, say):
        self.farm, self.first, self.say = farm, first, say
        self.tries = 0
        self.felt = set()
        self.again = set()  # pins that asked their wearer to tap again
        self.overruns = [[] for _ in farm]  # ticks_ms of each pin's logged FIFO overruns
        self.contact_ms = None  # this touch's contact, in the badges' ticks_ms
        self.taps = [0] * len(farm)
        self.friends = [0] * len(farm)

    def place(self, apart):
        """The wearers face each other, `apart` metres between their pins."""
        air = self.farm.air
        air.set_position(self.farm[0].name, 0.0, 0.0, 0.0)
        air.set_position(self.farm[1].name, apart, 0.0, 180.0)

    def schedule(self):
        self._t0 = time.monotonic()  # stream_lines counts from about now
        self.place(APART_M)
        return [(self.first, self.touch)]

    def saw(self, k, text):
        # the firmware's log lines (docs/sim.md has the meet contract)
        if " motion tap t_ms=" in text:
            self.felt.add(k)
            self.taps[k] += 1
        elif " meet friend " in text:
            self.friends[k] += 1
        elif " meet tap again" in text:
            self.again.add(k)
        elif " motion fifo overrun " in text:
            parts = text.split()
            if len(parts) > 1 and parts[1].isdigit():
                self.overruns[k].append(int(parts[1]))

    def why_not(self, k):
        """Why pin k did not feel this touch, from its log; None if it did."""
        if k in self.again:
            return "asked to tap again"
        if k in self.felt:
            return None
        near = [t - self.contact_ms for t in self.overruns[k]]
        near = [d for d in near if OVERRUN_WINDOW_MS[0] <= d <= OVERRUN_WINDOW_MS[1]]
        if near:
            return "its sensor's FIFO overran %+d ms from the contact: samples lost (its VM drained late)" % near[0]
        return "its detector did not find the touch"

    def summary(self):
        return "; ".join("%s felt %d tap(s) and made %d friend(s)" % (b.name, self.taps[k], self.friends[k])
                         for k, b in enumerate(self.farm))

    def touch(self):
        reasons = []
        if self.tries:
            reasons = ["%s %s" % (b.name, self.why_not(k)) for k, b in enumerate(self.farm) if self.why_not(k)]
            if not reasons:
                return None
        if self.tries >= self.TRIES:
            self.say("demo: %d touches and still not felt by both pins (%s)" % (self.tries, "; ".join(reasons)))
            return None
        self.tries += 1
        self.felt = set()
        self.again = set()
        try:
            contact = self.farm.tap([b.name for b in self.farm])
        except Exception as e:  # the demo goes on: the logs say what the badges did
            self.say("demo: could not tap: %s" % e)
            return None
        # the pins come together for the touch and part again after it
        mono = time.monotonic()
        now = mono - self._t0
        lead = max(0.0, contact - time.time())
        # the unix port's ticks_ms: CLOCK_MONOTONIC in ms (64-bit: it does not wrap)
        self.contact_ms = int((mono + lead) * 1000)
        self.place(TOUCH_M)

        def part():
            self.place(APART_M)

        later = [(now + lead + TOUCH_HOLD_S, part)]
        self.say("demo: the wearers touch their pins together (%s; contact at t_ms=%d)" % (
            "first touch" if self.tries == 1 else "again: " + "; ".join(reasons), self.contact_ms))
        return later + [(now + lead + self.WAIT_S, self.touch)]


def provision_pair(farm, folder, progress):
    """Give the farm's badges to the demo roster with the desk's own code
    (host_tools/desk): a database in `folder`, cards there too. Returns the
    desk Outcomes."""
    from host_tools.desk import db as deskdb
    from host_tools.desk.badge_io import SerialBadge, firmware_version
    from host_tools.desk.provision import Desk, bulk_chooser, provision

    db = deskdb.connect(str(Path(folder) / "desk.sqlite"), durable=False)
    try:
        db.import_roster([deskdb.Accreditation(*row) for row in DEMO_ROSTER[:len(farm)]])
        desk = Desk(db, firmware_version(), Path(folder) / "cards", name="demo")
        outs = []
        for b in farm:
            out = provision(SerialBadge(b.port), desk, bulk_chooser(db))
            progress("%s: desk: %s%s" % (b.name, out.message, " (card %s)" % out.card if out.card else ""))
            outs.append(out)
        return outs
    finally:
        db.close()


def run(args):
    try:
        board = board_file(args.board)
    except BoardError as e:
        sys.stderr.write("%s\n" % e)
        return 2
    seconds = args.seconds
    if seconds is None and not sys.stdout.isatty():
        seconds = NOT_A_TTY_SECONDS
    pair = args.badges == 2
    recording = None if args.still else (args.recording or (None if pair else str(DEMO_RECORDING)))
    if recording:
        try:
            check_recording(recording)
        except RecordingError as e:
            sys.stderr.write("%s\n" % e)
            return 2

    def say(text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    say(accelerometer_says(recording) if not pair or recording else
        "accelerometers: both pins held still, their wearers face to face (give --recording to walk)")
    with tempfile.TemporaryDirectory(prefix="cloudpin-demo-") as folder, \
            VirtualBadgeFarm(args.badges, baud=args.baud, board=board, recording=recording) as farm:
        arch = None
        for b in farm:
            b.wait_repl()  # a blank badge: boots straight to the REPL
            arch = vm_arch(b.exe) if arch is None else arch
            copied = install_firmware(args.firmware, b.root, board, arch)
            try:
                reset_raw(b.port, args.baud)  # the package's romfs image mounts at /rom
            except LinkError as e:
                say("demo: %s" % e)
                return 1
            say("%s: virtual badge on %s (folder %s): copied %d files" % (b.name, b.port, b.root, len(copied)))
        if pair:
            outs = provision_pair(farm, folder, say)
            if not all(o.ok for o in outs):
                say("the desk could not provision both badges: see above")
                return 1
        say("air hub: %s (another terminal: cloudpin phone pair --card CARD --tap badge-1 --air %s)"
            % (farm.air.path, farm.air.path))
        say("soft-resetting %s" % " and ".join(b.name for b in farm))
        sers, first = [], []
        try:
            for b in farm:
                ser, tail = start_app(b.port, args.baud)
                sers.append(ser)
                first.append(tail)
            toucher = Toucher(farm, args.tap_at, say) if pair else None
            try:
                stream_lines(sers, seconds, sys.stdout, ["%s | " % b.name for b in farm] if pair else "",
                             toucher.schedule() if toucher else (), toucher.saw if toucher else None, first)
            except KeyboardInterrupt:
                pass
            if toucher:
                has_meet = (Path(args.firmware) / "cloudpin" / "social" / "meet.py").exists()
                say("demo: %s%s" % (toucher.summary(), "" if has_meet else
                                    " (this firmware has no meet and greet yet: firmware/cloudpin/social/meet.py)"))
        except LinkError as e:
            say("demo: %s" % e)
            return 1
        finally:
            for ser in sers:
                ser.close()
    return 0

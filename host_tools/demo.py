"""Boot the firmware on a virtual badge and show its log lines.

Starts one virtual badge, puts the firmware into its filesystem (boot.py and
main.py as source, the package compiled with mpy-cross for the VM's CPU, as a
deploy does for the pin's, so that imports fit the pin-sized heap) and the
board file as /board.json, soft-resets
it over the serial port with Ctrl-D as a user would, and prints what the badge
sends, line by line, until Ctrl-C (or for --seconds; 25 s when stdout is not
a terminal). The accelerometer replays a minute of a real walk shipped in
host_tools/data (looped), so the pin counts steps from a fresh clone; with
--still it lies on a table and counts none, and the demo says which it is.
"""
import shutil
import subprocess
import sys
import time
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO
from host_tools.boards import BoardError
from host_tools.bench.resample import RecordingError
from host_tools.virtual_badge import DEFAULT_BAUD, DEFAULT_BOARD, VirtualBadge, board_file, check_recording

# sys.implementation._mpy >> 10 -> mpy-cross -march name (py/persistentcode.h order)
_MPY_ARCHS = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
              "xtensa", "xtensawin", "rv32imc", "rv64imc")

NOT_A_TTY_SECONDS = 25  # long enough for a few status lines (every 10 s) with steps counted
# A minute of a real walk, phone in a neck pouch (CC BY 4.0: host_tools/data/README.md).
DEMO_RECORDING = Path(__file__).resolve().parent / "data" / "walk_neckpouch_60s.csv"


def vm_arch(exe):
    """mpy-cross -march for the VM's CPU ("" when it runs bytecode only)."""
    out = subprocess.run([exe, "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                         capture_output=True, text=True, timeout=30, check=True)
    n = int(out.stdout.split()[-1])
    return _MPY_ARCHS[n] if n < len(_MPY_ARCHS) else ""


def install_firmware(firmware_dir, badge_root, board=None, arch=None):
    """Put the firmware into a badge folder: top-level .py files (boot.py,
    main.py) as source, packages as .mpy when `arch` is given (a -march name,
    "" for bytecode), else as source; the board file becomes board.json.
    Returns the badge-side names written."""
    firmware_dir, badge_root = Path(firmware_dir), Path(badge_root)
    mpy_cross = str(Path(sys.executable).parent / "mpy-cross")
    copied = []
    for src in sorted(firmware_dir.rglob("*.py")):
        rel = src.relative_to(firmware_dir)
        if "__pycache__" in rel.parts:
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
    if board is not None:
        shutil.copyfile(board, badge_root / "board.json")
        copied.append("board.json")
    return copied


def read_until(ser, ending, timeout):
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(ending) and time.monotonic() < end:
        buf += ser.read(max(1, ser.in_waiting))
    return buf


def soft_reset(ser, timeout=30):
    """Ctrl-C until the friendly REPL prompt is the last thing shown, then
    Ctrl-D, as at a terminal."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ser.write(b"\r\x03")
        seen = read_until(ser, b">>> ", end - time.monotonic())
        seen += read_until(ser, b"\x00", 0.3)  # whatever else comes while it settles
        if seen.endswith(b">>> "):
            ser.write(b"\x04")
            return
    raise RuntimeError("badge did not show a REPL prompt")


def stream_lines(ser, seconds, out):
    """Copy the badge's output to `out` line by line for `seconds` (None: forever)."""
    end = None if seconds is None else time.monotonic() + seconds
    partial = b""
    while end is None or time.monotonic() < end:
        partial += ser.read(max(1, ser.in_waiting))
        *lines, partial = partial.split(b"\n")
        for line in lines:
            out.write(line.rstrip(b"\r").decode("utf-8", "replace") + "\n")
        if lines:
            out.flush()
    # Time is up: finish the line being sent rather than print half of it.
    finish = time.monotonic() + 1.0
    while partial.strip() and b"\n" not in partial and time.monotonic() < finish:
        partial += ser.read(max(1, ser.in_waiting))
    line = partial.split(b"\n")[0].rstrip(b"\r")
    if line.strip():
        out.write(line.decode("utf-8", "replace") + "\n")
        out.flush()


def accelerometer_says(recording):
    """The line that tells the user what the pin feels."""
    if recording:
        return "accelerometer: replays %s, looped (a walk: expect steps)" % recording
    return "accelerometer: the pin lies still on a table, so it counts no steps (give --recording to walk)"


def add_arguments(parser):
    parser.add_argument("--board", default=DEFAULT_BOARD, help="board name in boards/ or JSON path (default %s)" % DEFAULT_BOARD)
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: at Ctrl-C, or %d s when "
                        "stdout is not a terminal)" % NOT_A_TTY_SECONDS)
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="serial line rate (default %d)" % DEFAULT_BAUD)
    parser.add_argument("--firmware", default=str(FIRMWARE_DIR), help="firmware folder to copy (default firmware/)")
    motion = parser.add_mutually_exclusive_group()
    motion.add_argument("--recording", default=str(DEMO_RECORDING),
                        help="t_ms,x,y,z CSV (g) the accelerometer replays, looped (default: a minute of a real "
                        "walk, %s)" % DEMO_RECORDING.relative_to(REPO))
    motion.add_argument("--still", action="store_true", help="no recording: the pin lies still and counts no steps")


def run(args):
    import serial

    try:
        board = board_file(args.board)
    except BoardError as e:
        sys.stderr.write("%s\n" % e)
        return 2
    seconds = args.seconds
    if seconds is None and not sys.stdout.isatty():
        seconds = NOT_A_TTY_SECONDS
    recording = None if args.still else args.recording
    if recording:
        try:
            check_recording(recording)
        except RecordingError as e:
            sys.stderr.write("%s\n" % e)
            return 2
    sys.stderr.write(accelerometer_says(recording) + "\n")
    with VirtualBadge(baud=args.baud, board=board, name="demo", recording=recording, check=False) as badge:
        badge.wait_repl()  # a blank badge: boots straight to the REPL
        copied = install_firmware(args.firmware, badge.root, board, vm_arch(badge.exe))
        sys.stderr.write("virtual badge on %s (folder %s): copied %d files, soft-resetting\n"
                         % (badge.port, badge.root, len(copied)))
        sys.stderr.flush()
        with serial.Serial(badge.port, args.baud, timeout=0.1) as ser:
            soft_reset(ser)
            try:
                stream_lines(ser, seconds, sys.stdout)
            except KeyboardInterrupt:
                pass
    return 0

"""Validate board definition files (boards/*.json by default) and print what
each one declares, with the rate the app really runs the accelerometer at
(the tap rate where the board has one, as the chip can run it: the same
function the firmware's board layer uses); exit status 1 when any file is
invalid."""
import sys

from host_tools.boards import BoardError, board_names, boardspec, load_board


def add_arguments(p):
    p.add_argument("boards", nargs="*", help="board names or JSON paths (default: every file in boards/)")


def run(args):
    names = args.boards or board_names()
    bad = 0
    for name in names:
        try:
            b = load_board(name)
        except BoardError as e:
            print("INVALID %s" % e, file=sys.stderr)
            bad += 1
            continue
        a = b["accel"]
        rate = boardspec.motion_rate(a)
        parts = [p for p in ("display", "power", "battery") if b.get(p)]
        print("ok %-18s %s, %s accelerometer at 0x%02x run at %g Hz (accel.%s)%s" % (
            b["name"], b["mcu"], a["type"], a["address"], rate, "tap_odr" if a.get("tap_odr") else "odr",
            "; " + ", ".join("%s %s" % (p, b[p]["type"]) for p in parts) if parts else ""))
    return 1 if bad else 0

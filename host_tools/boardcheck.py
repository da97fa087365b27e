"""Validate board definition files (boards/*.json by default) and print what
each one declares; exit status 1 when any file is invalid."""
import sys

from host_tools.boards import BoardError, board_names, load_board


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
        print("ok %-18s %s, %s accelerometer at 0x%02x, ODR %d Hz" % (
            b["name"], b["mcu"], b["accel"]["type"], b["accel"]["address"], b["accel"]["odr"]))
    return 1 if bad else 0

"""The `cloudpin` command: one subcommand per module, each a thin layer over
a Python API that tests and scripts can call directly."""
import argparse
import importlib
import sys

# (subcommand, module under host_tools, one-line help). Each module defines
# add_arguments(parser) and run(args) -> exit code.
COMMANDS = [
    ("virtual-badge", "virtual_badge", "start emulated badges on pseudo-terminals"),
    ("demo", "demo", "boot the firmware on a virtual badge and show its logs"),
    ("check-board", "boards.check", "validate board definition files"),
    ("flash", "images.flash", "write MicroPython firmware to badges with esptool"),
    ("image", "images.image", "build a LittleFS + NVS + firmware image for mass flashing"),
    ("deploy", "link.deploy_cli", "copy the compiled app to running badges, skipping unchanged files"),
    ("logs", "link.logs", "read badge logs from serial ports"),
    ("desk", "desk.cli", "press-centre desk: provision, verify, return, export badges"),
    ("bench", "bench.cli", "benchmarks: step counter, tap detector, cost"),
    ("plot", "plot", "draw a recording with detected steps"),
    ("sim", "sim.cli", "run a scenario of many pins on simulated time (JSON result)"),
    ("power", "power.cli", "battery life of each board over a day scenario (energy model)"),
    ("phone", "phone.cli", "the wearer's phone: pair with a pin, profile, friends, stats, designs, events"),
    ("app", "phone.appserve", "serve the wearer's web app (Web Bluetooth)"),
    ("pack", "designs.pack_cli", "check event packs (designs and the tasks unlocking them)"),
    ("designs", "designs.cli", "render an event pack's designs to PNG through the firmware's drawing code"),
]


def build_parser(chosen=None):
    """The argument parser; with `chosen` (a subcommand name) only that
    subcommand's module is imported, so the desk's every call starts fast."""
    parser = argparse.ArgumentParser(
        prog="cloudpin",
        description="CloudPin badge tools. Every subcommand has --help.",
    )
    from host_tools import __version__

    parser.add_argument("--version", action="version", version="cloudpin " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname, helptext in COMMANDS:
        if chosen is not None and name != chosen:
            sub.add_parser(name, help=helptext)
            continue
        mod = importlib.import_module("host_tools." + modname)
        p = sub.add_parser(name, help=helptext, description=(mod.__doc__ or helptext).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    names = [c[0] for c in COMMANDS]
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in names else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return args._run(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

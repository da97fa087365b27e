"""Copy the compiled app to running badges over the raw REPL, sending only
what changed. Each file lands as a temp file and all of them are renamed into
place at the end, so an unplug mid-deploy leaves the old app whole; files an
earlier deploy put there and the build no longer has are removed, user data
(owner.json, stats, friends) is never touched; finally the app restarts.
On a badge whose firmware has a romfs partition (`make firmware`,
docs/firmware.md) the app's modules go there as one ROMFS image that runs in
place (only the 4 KB blocks that changed are written, then checked), and
copies on the filesystem, which would shadow it, are removed.
The running app is stopped with Ctrl-C; its watchdog keeps being fed.
The event pack (--pack, default packs/tokyo2020.json) goes along compiled as
/pack.bin, so the pin shows its designs; --no-pack leaves it out.

(The command line of host_tools.link.deploy, whose API scripts and the desk call.)
"""
import argparse
import os
import sys
import threading

from host_tools import FIRMWARE_DIR
from host_tools.boards import BoardError, load_board
from host_tools.designs import PackError, compile_pack, pack_cli, pack_error_line
from host_tools.images import fsimage
from host_tools.link.deploy import BAUD, deploy_ports, targets
from host_tools.ports import usb


def describe(result):
    """One summary line for a port's result."""
    port = result["port"]
    if "error" in result:
        return "%s: FAILED: %s" % (port, result["error"])
    verb = "would write" if result["dry_run"] else "wrote"
    parts = ["%s %d file%s (%d bytes)" % (verb, len(result["written"]), "" if len(result["written"]) == 1 else "s",
                                          result["bytes"])]
    if result["reused"]:
        parts.append("finished %d from an interrupted deploy" % len(result["reused"]))
    if result.get("retried"):
        parts.append("soft-reset once: the badge was out of memory")
    parts.append("%d unchanged" % len(result["unchanged"]))
    rom = result.get("romfs")
    if rom and rom["blocks"]:
        parts.append("romfs: %s %d of %d blocks (a %d-byte image in the %d-byte partition)" % (
            "would write" if result["dry_run"] else "wrote", rom["blocks"], rom["of"], rom["image"], rom["partition"]))
    elif rom:
        parts.append("romfs unchanged")
    elif "romfs" in result:
        parts.append("no romfs partition (stock firmware): modules on the filesystem")
    if result["deleted"]:
        parts.append("%s %d stale (%s)" % ("would delete" if result["dry_run"] else "deleted",
                                           len(result["deleted"]), ", ".join(result["deleted"])))
    line = "%s: %s; %s, %.1f s" % (port, ", ".join(parts), result["arch"], result["seconds"])
    if result["dry_run"]:
        return line + (": " + ", ".join(result["written"]) if result["written"] else "")
    return line + ("; app restarted" if result["restarted"] else "; restart it with the reset button")


def add_arguments(p):
    p.add_argument("--board", required=True, help="board name (boards/NAME.json) or path to a board JSON")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", action="append", help="serial port of a running badge (repeatable)")
    where.add_argument("--all", action="store_true", help="every USB serial adapter that looks like an ESP32 board")
    p.add_argument("--arch", help="mpy-cross architecture instead of the board's CPU (a virtual badge gets its own "
                                  "automatically); 'bytecode' for portable .mpy")
    p.add_argument("--force", action="store_true", help="write every file even if the badge has it already")
    p.add_argument("--dry-run", action="store_true",
                   help="compare and say what would change, write nothing (the app is interrupted and restarted)")
    p.add_argument("--baud", type=int, default=BAUD, help="serial speed (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    pack_cli.add_pack_option(p)
    p.add_argument("--app", default=str(FIRMWARE_DIR), help=argparse.SUPPRESS)


class _Bars:
    """A rich progress bar per port on stderr (bytes of changed files)."""

    def __init__(self, ports, enabled):
        self.progress = None
        self.tasks = {}
        self.lock = threading.Lock()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.fields[port]:<14}"), BarColumn(), DownloadColumn(),
                                 TextColumn("{task.fields[what]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
        for port in ports:
            self.tasks[port] = self.progress.add_task("", total=None, port=os.path.basename(port), what="connecting")

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def __call__(self, port, event, **info):
        if not self.progress:
            return
        task = self.tasks[port]
        with self.lock:
            if event == "plan":
                self.progress.update(task, total=info["total"] or 1, completed=0 if info["total"] else 1,
                                     what="%d file%s to write" % (info["files"], "" if info["files"] == 1 else "s"))
            elif event == "file":
                self.progress.update(task, what=info["path"])
            elif event == "bytes":
                self.progress.advance(task, info["n"])
            elif event == "retry":
                self.progress.update(task, what="out of memory: soft reset, starting over")
            elif event == "done":
                r = info["result"]
                self.progress.update(task, what="failed" if "error" in r else "done")


def run(args):
    try:
        board = load_board(args.board)
    except BoardError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    ports = list(dict.fromkeys(args.port)) if args.port else usb.discover_ports()
    if not ports:
        print(usb.none_found(), file=sys.stderr)
        return 1
    try:
        targets(args.app)
    except fsimage.ImageError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if args.pack is not None:
        try:  # before any badge is stopped
            compile_pack(args.pack)
        except PackError as e:
            print("error: %s" % pack_error_line(e, args.pack), file=sys.stderr)
            return 2
    show = not args.no_progress and sys.stderr.isatty()
    with _Bars(ports, show) as bars:
        results = deploy_ports(ports, board, progress=bars, arch=args.arch, force=args.force,
                               dry_run=args.dry_run, root=args.app, baud=args.baud, pack=args.pack)
    for port in ports:
        print(describe(results[port]))
    return 0 if all("error" not in r for r in results.values()) else 1

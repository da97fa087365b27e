"""Read badge logs from serial ports: one reader per port, each line prefixed
with the host time, the port and the badge id, filtered by level, module and
regex, coloured by level, MicroPython tracebacks and ESP32 panics
highlighted; --json gives one object per line for machines. Ports that
vanish (unplug, reset of a native-USB board) are reopened when they come
back; opening a port does not reset the badge (see host_tools/link/logreader.py).

The badge id comes from the firmware's `badge=<16 hex>` in its log lines, or,
with --identify, from the badge's NVS identity over the REPL at each connect
(this stops and restarts the app). Until known, a port shows its USB
adapter's serial number, or "?".

--save-dir DIR writes DIR/<badge>.log per badge (or <port>.log while the badge
is unknown) and DIR/all.log with every line, uncoloured and unfiltered.
"""
import fnmatch
import json
import os
import queue
import re
import sys
import threading
import time
from pathlib import Path

from host_tools.link import logparse
from host_tools.link.logreader import BAUD, PortReader
from host_tools.ports import usb

RESCAN_EVERY = 0.25  # seconds between looks for new badges with --all: a pin boots in about one

_COLOURS = {"D": "\x1b[2m", "I": "", "W": "\x1b[33m", "E": "\x1b[31m"}
_KIND_COLOURS = {"traceback": "\x1b[1;31m", "panic": "\x1b[1;97;41m"}
_RESET = "\x1b[0m"


def keep(rec, level=None, modules=None, pattern=None):
    """Pure filter. level: the lowest level shown (lines without a level,
    raw ones, go when a level is asked for); modules: fnmatch patterns, e.g.
    "board" or "super*"; pattern: a compiled regex searched in the message."""
    if level and logparse.level_rank(rec["level"]) < logparse.level_rank(level):
        return False
    if modules and not any(rec["module"] and fnmatch.fnmatchcase(rec["module"], m) for m in modules):
        return False
    if pattern is not None and not pattern.search(rec["message"]):
        return False
    return True


def _clock(host_time):
    return host_time[11:23]  # HH:MM:SS.mmm from the ISO timestamp


def format_text(rec, colour=False):
    """`HH:MM:SS.mmm PORT BADGE | L TICKS MODULE MESSAGE` (raw lines: the text)."""
    head = "%s %s %s |" % (_clock(rec["host_time"]), os.path.basename(rec["port"]), rec["badge"] or "?")
    if rec["kind"] == "log":
        body = "%s %d %s %s" % (rec["level"], rec["ticks_ms"], rec["module"], rec["message"])
    else:
        body = rec["message"]
    line = head + " " + body
    if not colour:
        return line
    code = _KIND_COLOURS.get(rec["kind"]) or _COLOURS.get(rec["level"] or "", "")
    return head + " " + (code + body + _RESET if code else body)


def format_json(rec):
    return json.dumps({k: rec[k] for k in ("port", "badge", "host_time", "level", "ticks_ms", "module", "message",
                                           "kind")}, ensure_ascii=False)


class Saver:
    """One file per badge and one merged file, every line, no colour."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files = {}
        self.merged = open(self.folder / "all.log", "a", encoding="utf-8")

    def _file(self, rec):
        name = rec["badge"] or os.path.basename(rec["port"])
        name = re.sub(r"[^\w.-]", "_", name)
        if name not in self.files:
            self.files[name] = open(self.folder / (name + ".log"), "a", encoding="utf-8")
        return self.files[name]

    def write(self, rec):
        line = format_text(rec) + "\n"
        self.merged.write(line)
        self._file(rec).write(line)

    def flush(self):
        self.merged.flush()
        for f in self.files.values():
            f.flush()

    def close(self):
        self.merged.close()
        for f in self.files.values():
            f.close()


class LogSession:
    """Readers for `ports` (and, with all_ports, every badge plugged in later)
    feeding one queue; the caller drains it with step() or run()."""

    def __init__(self, ports, all_ports=False, baud=BAUD, identify=False, on_status=None, discover=None):
        self.records = queue.Queue()
        self.stop_event = threading.Event()
        self.baud = baud
        self.identify = identify
        self.all_ports = all_ports
        self.discover = discover or usb.discover_ports
        self.on_status = on_status or (lambda port, text: None)
        self.readers = {}
        self._last_scan = 0.0
        for p in ports:
            self._add(p)

    def _add(self, port):
        if port in self.readers:
            return
        r = PortReader(port, self.records.put, self.on_status, self.stop_event, self.baud, self.identify,
                       usb.adapter_label(port))
        self.readers[port] = r
        r.start()

    def scan(self):
        if self.all_ports and time.monotonic() - self._last_scan >= RESCAN_EVERY:
            self._last_scan = time.monotonic()
            for p in self.discover():
                self._add(p)

    def get(self, timeout=0.1):
        """The next record, or None after `timeout`."""
        self.scan()
        try:
            return self.records.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self):
        self.stop_event.set()
        for r in list(self.readers.values()):
            r.join(2)


def add_arguments(p):
    p.add_argument("ports", nargs="*", metavar="PORT", help="serial ports to read")
    p.add_argument("--all", action="store_true", help="every USB serial adapter that looks like an ESP32 board, "
                                                      "including ones plugged in later")
    p.add_argument("--level", type=str.upper, choices=logparse.LEVELS,
                   help="lowest level to show (D, I, W, E); drops lines without a level")
    p.add_argument("--module", action="append", help="only these modules (fnmatch pattern, repeatable)")
    p.add_argument("--grep", metavar="REGEX", help="only lines whose message matches")
    p.add_argument("--json", action="store_true", help="one JSON object per line: port, badge, host_time, level, "
                                                      "ticks_ms, module, message, kind (log|traceback|panic|raw)")
    p.add_argument("--save-dir", metavar="DIR", help="save every line: DIR/<badge>.log and DIR/all.log")
    p.add_argument("--no-color", action="store_true", help="no colours (also off when stdout is not a terminal)")
    p.add_argument("--identify", action="store_true",
                   help="ask each badge its id over the REPL when it connects (stops and restarts the app)")
    p.add_argument("--baud", type=int, default=BAUD, help="serial speed (default %(default)s)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds (for scripts)")


def run(args, out=None, stop=None):
    """The command; out: where lines go (stdout); stop: an Event that ends it
    (besides Ctrl-C and --seconds)."""
    out = out or sys.stdout
    if not args.ports and not args.all:
        print("error: give serial ports or --all", file=sys.stderr)
        return 2
    try:
        pattern = re.compile(args.grep) if args.grep else None
    except re.error as e:
        print("error: --grep %r: %s" % (args.grep, e), file=sys.stderr)
        return 2
    colour = not args.no_color and not args.json and out.isatty() and not os.environ.get("NO_COLOR")
    saver = Saver(args.save_dir) if args.save_dir else None

    def status(port, text):
        print("[%s] %s" % (port, text), file=sys.stderr, flush=True)

    session = LogSession(args.ports, args.all, args.baud, args.identify, status)
    if args.all and not args.ports:
        session.scan()
        if not session.readers:
            status("--all", "no USB serial adapter found yet; waiting for badges")
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        while (deadline is None or time.monotonic() < deadline) and not (stop and stop.is_set()):
            rec = session.get()
            if rec is None:
                if saver:
                    saver.flush()
                continue
            if saver:
                saver.write(rec)
            if keep(rec, args.level, args.module, pattern):
                out.write((format_json(rec) if args.json else format_text(rec, colour)) + "\n")
                out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()
        if saver:
            saver.close()
    return 0

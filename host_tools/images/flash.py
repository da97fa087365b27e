"""Write MicroPython firmware to badges with esptool: detect the chip and
refuse one that does not match the board, write at a fast baud rate and fall
back to 115200 if that fails, verify, hard reset. `--port all` flashes every
USB serial adapter that ESP32 boards use, in parallel, one esptool process
per port (esptool's logger and progress output are process-wide globals, and
a crash or hang on one port must not take the others down). `--dry-run`
prints what would be written where and touches nothing. A merged image from
`cloudpin image` is a valid --firmware too: it starts with the bootloader."""
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections import namedtuple

from serial import SerialException

from host_tools import REPO
from host_tools.boards import BoardError, load_board
from host_tools.images import chips
from host_tools.ports import usb
from host_tools.ports.pool import crashed, each_port

BAUD_FAST = 460800
BAUD_SAFE = 115200  # the ROM bootloader's own rate: every adapter manages it
CONNECT_ATTEMPTS = 7  # esptool's default
_NO_ANSWER_HINT = (" Nothing answered: is a badge plugged in and powered? A board whose USB-UART has no "
                   "auto-reset needs BOOT held while it is plugged in.")

# regions: [(address, path, size)]; partitions: the firmware's table, [(name, offset, size)]
Plan = namedtuple("Plan", "board mcu chip flash_size regions partitions")


class FlashError(RuntimeError):
    """A port that could not be flashed; the message says why and what to do."""


class ChipMismatch(FlashError):
    pass


def make_plan(board, firmware):
    """What to write for `board` (name, path or dict): the checked firmware
    file at the chip's bootloader offset. Raises BoardError/FirmwareError."""
    board = board if isinstance(board, dict) else load_board(board)
    if not firmware:
        raise chips.FirmwareError("no firmware given: pass --firmware FILE (make flash FIRMWARE=FILE), the MicroPython "
                                  ".bin for the board from https://micropython.org/download/ or an image from "
                                  "`cloudpin image --firmware`")
    fw = chips.read_firmware(firmware, board["chip"])
    flash = chips.flash_bytes(board["flash_size"])
    if fw.offset + fw.size > flash:
        raise chips.FirmwareError("%s (%d bytes at 0x%x) does not fit the board's %s flash" % (
            fw.path, fw.size, fw.offset, board["flash_size"]))
    return Plan(board["name"], board["mcu"], board["chip"], board["flash_size"], [(fw.offset, str(fw.path), fw.size)],
                [(p.name, p.offset, p.size) for p in fw.partitions])


def describe_plan(plan, ports, baud=BAUD_FAST, erase=False):
    """The dry run: exactly what would be written where."""
    lines = ["dry run: nothing is opened or written",
             "board    %s (%s): chip must be %s, %s flash" % (plan.board, plan.mcu, plan.chip, plan.flash_size),
             "ports    %s" % (", ".join(ports) if ports else "(none found)"),
             "baud     connect at %d, write at %d%s" % (BAUD_SAFE, baud, (", on failure again at %d" % BAUD_SAFE)
                                                        if baud > BAUD_SAFE else ""),
             "erase    %s" % ("whole flash first" if erase else "no (only the regions below)")]
    for addr, path, size in plan.regions:
        lines.append("write    0x%06x-0x%06x  %d bytes  %s" % (addr, addr + size, size, path))
    lines.append("table    %s" % ", ".join("%s 0x%x+0x%x" % p for p in plan.partitions))
    rom = next((p for p in plan.partitions if p[0] == chips.ROMFS_LABEL), None)
    if rom:
        lines.append("romfs    0x%x+0x%x: the app runs in place from here once `cloudpin deploy` (or an image "
                     "from `cloudpin image`) writes it" % rom[1:])
    else:
        lines.append("romfs    none (a stock firmware): the app loads from LittleFS into the heap; `make firmware` "
                     "builds one with a romfs partition")
    lines.append("then     verify each region's MD5, hard reset (RTS)")
    return "\n".join(lines)


def connect_chip(port, attempts=CONNECT_ATTEMPTS):
    """Open `port`, reset into the ROM bootloader and identify the chip
    (the seam tests replace). Returns esptool's loader object."""
    from esptool.cmds import detect_chip

    return detect_chip(port, BAUD_SAFE, connect_attempts=attempts)


def _close(esp):
    port = getattr(esp, "_port", None)
    if port is not None:
        try:
            port.close()
        except (OSError, SerialException):
            pass


def _session(port, plan, baud, erase, stage, attempts):
    from esptool.cmds import (attach_flash, detect_flash_size, erase_flash, reset_chip, run_stub, verify_flash,
                              write_flash)

    stage("connect", "%s at %d baud" % (port, BAUD_SAFE))
    esp = connect_chip(port, attempts)
    try:
        if esp.CHIP_NAME != plan.chip:
            try:
                what = esp.get_chip_description()
            except Exception:  # the description is only decoration for the message
                what = esp.CHIP_NAME
            raise ChipMismatch("%s: board %s needs an %s but this port has an %s (%s); refusing to flash. Pick the "
                               "--board that matches the badge." % (port, plan.board, plan.chip, esp.CHIP_NAME, what))
        stage("chip", esp.get_chip_description())
        esp = run_stub(esp)
        if baud > BAUD_SAFE:
            stage("baud", str(baud))
            esp.change_baud(baud)
        attach_flash(esp)
        detected = detect_flash_size(esp)
        end = max(a + s for a, _, s in plan.regions)
        if detected and chips.flash_bytes(detected) < end:
            raise FlashError("%s: the image ends at 0x%x but the badge has only %s of flash" % (port, end, detected))
        regions = [(a, p) for a, p, _ in plan.regions]
        if erase:
            stage("erase", "whole flash")
            erase_flash(esp)
        stage("write", "%d bytes" % sum(s for _, _, s in plan.regions))
        write_flash(esp, regions, flash_size="keep")
        stage("verify", "")
        verify_flash(esp, regions)
        stage("reset", "")
        reset_chip(esp, "hard-reset")
        return esp.CHIP_NAME, detected
    finally:
        _close(esp)


def flash_port(port, plan, baud=BAUD_FAST, erase=False, report=None, connect_attempts=CONNECT_ATTEMPTS):
    """Flash one badge. `report(event)` gets dicts as work proceeds. Returns
    the result dict; raises FlashError with a clear message on failure."""
    from esptool.util import FatalError

    report = report or (lambda ev: None)
    tries = [baud, BAUD_SAFE] if baud > BAUD_SAFE else [baud]
    failures = []
    t0 = time.monotonic()

    def stage(name, detail):
        report({"ev": "stage", "stage": name, "detail": detail})

    def message(kind, text):
        if kind in ("warning", "error"):
            report({"ev": "log", "level": kind, "text": text})

    def progress(done, total):
        report({"ev": "progress", "done": done, "total": total})

    for rate in tries:
        try:
            with chips.esptool_output(chips.EsptoolEvents(message, progress)):
                chip, flash_size = _session(port, plan, rate, erase, stage, connect_attempts)
            return {"port": port, "ok": True, "chip": chip, "flash_size": flash_size, "baud": rate,
                    "fell_back": bool(failures), "seconds": round(time.monotonic() - t0, 1)}
        except (FatalError, SerialException, OSError, struct.error) as e:
            reason = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
            failures.append("at %d baud: %s" % (rate, reason))
            if rate != tries[-1]:
                report({"ev": "retry", "baud": tries[-1], "reason": reason})
    hint = _NO_ANSWER_HINT if all("No serial data received" in f for f in failures) else ""
    raise FlashError("%s: flashing failed %s.%s" % (port, "; then ".join(failures), hint))


# -- several ports at once -----------------------------------------------------

def _worker_spec(plan, baud, erase, attempts):
    return {"plan": plan._asdict(), "baud": baud, "erase": erase, "attempts": attempts}


def run_worker(port, spec, on_event):
    """Flash `port` in its own esptool process; returns its result dict."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "host_tools.images.flash", "--worker", port, json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    result, other = None, []
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            ev = json.loads(line)
        except ValueError:
            other.append(line.rstrip())
            continue
        if ev.get("ev") == "result":
            result = ev
        else:
            on_event(ev)
    code = proc.wait()
    if result is None:
        tail = "\n".join(other[-15:])
        result = {"port": port, "ok": False, "error": "%s: flashing process exited with code %s\n%s" % (port, code, tail)}
    return result


def _worker_main(port, spec_json):
    spec = json.loads(spec_json)
    p = spec["plan"]
    plan = Plan(p["board"], p["mcu"], p["chip"], p["flash_size"], [tuple(r) for r in p["regions"]],
                [tuple(r) for r in p["partitions"]])

    def emit(ev):
        sys.stdout.write(json.dumps(ev) + "\n")
        sys.stdout.flush()

    try:
        result = flash_port(port, plan, spec["baud"], spec["erase"], emit, spec["attempts"])
    except FlashError as e:
        result = {"port": port, "ok": False, "error": str(e)}
    result["ev"] = "result"
    emit(result)
    return 0


class Progress:
    """Per-port progress: a live table on a terminal, else one line per stage."""

    def __init__(self, ports, out):
        self.out = out
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.state = {p: ["waiting", ""] for p in ports}
        self.lock = threading.Lock()
        self.drawn = 0
        self.width = max(len(p) for p in ports) if ports else 0

    def event(self, port, ev):
        with self.lock:
            st = self.state[port]
            kind = ev.get("ev")
            line = None
            if kind == "stage":
                st[:] = [ev["stage"], ev.get("detail", "")]
                line = "%s %s" % (ev["stage"], ev.get("detail", ""))
            elif kind == "progress" and ev.get("total"):
                pct = 100 * ev["done"] // ev["total"]
                old = st[1]
                st[1] = "%3d%%" % pct
                if not self.tty and (pct // 25 != _pct(old) // 25):
                    line = "%s %3d%%" % (st[0], pct)
            elif kind == "retry":
                line = "failed (%s), retrying at %d baud" % (ev["reason"], ev["baud"])
                st[:] = ["retry", "at %d" % ev["baud"]]
            elif kind == "log":
                line = "%s: %s" % (ev["level"], ev["text"])
            elif kind == "done":
                st[:] = ["ok" if ev["ok"] else "FAILED", ""]
                line = st[0]
            if self.tty:
                self._draw()
            elif line:
                self.out.write("[%s] %s\n" % (port, line.rstrip()))
                self.out.flush()

    def _draw(self):
        if self.drawn:
            self.out.write("\x1b[%dA" % self.drawn)
        for port, (stage, detail) in self.state.items():
            self.out.write("\x1b[K%-*s  %-8s %s\n" % (self.width, port, stage, detail[:60]))
        self.drawn = len(self.state)
        self.out.flush()


def _pct(text):
    try:
        return int(text.strip().rstrip("%"))
    except ValueError:
        return -1


def flash_ports(ports, plan, baud=BAUD_FAST, erase=False, runner=None, out=sys.stdout,
                connect_attempts=CONNECT_ATTEMPTS):
    """Flash every port in parallel; a failing port does not stop the others.
    `runner(port, on_event) -> result` defaults to one esptool process per
    port. Returns {port: result}."""
    if runner is None:
        spec = _worker_spec(plan, baud, erase, connect_attempts)

        def runner(port, on_event):
            return run_worker(port, spec, on_event)

    progress = Progress(ports, out)
    return each_port(ports, lambda port: runner(port, lambda ev: progress.event(port, ev)),
                     lambda port, e: {"port": port, "ok": False, "error": crashed(port, e)},
                     done=lambda port, res: progress.event(port, {"ev": "done", "ok": res.get("ok", False)}),
                     name="flash", daemon=True)


def summary(results):
    ok = sum(1 for r in results.values() if r.get("ok"))
    lines = ["%d of %d badge%s flashed" % (ok, len(results), "" if len(results) == 1 else "s")]
    for port, r in results.items():
        if r.get("ok"):
            lines.append("  ok      %s  %s, %s flash, %d baud%s, %.1f s" % (
                port, r["chip"], r.get("flash_size") or "?", r["baud"],
                " (after falling back)" if r.get("fell_back") else "", r["seconds"]))
        else:
            lines.append("  FAILED  %s" % r.get("error", "unknown error"))
    return "\n".join(lines)


# -- command line --------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--board", required=True, help="board name (boards/NAME.json) or path to a board JSON")
    p.add_argument("--port", action="append", required=True,
                   help="serial port, repeatable, or 'all' for every USB serial adapter found")
    p.add_argument("--firmware", nargs="?", default="", help="MicroPython .bin for the board (or a `cloudpin image`)")
    p.add_argument("--baud", type=int, default=BAUD_FAST, help="write speed (default %(default)s; falls back to 115200)")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first (wipes the filesystem and NVS)")
    p.add_argument("--dry-run", action="store_true", help="print what would be written where, touch nothing")
    p.add_argument("--connect-attempts", type=int, default=CONNECT_ATTEMPTS, help="esptool sync attempts per try")


def _ports(requested):
    ports = []
    for p in requested:
        for name in (usb.discover_ports() if p == "all" else [p]):
            if name not in ports:
                ports.append(name)
    return ports


def run(args):
    try:
        plan = make_plan(args.board, args.firmware)
    except (BoardError, chips.FirmwareError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    ports = _ports(args.port)
    if args.dry_run:
        print(describe_plan(plan, ports, args.baud, args.erase))
        return 0
    if not ports:
        print(usb.none_found(), file=sys.stderr)
        return 1
    results = flash_ports(ports, plan, args.baud, args.erase, connect_attempts=args.connect_attempts)
    print(summary(results))
    return 0 if all(r.get("ok") for r in results.values()) else 1


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--worker":
    sys.exit(_worker_main(sys.argv[2], sys.argv[3]))

"""What a badge's serial output means, line by line (pure: no I/O).

A badge prints four kinds of lines:
  log        the firmware's `LEVEL TICKS_MS MODULE MESSAGE` (firmware/cloudpin/log.py),
             and ESP-IDF's own `L (TICKS) TAG: MESSAGE` lines
  traceback  an exception: MicroPython's own "Traceback (most recent call last):"
             block up to its exception line, or the indented lines the firmware
             prints after an E line (Logger.exc)
  panic      the ESP32 itself: "Guru Meditation Error", "abort() was called",
             "Backtrace:", register dumps, and the ROM's "rst:0x.. (..._RESET)"
             line after every reset (level E after a crash or watchdog, else W)
  raw        anything else (print() output, the REPL banner, "soft reboot")

parse_line() knows one line; a Classifier, one per serial stream, decides
what a line means given the lines before it (the end of a traceback, the
rest of a register dump).
"""
import re

LEVELS = ("D", "I", "W", "E")
_RANK = {name: i for i, name in enumerate(LEVELS)}
KINDS = ("log", "traceback", "panic", "raw")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOG = re.compile(r"^([DIWE]) (-?\d+) (\S+)(?: (.*))?$")
_IDF_LOG = re.compile(r"^([EWIDV]) \((\d+)\) ([^:]+): ?(.*)$")
_TRACEBACK_START = "Traceback (most recent call last):"
_RESET = re.compile(r"^rst:0x[0-9a-fA-F]+ \((\w+)\)")
_PANIC_START = ("Guru Meditation Error", "abort() was called", "***ERROR*** A stack overflow",
                "Stack smashing protect failure", "assert failed:", "Brownout detector was triggered")
_PANIC_BODY = re.compile(r"^(Backtrace:|Core\s+\d+ register dump:|Core\s+\d+ was running|PC\s*:|EXCVADDR|"
                         r"ELF file SHA256|Rebooting\.\.\.|CPU halted|Debug exception reason)")
# Inside a panic report: register rows ("A2      : 0x..."), addresses, indents.
_PANIC_MORE = re.compile(r"^(\s|0x|[A-Z][A-Z0-9]*\s*:)")
# Resets that follow a crash or a watchdog rather than power-up or the button.
_CRASH_RESETS = ("WDT", "SW_CPU", "PANIC", "BROWNOUT")


def level_rank(level):
    """D < I < W < E; None (raw lines) ranks below everything."""
    return _RANK.get(level, -1)


def record(kind, level=None, ticks_ms=None, module=None, message=""):
    return {"level": level, "ticks_ms": ticks_ms, "module": module, "message": message, "kind": kind}


def parse_line(line):
    """One line, out of context, as a record: level, ticks_ms, module,
    message, kind. Indented lines and exception lines come back raw: only a
    Classifier knows whether they belong to a traceback."""
    line = _ANSI.sub("", line.rstrip("\r\n"))
    m = _LOG.match(line)
    if m:
        return record("log", m.group(1), int(m.group(2)), m.group(3), m.group(4) or "")
    m = _IDF_LOG.match(line)
    if m:
        level = "D" if m.group(1) == "V" else m.group(1)
        return record("log", level, int(m.group(2)), m.group(3), m.group(4))
    if line.startswith(_TRACEBACK_START):
        return record("traceback", "E", message=line)
    m = _RESET.match(line)
    if m:
        crash = any(word in m.group(1) for word in _CRASH_RESETS)
        return record("panic", "E" if crash else "W", message=line)
    if line.startswith(_PANIC_START) or _PANIC_BODY.match(line):
        return record("panic", "E", message=line)
    return record("raw", message=line)


class Classifier:
    """Feed the lines of one stream in order; each comes back as a record,
    with lines inside a traceback or a panic report marked as such. Call
    reset() when the stream restarts (a reconnect), so that half a traceback
    cannot claim the new lines."""

    def __init__(self):
        self.reset()

    def reset(self):
        self._block = None  # "mp": MicroPython traceback, "fw": after a firmware E line, "panic"
        self._module = None

    def feed(self, line):
        rec = parse_line(line)
        kind, text = rec["kind"], rec["message"]
        if kind == "raw":
            return self._continue(rec, text)
        if kind == "traceback":
            # The firmware indents its tracebacks, so this one is MicroPython's.
            self._block, self._module = "mp", None
        elif kind == "panic":
            done = text.startswith("rst:") or text.startswith("Rebooting")
            self._block, self._module = (None if done else "panic"), None
        elif rec["level"] == "E":
            self._block, self._module = "fw", rec["module"]
        else:
            self._block, self._module = None, None
        return rec

    def _continue(self, rec, text):
        block = self._block
        if block == "mp":
            if not text.startswith(" "):
                self._block = None  # MicroPython ends a traceback with the exception's own line
            return record("traceback", "E", message=text)
        if block == "fw" and text.startswith("  "):
            return record("traceback", "E", module=self._module, message=text)
        if block == "panic" and (not text.strip() or _PANIC_MORE.match(text)):
            return record("panic", "E", message=text) if text.strip() else rec
        self._block = None
        return rec


_BADGE = re.compile(r"\bbadge(?:_id)?=([0-9a-fA-F]{16})\b")


def badge_id_in(rec):
    """The badge id the firmware announces in a log line (`badge=<16 hex>`
    or `badge_id=<16 hex>`), else None."""
    if rec["kind"] != "log":
        return None
    m = _BADGE.search(rec["message"])
    return m.group(1).lower() if m else None

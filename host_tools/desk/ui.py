"""What the desk operator sees: a live table with one row and progress bar
per port, the last messages, and the line being typed or scanned. On a
terminal the table redraws in place (rich); otherwise (a pipe, a log) each
message is printed as a plain line.

Typed characters are read without echo and shown in the footer, so a
barcode scanner's burst of keys never tears the table.
"""
import os
import sys
import threading

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

_STYLE = {"done": "green", "already": "green", "returned": "green", "gone": "yellow", "cancelled": "yellow",
          "exhausted": "yellow", "outdated": "red", "failed": "red", "faulty": "red", "mismatch": "red",
          "foreign": "red"}


def _row_style(row):
    if row["state"] == "waiting":
        return "bold cyan"
    return _STYLE.get(row["status"], "")


def render(rows, messages, queued, typed, counts):
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("port", no_wrap=True)
    table.add_column("badge", no_wrap=True)
    table.add_column("wearer", ratio=2, overflow="ellipsis", no_wrap=True)
    table.add_column("progress", width=22)
    table.add_column("", ratio=3, overflow="fold")
    for r in rows:
        who = "%s %s" % (r["acc_id"] or "", r["name"] or "") if r["acc_id"] else "-"
        done = r["status"] in ("done", "already", "returned")
        bar = ProgressBar(total=1.0, completed=r["fraction"], width=20,
                          complete_style="green" if done else "cyan", finished_style="green")
        table.add_row(os.path.basename(r["port"]), (r["badge_id"] or "-")[:8], who, bar,
                      Text(r["message"] or "", style=_row_style(r)))
    if not rows:
        table.add_row("-", "", "", "", Text("plug in a badge", style="dim"))
    waiting = [r for r in rows if r["state"] == "waiting"]
    if waiting:
        prompt = "Scan or type the accreditation for the badge on %s" % os.path.basename(waiting[0]["port"])
    elif queued:
        prompt = "Queued: %s. Plug in a badge" % ", ".join(queued)
    else:
        prompt = "Plug in a badge, or scan an accreditation first"
    footer = Text()
    for m in messages[-4:]:
        footer.append(m + "\n", style="dim")
    footer.append(prompt + " > ", style="bold")
    footer.append(typed, style="bold yellow")
    footer.append("_", style="blink")
    title = "CloudPin desk - done %d, problems %d" % (
        counts.get("done", 0) + counts.get("already", 0),
        sum(n for k, n in counts.items() if k not in ("done", "already", "cancelled")))
    return Panel(Group(table, Text(""), footer), title=title, title_align="left")


class KeyReader:
    """Characters from a terminal without echo, gathered into lines; Enter
    (CR or LF, as scanners send either) hands the line to on_line."""

    def __init__(self, on_line, stream=None):
        self.on_line = on_line
        self.stream = stream or sys.stdin
        self.buffer = ""
        self._old = None
        self._stop = threading.Event()

    def __enter__(self):
        import termios
        import tty

        fd = self.stream.fileno()
        self._old = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keeps Ctrl-C working
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
        threading.Thread(target=self._read, name="desk-keys", daemon=True).start()
        return self

    def __exit__(self, *exc):
        import termios

        self._stop.set()
        if self._old is not None:
            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._old)

    def _read(self):
        fd = self.stream.fileno()
        while not self._stop.is_set():
            try:
                ch = os.read(fd, 1).decode("utf-8", "replace")
            except OSError:
                return
            if not ch:
                return
            self.feed(ch)

    def feed(self, ch):
        if ch in "\r\n":
            line, self.buffer = self.buffer, ""
            if line.strip():
                self.on_line(line)
        elif ch in "\x7f\b":
            self.buffer = self.buffer[:-1]
        elif ch == "\x15":  # Ctrl-U: clear the line
            self.buffer = ""
        elif ch.isprintable():
            self.buffer = (self.buffer + ch)[-80:]


def run_live(station, refresh=0.125):
    """Drive the table until the station stops (q, Ctrl-C)."""
    with KeyReader(station.handle_line) as keys, Live(auto_refresh=False, transient=False) as live:
        try:
            while not station.stopping:
                rows, messages, queued = station.snapshot()
                live.update(render(rows, messages, queued, keys.buffer, station.finished), refresh=True)
                station.stop_event.wait(refresh)
        finally:
            station.stop()
            rows, messages, queued = station.snapshot()
            live.update(render(rows, messages, queued, "", station.finished), refresh=True)


def run_plain(station, lines=None):
    """No terminal: messages are printed by the station as they come; lines
    are read from stdin (or `lines`) until it ends, then running work finishes."""
    source = lines if lines is not None else sys.stdin
    try:
        for line in source:
            station.handle_line(line)
            if station.stopping:
                break
        # End of input: give the badges being handled a chance to finish.
        while station.busy() and not station.stopping:
            rows = station.snapshot()[0]
            if rows and all(r["state"] == "waiting" for r in rows if r["state"] in ("working", "waiting")):
                break
            station.stop_event.wait(0.2)
    finally:
        station.stop()

"""cloudpin logs: the line parser (pure, on lines), the filters and output
formats, and the reader end to end on virtual badges: a main.py that logs
through the firmware's own log module, one that raises, an unplug and replug
with reconnection, and the command line."""
import argparse
import io
import json
import re
import shutil
import threading

import pytest
import serial

from host_tools import FIRMWARE_DIR, cli
from host_tools.link import logparse, logreader, logs
from host_tools.link.logparse import Classifier, parse_line
from host_tools.virtual_badge import VirtualBadge

# -- parser ---------------------------------------------------------------------------


def test_parse_firmware_log_line():
    assert parse_line("I 10234 steps count=120\r\n") == {
        "level": "I", "ticks_ms": 10234, "module": "steps", "message": "count=120", "kind": "log"}
    assert parse_line("E 5 super")["message"] == ""
    assert parse_line("W -3 ble adv stopped")["ticks_ms"] == -3


def test_parse_esp_idf_log_line_with_colour_codes():
    rec = parse_line("\x1b[0;31mE (1234) task_wdt: Task watchdog got triggered.\x1b[0m")
    assert rec == {"level": "E", "ticks_ms": 1234, "module": "task_wdt",
                   "message": "Task watchdog got triggered.", "kind": "log"}
    assert parse_line("V (9) wifi: x")["level"] == "D"


def test_parse_reset_lines_by_cause():
    crash = parse_line("rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)")
    assert (crash["kind"], crash["level"]) == ("panic", "E")
    assert parse_line("rst:0x7 (TG0WDT_SYS_RESET),boot:0x13")["level"] == "E"
    power = parse_line("rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)")
    assert (power["kind"], power["level"]) == ("panic", "W")


def test_parse_leaves_plain_output_raw():
    for line in ["hello", "MicroPython v1.29.0 on 2026-07-05; Generic ESP32 module with ESP32", ">>> ",
                 "  indented alone", "ValueError: alone", "I x not a log", "Info 12 words"]:
        assert parse_line(line)["kind"] == "raw", line
        assert parse_line(line)["level"] is None


def _kinds(lines):
    c = Classifier()
    return [(r["kind"], r["level"], r["module"]) for r in map(c.feed, lines)]


def test_micropython_traceback_block_ends_with_its_exception_line():
    got = _kinds([
        "Traceback (most recent call last):",
        '  File "main.py", line 4, in <module>',
        '  File "cloudpin/app.py", line 62, in main',
        "MemoryError: memory allocation failed, allocating 640 bytes",
        "MicroPython v1.29.0 on 2026-07-05; Generic ESP32 module with ESP32",
        "  an indented print after it",
    ])
    assert got == [("traceback", "E", None)] * 4 + [("raw", None, None)] * 2


def test_firmware_error_line_owns_its_indented_traceback():
    got = _kinds([
        "E 2000 super service status crashed: ValueError: ValueError('bad',)",
        "  Traceback (most recent call last):",
        '    File "cloudpin/status.py", line 30, in run',
        "  ValueError: bad",
        "I 2100 super restarting status",
        "  not part of anything",
    ])
    assert got[0] == ("log", "E", "super")
    assert got[1:4] == [("traceback", "E", "super")] * 3
    assert got[4] == ("log", "I", "super")
    assert got[5] == ("raw", None, None)


def test_warning_line_does_not_open_a_traceback():
    assert _kinds(["W 1 app low", "  indented"])[1] == ("raw", None, None)


PANIC = """Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled.

Core  1 register dump:
PC      : 0x400d2f8a  PS      : 0x00060630  A0      : 0x800d3f4d  A1      : 0x3ffb1f40
A2      : 0x00000000  A3      : 0x3ffb1f7c  A4      : 0x00000001  A5      : 0x00000000
EXCVADDR: 0x00000000  LBEG    : 0x4000c2e0  LEND    : 0x4000c2f6  LCOUNT  : 0xffffffff

Backtrace: 0x400d2f87:0x3ffb1f40 0x400d3f4a:0x3ffb1f60 0x40089c7e:0x3ffb1f90

ELF file SHA256: 0000000000000000

Rebooting...
ets Jun  8 2016 00:22:57

rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)
configsip: 0, SPIWP:0xee
I 12 app cloudpin 0.1.0 board=cloudpin_ref""".split("\n")


def test_esp32_panic_report_is_one_block_up_to_the_reset():
    c = Classifier()
    recs = [c.feed(line) for line in PANIC if line]
    kinds = [r["kind"] for r in recs]
    text = [r["message"] for r in recs]
    reset = text.index("rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)")
    for i, line in enumerate(text):
        if i < text.index("ets Jun  8 2016 00:22:57"):
            assert kinds[i] == "panic", line
    assert kinds[text.index("ets Jun  8 2016 00:22:57")] == "raw"
    assert (kinds[reset], recs[reset]["level"]) == ("panic", "E")
    assert kinds[reset + 1] == "raw" and kinds[-1] == "log"


def test_abort_and_stack_overflow_are_panics():
    assert parse_line("abort() was called at PC 0x40081234 on core 0")["kind"] == "panic"
    assert parse_line("***ERROR*** A stack overflow in task mp_task has been detected.")["kind"] == "panic"
    assert parse_line("Backtrace: 0x40081234:0x3ffb0000")["kind"] == "panic"


def test_classifier_reset_forgets_a_half_traceback():
    c = Classifier()
    c.feed("Traceback (most recent call last):")
    c.reset()
    assert c.feed("  a line after a reconnect")["kind"] == "raw"


def test_badge_id_comes_from_log_lines_only():
    assert logparse.badge_id_in(parse_line("I 5 app cloudpin 0.1.0 badge=0000C10D00000042 board=x")) \
        == "0000c10d00000042"
    assert logparse.badge_id_in(parse_line("I 5 desk badge_id=0000c10d00000042")) == "0000c10d00000042"
    assert logparse.badge_id_in(parse_line("print badge=0000c10d00000042")) is None
    assert logparse.badge_id_in(parse_line("I 5 app badge=123")) is None


# -- filters and formats -------------------------------------------------------------------

def _rec(line, port="/dev/ttyUSB0", badge="0000c10d00000042"):
    return dict(parse_line(line), port=port, badge=badge, host_time="2026-11-25T07:00:01.250+00:00")


def test_level_filter_keeps_that_level_and_above_and_drops_raw_lines():
    recs = [_rec("D 1 a x"), _rec("I 1 a x"), _rec("W 1 a x"), _rec("E 1 a x"), _rec("hello"),
            _rec("Traceback (most recent call last):")]
    assert [r["level"] for r in recs if logs.keep(r, level="W")] == ["W", "E", "E"]
    assert len([r for r in recs if logs.keep(r)]) == 6


def test_module_filter_takes_patterns_and_regex_searches_the_message():
    recs = [_rec("I 1 steps count=1"), _rec("I 1 super started"), _rec("I 1 supervisor x"), _rec("raw text")]
    assert [r["module"] for r in recs if logs.keep(r, modules=["super*"])] == ["super", "supervisor"]
    assert [r["module"] for r in recs if logs.keep(r, modules=["steps", "super"])] == ["steps", "super"]
    assert [r["message"] for r in recs if logs.keep(r, pattern=re.compile(r"count=\d"))] == ["count=1"]


def test_text_format_prefixes_time_port_badge_and_colours_by_kind():
    assert logs.format_text(_rec("W 10 bat low")) == "07:00:01.250 ttyUSB0 0000c10d00000042 | W 10 bat low"
    assert logs.format_text(_rec("hi", badge=None)) == "07:00:01.250 ttyUSB0 ? | hi"
    assert "\x1b[33mW 10 bat low\x1b[0m" in logs.format_text(_rec("W 10 bat low"), colour=True)
    assert "\x1b[1;97;41m" in logs.format_text(_rec("Guru Meditation Error: Core 0"), colour=True)
    assert "\x1b[1;31m" in logs.format_text(_rec("Traceback (most recent call last):"), colour=True)
    assert "\x1b" not in logs.format_text(_rec("I 1 a plain"), colour=True).split("| ")[1]


def test_json_format_has_the_documented_fields():
    d = json.loads(logs.format_json(_rec("E 7 ble lost link")))
    assert d == {"port": "/dev/ttyUSB0", "badge": "0000c10d00000042", "host_time": "2026-11-25T07:00:01.250+00:00",
                 "level": "E", "ticks_ms": 7, "module": "ble", "message": "lost link", "kind": "log"}


def test_saver_writes_one_file_per_badge_and_a_merged_file(tmp_path):
    s = logs.Saver(tmp_path)
    s.write(_rec("I 1 a one", badge="00000000000000aa"))
    s.write(_rec("I 2 a two", port="/dev/ttyUSB1", badge=None))
    s.write(_rec("I 3 a three", badge="00000000000000aa"))
    s.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000000000000aa.log", "all.log", "ttyUSB1.log"]
    assert len((tmp_path / "all.log").read_text().splitlines()) == 3
    assert [ln.split("| ")[1] for ln in (tmp_path / "00000000000000aa.log").read_text().splitlines()] == \
        ["I 1 a one", "I 3 a three"]


def test_adapter_label_uses_the_usb_serial_number():
    class Port:
        def __init__(self, device, serial_number):
            self.device, self.serial_number = device, serial_number

    ports = lambda: [Port("/dev/ttyUSB0", "0001"), Port("/dev/ttyUSB1", None)]  # noqa: E731
    assert logs.usb.adapter_label("/dev/ttyUSB0", ports) == "usb-0001"
    assert logs.usb.adapter_label("/dev/ttyUSB1", ports) is None


# -- end to end on virtual badges ------------------------------------------------------------

MAIN_LOGS = """
import time
from cloudpin.log import Logger
time.sleep_ms(300)  # about as long as a pin takes from power-on to the app
log = Logger("app")
log.info("test app badge=00000000000000aa boot")
n = 0
while True:
    n += 1
    log.child("steps").info("count=%d" % n)
    if n == 2:
        log.warning("battery low")
        log.child("status").info("badge=00000000000000aa uptime_s=0")
    if n == 3:
        try:
            {}["missing"]
        except KeyError as e:
            log.child("super").exc(e, "service steps crashed")
    if n == 4:
        print("Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled.")
        print("Backtrace: 0x400d2f87:0x3ffb1f40 0x400d3f4a:0x3ffb1f60")
        print("")
        print("Rebooting...")
    if n == 5:
        raise ValueError("the end")
    time.sleep_ms(30)
"""


def _badge_with(tmp_path, main, name="b"):
    root = tmp_path / name
    (root / "cloudpin").mkdir(parents=True)
    shutil.copy(FIRMWARE_DIR / "cloudpin" / "log.py", root / "cloudpin" / "log.py")
    (root / "cloudpin" / "__init__.py").write_text("")
    (root / "main.py").write_text(main)
    return VirtualBadge(root, baud=921600, board=None, link=tmp_path / (name + ".tty"), name=name)


class Collector:
    def __init__(self):
        self.records = []
        self.status = []
        self.cond = threading.Condition()

    def record(self, rec):
        with self.cond:
            self.records.append(rec)
            self.cond.notify_all()

    def on_status(self, port, text):
        with self.cond:
            self.status.append(text)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=30):
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self), timeout), (self.status, [(r["kind"], r["message"]) for r in self.records[-14:]])


def _messages(recs, kind=None):
    return [r["message"] for r in recs if kind is None or r["kind"] == kind]


def _assert_badge_learnt(recs, badge):
    """None until the firmware announces the id, then that id on every line."""
    first = next(i for i, r in enumerate(recs) if logparse.badge_id_in(r))
    assert all(r["badge"] is None for r in recs[:first])
    assert all(r["badge"] == badge for r in recs[first:])


def test_reader_follows_a_badge_through_tracebacks_panic_unplug_and_replug(tmp_path):
    vb = _badge_with(tmp_path, MAIN_LOGS)
    port = str(vb.link)
    c = Collector()
    stop = threading.Event()
    vb.start()
    reader = logreader.PortReader(port, c.record, c.on_status, stop, baud=921600)
    reader.start()
    try:
        c.wait_for(lambda c: any(m.startswith("ValueError: the end") for m in _messages(c.records)))
        recs = list(c.records)
        # The reader may join after the first lines; what follows is complete and in order.
        logs_seen = [(r["level"], r["module"], r["message"]) for r in recs if r["kind"] == "log"]
        assert ("W", "app", "battery low") in logs_seen
        assert ("I", "steps", "count=4") in logs_seen
        err = [r for r in recs if r["kind"] == "log" and r["level"] == "E"][0]
        assert err["module"] == "super" and "service steps crashed: KeyError" in err["message"]
        i = recs.index(err)
        fw_tb = recs[i + 1:i + 4]
        assert [r["kind"] for r in fw_tb] == ["traceback"] * 3 and all(r["module"] == "super" for r in fw_tb)
        assert fw_tb[0]["message"] == "  Traceback (most recent call last):"
        assert "Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled." in \
            _messages(recs, "panic")
        assert "Backtrace: 0x400d2f87:0x3ffb1f40 0x400d3f4a:0x3ffb1f60" in _messages(recs, "panic")
        mp_tb = _messages(recs, "traceback")[-3:]
        assert mp_tb[0] == "Traceback (most recent call last):" and mp_tb[-1] == "ValueError: the end"
        assert all(r["port"] == port and r["host_time"] for r in recs)
        _assert_badge_learnt(recs, "00000000000000aa")

        vb.unplug()
        c.wait_for(lambda c: any("disconnected" in s for s in c.status))
        # Split here, not before the unplug: the first connection's last lines
        # (the REPL's banner after the traceback) may still be on their way.
        with c.cond:
            n = len(c.records)
        vb.replug()
        c.wait_for(lambda c: reader.connections == 2 and any(
            m.startswith("ValueError: the end") for m in _messages(c.records[n:])))
        after = c.records[n:]
        # The app from the start again (what came before the port was reopened is
        # gone, as on a real port), the badge id learnt afresh, the traceback whole.
        assert "count=5" in _messages(after, "log")
        _assert_badge_learnt(after, "00000000000000aa")
        assert _messages(after, "traceback")[-3:] == mp_tb
    finally:
        stop.set()
        reader.join(5)
        vb.stop()
    assert not reader.is_alive()


def test_reader_opens_without_toggling_dtr_rts(monkeypatch):
    calls = []
    base = serial.Serial

    class Spy(base):
        def open(self):
            calls.append(("open", self.dtr, self.rts))

        @base.dtr.setter
        def dtr(self, v):
            calls.append(("dtr", v))
            base.dtr.fset(self, v)

        @base.rts.setter
        def rts(self, v):
            calls.append(("rts", v))
            base.rts.fset(self, v)

    monkeypatch.setattr(serial, "Serial", Spy)
    logreader.open_port("/dev/null")
    # Never a False on either line, before or after opening: no 0/1 state on the way.
    assert ("open", True, True) in calls
    assert all(v is True for name, *v in calls if name in ("dtr", "rts") for v in v)


MAIN_SHORT = """
import time
from cloudpin.log import Logger
time.sleep_ms(300)  # a pin's boot time, in which a reader finds the port
log = Logger("app")
log.info("hello badge=00000000000000bb")
log.warning("careful")
log.error("failed: OSError")
print("plain print")
time.sleep_ms(200)
"""


def _cli_args(argv):
    p = argparse.ArgumentParser()
    logs.add_arguments(p)
    return p.parse_args(argv)


def test_logs_command_filters_and_saves_json_lines(tmp_path):
    vb = _badge_with(tmp_path, MAIN_SHORT)
    port = str(vb.link)
    args = _cli_args([port, "--json", "--level", "W", "--save-dir", str(tmp_path / "saved"), "--seconds", "60"])
    stop = threading.Event()

    class Out(io.StringIO):
        def write(self, s):
            if '"failed: OSError"' in s:
                stop.set()  # the last line this main.py logs
            return super().write(s)

    out = Out()
    vb.start()
    t = threading.Thread(target=logs.run, args=(args, out, stop))
    try:
        t.start()
        assert stop.wait(30), out.getvalue()
        t.join(10)
    finally:
        vb.stop()
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    # --level W: the warning and the error (and nothing without a level)
    assert [(r["level"], r["module"], r["message"], r["kind"]) for r in rows][-2:] == [
        ("W", "app", "careful", "log"), ("E", "app", "failed: OSError", "log")]
    assert all(r["level"] in ("W", "E") for r in rows)
    assert rows[-1]["badge"] == "00000000000000bb" and rows[-1]["port"] == port
    saved = tmp_path / "saved"
    assert (saved / "all.log").exists()
    per_badge = (saved / "00000000000000bb.log").read_text()
    assert "| I " in per_badge and "hello badge=00000000000000bb" in per_badge  # saved unfiltered


def test_cli_has_the_logs_command():
    args = cli.build_parser().parse_args(["logs", "/dev/ttyUSB0", "--level", "w", "--module", "ble", "--no-color"])
    assert (args.ports, args.level, args.module, args.no_color) == (["/dev/ttyUSB0"], "W", ["ble"], True)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["logs", "--level", "X"])


def test_all_picks_up_badges_plugged_in_later_and_text_output_has_no_colour_off_a_terminal(tmp_path, monkeypatch):
    vb = _badge_with(tmp_path, MAIN_SHORT)
    found = []  # what USB discovery reports: nothing at first, then the badge
    monkeypatch.setattr(logs, "RESCAN_EVERY", 0.05)
    monkeypatch.setattr(logs.usb, "discover_ports", lambda: list(found))
    stop = threading.Event()

    class Out(io.StringIO):
        def write(self, s):
            if "failed: OSError" in s:
                stop.set()
            return super().write(s)

    out = Out()
    t = threading.Thread(target=logs.run, args=(_cli_args(["--all", "--module", "app"]), out, stop))
    t.start()
    try:
        vb.start()
        found.append(str(vb.link))
        assert stop.wait(30), out.getvalue()
        t.join(10)
    finally:
        stop.set()
        vb.stop()
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} b\.tty 00000000000000bb \| W \d+ app careful", lines[-2])
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} b\.tty 00000000000000bb \| E \d+ app failed: OSError", lines[-1])


def test_reader_says_when_the_port_is_busy(tmp_path):
    vb = _badge_with(tmp_path, "")
    vb.start()
    held = logreader.open_port(str(vb.link))
    c = Collector()
    stop = threading.Event()
    r = logreader.PortReader(str(vb.link), c.record, c.on_status, stop)
    r.start()
    try:
        c.wait_for(lambda c: any("port busy" in s for s in c.status))
    finally:
        stop.set()
        r.join(5)
        held.close()
        vb.stop()


def test_identify_names_the_badge_and_loses_none_of_the_restart(tmp_path):
    # --identify stops the app over the raw REPL and soft-resets it: the
    # reader still gets the restart from its 'soft reboot' line on (the
    # session read that line while it waited for it).
    vb = _badge_with(tmp_path, MAIN_SHORT)
    c = Collector()
    stop = threading.Event()
    vb.start()
    r = logreader.PortReader(str(vb.link), c.record, c.on_status, stop, baud=921600, identify_badge=True)
    r.start()
    try:
        c.wait_for(lambda c: "failed: OSError" in _messages(c.records))
        assert any(s.startswith("connected (badge ") for s in c.status), c.status
        raw = _messages(c.records)
        assert any(m.endswith("soft reboot") for m in raw), raw
        assert raw.index("hello badge=00000000000000bb") > [i for i, m in enumerate(raw) if m.endswith("soft reboot")][0]
    finally:
        stop.set()
        r.join(5)
        vb.stop()

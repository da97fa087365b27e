"""Flashing without hardware: the dry run, the chip-mismatch refusal and the
baud fallback at the narrow seam where the chip is detected, real esptool
against pseudo-terminals where nothing answers, port discovery, and several
ports at once with one failing."""
import io
import os
import pty
import tty
from types import SimpleNamespace

import pytest

from esptool.util import FatalError
from host_tools import cli
from host_tools.images import flash
from host_tools.ports import usb
from test_image import CLOUDPIN_TABLE, make_firmware


@pytest.fixture
def firmware(tmp_path):
    return make_firmware(tmp_path / "ESP32_GENERIC.bin")


@pytest.fixture
def plan(firmware):
    return flash.make_plan("cloudpin_ref", firmware)


@pytest.fixture
def silent_ports():
    """Pseudo-terminals with nobody on the other end, as a port with no badge."""
    opened, names = [], []

    def make(n):
        for _ in range(n):
            master, slave = pty.openpty()
            tty.setraw(slave)
            opened.extend((master, slave))
            names.append(os.ttyname(slave))
        return list(names[-n:])

    yield make
    for fd in opened:
        os.close(fd)


def test_dry_run_prints_what_would_be_written_where(firmware, capsys):
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--port", "/dev/ttyNOPE1",
                   "--firmware", str(firmware), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0, out
    size = firmware.stat().st_size
    assert "write    0x001000-0x%06x  %d bytes  %s" % (0x1000 + size, size, firmware) in out
    assert "chip must be ESP32, 4MB flash" in out
    assert "/dev/ttyNOPE0, /dev/ttyNOPE1" in out  # ports that do not exist: nothing was opened
    assert "write at 460800, on failure again at 115200" in out
    assert "erase    no" in out
    assert "table    nvs 0x9000+0x6000, phy_init 0xf000+0x1000, factory 0x10000+0x1f0000" in out
    assert "romfs    none (a stock firmware)" in out
    rom = make_firmware(firmware.parent / "cloudpin.bin", table=CLOUDPIN_TABLE)
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--firmware", str(rom), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0 and "romfs 0x200000+0x40000" in out and "romfs    0x200000+0x40000: the app runs in place" in out
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--firmware", str(firmware),
                   "--dry-run", "--erase", "--baud", "115200"])
    out = capsys.readouterr().out
    assert "erase    whole flash first" in out and "write at 115200\n" in out


def test_dry_run_with_port_all_lists_the_discovered_ports(firmware, capsys, monkeypatch):
    monkeypatch.setattr(usb.list_ports, "comports", lambda: [
        SimpleNamespace(device="/dev/ttyUSB3", vid=0x10C4, pid=0xEA60),
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None)])
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "all", "--firmware", str(firmware), "--dry-run"])
    assert rc == 0
    assert "ports    /dev/ttyUSB3\n" in capsys.readouterr().out


def test_bad_inputs_are_refused_before_any_port_is_touched(tmp_path, firmware, capsys):
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--firmware"])
    assert rc == 2 and "no firmware given" in capsys.readouterr().err
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--firmware", str(tmp_path / "x.bin")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--firmware", str(tmp_path / "notes.txt")])
    assert rc == 2 and "first byte is 0x68" in capsys.readouterr().err
    c3 = make_firmware(tmp_path / "c3.bin", chip_id=5)
    rc = cli.main(["flash", "--board", "cloudpin_ref", "--port", "/dev/ttyNOPE0", "--firmware", str(c3)])
    assert rc == 2 and "built for ESP32-C3" in capsys.readouterr().err


def test_port_discovery_keeps_only_esp32_usb_serial_adapters():
    entries = [
        SimpleNamespace(device="/dev/ttyUSB1", vid=0x1A86, pid=0x7523),  # CH340
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None),  # on-board UART
        SimpleNamespace(device="/dev/ttyACM0", vid=0x303A, pid=0x1001),  # ESP32-S3 native USB
        SimpleNamespace(device="/dev/ttyACM1", vid=0x2341, pid=0x0043),  # an Arduino Uno
        SimpleNamespace(device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60),  # CP2102
        SimpleNamespace(device="/dev/ttyUSB2", vid=0x0403, pid=0x6015),  # FT231X
        SimpleNamespace(device="/dev/ttyUSB3", vid=0x0403, pid=0x6010),  # FT2232 (JTAG probes)
        SimpleNamespace(device="/dev/ttyUSB4", vid=0x1A86, pid=0x55D4),  # CH9102
        SimpleNamespace(device="/dev/ttyUSB5", vid=0x0403, pid=0x6001),  # FT232R
    ]
    assert usb.discover_ports(lambda: entries) == [
        "/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2", "/dev/ttyUSB4", "/dev/ttyUSB5"]
    assert usb.discover_ports(lambda: []) == []


class FakeEsp:
    """What the seam hands back: an identified chip on an open port."""

    def __init__(self, chip, log):
        self.CHIP_NAME = chip
        self.log = log
        self._port = SimpleNamespace(close=lambda: log.append("close"))

    def get_chip_description(self):
        return self.CHIP_NAME + " (revision v3.0)"

    def change_baud(self, baud):
        self.log.append(("change_baud", baud))


def test_a_badge_with_another_chip_is_refused_before_anything_is_written(plan, monkeypatch):
    calls = []

    def connect(port, attempts):
        calls.append(("connect", port))
        return FakeEsp("ESP32-C3", calls)

    monkeypatch.setattr(flash, "connect_chip", connect)
    with pytest.raises(flash.ChipMismatch) as e:
        flash.flash_port("/dev/ttyUSB0", plan)
    msg = str(e.value)
    assert "board cloudpin_ref needs an ESP32 but this port has an ESP32-C3 (ESP32-C3 (revision v3.0))" in msg
    assert "refusing" in msg
    # No retry at another baud rate for a wrong chip, and the port is closed again.
    assert calls == [("connect", "/dev/ttyUSB0"), "close"]


def test_a_failed_fast_write_is_retried_at_115200(plan, monkeypatch):
    import esptool.cmds as cmds

    calls = []
    monkeypatch.setattr(flash, "connect_chip", lambda port, attempts: FakeEsp("ESP32", calls))
    monkeypatch.setattr(cmds, "run_stub", lambda esp: calls.append("stub") or esp)
    monkeypatch.setattr(cmds, "attach_flash", lambda esp: calls.append("attach"))
    monkeypatch.setattr(cmds, "detect_flash_size", lambda esp: "4MB")
    monkeypatch.setattr(cmds, "erase_flash", lambda esp: calls.append("erase"))
    monkeypatch.setattr(cmds, "verify_flash", lambda esp, regions: calls.append(("verify", regions)))
    monkeypatch.setattr(cmds, "reset_chip", lambda esp, mode: calls.append(("reset", mode)))

    def write(esp, regions, flash_size):
        fast = ("change_baud", 460800) in calls and "write-failed" not in calls
        calls.append("write-failed" if fast else ("write", regions))
        if fast:  # a cheap adapter garbling data at 460800
            raise FatalError("Invalid head of packet (0x6B): Possible serial noise or corruption.")

    monkeypatch.setattr(cmds, "write_flash", write)
    events = []
    result = flash.flash_port("/dev/ttyUSB0", plan, erase=True, report=events.append)
    regions = [(0x1000, plan.regions[0][1])]
    assert calls == [
        "stub", ("change_baud", 460800), "attach", "erase", "write-failed", "close",
        "stub", "attach", "erase", ("write", regions), ("verify", regions), ("reset", "hard-reset"), "close",
    ]
    assert result["ok"] and result["baud"] == 115200 and result["fell_back"] and result["chip"] == "ESP32"
    assert {"ev": "retry", "baud": 115200, "reason": "Invalid head of packet (0x6B): Possible serial noise or "
            "corruption"} in events
    stages = [e["stage"] for e in events if e["ev"] == "stage"]
    assert stages == ["connect", "chip", "baud", "erase", "write", "connect", "chip", "erase", "write", "verify", "reset"]


def test_real_esptool_on_a_silent_port_fails_cleanly_after_the_fallback(plan, silent_ports):
    (port,) = silent_ports(1)
    events = []
    with pytest.raises(flash.FlashError) as e:
        flash.flash_port(port, plan, report=events.append, connect_attempts=1)
    msg = str(e.value)
    assert msg.startswith(port + ": flashing failed at 460800 baud: ")
    assert "; then at 115200 baud: " in msg
    assert msg.count("No serial data received") == 2
    assert "is a badge plugged in and powered?" in msg
    assert [ev["baud"] for ev in events if ev["ev"] == "retry"] == [115200]


def test_ports_are_flashed_in_parallel_and_one_failure_stops_no_other(plan):
    seen = []

    def runner(port, on_event):
        on_event({"ev": "stage", "stage": "write", "detail": "1 bytes"})
        on_event({"ev": "progress", "done": 50, "total": 100})
        if port == "/dev/ttyUSB1":
            raise flash.FlashError("/dev/ttyUSB1: unplugged")
        if port == "/dev/ttyUSB2":
            return {"port": port, "ok": False, "error": "/dev/ttyUSB2: flashing failed at 460800 baud: x"}
        seen.append(port)
        return {"port": port, "ok": True, "chip": "ESP32", "flash_size": "4MB", "baud": 460800,
                "fell_back": False, "seconds": 1.0}

    out = io.StringIO()
    ports = ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2", "/dev/ttyUSB3"]
    results = flash.flash_ports(ports, plan, runner=runner, out=out)
    assert list(results) == ports
    assert sorted(seen) == ["/dev/ttyUSB0", "/dev/ttyUSB3"]
    assert [results[p]["ok"] for p in ports] == [True, False, False, True]
    log = out.getvalue()
    for p in ports:
        assert "[%s] write 1 bytes" % p in log and "[%s] write  50%%" % p in log
    assert "[/dev/ttyUSB1] FAILED" in log and "[/dev/ttyUSB0] ok" in log
    text = flash.summary(results)
    assert text.startswith("2 of 4 badges flashed")
    assert "FAILED  /dev/ttyUSB1: FlashError: /dev/ttyUSB1: unplugged" in text


def test_exit_code_says_whether_every_port_succeeded(firmware, monkeypatch, capsys):
    def fake_worker(port, spec, on_event):
        assert spec["plan"]["regions"][0][0] == 0x1000 and spec["baud"] == 460800
        ok = port != "/dev/ttyB"
        return {"port": port, "ok": ok, "error": "%s: no" % port, "chip": "ESP32", "baud": 460800, "seconds": 0.1}

    monkeypatch.setattr(flash, "run_worker", fake_worker)
    args = ["flash", "--board", "cloudpin_ref", "--firmware", str(firmware), "--port", "/dev/ttyA"]
    assert cli.main(args) == 0
    assert "1 of 1 badge flashed" in capsys.readouterr().out
    assert cli.main(args + ["--port", "/dev/ttyB"]) == 1
    assert "1 of 2 badges flashed" in capsys.readouterr().out
    monkeypatch.setattr(usb.list_ports, "comports", lambda: [])
    assert cli.main(["flash", "--board", "cloudpin_ref", "--firmware", str(firmware), "--port", "all"]) == 1
    assert "no USB serial port found" in capsys.readouterr().err


def test_one_esptool_process_per_port_against_silent_ports(plan, silent_ports):
    ports = silent_ports(2)
    out = io.StringIO()
    results = flash.flash_ports(ports, plan, out=out, connect_attempts=1)
    for p in ports:
        r = results[p]
        assert not r["ok"]
        assert r["error"].startswith(p + ": flashing failed at 460800 baud")  # the worker's own clear error
        assert "[%s] connect %s at 115200 baud" % (p, p) in out.getvalue()
        assert "[%s] failed (" % p in out.getvalue() and "retrying at 115200 baud" in out.getvalue()


def test_progress_on_a_terminal_is_a_live_table():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    p = flash.Progress(["/dev/ttyUSB0", "/dev/ttyUSB10"], out)
    p.event("/dev/ttyUSB0", {"ev": "stage", "stage": "write", "detail": "4096 bytes"})
    p.event("/dev/ttyUSB10", {"ev": "progress", "done": 1, "total": 4})
    p.event("/dev/ttyUSB0", {"ev": "done", "ok": True})
    frames = out.getvalue().split("\x1b[2A")
    assert len(frames) == 3  # drawn once, then redrawn in place twice
    last = frames[-1]
    assert "\x1b[K/dev/ttyUSB0   ok" in last and "\x1b[K/dev/ttyUSB10  waiting   25%" in last

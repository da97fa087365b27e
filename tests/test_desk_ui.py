"""Hot-plug polling, the live table and the keyboard/scanner line reader
(host_tools/desk/hotplug.py, ui.py)."""
import threading

from rich.console import Console

from host_tools.desk import hotplug, ui


def test_watcher_reports_ports_appearing_and_disappearing():
    ports = ["/dev/ttyUSB0"]
    w = hotplug.PortWatcher(lambda: list(ports))
    assert w.poll() == (["/dev/ttyUSB0"], [])
    assert w.poll() == ([], [])
    ports[:] = ["/dev/ttyUSB1", "/dev/ttyACM0"]
    assert w.poll() == (["/dev/ttyACM0", "/dev/ttyUSB1"], ["/dev/ttyUSB0"])


def test_watcher_survives_a_lister_error_and_runs_in_a_thread():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 2:
            raise OSError("port vanished mid-scan")
        return ["p%d" % min(len(calls), 3)]

    w = hotplug.PortWatcher(flaky, interval=0.001)
    assert w.poll() == (["p1"], [])
    assert w.poll() == ([], [])  # the error is a no-change poll
    seen = []
    stop = threading.Event()

    def added(port):
        seen.append(("+", port))
        if port == "p3":
            stop.set()

    w.run(stop, added, lambda port: seen.append(("-", port)))
    assert seen == [("-", "p1"), ("+", "p3")]


def test_fixed_and_glob_listers(tmp_path):
    a, b = tmp_path / "badge-a", tmp_path / "badge-b"
    a.write_text("")
    fixed = hotplug.fixed_ports([str(a), str(b)])
    assert fixed() == [str(a)]
    b.write_text("")
    assert fixed() == [str(a), str(b)]
    assert hotplug.glob_ports(str(tmp_path / "badge-*"))() == [str(a), str(b)]


def test_usb_lister_keeps_only_usb_adapters(monkeypatch):
    from serial.tools import list_ports

    class P:
        def __init__(self, device, vid):
            self.device, self.vid = device, vid

    monkeypatch.setattr(list_ports, "comports", lambda: [P("/dev/ttyS0", None), P("/dev/ttyUSB0", 0x10C4)])
    assert hotplug.usb_serial_ports() == ["/dev/ttyUSB0"]


def _text(renderable):
    console = Console(record=True, width=140, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_table_shows_each_port_with_its_progress_and_the_prompt():
    rows = [
        {"port": "/dev/ttyUSB0", "state": "finished", "step": "card", "fraction": 1.0, "message": "done: hand ...",
         "badge_id": "0a1b2c3d4e5f6071", "acc_id": "PR-1", "name": "Ann Lee", "status": "done"},
        {"port": "/dev/ttyUSB1", "state": "waiting", "step": "assign", "fraction": 0.2,
         "message": "scan or type an accreditation", "badge_id": "99aa", "acc_id": None, "name": None,
         "status": None},
    ]
    text = _text(ui.render(rows, ["PR-1 (Ann Lee) -> ttyUSB0"], [], "PR-", {"done": 1, "gone": 1}))
    assert "ttyUSB0" in text and "0a1b2c3d" in text and "PR-1 Ann Lee" in text and "done: hand" in text
    assert "Scan or type the accreditation for the badge on ttyUSB1 > PR-" in text
    assert "done 1, problems 1" in text
    assert "━" in text  # the progress bars
    empty = _text(ui.render([], [], ["PR-9"], "", {}))
    assert "plug in a badge" in empty and "Queued: PR-9" in empty


def test_key_reader_builds_lines_like_a_scanner_types_them():
    lines = []
    r = ui.KeyReader(lines.append)
    for ch in "PR-0O\x7f042\r":
        r.feed(ch)
    for ch in "junk\x15A7\n\n":
        r.feed(ch)
    assert lines == ["PR-0042", "A7"]
    assert r.buffer == ""


def test_plain_mode_feeds_lines_then_stops():
    class FakeStation:
        def __init__(self):
            self.lines, self.stopped, self.stopping = [], False, False
            self.stop_event = threading.Event()

        def handle_line(self, line):
            self.lines.append(line)

        def busy(self):
            return False

        def stop(self):
            self.stopped = True

    s = FakeStation()
    ui.run_plain(s, ["A1\n", "next\n"])
    assert s.lines == ["A1\n", "next\n"] and s.stopped

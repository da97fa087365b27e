"""`cloudpin desk` commands' exit status, stdout and desk.log on bad input:
fake badges (host_tools/testkit/fake_badge.py) behind the real command line, and a
real serial session on a silent pseudo-terminal."""
import json
import os
import re

import pytest

from host_tools import cli
from host_tools.desk import cli as desk_cli
from host_tools.testkit.fake_badge import FakeBadge

ROSTER = "accreditation id,name\nPR-001,Ann Lee\nPR-002,Bob Ray\n"


@pytest.fixture
def place(tmp_path, monkeypatch):
    (tmp_path / "roster.csv").write_text(ROSTER)
    badges = {}

    def badge_on(args, port):
        return badges.setdefault(port, FakeBadge(tmp_path / os.path.basename(port), port))

    monkeypatch.setattr(desk_cli, "_serial_badge", badge_on)
    return tmp_path, badges


def desk(capsys, tmp_path, *argv):
    rc = cli.main(["desk", argv[0], "--db", str(tmp_path / "desk.sqlite"), "--log", str(tmp_path / "desk.log")]
                  + list(argv[1:]))
    out, err = capsys.readouterr()
    return rc, out, err


def _log(tmp_path):
    return (tmp_path / "desk.log").read_text()


def test_verify_exits_non_zero_when_the_database_does_not_match_the_badge(place, capsys):
    tmp_path, badges = place
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes", "--roster",
                        str(tmp_path / "roster.csv"), "--cards", str(tmp_path / "cards"))
    assert rc == 0, err
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0")
    assert rc == 0 and "PR-001 done" in out
    b = badges["fake0"]
    b.flash["prov_gen"] = 999  # another generation written over it
    b.owner.save(dict(b.peek().owner, gen=999), path=str(tmp_path / "fake0" / "owner.json"))
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0")
    assert rc == 1 and "DOES NOT MATCH THE BADGE" in out
    assert "fake0: the database's assignment does not match the badge" in err
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0", "--json")
    assert rc == 1 and json.loads(out)["database"]["consistent"] is False
    assert "WARNING verify fake0" in _log(tmp_path)


def test_refusals_and_failures_reach_desk_log_as_warnings(place, capsys):
    tmp_path, badges = place
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0")  # no --yes, not a terminal
    assert rc == 2 and "--yes" in err
    assert "WARNING refused: refusing to provision without confirmation" in _log(tmp_path)
    rc, out, err = desk(capsys, tmp_path, "return", "--acc", "PR-001", "--lost")
    assert rc == 1 and "has no badge" in err
    assert "WARNING refused: PR-001 has no badge in the database" in _log(tmp_path)
    rc, out, err = desk(capsys, tmp_path, "import", "--roster", str(tmp_path / "nope.csv"))
    assert rc == 1 and "WARNING roster refused (nothing imported)" in _log(tmp_path)
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes")  # empty roster
    assert rc == 1 and "WARNING fake0 badge=" in _log(tmp_path) and "exhausted" in _log(tmp_path)
    assert not [ln for ln in _log(tmp_path).splitlines() if " INFO " in ln and ("refused" in ln or "exhausted" in ln)]


def test_return_on_a_port_that_does_not_exist_says_so(place, capsys):
    tmp_path, badges = place
    badges["/dev/ttyNOPE"] = gone = FakeBadge(tmp_path / "nope", "/dev/ttyNOPE")
    gone.plugged = False
    rc, out, err = desk(capsys, tmp_path, "return", "--port", "/dev/ttyNOPE")
    assert rc == 1 and "no badge there (no such port): is it plugged in?" in err
    assert "unplugged" not in err


@pytest.mark.parametrize("answer", [b"", b"\r\n>>> "], ids=["silent", "prompt-but-no-raw-repl"])
def test_verify_json_on_a_badge_that_does_not_answer_prints_nothing_but_json(tmp_path, capsys, monkeypatch, answer):
    # A real serial session on a pseudo-terminal: silent, or a REPL prompt
    # for every Ctrl-C that never enters the raw REPL. mpremote prints what it
    # got (b'...') to stdout before it gives up; stdout is for the JSON only.
    import threading

    from host_tools.desk.badge_io import SerialBadge

    monkeypatch.setattr(desk_cli, "_serial_badge",
                        lambda args, port: SerialBadge(port, connect_timeout=0.3, boot_wait=0.1))
    master, slave = os.openpty()
    stop = threading.Event()

    def badge():
        while not stop.is_set():
            try:
                data = os.read(master, 256)
            except OSError:
                return
            if b"\x03" in data and answer:
                os.write(master, answer)

    threading.Thread(target=badge, daemon=True).start()
    try:
        rc, out, err = desk(capsys, tmp_path, "verify", "--port", os.ttyname(slave), "--json")
        assert rc == 1 and out == "", out
        assert err.strip().splitlines()[-1].startswith(os.ttyname(slave) + ": ") and "Traceback" not in err
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
    assert "WARNING verify" in _log(tmp_path)


def test_desk_event_shows_and_sets_the_time_zone_until_badges_hold_it(place, capsys):
    tmp_path, badges = place
    rc, out, err = desk(capsys, tmp_path, "event", "--utc-offset", "+05:30")
    assert rc == 0 and "event time zone UTC+05:30" in out and "event key" in out
    rc, out, err = desk(capsys, tmp_path, "event", "--json")
    shown = json.loads(out)
    assert rc == 0 and shown["utc_offset"] == 330 and len(shown["event_digest"]) == 64
    rc, out, err = desk(capsys, tmp_path, "event", "--utc-offset", "CEST")
    assert rc == 2 and out == "" and err.count("\n") == 1 and "--utc-offset: UTC offset 'CEST'" in err
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes", "--roster",
                        str(tmp_path / "roster.csv"), "--cards", str(tmp_path / "cards"))
    assert rc == 0, err
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0", "--json")
    r = json.loads(out)
    assert rc == 0 and r["social"] and r["utc_offset"] == 330 and r["event_digest"] == shown["event_digest"]
    assert r["database"]["event"] is True
    rc, out, err = desk(capsys, tmp_path, "event", "--utc-offset", "+01:00")
    assert rc == 1 and "can no longer change" in err and "WARNING refused" in _log(tmp_path)
    # A badge of another event (another database's key) fails verify.
    badges["fake0"].flash["event_key"] = bytes(16)
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0")
    assert rc == 1 and "ANOTHER EVENT'S KEY" in out and "not this database's event" in err
    del badges["fake0"].flash["event_key"]
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0")
    assert rc == 1 and "meet and greet off" in out and "no event key or time zone" in err


def test_provision_sets_the_badges_clock_and_verify_reports_its_offset(place, capsys):
    tmp_path, badges = place
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes", "--roster",
                        str(tmp_path / "roster.csv"), "--cards", str(tmp_path / "cards"))
    assert rc == 0, err
    b = badges["fake0"]
    assert b.clock_src == "desk" and abs(b.rtc_offset_ms) <= 250
    assert "clock set to 20" in _log(tmp_path) and "ms from this computer's" in _log(tmp_path)
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0", "--json")
    c = json.loads(out)["clock"]
    assert rc == 0 and c["set"] == "desk" and abs(c["offset_ms"]) <= 250 + c["rtt_ms"] // 2
    b.rtc_offset_ms += 90000  # a day's drift with its friends: reported, not a fault
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0")
    assert rc == 0 and "ms from this computer's" in out and "set by the desk" in out
    logged = re.findall(r"verify fake0 badge=\w+ clock \+(\d+) ms from this computer's", _log(tmp_path))
    assert abs(int(logged[-1]) - 90000) <= 300, logged
    # Its battery ran flat: the RTC is back in 2000, the badge says unset.
    b.rtc_offset_ms = b.clock_src = None
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", "fake0")
    assert rc == 1 and "NEVER SET" in out and "its clock was never set" in err
    # Plugged into the desk again: "already" theirs, and the clock set again.
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes", "--cards", str(tmp_path / "cards"))
    assert rc == 0 and "already" in out and b.clock_src == "desk" and abs(b.rtc_offset_ms) <= 250
    # A clock that was set stays as its friends keep it.
    b.rtc_offset_ms = 5000
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes", "--cards", str(tmp_path / "cards"))
    assert rc == 0 and b.rtc_offset_ms == 5000


def test_a_computer_whose_clock_is_wrong_provisions_nothing(place, capsys, monkeypatch):
    from host_tools.desk import clock

    tmp_path, badges = place
    monkeypatch.setattr(clock, "now_ms", lambda: 946684800000 + 3600000)  # 2000-01-01 01:00: never set
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", "fake0", "--yes", "--roster",
                        str(tmp_path / "roster.csv"), "--cards", str(tmp_path / "cards"))
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "this computer's clock reads 2000-01-01 01:00:00 UTC, before the badges' firmware was built" in err
    assert "WARNING refused: this computer's clock" in _log(tmp_path)
    assert "fake0" not in badges or badges["fake0"].peek().owner is None  # nothing written


def test_import_warns_of_names_no_card_font_draws_and_imports_them(place, capsys):
    tmp_path, _ = place
    # U+E000 is private use: no font has it. Devanagari and Thai are drawn.
    (tmp_path / "r.csv").write_text("accreditation id,name,organisation\nPR-003,Ann \ue000 Lee,AP\n"
                                    "PR-004,राजेश कुमार,สยามรัฐ\n", encoding="utf-8")
    rc, out, err = desk(capsys, tmp_path, "import", "--roster", str(tmp_path / "r.csv"))
    assert rc == 0 and "2 new" in out
    warning = "1 of the roster's people have characters no pairing-card font draws"
    assert warning in err and "PR-003: U+E000" in err and "PR-004" not in err, err
    assert "WARNING roster %s: %s" % (tmp_path / "r.csv", warning) in _log(tmp_path)

"""`cloudpin phone` on the pin's own service in this process (the Bluetooth
transport swapped for the in-process one): outputs, the secret kept for
later commands, one-line errors and exit codes."""
import argparse
import base64
import json
import os

import pytest

from host_tools.phone import cli
from host_tools.phone.client import PinClient
from host_tools.phone.transports import Loopback

from test_phone_client import SECRET, pin  # noqa: F401  (the fixture)

KEY32 = base64.b32encode(SECRET).decode().rstrip("=")


def run(argv, service, capsys):
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(argv)
    code = cli.run(args, connect=lambda a, key: PinClient(Loopback(service, 1), key, a.timeout))
    out, err = capsys.readouterr()
    return code, out, err


def test_pair_remembers_the_secret_for_the_next_commands(pin, tmp_path, capsys):  # noqa: F811
    state = str(tmp_path / "cfg" / "phone.json")
    code, out, err = run(["pair", "--secret", "CLOUDPIN:1:%s:%s" % ("aa" * 8, KEY32), "--state", state], pin, capsys)
    assert code == 0 and "paired with badge aaaaaaaaaaaaaaaa" in out, err
    assert os.stat(state).st_mode & 0o777 == 0o600
    code, out, _ = run(["stats", "--json", "--state", state], pin, capsys)
    assert code == 0 and json.loads(out)["friends"] == 45
    code, out, _ = run(["profile", "set", "--name", "Ana Lima", "--handle", "@a", "--handle", "@b",
                        "--state", state, "--json"], pin, capsys)
    assert code == 0 and json.loads(out)["handles"] == ["@a", "@b"]
    code, out, _ = run(["profile", "--state", state], pin, capsys)
    assert "Ana Lima" in out and "@a, @b" in out
    code, out, _ = run(["friends", "--state", state], pin, capsys)
    assert code == 0 and len(out.splitlines()) == 45 and "F44" in out
    code, out, _ = run(["designs", "--json", "--state", state], pin, capsys)
    assert json.loads(out) == {"selected": "judo", "unlocked": ["athletics", "judo"]}  # the newest unlock
    code, out, _ = run(["design", "athletics", "--state", state], pin, capsys)
    assert code == 0 and out.strip() == "showing athletics"
    code, out, _ = run(["designs", "--json", "--state", state], pin, capsys)
    assert json.loads(out) == {"selected": "athletics", "unlocked": ["athletics", "judo"]}


def test_errors_are_one_line_and_exit_1(pin, tmp_path, capsys):  # noqa: F811
    code, out, err = run(["pair", "--secret", "CLOUDPIN:1:%s:%s" % ("bb" * 8, KEY32),
                          "--state", str(tmp_path / "s.json")], pin, capsys)
    assert code == 1 and err.strip() == "cloudpin phone: this pin is badge %s, the card is for badge %s" % (
        "aa" * 8, "bb" * 8)
    assert not (tmp_path / "s.json").exists()
    code, out, err = run(["stats", "--secret", "A" * 26], pin, capsys)
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert "belongs to someone else, or the secret is wrong" in err
    code, out, err = run(["profile", "set", "--secret", KEY32], pin, capsys)
    assert code == 1 and "give at least one of" in err
    code, out, err = run(["design", "sailing", "--secret", KEY32], pin, capsys)
    assert code == 1 and "not unlocked" in err
    (tmp_path / "bad.json").write_text("{")
    code, out, err = run(["stats", "--state", str(tmp_path / "bad.json")], pin, capsys)
    assert code == 1 and "cannot read the secret" in err
    with pytest.raises(SystemExit):
        run(["stats", "--secret", KEY32, "--card", "x.png"], pin, capsys)  # one or the other


def test_watch_prints_events(pin, capsys):  # noqa: F811
    class WithEvent(Loopback):
        def __init__(self, *a):
            super().__init__(*a)
            self.sent = False

        def recv(self, timeout):
            if not self.sent and self.service.authenticated(self.handle):
                self.sent = True
                for _, msg in self.service.friend_event(2):
                    self.push(msg)
            return super().recv(timeout)

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(["watch", "--secret", KEY32, "--for", "0.2", "--json"])
    assert cli.run(args, connect=lambda a, key: PinClient(WithEvent(pin, 1), key)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["friend"]["card"]["name"] == "F2"


def test_stats_say_the_pins_date(tmp_path, capsys):
    # the pin's local day (its clock, the event's time zone) as a date a person reads
    from cloudpin.phone.backend import PinBackend
    from cloudpin.phone.service import PhoneService

    svc = PhoneService(PinBackend("0.1.0", b"\xaa" * 8, 1, now_s=lambda: 1796000000, utc_offset=-60), SECRET)
    code, out, err = run(["stats", "--secret", KEY32], svc, capsys)
    assert code == 0 and out.strip() == "today (2026-11-29): 0 steps, 0 new friends; event: 0 steps, 0 friends", err
    code, out, err = run(["stats", "--secret", KEY32, "--json"], svc, capsys)
    assert (json.loads(out)["day"], json.loads(out)["date"]) == (20786, "2026-11-29")
    code, out, err = run(["stats", "--secret", KEY32, "--json"], PhoneService(PinBackend("0.1.0", b"\xaa" * 8, 1),
                                                                                 SECRET), capsys)
    assert json.loads(out)["date"] is None  # no clock: no date
    unset = PhoneService(PinBackend("0.1.0", b"\xaa" * 8, 1, now_s=lambda: 946684800 + 3600), SECRET)
    code, out, err = run(["stats", "--secret", KEY32], unset, capsys)
    assert out.startswith("today (2000-01-01, by a pin clock never set): ")  # an ESP32's RTC from power-on

"""`cloudpin desk` end to end against virtual badges (the MicroPython unix
port behind ptys paced to 115200 baud, running the firmware tree): bulk
provisioning, verify, export and return through the command line, four
ports at once, a badge pulled out mid-write, an outdated badge, the
interactive desk with hot-plug, on SQLite and PostgreSQL, and no secret in
any output or log."""
import base64
import hashlib
import json
import time

import pytest

from host_tools import cli
from host_tools.bench import desk as bench
from host_tools.desk import db as deskdb
from host_tools.desk import hotplug
from host_tools.desk.badge_io import SerialBadge, firmware_version
from host_tools.desk.provision import Desk, bulk_chooser, provision
from host_tools.desk.station import Station
from host_tools.testkit import pgserver
from host_tools.virtual_badge import VirtualBadge

ROSTER = ("accreditation id,name,organisation,role,handles\n"
          "PR-001,Zoë Ångström,Le Monde,photographer,@zoe\n"
          "PR-002,Bob Ray,AFP,reporter,@bob @bobray\n"
          "PR-003,Chen Li,Xinhua,editor,\n"
          "PR-004,Dee Oh,BBC,camera,\n"
          "PR-005,Eve Ng,ARD,reporter,\n")


@pytest.fixture
def place(tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    badges = []

    def badge(name="badge", version=None):
        b = VirtualBadge(bench.badge_folder(tmp_path / name, version=version), name=name,
                         link=tmp_path / (name + ".tty"))
        badges.append(b)
        return b.start()

    yield tmp_path, badge
    for b in badges:
        b.stop()


def desk(capsys, tmp_path, *argv, db=None):
    args = ["desk"] + list(argv[:1]) + ["--db", db or str(tmp_path / "desk.sqlite"), "--log",
                                        str(tmp_path / "desk.log")] + list(argv[1:])
    if argv[0] in ("provision", "return") and "--cards" not in argv:
        args += ["--cards", str(tmp_path / "cards")]  # never into the checkout
    rc = cli.main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def _nvs_secrets(badge):
    nvs = json.loads((badge.root / ".nvs.json").read_text())["cloudpin"]
    return [bytes.fromhex(nvs[k][1]) for k in ("pair_key", "id_key")]


def _forms(secret):
    return (secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
            base64.b32encode(secret).decode().rstrip("="))


def test_provision_verify_export_return_on_a_virtual_badge(place, capsys):
    tmp_path, badge = place
    b = badge()
    rc, out, err = desk(capsys, tmp_path, "provision", "--roster", str(tmp_path / "roster.csv"), "--port",
                        b.port, "--yes", "--json", "--cards", str(tmp_path / "cards"))
    assert rc == 0, err
    res = json.loads(out)
    assert (res["status"], res["acc_id"], res["name"]) == ("done", "PR-001", "Zoë Ångström")
    assert (tmp_path / "cards" / ("PR-001_%s.png" % res["badge_id"][:8])).exists()
    texts = [out, err]

    rc, out, err = desk(capsys, tmp_path, "verify", "--port", b.port, "--json")
    assert rc == 0, err
    v = json.loads(out)
    texts += [out, err]
    assert v["badge_id"] == res["badge_id"] and v["provisioned"] and v["prov_gen"] == res["gen"]
    assert v["owner"] == {"acc": "PR-001", "name": "Zoë Ångström", "organisation": "Le Monde",
                          "role": "photographer", "handles": ["@zoe"], "gen": res["gen"]}
    assert v["selftest"]["ok"] and v["selftest"]["sensor"]["ok"] and v["selftest"]["ble"]["ok"]
    assert v["database"]["consistent"] is True and v["database"]["state"] == "done"
    # The desk set its clock from this computer's: still set after the app's
    # restarts (soft resets), a few seconds' drift of its light sleep at most
    c = v["clock"]
    assert c["set"] == "desk" and abs(c["offset_ms"]) <= 500 + c["rtt_ms"], c
    assert "clock set to 20" in (tmp_path / "desk.log").read_text()
    assert "pair_key" not in out and "id_key" not in out
    # The event's key and time zone, in the pin's NVS through its own identity.write.
    assert v["social"] and v["database"]["event"] is True
    nvs = json.loads((b.root / ".nvs.json").read_text())["cloudpin"]
    event_key = bytes.fromhex(nvs["event_key"][1])
    assert v["event_digest"] == hashlib.sha256(event_key).hexdigest() and v["utc_offset"] == nvs["utc_offset"][1]

    rc, out, err = desk(capsys, tmp_path, "export", "--json")
    rows = json.loads(out)
    texts += [out, err]
    assert [(r["acc_id"], r["badge_id"], r["state"]) for r in rows] == [("PR-001", res["badge_id"], "done")]

    secrets = _nvs_secrets(b)
    rc, out, err = desk(capsys, tmp_path, "return", "--port", b.port, "--cards", str(tmp_path / "cards"))
    assert rc == 0 and "Zoë Ångström's badge is free for reuse" in out, out + err
    texts += [out, err]
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", b.port, "--json")
    v = json.loads(out)
    assert v["badge_id"] == res["badge_id"] and not v["provisioned"] and v["owner"] is None
    assert v["database"] is None
    assert not (b.root / "owner.json").exists()
    assert not v["social"] and v["event_digest"] is None and v["utc_offset"] is None
    nvs = json.loads((b.root / ".nvs.json").read_text())["cloudpin"]
    assert "event_key" not in nvs and "utc_offset" not in nvs and "badge_id" in nvs

    # Secrets: in no command output, not in the log, not in the database file.
    texts.append((tmp_path / "desk.log").read_text())
    texts.append((tmp_path / "desk.sqlite").read_bytes().decode("latin-1"))
    blob = "\n".join(texts)
    assert "PR-001" in (tmp_path / "desk.log").read_text()
    for secret in secrets:
        for form in _forms(secret):
            assert form not in blob
    # The event key is the one secret the database keeps (the next badge
    # needs it); it still reaches no output and no log.
    for form in _forms(event_key):
        assert form not in blob.replace(texts[-1], "")


def test_four_ports_at_once_get_four_accreditations(place, capsys):
    tmp_path, badge = place
    bs = [badge("b%d" % i) for i in range(4)]
    argv = ["provision", "--roster", str(tmp_path / "roster.csv"), "--yes", "--json"]
    for b in bs:
        argv += ["--port", b.port]
    rc, out, err = desk(capsys, tmp_path, *argv)
    assert rc == 0, out + err
    results = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["acc_id"] for r in results) == ["PR-001", "PR-002", "PR-003", "PR-004"]
    assert len({r["badge_id"] for r in results}) == 4 and all(r["status"] == "done" for r in results)


def test_provision_on_postgresql(place, capsys):
    tmp_path, badge = place
    url = pgserver.shared().fresh_database()
    b = badge()
    rc, out, err = desk(capsys, tmp_path, "provision", "--roster", str(tmp_path / "roster.csv"), "--port", b.port,
                        "--yes", "--json", db=url)
    assert rc == 0 and json.loads(out)["status"] == "done", out + err
    rc, out, err = desk(capsys, tmp_path, "export", "--json", db=url)
    assert [r["acc_id"] for r in json.loads(out)] == ["PR-001"]


@pytest.mark.parametrize("step", ["check", "identify", "write", "verify", "selftest"])
def test_badge_pulled_out_mid_way_is_finished_when_plugged_back(place, step):
    tmp_path, badge = place
    b = badge()
    db = deskdb.connect(str(tmp_path / "desk.sqlite"))
    from host_tools.desk import roster

    db.import_roster(roster.read(tmp_path / "roster.csv"))
    d = Desk(db, firmware_version(), tmp_path / "cards")

    def pull(s, msg=""):
        if s == step and b.running:
            b.unplug()

    first = provision(SerialBadge(b.port), d, bulk_chooser(db), progress=pull)
    assert first.status == "gone" and "plug it back in" in first.message, first
    b.replug()
    again = provision(SerialBadge(b.port), d, bulk_chooser(db))
    assert again.status == "done", again
    assert again.acc_id == "PR-001"
    assert [(r["acc_id"], r["state"]) for r in db.export() if r["state"] != "void"] == [("PR-001", "done")]
    db.close()


def test_outdated_badge_is_reported_then_deployed(place, capsys):
    tmp_path, badge = place
    b = badge(version="0.0.1")
    rc, out, err = desk(capsys, tmp_path, "provision", "--roster", str(tmp_path / "roster.csv"), "--port", b.port,
                        "--yes", "--json", "--no-update")
    res = json.loads(out)
    assert rc == 1 and res["status"] == "outdated" and "firmware 0.0.1" in res["message"]
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", b.port, "--yes", "--json")
    res = json.loads(out)
    assert rc == 0 and res["status"] == "done", res
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", b.port, "--json")
    assert json.loads(out)["firmware"] == firmware_version()


def test_interactive_desk_with_hot_plug(place):
    tmp_path, badge = place
    db = deskdb.connect(str(tmp_path / "desk.sqlite"))
    from host_tools.desk import roster

    db.import_roster(roster.read(tmp_path / "roster.csv"))
    heard = []
    st = Station(db, Desk(db, firmware_version(), tmp_path / "cards"), hotplug.glob_ports(str(tmp_path / "*.tty")),
                 SerialBadge, interval=0.05, on_message=heard.append)
    st.start()
    try:
        st.handle_line("PR-004")  # scanned before the badge is plugged in
        a = badge("a")
        b = badge("b")
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(r["state"] == "waiting" for r in st.snapshot()[0]):
            time.sleep(0.02)
        st.handle_line("PR-002")
        while time.monotonic() < end and sum(r["status"] == "done" for r in st.snapshot()[0]) < 2:
            time.sleep(0.02)
        rows = {r["port"]: r for r in st.snapshot()[0]}
        assert sorted(r["acc_id"] for r in rows.values()) == ["PR-002", "PR-004"], heard
        assert all(r["status"] == "done" for r in rows.values())
        a.unplug()
        while time.monotonic() < end and str(a.link) in {r["port"] for r in st.snapshot()[0]}:
            time.sleep(0.02)
        assert str(a.link) not in {r["port"] for r in st.snapshot()[0]}
        assert str(b.link) in {r["port"] for r in st.snapshot()[0]}
    finally:
        st.stop()
        db.close()


def test_expected_problems_are_messages_not_tracebacks(place, capsys):
    tmp_path, badge = place
    (tmp_path / "bad.csv").write_text("id,name\nA1,\n")
    rc, out, err = desk(capsys, tmp_path, "import", "--roster", str(tmp_path / "bad.csv"))
    assert rc == 1 and "line 2: name is empty" in err and "Traceback" not in err
    rc, out, err = desk(capsys, tmp_path, "verify", "--port", str(tmp_path / "nothing"))
    assert rc == 1 and "no such port" in err and "Traceback" not in err
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", str(tmp_path / "nothing"), "--yes")
    assert rc == 1 and "is it plugged in" in out
    rc, out, err = desk(capsys, tmp_path, "return", "--acc", "PR-001", "--lost")
    assert rc == 1 and "has no badge" in err
    b = badge()
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", b.port, "--yes")
    assert rc == 1 and "roster used up" in out  # nothing imported yet
    rc, out, err = desk(capsys, tmp_path, "provision", "--port", b.port)  # no --yes, not a terminal
    assert rc == 2 and "--yes" in err
    rc, out, err = desk(capsys, tmp_path, "export", "--db", "mysql://nope")
    assert rc == 1 and "database" in err and "Traceback" not in err


def test_live_desk_in_a_terminal(place):
    # `cloudpin desk` as the operator runs it: a terminal, badges plugged in,
    # keys typed without echo into the table's prompt, q to close.
    import os
    import pty
    import re
    import select
    import subprocess
    import sys

    tmp_path, badge = place
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools.cli", "desk", "--roster", str(tmp_path / "roster.csv"), "--watch-glob",
         str(tmp_path / "*.tty"), "--db", str(tmp_path / "desk.sqlite"), "--log", str(tmp_path / "desk.log")],
        stdin=slave, stdout=slave, stderr=slave, cwd=str(tmp_path), start_new_session=True,
        env=dict(os.environ, PYTHONPATH=str(bench.FIRMWARE_DIR.parent), COLUMNS="120", LINES="30"))
    os.close(slave)
    screen = [b""]

    def until(pattern, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen[0].decode("utf-8", "replace"))
            if re.search(pattern, text):
                return text
            if select.select([master], [], [], 0.05)[0]:
                try:
                    screen[0] += os.read(master, 65536)
                except OSError:
                    break
        raise AssertionError("no %r on the screen:\n%s" % (pattern, text[-2000:]))

    try:
        until("Plug in a badge")
        badge("a")
        until("Scan or type the accreditation for the badge on a.tty")
        os.write(master, b"PR-0")
        until(r"a\.tty > PR-0")  # typed keys show in the prompt, not echoed over the table
        os.write(master, b"03\r")
        until(r"a\.tty \(PR-003, Chen Li\): done: hand the badge and card to Chen Li")
        os.write(master, b"q\r")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert "PR-003" in (tmp_path / "desk.log").read_text()


def test_a_garbled_exchange_is_retried_once_on_a_fresh_connection(place):
    from mpremote.transport import TransportError

    from host_tools.desk.badge_io import BadgeError

    tmp_path, badge = place
    b = badge()
    sb = SerialBadge(b.port)
    sb.connect()
    failures = [2]
    real = type(sb.t).exec_raw

    def flaky(t, *a, **kw):
        if failures[0]:
            failures[0] -= 1
            raise TransportError("unexpected read during raw paste: b''")
        return real(t, *a, **kw)

    type(sb.t).exec_raw, saved = flaky, real
    try:
        failures[0] = 1
        assert sb.inspect().version == firmware_version()  # one failure: retried, fine
        failures[0] = 2
        with pytest.raises(BadgeError, match="raw paste"):
            sb.inspect()  # failing again on the fresh connection: reported
    finally:
        type(sb.t).exec_raw = saved
        sb.close()

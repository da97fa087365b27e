"""The per-badge provisioning state machine (host_tools/desk/provision.py)
with in-process fake badges that run the firmware's identity and owner
code, on SQLite and PostgreSQL: normal runs, every unplug point, every
tool-kill point, faulty badges, returns, and no secret in any log."""
import base64
import logging

import pytest

from host_tools.desk import db as deskdb
from host_tools.desk.card import card_filename
from host_tools.desk.db import Accreditation
from host_tools.desk.provision import Desk, bulk_chooser, provision, return_badge
from host_tools.testkit import desk_faults as faults, pgserver
from host_tools.testkit.fake_badge import FakeBadge


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url = str(tmp_path / "desk.sqlite") if request.param == "sqlite" else pgserver.shared().empty_database()
    d = deskdb.connect(url, durable=False)  # crashes are simulated by rollback, not power
    d.url = url
    d.import_roster([Accreditation("A%d" % i, "Person %d" % i, "Org", "reporter", ("@p%d" % i,))
                     for i in range(1, 6)])
    yield d
    d.close()


def _desk(db, tmp_path, **kw):
    kw.setdefault("card_writer", faults._stub_card)
    return Desk(db, _version(), tmp_path / "cards", **kw)


def _version():
    from host_tools.desk.badge_io import firmware_version

    return firmware_version()


def _run(badge, desk):
    return provision(badge, desk, bulk_chooser(desk.db))


def test_fresh_badge_is_assigned_written_checked_and_recorded(db, tmp_path):
    desk = _desk(db, tmp_path)
    b = FakeBadge(tmp_path / "b", "ttyUSB0")
    out = _run(b, desk)
    assert out.status == "done" and out.ok, out
    assert (out.acc_id, out.name) == ("A1", "Person 1")
    assert "hand the badge and card to Person 1" in out.message
    st = b.peek()
    live = db.live_for_badge(st.badge_id)
    assert live.state == "done" and live.acc_id == "A1" and st.holds(live)
    assert st.owner == {"acc": "A1", "name": "Person 1", "organisation": "Org", "role": "reporter",
                        "handles": ["@p1"], "gen": live.id}
    assert out.card == tmp_path / "cards" / card_filename("A1", st.badge_id) and out.card.exists()
    # The next badge gets the next accreditation.
    assert _run(FakeBadge(tmp_path / "c", "ttyUSB1"), desk).acc_id == "A2"


def test_plugging_a_finished_badge_again_changes_nothing(db, tmp_path):
    desk = _desk(db, tmp_path)
    b = FakeBadge(tmp_path / "b")
    _run(b, desk)
    before = db.export()
    out = _run(b, desk)
    assert out.status == "already" and out.ok and out.acc_id == "A1"
    assert db.export() == before


def test_outdated_badge_is_reported_or_updated(db, tmp_path):
    b = FakeBadge(tmp_path / "b", "ttyUSB3", version="0.0.9")
    out = _run(b, _desk(db, tmp_path))
    assert out.status == "outdated" and not out.ok
    assert "firmware 0.0.9" in out.message and "cloudpin deploy --port ttyUSB3" in out.message
    assert db.export() == [] and b.peek().badge_id is None  # untouched
    seen = []

    def updater(badge, progress):
        progress(1.0)
        seen.append(badge.port)
        badge.version = _version()

    out = _run(b, _desk(db, tmp_path, updater=updater))
    assert out.status == "done" and seen == ["ttyUSB3"]


def test_roster_used_up_is_a_message_not_a_crash(db, tmp_path):
    desk = _desk(db, tmp_path)
    for i in range(5):
        assert _run(FakeBadge(tmp_path / ("b%d" % i)), desk).status == "done"
    out = _run(FakeBadge(tmp_path / "extra"), desk)
    assert out.status == "exhausted" and "roster used up" in out.message


@pytest.mark.parametrize("cut", range(0, 16))
def test_unplug_at_any_operation_then_replug_finishes_the_same_assignment(db, tmp_path, cut):
    desk = _desk(db, tmp_path)
    b = FakeBadge(tmp_path / "b")
    b.cut_after = cut
    first = _run(b, desk)
    if first.status != "done":
        assert first.status == "gone" and "plug it back in" in first.message
        assert not b.plugged
        assert faults.check(db, [b]) == {}
        b.replug()
        again = _run(b, desk)
        assert again.status == "done", again
        if first.acc_id:  # an assignment was made: the same one is finished
            assert again.acc_id == first.acc_id
    rows = [r for r in db.export() if r["state"] != "void"]
    assert [(r["acc_id"], r["state"]) for r in rows] == [("A1", "done")]
    assert faults.check(db, [b], tmp_path / "cards", final=True) == {}


@pytest.mark.parametrize("at", range(1, 30))
def test_tool_killed_anywhere_then_rerun_resumes(db, tmp_path, at):
    switch = faults.KillSwitch()
    b = FakeBadge(tmp_path / "b")
    b.hook = switch.tick
    db.before_commit = lambda: switch.tick("commit")
    desk = _desk(db, tmp_path)
    switch.arm(at)
    try:
        out = provision(b, desk, bulk_chooser(db), progress=lambda s, m="": switch.tick(s))
        killed = False
    except faults.ToolKilled:
        killed = True
    if killed:
        # Nothing of the dead tool survives but the database and the badge.
        fresh = deskdb.connect(db.url)
        out = provision(b, _desk(fresh, tmp_path), bulk_chooser(fresh))
        assert faults.check(fresh, [b], tmp_path / "cards", final=True) == {}
        fresh.close()
    assert out.status == "done" and out.acc_id == "A1", out


def test_card_lost_to_a_crash_is_printed_from_the_badge_key(db, tmp_path):
    from host_tools.desk import card

    desk = _desk(db, tmp_path, card_writer=card.write_card)
    b = FakeBadge(tmp_path / "b")
    out = _run(b, desk)
    out.card.unlink()  # as if the tool died between recording and printing
    again = _run(b, desk)
    assert again.status == "done" and again.card.exists()
    assert _run(b, desk).status == "already"
    from PIL import Image

    matrix = card.qr_matrix(b.peek().badge_id, b.flash["pair_key"])
    assert card.read_modules(Image.open(again.card), len(matrix)) == matrix


def test_failed_self_test_wipes_the_badge_and_frees_the_accreditation(db, tmp_path):
    desk = _desk(db, tmp_path)
    bad = {"sensor": {"ok": False, "detail": "LIS3DH: no answer at I2C address 0x18"},
           "ble": {"ok": True, "detail": ""}, "storage": {"ok": True, "detail": ""}, "ok": False}
    b = FakeBadge(tmp_path / "b", selftest=bad)
    out = _run(b, desk)
    assert out.status == "faulty" and not out.ok
    assert "sensor: LIS3DH: no answer" in out.message and "put this badge aside" in out.message
    st = b.peek()
    assert st.owner is None and not st.identity_ok and st.digest is None
    assert [r["state"] for r in db.export()] == ["void"]
    assert db.next_unassigned().acc_id == "A1"
    assert _run(FakeBadge(tmp_path / "good"), desk).acc_id == "A1"


def test_return_wipes_personal_data_keeps_the_id_and_frees_the_badge(db, tmp_path):
    from host_tools.desk import card

    desk = _desk(db, tmp_path, card_writer=card.write_card)
    b = FakeBadge(tmp_path / "b")
    first = _run(b, desk)
    bid = b.peek().badge_id
    out = return_badge(b, db, tmp_path / "cards")
    assert out.status == "returned" and out.ok and "Person 1's badge is free" in out.message
    st = b.peek()
    assert st.badge_id == bid and st.owner is None and not st.identity_ok
    assert "pair_key" not in b.flash and "id_key" not in b.flash
    assert [n for n in (tmp_path / "b").iterdir() if n.name.startswith("owner")] == []
    assert not first.card.exists()  # its QR pairs with a key that no longer exists
    assert db.live_for_badge(bid) is None and db.export()[0]["state"] == "returned"
    # The badge is reused for the next accreditation; A1 is not handed out again.
    assert _run(b, desk).acc_id == "A2"
    # Returning a badge nobody has: wiped all the same, and said so.
    blank = FakeBadge(tmp_path / "blank")
    blank.identity.set_badge_id(_nvs(blank), b"\x01" * 8)
    out = return_badge(blank, db)
    assert out.status == "returned" and "no live assignment" in out.message


def _nvs(badge):
    from host_tools.testkit.fake_badge import FakeNVS

    return FakeNVS(badge.flash, lambda: None)


@pytest.mark.parametrize("cut", range(0, 8))
def test_return_cut_off_is_finished_by_either_desk(db, tmp_path, cut):
    desk = _desk(db, tmp_path)
    b = FakeBadge(tmp_path / "b")
    _run(b, desk)
    b.cut_after = cut
    out = return_badge(b, db)
    b.replug()
    if out.status == "gone":
        assert faults.check(db, [b]) == {}
        again = _run(b, desk)  # plugged into the provisioning desk
        if b.peek().owner and again.status == "already":
            assert again.acc_id == "A1"  # unplugged before the wipe began: still A1's
        else:
            # The wipe had begun: the return is finished, then the badge reused.
            assert again.status == "done" and again.acc_id == "A2", again
            assert [(r["acc_id"], r["state"]) for r in db.export()] == [("A1", "returned"), ("A2", "done")]
    else:
        assert out.status == "returned"
    assert faults.check(db, [b], final=True) == {}


def test_badge_holding_someone_elses_data_is_not_overwritten(db, tmp_path):
    desk = _desk(db, tmp_path)
    b = FakeBadge(tmp_path / "b")
    _run(b, desk)
    # As if written from another event's database: a complete identity, gen 999.
    b.flash["prov_gen"] = 999
    b.owner.save(dict(b.peek().owner, gen=999), path=str(tmp_path / "b" / "owner.json"))
    out = _run(b, desk)
    assert out.status == "mismatch" and "cloudpin desk return --port" in out.message
    assert db.export()[0]["state"] == "done"


def test_secrets_never_reach_logs_messages_or_exports(db, tmp_path, caplog):
    from host_tools.desk import card

    caplog.set_level(logging.DEBUG)
    desk = _desk(db, tmp_path, card_writer=card.write_card)
    badges = [FakeBadge(tmp_path / ("b%d" % i)) for i in range(3)]
    outs = [_run(b, desk) for b in badges]
    outs.append(return_badge(badges[0], db))
    text = caplog.text + repr(outs) + repr(db.export()) + repr([b.peek().public() for b in badges])
    text += open(tmp_path / "desk.sqlite", "rb").read().decode("latin-1") if (tmp_path / "desk.sqlite").exists() else ""
    assert "assigned to A1" in caplog.text  # the log is there and does name things
    for b in badges[1:]:
        for key in ("pair_key", "id_key"):
            secret = b.flash[key]
            for form in (secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
                         base64.b32encode(secret).decode().rstrip("=")):
                assert form not in text, key


def _other_database(tmp_path):
    other = deskdb.connect(str(tmp_path / "other-event.sqlite"), durable=False)
    other.import_roster([Accreditation("B%d" % i, "Other %d" % i, "Org", "reporter") for i in range(1, 4)])
    return other


def test_badge_written_from_another_database_is_refused_until_returned(db, tmp_path, caplog):
    b = FakeBadge(tmp_path / "b")
    assert _run(b, _desk(db, tmp_path)).status == "done"
    mine = b.peek()
    other = _other_database(tmp_path)
    try:
        out = _run(b, _desk(other, tmp_path / "o"))
        assert out.status == "foreign" and not out.ok, out
        assert "holds A1's identity (gen %d) that this database does not know" % mine.prov_gen in out.message
        assert "cloudpin desk return --port fake0" in out.message and "--overwrite-unknown" in out.message
        assert b.peek() == mine and other.export() == []  # nothing written, nothing assigned
        assert any(r.levelname == "WARNING" and "foreign" in r.getMessage() for r in caplog.records), caplog.records
        # Returned first (the return desk wipes whatever it finds): then it is free.
        assert return_badge(b, other).status == "returned"
        again = _run(b, _desk(other, tmp_path / "o"))
        assert again.status == "done" and again.acc_id == "B1"
    finally:
        other.close()


def test_overwrite_unknown_takes_a_badge_from_another_database(db, tmp_path):
    b = FakeBadge(tmp_path / "b")
    _run(b, _desk(db, tmp_path))
    other = _other_database(tmp_path)
    try:
        out = _run(b, _desk(other, tmp_path / "o", overwrite_unknown=True))
        assert out.status == "done" and out.acc_id == "B1" and b.peek().owner["acc"] == "B1"
    finally:
        other.close()


def test_a_badge_marked_lost_that_turns_up_is_not_given_to_someone_else(db, tmp_path):
    b = FakeBadge(tmp_path / "b")
    desk = _desk(db, tmp_path)
    _run(b, desk)
    db.end(db.live_for_acc("A1").id, "lost")
    out = _run(b, desk)
    assert out.status == "foreign" and "A1's badge, marked lost" in out.message and out.name == "Person 1"
    assert b.peek().owner["acc"] == "A1"


def test_data_of_a_write_this_database_abandoned_is_overwritten(db, tmp_path):
    # Pulled after the write, then the person scanned again and got another
    # badge (the station voids the unfinished assignment): stale data, reusable.
    from host_tools.desk.badge_io import BadgeGone

    b = FakeBadge(tmp_path / "b")
    desk = _desk(db, tmp_path)

    def pull_at_selftest(step, message=""):
        if step == "selftest":
            raise BadgeGone("fake0: badge disconnected")

    assert provision(b, desk, bulk_chooser(db), progress=pull_at_selftest).status == "gone"
    assert b.peek().owner["acc"] == "A1"
    db.end(db.live_for_acc("A1").id, "void")
    assert _run(b, desk).status == "done"


def test_failures_are_logged_as_warnings_or_errors(db, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cloudpin.desk")
    desk = _desk(db, tmp_path)
    faulty = FakeBadge(tmp_path / "f", selftest={"sensor": {"ok": False, "detail": "no reply"}, "ok": False})
    assert _run(faulty, desk).status == "faulty"
    gone = FakeBadge(tmp_path / "g", port="ttyGone")
    gone.plugged = False
    assert _run(gone, desk).status == "gone"
    assert return_badge(gone, db).status == "gone"
    assert _run(FakeBadge(tmp_path / "ok", port="ttyOk"), desk).status == "done"
    levels = {(r.getMessage().split()[0], r.levelname) for r in caplog.records if " badge=" in r.getMessage()}
    assert ("fake0", "ERROR") in levels and ("ttyGone", "WARNING") in levels and ("ttyOk", "INFO") in levels
    assert not any(r.levelname == "INFO" and (" faulty:" in r.getMessage() or " gone:" in r.getMessage())
                   for r in caplog.records)


def test_return_on_a_port_with_no_badge_says_so(db, tmp_path):
    gone = FakeBadge(tmp_path / "g", port="/dev/ttyNOPE")
    gone.plugged = False
    out = return_badge(gone, db)
    assert out.status == "gone" and "no badge there (no such port): is it plugged in?" == out.message
    # unplugged mid-way is still said as before
    b = FakeBadge(tmp_path / "b")
    _run(b, _desk(db, tmp_path))
    b.cut_after = 1
    assert "unplugged during the return" in return_badge(b, db).message


def test_every_badge_gets_the_events_key_and_time_zone_and_a_return_wipes_them(db, tmp_path):
    db.set_utc_offset(-240)
    desk = _desk(db, tmp_path)
    badges = [FakeBadge(tmp_path / ("b%d" % i), "ttyUSB%d" % i) for i in range(2)]
    for b in badges:
        assert _run(b, desk).status == "done"
    event = db.event()
    for b in badges:
        # In NVS through cloudpin.identity.write; the pin's own load() says it is social.
        assert b.flash["event_key"] == event.key and b.flash["utc_offset"] == -240
        st = b.peek()
        assert st.social and st.utc_offset == -240 and st.event_digest == event.digest and st.has_event(event)
    assert badges[0].flash["id_key"] != badges[1].flash["id_key"]  # per badge: the identity; per event: the key
    out = return_badge(badges[0], db)
    assert out.status == "returned"
    st = badges[0].peek()
    assert "event_key" not in badges[0].flash and "utc_offset" not in badges[0].flash
    assert not st.social and st.event_digest is None and st.utc_offset is None
    # The same badge provisioned again for the next person gets the same event key.
    assert _run(badges[0], desk).status == "done" and badges[0].flash["event_key"] == event.key


class _EventlessBadge(FakeBadge):
    """Firmware that drops the event keys (an older identity.write)."""

    def _write(self, nvs, card, pair_key, id_key, gen, event):
        self.owner.save(card, path=self._owner_path())
        self.identity.write(nvs, pair_key, id_key, gen)


def test_a_badge_that_does_not_keep_the_event_key_fails_the_read_back(db, tmp_path):
    desk = _desk(db, tmp_path)
    b = _EventlessBadge(tmp_path / "b")
    out = _run(b, desk)
    assert out.status == "failed" and "read-back differs (event key and time zone)" in out.message, out
    assert db.export()[0]["state"] == "writing"  # not handed out; plugging it in again retries
    # A badge handed out before the database had its event key is reported, not silently kept.
    good = FakeBadge(tmp_path / "g")
    assert _run(good, desk).status == "done"
    good.identity.write(_nvs(good), good.flash["pair_key"], good.flash["id_key"], good.flash["prov_gen"])
    again = _run(good, desk)
    assert again.status == "already" and "holds no key of this event" in again.message
    assert "cloudpin desk return --port" in again.message

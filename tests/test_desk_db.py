"""The desk database (host_tools/desk/db.py) on SQLite and on a real local
PostgreSQL server: the same behaviour, and the rules enforced by the
database itself, not only by the tool's code."""
import threading

import pytest

from host_tools.desk import db as deskdb
from host_tools.desk.db import Accreditation
from host_tools.testkit import pgserver


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "desk.sqlite")
    # No skip: a PostgreSQL that cannot start fails the test with the reason.
    return pgserver.shared().empty_database()


@pytest.fixture
def db(db_url):
    d = deskdb.connect(db_url)
    d.import_roster([Accreditation("A%d" % i, "Name %d" % i, "Org", "reporter", ("@n%d" % i,)) for i in range(1, 6)])
    for b in ("b1", "b2", "b3"):
        d.see_badge(b, "0.1.0")
    yield d
    d.close()


def test_urls_are_parsed_and_bad_ones_explained():
    assert deskdb.parse_url(None) == ("sqlite", "desk.sqlite")
    assert deskdb.parse_url("x/desk.db") == ("sqlite", "x/desk.db")
    assert deskdb.parse_url("sqlite:///rel.db") == ("sqlite", "rel.db")
    assert deskdb.parse_url("sqlite:////abs/d.db") == ("sqlite", "/abs/d.db")
    assert deskdb.parse_url("postgresql://u@h/db")[0] == "postgresql"
    for bad in ("mysql://x/y", "sqlite://host/x"):
        with pytest.raises(deskdb.DeskDBError):
            deskdb.parse_url(bad)
    assert "secret" not in deskdb._redact("postgresql://desk:secret@host/db")


def test_missing_folder_or_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(deskdb.DeskDBError, match="does not exist"):
        deskdb.connect(str(tmp_path / "nope" / "desk.sqlite"))
    with pytest.raises(deskdb.DeskDBError, match="cannot connect"):
        deskdb.connect("postgresql://desk@/x?host=%s&port=1" % tmp_path)


def test_roster_import_adds_updates_and_keeps_order(db):
    assert db.counts()["roster"] == 5
    changed = Accreditation("A2", "New Name", "Org", "reporter", ("@n2",))
    assert db.import_roster([changed, Accreditation("A9", "Nine"), Accreditation("A1", "Name 1", "Org", "reporter",
                                                                                 ("@n1",))]) == (1, 1, 1)
    assert db.accreditation("A2").name == "New Name"
    assert db.accreditation("A9").seq == 6
    assert db.accreditation("nope") is None
    assert db.accreditation("A1").handles == ("@n1",)


def test_reserve_finish_and_next_unassigned(db):
    assert db.next_unassigned().acc_id == "A1"
    a = db.reserve("A1", "b1", "d1", "desk-1")
    assert (a.acc_id, a.badge_id, a.state, a.live) == ("A1", "b1", "writing", True)
    assert db.next_unassigned().acc_id == "A2"
    assert db.next_unassigned(skip={"A2"}).acc_id == "A3"
    assert db.set_digest(a.id, "d2") and db.assignment(a.id).digest == "d2"
    assert db.finish(a.id) and not db.finish(a.id)
    assert not db.set_digest(a.id, "d3")  # only while writing
    assert db.live_for_badge("b1").state == "done" and db.live_for_acc("A1").id == a.id
    assert db.counts()["done"] == 1 and db.counts()["unassigned"] == 4


def test_database_refuses_two_live_badges_for_one_accreditation(db):
    # Straight SQL, bypassing every check in the tool's code.
    db.reserve("A1", "b1", "d", "desk")
    with pytest.raises(Exception):
        with db.transaction():
            db._exec("INSERT INTO assignments (acc_id, badge_id, state, digest, desk, created_at) "
                     "VALUES ('A1', 'b2', 'done', 'd', 'x', 'now')")
    with pytest.raises(Exception):
        with db.transaction():
            db._exec("INSERT INTO assignments (acc_id, badge_id, state, digest, desk, created_at) "
                     "VALUES ('A2', 'b1', 'writing', 'd', 'x', 'now')")
    with pytest.raises(Exception):
        with db.transaction():
            db._exec("INSERT INTO assignments (acc_id, badge_id, state, digest, desk, created_at) "
                     "VALUES ('A3', 'b3', 'bogus', 'd', 'x', 'now')")
    assert len(db.export()) == 1


def test_conflicts_name_what_is_in_the_way(db):
    first = db.reserve("A1", "b1", "d", "desk")
    with pytest.raises(deskdb.Conflict) as e:
        db.reserve("A1", "b2", "d", "desk")
    assert e.value.kind == "accreditation" and e.value.existing.id == first.id
    assert "A1 already has badge b1" in str(e.value)
    with pytest.raises(deskdb.Conflict) as e:
        db.reserve("A2", "b1", "d", "desk")
    assert e.value.kind == "badge"
    with pytest.raises(deskdb.DeskDBError, match="unknown accreditation"):
        db.reserve("ZZ", "b2", "d", "desk")


def test_ended_assignments_free_badge_and_accreditation(db):
    a = db.reserve("A1", "b1", "d", "desk")
    db.finish(a.id)
    assert db.end(a.id, "returned") and not db.end(a.id, "returned")
    assert db.live_for_badge("b1") is None and db.live_for_acc("A1") is None
    b = db.reserve("A2", "b1", "d", "desk")  # the badge is reused
    assert b.id > a.id  # ids, the badges' prov_gen, only grow
    c = db.reserve("A1", "b2", "d", "desk")  # the wearer may get a new badge explicitly
    assert db.end(c.id, "void")
    # A returned accreditation is not handed out again automatically; a void one is.
    assert db.next_unassigned().acc_id == "A3"
    with pytest.raises(ValueError):
        db.end(b.id, "done")
    states = [(r["acc_id"], r["state"]) for r in db.export()]
    assert states == [("A1", "returned"), ("A2", "writing"), ("A1", "void")]


def test_void_attempt_leaves_accreditation_available(db):
    a = db.reserve("A1", "b1", "d", "desk")
    db.end(a.id, "void")
    assert db.next_unassigned().acc_id == "A1"


def test_export_has_every_assignment_and_no_digest(db):
    a = db.reserve("A3", "b2", "s3cr3t-digest", "desk-2")
    db.finish(a.id)
    rows = db.export()
    assert rows[0]["acc_id"] == "A3" and rows[0]["name"] == "Name 3" and rows[0]["handles"] == ["@n3"]
    assert rows[0]["gen"] == a.id and rows[0]["badge_id"] == "b2" and rows[0]["state"] == "done"
    assert "s3cr3t-digest" not in repr(rows)


def test_two_connections_racing_for_the_same_accreditation(db_url, db):
    # Two desks on one database both pick "the next unassigned": exactly one wins.
    other = deskdb.connect(db_url)
    results = []

    def claim(conn, badge):
        try:
            results.append(conn.reserve("A1", badge, "d", "desk"))
        except deskdb.Conflict as e:
            results.append(e)

    threads = [threading.Thread(target=claim, args=(c, b)) for c, b in ((db, "b1"), (other, "b2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert sorted(type(r).__name__ for r in results) == ["Assignment", "Conflict"]


def test_crash_before_commit_leaves_nothing(db):
    class Crash(Exception):
        pass

    def boom():
        raise Crash()

    db.before_commit = boom
    with pytest.raises(Crash):
        db.reserve("A1", "b1", "d", "desk")
    db.before_commit = None
    assert db.live_for_acc("A1") is None and db.export() == []
    assert db.reserve("A1", "b1", "d", "desk").state == "writing"


def test_reopening_keeps_everything(db_url, db):
    a = db.reserve("A1", "b1", "d", "desk")
    db.close()
    again = deskdb.connect(db_url)
    assert again.live_for_badge("b1") == a
    assert again.counts()["roster"] == 5
    again.close()


def test_the_event_key_is_made_once_and_every_desk_on_the_database_gets_it(db_url, db):
    # Two desks ask for the event at the same moment: one key, one time zone.
    other = deskdb.connect(db_url)
    got = []
    threads = [threading.Thread(target=lambda c=c, o=o: got.append(c.event(o))) for c, o in ((db, 120), (other, -300))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got[0].key) == 16 and got[0] == got[1] and got[0].utc_offset in (120, -300)
    assert other.event() == db.event() == got[0]  # kept, not remade
    other.close()
    # Another event's database has its own key.
    assert deskdb.connect("sqlite:///:memory:").event().key != got[0].key


def test_the_event_time_zone_is_set_until_a_badge_holds_it(db):
    assert db.set_utc_offset(-300).utc_offset == -300
    key = db.event().key
    assert db.set_utc_offset(330) == deskdb.Event(key, 330)  # the key stays
    for bad in (841, -721, True, "60"):
        with pytest.raises(deskdb.DeskDBError, match="minutes east of UTC"):
            db.set_utc_offset(bad)
    a = db.reserve("A1", "b1", "d", "desk")
    db.end(a.id, "void")  # a voided write never reached a wearer
    assert db.set_utc_offset(60).utc_offset == 60
    db.reserve("A2", "b2", "d", "desk")
    with pytest.raises(deskdb.DeskDBError, match=r"UTC\+01:00 and 1 badge\(s\) were written with it"):
        db.set_utc_offset(120)
    assert db.set_utc_offset(60).utc_offset == 60  # the same value is no change


@pytest.mark.parametrize("text,minutes", [("+02:00", 120), ("-05:30", -330), ("+2", 120), ("UTC+0545", 345),
                                          ("Z", 0), ("utc", 0), ("-300", -300), ("840", 840), (" +14:00 ", 840)])
def test_utc_offsets_are_read_as_people_write_them(text, minutes):
    assert deskdb.parse_utc_offset(text) == minutes
    assert deskdb.parse_utc_offset(deskdb.format_utc_offset(minutes)[3:]) == minutes


@pytest.mark.parametrize("text,says", [("2", "give hours with a sign"), ("+15:00", "outside UTC-12:00"),
                                       ("+02:75", "below 60"), ("CEST", r"expected \+HH:MM"), ("", "expected")])
def test_bad_utc_offsets_are_explained(text, says):
    with pytest.raises(deskdb.DeskDBError, match=says):
        deskdb.parse_utc_offset(text)


def test_key_sizes_time_zone_range_and_event_digest_are_the_badges_own():
    # The desk takes them from cloudpin.identity (no copies to drift apart):
    # what it makes, the badge's own checks accept, and its digest is the badge's.
    from host_tools.desk import provision
    from host_tools.fw import source as fwsource

    ident = fwsource.load("identity")
    event = deskdb.connect("sqlite:///:memory:").event(0)
    ident._check("event_key", event.key)
    assert event.digest == ident.event_digest(event.key).hex()
    for key, value in zip(("pair_key", "id_key"), provision.new_secrets()):
        ident._check(key, value)
    assert (deskdb.UTC_OFFSET_MIN, deskdb.UTC_OFFSET_MAX) == (ident.UTC_OFFSET_MIN, ident.UTC_OFFSET_MAX)
    assert not ident._offset_ok(deskdb.UTC_OFFSET_MAX + 1) and ident._offset_ok(deskdb.UTC_OFFSET_MAX)

"""The interactive desk (host_tools/desk/station.py) with fake badges coming
and going on fake ports: scans go to the badge waiting longest, mistakes get
a message instead of a traceback, unplugged badges resume when they return,
and no more than four are worked on at once."""
import time

import pytest

from host_tools.desk import db as deskdb
from host_tools.desk.badge_io import firmware_version
from host_tools.desk.db import Accreditation
from host_tools.desk.provision import Desk
from host_tools.desk.station import Station
from host_tools.testkit import desk_faults as faults
from host_tools.testkit.fake_badge import FakeBadge


def wait_for(pred, what, timeout=10.0):
    # Synchronisation with the worker threads, not a speed requirement.
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


class Bench:
    """Ports that can be plugged and unplugged, each with a fake badge."""

    def __init__(self, tmp_path, n=6):
        self.badges = {"tty%d" % i: FakeBadge(tmp_path / ("b%d" % i), "tty%d" % i) for i in range(n)}
        self.plugged = []

    def lister(self):
        return list(self.plugged)

    def factory(self, port):
        return self.badges[port]

    def plug(self, port):
        self.badges[port].replug()
        self.plugged.append(port)

    def unplug(self, port):
        self.plugged.remove(port)
        self.badges[port].plugged = False


@pytest.fixture
def rig(tmp_path):
    db = deskdb.connect(str(tmp_path / "desk.sqlite"), durable=False)
    db.import_roster([Accreditation("A%d" % i, "Person %d" % i) for i in range(1, 9)])
    bench = Bench(tmp_path)
    desk = Desk(db, firmware_version(), tmp_path / "cards", card_writer=faults._stub_card)
    heard = []
    station = Station(db, desk, bench.lister, bench.factory, interval=0.01, on_message=heard.append)
    station.start()
    yield station, bench, db, heard
    station.stop()
    db.close()


def _row(station, port):
    for r in station.snapshot()[0]:
        if r["port"] == port:
            return r
    return None


def _state(station, port):
    r = _row(station, port)
    return r and r["state"]


def test_scans_go_to_the_badge_waiting_longest(rig):
    station, bench, db, heard = rig
    bench.plug("tty0")
    wait_for(lambda: _state(station, "tty0") == "waiting", "tty0 waiting")
    bench.plug("tty1")
    wait_for(lambda: _state(station, "tty1") == "waiting", "tty1 waiting")
    station.handle_line("A3\r\n")
    station.handle_line("next")
    wait_for(lambda: _state(station, "tty0") == "finished" and _state(station, "tty1") == "finished", "both done")
    assert (_row(station, "tty0")["acc_id"], _row(station, "tty0")["status"]) == ("A3", "done")
    assert (_row(station, "tty1")["acc_id"], _row(station, "tty1")["status"]) == ("A1", "done")
    assert _row(station, "tty0")["fraction"] == 1.0
    assert any("A3 (Person 3) -> tty0" in m for m in heard)
    assert any("hand the badge and card to Person 3" in m for m in heard)
    bench.unplug("tty0")
    wait_for(lambda: _row(station, "tty0") is None, "row removed when the badge is taken")


def test_operator_mistakes_get_a_message(rig):
    station, bench, db, heard = rig
    station.handle_line("NOPE-1")
    station.handle_line("A 1")
    assert "unknown accreditation 'NOPE-1'" in heard[-2] and "import the roster" in heard[-2]
    assert "contains spaces" in heard[-1]
    bench.plug("tty0")
    wait_for(lambda: _state(station, "tty0") == "waiting", "waiting")
    station.handle_line("A1")
    wait_for(lambda: _state(station, "tty0") == "finished", "done")
    station.handle_line("A1")
    assert "A1 (Person 1) already has badge" in heard[-1] and "--lost" in heard[-1]
    station.handle_line("help")
    assert "next" in heard[-1]


def test_scan_before_plugging_is_queued_for_the_next_badge(rig):
    station, bench, db, heard = rig
    station.handle_line("A5")
    assert "A5 (Person 5) queued" in heard[-1]
    station.handle_line("A5")
    assert "already queued" in heard[-1]
    bench.plug("tty2")
    wait_for(lambda: _state(station, "tty2") == "finished", "done")
    assert _row(station, "tty2")["acc_id"] == "A5" and _row(station, "tty2")["status"] == "done"


def test_unplugged_while_waiting_leaves_no_trace(rig):
    station, bench, db, heard = rig
    bench.plug("tty0")
    wait_for(lambda: _state(station, "tty0") == "waiting", "waiting")
    bench.unplug("tty0")
    wait_for(lambda: _row(station, "tty0") is None, "row gone")
    assert db.export() == []
    station.handle_line("A1")
    assert "queued" in heard[-1]  # nobody is waiting any more


def test_unplugged_mid_write_resumes_without_a_new_scan(rig):
    station, bench, db, heard = rig
    badge = bench.badges["tty0"]
    bench.plug("tty0")
    wait_for(lambda: _state(station, "tty0") == "waiting", "waiting")
    badge.cut_after = 4  # power lost during the write
    station.handle_line("A2")
    wait_for(lambda: any("plug it back in" in m for m in heard), "unplug noticed")
    bench.plugged.remove("tty0")  # the operator pulls the cable for real...
    wait_for(lambda: _row(station, "tty0") is None, "row gone")
    assert db.live_for_acc("A2").state == "writing"
    bench.plug("tty0")  # ...and plugs it back in: no scan needed
    wait_for(lambda: _state(station, "tty0") == "finished", "done")
    assert (_row(station, "tty0")["acc_id"], _row(station, "tty0")["status"]) == ("A2", "done")
    assert faults.check(db, [badge], final=True, in_order=False) == {}


def test_unfinished_badge_elsewhere_is_released_only_on_a_second_scan(rig):
    station, bench, db, heard = rig
    db.see_badge("ffffffffffffffff")
    stuck = db.reserve("A4", "ffffffffffffffff", "d", "other")
    bench.plug("tty0")
    wait_for(lambda: _state(station, "tty0") == "waiting", "waiting")
    station.handle_line("A4")
    assert "unfinished badge ffffffff" in heard[-1] and "scan A4 again" in heard[-1]
    assert _state(station, "tty0") == "waiting"
    station.handle_line("A4")
    wait_for(lambda: _state(station, "tty0") == "finished", "done")
    assert db.assignment(stuck.id).state == "void" and db.live_for_acc("A4").state == "done"


def test_at_most_four_ports_at_once(rig):
    station, bench, db, heard = rig
    for i in range(5):
        bench.plug("tty%d" % i)
    wait_for(lambda: sum(1 for r in station.snapshot()[0] if r["state"] == "waiting") == 4, "four waiting")
    assert _state(station, "tty4") == "held" and "4 ports busy" in _row(station, "tty4")["message"]
    station.handle_line("next")
    # A finished badge needs no work: the held one starts as soon as one finishes.
    wait_for(lambda: _state(station, "tty4") == "waiting", "held badge started")
    assert [r["state"] for r in station.snapshot()[0]].count("finished") == 1


def test_quit_cancels_waiting_badges(rig):
    station, bench, db, heard = rig
    bench.plug("tty0")
    wait_for(lambda: _state(station, "tty0") == "waiting", "waiting")
    station.handle_line("q")
    assert station.stopping
    station.stop()
    wait_for(lambda: not station.busy(), "stopped")
    assert db.export() == []


def test_roster_used_up_on_next(rig):
    station, bench, db, heard = rig
    for i in range(1, 9):
        db.see_badge("b%d" % i)
        db.reserve("A%d" % i, "b%d" % i, "d", "x")
    station.handle_line("next")
    assert "roster used up" in heard[-1]

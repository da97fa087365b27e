"""Fault-injection harness: many provisionings (and some returns) of a pool
of fake badges through the real state machine and database, with badges
unplugged at random operations and the tool killed at random points (a
commit about to happen, a step starting, a badge operation before or after
it ran). A kill drops every object in memory and reopens the database:
only what was committed survives, as after a crash or a power cut.

After every round, and once more after plugging every badge back in:
- duplicated: an accreditation with two badges (in the database, or on two
  badges' flash), or a badge holding an identity the database does not
  count as live;
- lost: a finished assignment whose badge does not hold it, an accreditation
  skipped in roster order, an assignment left unfinished after all badges
  came back, or a finished one without its pairing card.
"""
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from host_tools.desk import db as deskdb
from host_tools.desk.db import Accreditation
from host_tools.desk.provision import Desk, bulk_chooser, provision, return_badge
from host_tools.testkit.fake_badge import FakeBadge


class ToolKilled(BaseException):
    """The desk tool dies here (BaseException: no `except Exception` in the
    tool may swallow it; only `finally` blocks run, like on SIGKILL... almost)."""


class KillSwitch:
    def __init__(self):
        self.at = None
        self.count = 0

    def arm(self, at):
        self.at, self.count = at, 0

    def tick(self, where=""):
        self.count += 1
        if self.at is not None and self.count == self.at:
            self.at = None
            raise ToolKilled(where)


def _stub_card(path, acc, badge_id, pair_key):
    # Rendering is tested elsewhere; here only "was a card made" matters.
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(acc.acc_id + " " + badge_id)


class HandOuts:
    """The physical world's memory of which badges were handed out with a
    card (a tool kill does not erase it): a card writer that remembers."""

    def __init__(self):
        self.given = set()

    def __call__(self, path, acc, badge_id, pair_key):
        _stub_card(path, acc, badge_id, pair_key)
        self.given.add((acc.acc_id, badge_id))


def check(db, badges, cards_dir=None, final=False, whole=True, handed_out=None, in_order=True):
    """Counter of violations (empty when all is well). whole=False checks
    only the badges, not the whole assignment table (cheaper). handed_out:
    the (acc_id, badge_id) pairs that got a card; a badge returned without
    ever being handed out is a lost accreditation. in_order: accreditations
    were taken in roster order (bulk mode), so a gap means one was lost."""
    bad = Counter()
    if whole or final:
        bad["duplicated"] += db._query(
            "SELECT COUNT(*) FROM (SELECT acc_id FROM assignments WHERE state <> 'void' "
            "GROUP BY acc_id HAVING COUNT(*) > 1) t")[0][0]
    holders = Counter()
    for b in badges:
        st = b.peek()
        if st.badge_id is None:
            continue
        live = db.live_for_badge(st.badge_id)
        if live is not None and live.state == "done" and not st.holds(live):
            # No marker: a return cut off after the wipe began; the next time
            # the badge is seen finishes it. Anything else is a broken badge.
            if final or st.identity_ok:
                bad["lost"] += 1
        if st.provisioned:
            r = db.assignment(st.prov_gen)
            if r is None or r.badge_id != st.badge_id or r.acc_id != st.owner["acc"] or not r.live:
                bad["duplicated"] += 1  # a badge the database does not know is someone's
            holders[st.owner["acc"]] += 1
    bad["duplicated"] += sum(1 for n in holders.values() if n > 1)
    # Roster order: the accreditations used are exactly the first ones.
    if in_order and (whole or final):
        top, used = db._query("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM accreditations a WHERE EXISTS "
                              "(SELECT 1 FROM assignments s WHERE s.acc_id = a.acc_id AND s.state <> 'void')")[0]
        if top != used:
            bad["lost"] += 1
    if handed_out is not None and (whole or final):
        for acc_id, badge_id in db._query("SELECT acc_id, badge_id FROM assignments WHERE state = 'returned'"
                                          + (" OR state = 'done'" if final else "")):
            if (acc_id, badge_id) not in handed_out:
                bad["lost"] += 1
    if final:
        rows = db.export()
        bad["lost"] += sum(1 for r in rows if r["state"] == "writing")
        if cards_dir is not None:
            from host_tools.desk.card import card_filename

            bad["lost"] += sum(1 for r in rows if r["state"] == "done"
                               and not (Path(cards_dir) / card_filename(r["acc_id"], r["badge_id"])).exists())
    return +bad


def run(provisionings=1000, db_url=None, seed=1, badges=8, p_unplug=0.3, p_kill=0.3, p_return=0.85,
        workdir=None, whole_check_every=10):
    """Returns a dict of counts; "lost" and "duplicated" must be 0."""
    rng = random.Random(seed)
    own_dir = workdir is None
    # RAM-backed when the system has it: thousands of commits and tiny files.
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    root = Path(workdir or tempfile.mkdtemp(prefix="cloudpin-faults-", dir=shm))
    cards = root / "cards"
    url = db_url or str(root / "desk.sqlite")
    t0 = time.monotonic()
    db = deskdb.connect(url, durable=False)
    db.import_roster([Accreditation("ACC-%05d" % i, "Person %d" % i, "Org %d" % (i % 7), "reporter")
                      for i in range(1, provisionings + badges * 3 + 1)])
    pool = [FakeBadge(root / ("badge%d" % i), port="fake%d" % i) for i in range(badges)]
    switch = KillSwitch()
    handouts = HandOuts()
    stats = Counter()
    violations = Counter()

    def desk_for(conn):
        conn.before_commit = lambda: switch.tick("commit")
        return Desk(conn, pool[0].version, cards, card_writer=handouts, name="harness")

    desk = desk_for(db)
    for b in pool:
        b.hook = switch.tick

    def finished():
        return db._query("SELECT COUNT(*) FROM assignments WHERE state IN ('done', 'returned')")[0][0]

    rounds = 0
    while finished() < provisionings:
        rounds += 1
        b = rng.choice(pool)
        b.replug()
        b.cut_after = rng.randint(0, 14) if rng.random() < p_unplug else None
        switch.arm(rng.randint(1, 24) if rng.random() < p_kill else None)
        st = b.peek()
        live = db.live_for_badge(st.badge_id) if st.badge_id else None
        try:
            # Only a badge that was handed out (with its card) can come back.
            if live is not None and live.state == "done" and (live.acc_id, live.badge_id) in handouts.given \
                    and rng.random() < p_return:
                out = return_badge(b, db, cards, progress=lambda s, m="": switch.tick(s))
                stats["return:" + out.status] += 1
            else:
                out = provision(b, desk, bulk_chooser(db), progress=lambda s, m="": switch.tick(s))
                stats[out.status] += 1
        except ToolKilled:
            stats["kills"] += 1
            db.close()
            db = deskdb.connect(url, durable=False)
            desk = desk_for(db)
        if not b.plugged:
            stats["unplugs"] += 1
        switch.arm(None)
        b.cut_after = None
        violations += check(db, pool, whole=rounds % whole_check_every == 0, handed_out=handouts.given)
    # Every badge comes back once more, without faults: unfinished work resumes.
    for b in pool:
        b.replug()
        st = b.peek()
        live = db.live_for_badge(st.badge_id) if st.badge_id else None
        if live is not None:
            provision(b, desk, bulk_chooser(db))
    violations += check(db, pool, cards, final=True, handed_out=handouts.given)
    done = finished()
    db.close()
    if own_dir:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "provisionings": done,
        "rounds": rounds,
        "unplugs": stats["unplugs"],
        "tool_kills": stats["kills"],
        "returns": stats["return:returned"],
        "lost": violations["lost"],
        "duplicated": violations["duplicated"],
        "seconds": round(time.monotonic() - t0, 2),
    }


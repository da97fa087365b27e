"""Provisioning one badge: the per-port state machine.

    connect -> check firmware (update) -> identify -> assign -> write
            -> read back -> set the clock -> self-test -> record -> card

Resumable without any local state: every decision is taken from what the
badge holds (cloudpin.identity's prov_gen marker, the digest of its secrets,
its owner card) and what the database says, so a badge unplugged at any
step, a tool that crashed, or a power cut is picked up where it stopped the
next time the badge is plugged in:

- The database row comes first (state "writing", the digest of the new
  secrets, its id = the badge's prov_gen), the badge is written second, and
  the row becomes "done" only after the read-back and the self-test. A badge
  therefore never holds a finished identity the database does not know.
- A "writing" row whose badge already holds exactly its digest and card was
  cut off after the write: it is checked and finished, not written again.
  Otherwise new secrets replace the digest and the badge is written again.
- Secrets exist only in memory and on the badge; the pairing card of a
  resumed badge is made from the key read back from the badge.

The accreditation comes from `choose(badge_id)`: the operator's next scan
(station.py) or the next unassigned one in the roster (bulk mode).
"""
import logging
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from host_tools.desk import clock as deskclock
from host_tools.desk.badge_io import BadgeError, BadgeGone
from host_tools.desk.db import KEY_BYTES, Conflict, DeskDBError
from host_tools.fw import source as fwsource

log = logging.getLogger("cloudpin.desk")
# The CLI logs to desk.log; used as a library (benches, tests) the desk's
# warnings are not printed to stderr by logging's last-resort handler.
log.addHandler(logging.NullHandler())

# (step, what the operator sees, share of the progress bar when it starts)
STEPS = (
    ("connect", "connecting", 0.0),
    ("check", "checking firmware", 0.08),
    ("identify", "reading badge", 0.15),
    ("assign", "scan or type an accreditation", 0.2),
    ("write", "writing identity and owner card", 0.3),
    ("verify", "reading back", 0.55),
    ("clock", "setting the clock", 0.62),
    ("selftest", "self-test", 0.7),
    ("record", "recording", 0.85),
    ("card", "printing pairing card", 0.92),
)
PROGRESS = {name: share for name, _, share in STEPS}
LABEL = {name: label for name, label, _ in STEPS}
OK_STATUSES = ("done", "already", "returned")
# A badge or tool that failed is an error; a refusal or an interrupted run
# the operator can resolve (plug it back, return it first) is a warning.
ERROR_STATUSES = ("failed", "faulty")


def log_level(status):
    """The desk.log level of an outcome with this status."""
    if status in OK_STATUSES:
        return logging.INFO
    return logging.ERROR if status in ERROR_STATUSES else logging.WARNING


class NoAccreditation(Exception):
    """choose() has nothing to give: roster used up, or the wait was cancelled."""

    def __init__(self, message, status="exhausted"):
        super().__init__(message)
        self.status = status


class Outdated(Exception):
    pass


@dataclass
class Outcome:
    status: str  # done already returned | gone failed outdated faulty exhausted cancelled mismatch foreign
    port: str
    badge_id: str = None
    acc_id: str = None
    name: str = None
    gen: int = None
    card: Path = None
    message: str = ""
    step: str = None

    @property
    def ok(self):
        return self.status in OK_STATUSES


def new_secrets():
    return secrets.token_bytes(KEY_BYTES["pair_key"]), secrets.token_bytes(KEY_BYTES["id_key"])


def digest(pair_key, id_key):
    """cloudpin.identity.digest, the badge's own, as the hex the badge reports."""
    return fwsource.load("identity").digest(pair_key, id_key).hex()


class Desk:
    """What the state machine needs besides the badge: the database, the
    firmware version it expects, where cards go and how they are made, the
    firmware updater (None: report outdated badges), this desk's name, and
    whether a badge holding an identity this database does not know may be
    overwritten (default: refused until it is returned)."""

    def __init__(self, db, version, cards_dir, card_writer=None, updater=None, name="desk", card_format="png",
                 overwrite_unknown=False):
        self.db = db
        self._event = None
        self.overwrite_unknown = overwrite_unknown
        self.card_format = card_format
        self.version = version
        self.cards_dir = Path(cards_dir)
        if card_writer is None:
            from host_tools.desk import card

            card_writer = card.write_card
        self.card_writer = card_writer
        self.updater = updater
        self.name = name

    @property
    def event(self):
        """The event's key and time zone every badge gets (db.Event; made on first use)."""
        if self._event is None:
            self._event = self.db.event()
        return self._event

    def card_path(self, acc_id, badge_id):
        from host_tools.desk.card import card_filename

        return self.cards_dir / card_filename(acc_id, badge_id, self.card_format)


def _noop(step, message=""):
    pass


class _Run:
    """One pass of the state machine over one plugged-in badge."""

    def __init__(self, badge, desk, choose, progress):
        self.badge = badge
        self.desk = desk
        self.db = desk.db
        self.choose = choose
        self.progress = progress or _noop
        self.step = None
        self.out = Outcome("failed", badge.port)

    def at(self, step, message=None):
        self.step = self.out.step = step
        self.progress(step, message or LABEL[step])

    def run(self):
        problem = deskclock.host_problem()
        if problem:  # before anything is written: every badge takes its time from this computer
            self.out.message = problem
            log.error("%s refused: %s", self.badge.port, problem)
            return self.out
        try:
            self.badge.connect()
            self._provision()
        except BadgeGone as e:
            self.out.status = "gone"
            if self.step is None:
                self.out.message = _not_there(e)
            else:
                self.out.message = "unplugged while %s: plug it back in to finish" % LABEL[self.step]
        except BadgeError as e:
            self.out.status = "failed"
            self.out.message = str(e)
        except Outdated as e:
            self.out.status = "outdated"
            self.out.message = str(e)
        except NoAccreditation as e:
            self.out.status = e.status
            self.out.message = str(e)
        except DeskDBError as e:
            self.out.status = "failed"
            self.out.message = str(e)
        finally:
            self.badge.close()
        # Every outcome, refusals included (mismatch, foreign), goes to desk.log.
        log.log(log_level(self.out.status), "%s badge=%s acc=%s gen=%s %s: %s", self.badge.port,
                self.out.badge_id, self.out.acc_id, self.out.gen, self.out.status, self.out.message)
        return self.out

    # -- steps ------------------------------------------------------------
    def _check_firmware(self):
        self.at("check")
        st = self.badge.inspect()
        if st.version == self.desk.version and st.complete:
            return st
        found = "no CloudPin app" if st.version is None else "firmware %s" % st.version
        if self.desk.updater is None:
            raise Outdated("%s, this desk needs %s: deploy it first (cloudpin deploy --port %s)"
                           % (found, self.desk.version, self.badge.port))
        self.progress("check", "%s: updating to %s" % (found, self.desk.version))
        self.desk.updater(self.badge, lambda frac: self.progress("check", "updating firmware %d%%" % (frac * 100)))
        st = self.badge.inspect()
        if st.version != self.desk.version or not st.complete:
            raise Outdated("still %s after the update: check the badge with cloudpin deploy --port %s"
                           % (st.version, self.badge.port))
        return st

    def _identify(self, st):
        self.at("identify")
        if st.badge_id is None:
            bid = secrets.token_bytes(KEY_BYTES["badge_id"])
            self.badge.set_badge_id(bid)
            st.badge_id = bid.hex()
            log.info("%s new badge id %s", self.badge.port, st.badge_id)
        self.out.badge_id = st.badge_id
        self.db.see_badge(st.badge_id, st.version)
        return st

    def _provision(self):
        st = self._identify(self._check_firmware())
        live = self.db.live_for_badge(st.badge_id)
        if live is None and _holds_identity(st) and not self.desk.overwrite_unknown:
            refusal = self._unknown_identity(st)
            if refusal:
                return refusal
        keys = None
        if live is not None and live.state == "done":
            if st.holds(live):
                return self._already(live, st)
            if st.identity_ok:
                return self._mismatch(live)
            # No marker on a handed-out badge: only a wipe erases it, so a
            # return was cut off. Finish it; then the badge is free.
            self.at("identify", "finishing an interrupted return")
            finish_return(self.badge, self.db, live, self.desk.cards_dir)
            live = None
        if live is not None:
            assignment = live  # an interrupted provisioning of this badge
            acc = self.db.accreditation(live.acc_id)
            self._show(acc, assignment)
            if st.holds(live):
                log.info("%s resuming gen %d: badge already written", self.badge.port, live.id)
            else:
                keys = new_secrets()
                if not self.db.set_digest(live.id, digest(*keys)):
                    raise BadgeError("the assignment changed meanwhile (another desk?): plug the badge in again")
                assignment = replace(live, digest=digest(*keys))
                log.info("%s resuming gen %d: writing again", self.badge.port, live.id)
                self._write(acc, assignment, keys)
        else:
            keys = new_secrets()
            acc, assignment = self._assign(st.badge_id, digest(*keys))
            self._write(acc, assignment, keys)
        self._verify(assignment)
        self._clock()
        if not self._selftest(assignment, keys):
            return self.out
        self.at("record")
        if not self.db.finish(assignment.id):
            raise BadgeError("the assignment changed meanwhile (another desk?): plug the badge in again")
        self._card(acc, assignment, keys)
        self.out.status = "done"
        self.out.message = "done: hand the badge and card to %s" % acc.name
        return self.out

    def _show(self, acc, assignment):
        self.out.acc_id = acc.acc_id
        self.out.name = acc.name
        self.out.gen = assignment.id

    def _assign(self, badge_id, dig):
        self.at("assign")
        while True:
            acc = self.choose(badge_id)
            try:
                assignment = self.db.reserve(acc.acc_id, badge_id, dig, self.desk.name)
            except Conflict as e:
                if e.kind == "badge":
                    raise BadgeError(str(e)) from None
                # The database said no (a scan for someone who has a badge,
                # or another port or desk was faster): ask again.
                self.progress("assign", "%s: scan another accreditation" % e)
                rejected = getattr(self.choose, "rejected", None)
                if rejected is not None:
                    rejected(acc, e)
                continue
            self._show(acc, assignment)
            log.info("%s badge=%s assigned to %s gen %d", self.badge.port, badge_id, acc.acc_id, assignment.id)
            return acc, assignment

    def _write(self, acc, assignment, keys):
        self.at("write", "writing %s's identity and owner card" % acc.name)
        self.badge.write(acc.card(assignment.id), keys[0], keys[1], assignment.id, self.desk.event)

    def _verify(self, assignment):
        self.at("verify")
        st = self.badge.inspect()
        if not st.holds(assignment) or not st.has_event(self.desk.event):
            what = []
            if st.prov_gen != assignment.id or not st.identity_ok:
                what.append("identity")
            if st.digest != assignment.digest:
                what.append("secrets")
            if not st.owner or st.owner.get("acc") != assignment.acc_id or st.owner.get("gen") != assignment.id:
                what.append("owner card")
            if not st.has_event(self.desk.event):
                what.append("event key and time zone")
            raise BadgeError("read-back differs (%s): plug the badge in again to rewrite it"
                             % ", ".join(what or ["badge id"]))

    def _clock(self, only_unset=False):
        """Set the badge's RTC to this computer's UTC and read it back
        (host_tools/desk/clock.py). only_unset: a badge handed out already
        keeps a clock that was set (its friends keep time with it)."""
        self.at("clock")
        if only_unset:
            r = deskclock.read(self.badge)
            if r["set"]:
                return r
        r = deskclock.set_clock(self.badge)
        log.info("%s badge=%s clock set to %s: %+d ms from this computer's (read back, round trip %d ms)",
                 self.badge.port, self.out.badge_id, deskclock.describe(r["utc_ms"]), r["offset_ms"], r["rtt_ms"])
        return r

    def _selftest(self, assignment, keys):
        self.at("selftest")
        result = self.badge.selftest()
        if result.get("ok"):
            # the phone service, with the secret the card will carry and the phone's own client
            pair_key = keys[0] if keys else self.badge.pair_key()
            result["phone"] = self.badge.phone_check(pair_key, assignment.badge_id, assignment.acc_id)
            result["ok"] = result["phone"]["ok"]
        if result.get("ok"):
            return True
        failed = ["%s: %s" % (k, result[k].get("detail")) for k in ("sensor", "ble", "storage", "phone")
                  if isinstance(result.get(k), dict) and not result[k].get("ok")]
        # A faulty badge must not keep the wearer's data or accreditation.
        self.badge.wipe()
        self.db.end(assignment.id, "void")
        self.out.status = "faulty"
        self.out.message = "self-test failed (%s): put this badge aside; %s can take another one" % (
            "; ".join(failed), self.out.acc_id)
        return False

    def _card(self, acc, assignment, keys):
        self.at("card")
        pair_key = keys[0] if keys else self.badge.pair_key()
        if pair_key is None:
            raise BadgeError("the badge lost its pairing key: plug it in again")
        path = self.desk.card_path(acc.acc_id, assignment.badge_id)
        self.desk.card_writer(path, acc, assignment.badge_id, pair_key)
        self.out.card = path

    def _already(self, live, st):
        acc = self.db.accreditation(live.acc_id)
        self._show(acc, live)
        path = self.desk.card_path(acc.acc_id, live.badge_id)
        self.out.card = path
        if not path.exists():  # the tool stopped after recording, before the card
            self._card(acc, live, None)
            self.out.status = "done"
            self.out.message = "done: hand the badge and card to %s" % acc.name
            return self.out
        self._clock(only_unset=True)  # a badge back at the desk after its battery ran flat
        self.out.status = "already"
        self.out.message = "already %s's badge (done)" % acc.name
        if not st.has_event(self.desk.event):
            # Written before this database had an event key, or by an older
            # desk: its pin cannot meet anyone of this event. Rewriting the
            # identity in place would risk a cut that reads as a return.
            self.out.message += ("; it holds no key of this event, so it cannot make friends: return it "
                                 "(cloudpin desk return --port %s) and provision it again" % self.badge.port)
            log.warning("%s badge=%s acc=%s lacks this event's key", self.badge.port, live.badge_id, acc.acc_id)
        return self.out

    def _unknown_identity(self, st):
        """The refusal for a badge that holds someone's identity without a
        live assignment here: another desk database wrote it, or it is a
        badge marked lost. None when this database abandoned exactly that
        write (a second scan gave the person another badge): stale, reusable."""
        acc = (st.owner or {}).get("acc")
        known = self.db.assignment(st.prov_gen) if st.prov_gen is not None else None
        if known is not None and known.badge_id == st.badge_id and acc in (None, known.acc_id):
            if known.state == "void":
                return None
            if known.state == "lost":
                self._show(self.db.accreditation(known.acc_id), known)
                acc = known.acc_id
                self.out.status = "foreign"
                self.out.message = ("%s's badge, marked lost: give it back to them, or free it with "
                                    "`cloudpin desk return --port %s`" % (acc, self.badge.port))
                return self.out
        self.out.acc_id, self.out.name = acc, (st.owner or {}).get("name")
        self.out.status = "foreign"
        self.out.message = ("holds %s (gen %s) that this database does not know (written by another desk "
                            "database?): refused; return it first with `cloudpin desk return --port %s`, or "
                            "provision with --overwrite-unknown" % (
                                "%s's identity" % acc if acc else "an identity", st.prov_gen, self.badge.port))
        return self.out

    def _mismatch(self, live):
        self._show(self.db.accreditation(live.acc_id), live)
        self.out.status = "mismatch"
        self.out.message = ("recorded as %s's badge, but it holds other data: if it came back, "
                            "free it with `cloudpin desk return --port %s`" % (live.acc_id, self.badge.port))
        return self.out


def _not_there(gone):
    """What to say when the port had no badge to talk to (BadgeGone on connect)."""
    return "no badge there (%s): is it plugged in?" % str(gone).split(": ", 1)[-1]


def _holds_identity(st):
    return bool(st.owner or st.identity_ok or st.digest)


def provision(badge, desk, choose, progress=None):
    """Run the state machine once for the badge plugged in; never raises for
    an expected problem: the Outcome says what happened and what to do."""
    return _Run(badge, desk, choose, progress).run()


def bulk_chooser(db, skip=()):
    """choose() for bulk mode: the next accreditation nobody has yet."""

    def choose(badge_id):
        acc = db.next_unassigned(skip)
        if acc is None:
            raise NoAccreditation("roster used up: every accreditation has a badge; import more with "
                                  "`cloudpin desk import --roster FILE`")
        return acc

    return choose


def finish_return(badge, db, live, cards_dir=None):
    """Wipe the badge, check the wipe, then record the return of `live` (if any)."""
    badge.wipe()
    after = badge.inspect()
    if after.owner is not None or after.identity_ok or after.digest is not None or after.event_digest is not None \
            or after.utc_offset is not None:
        raise BadgeError("the wipe did not take: try again")
    if live is None:
        return
    db.end(live.id, "returned")
    log.info("%s badge=%s returned by %s (gen %d)", badge.port, live.badge_id, live.acc_id, live.id)
    if cards_dir is not None:
        from host_tools.desk.card import card_filename

        # The card's QR is a key the badge no longer has; drop the file.
        for ext in ("png", "pdf"):
            (Path(cards_dir) / card_filename(live.acc_id, live.badge_id, ext)).unlink(missing_ok=True)


def return_badge(badge, db, cards_dir=None, progress=None):
    """The return desk: wipe the wearer's data from the badge (owner card,
    pairing and identifier keys; the badge keeps its id), then free it in the
    database. Wipe first: a return cut off halfway leaves a badge with no
    personal data that the database still counts as handed out, and running
    the return again finishes it."""
    progress = progress or _noop
    out = Outcome("failed", badge.port)
    connected = False
    try:
        progress("connect", "connecting")
        badge.connect()
        connected = True
        progress("identify", "reading badge")
        st = badge.inspect()
        if not st.complete:
            raise BadgeError("this badge has no CloudPin app (firmware %s): nothing to return" % st.version)
        out.badge_id = st.badge_id
        live = db.live_for_badge(st.badge_id) if st.badge_id else None
        if live is not None:
            acc = db.accreditation(live.acc_id)
            out.acc_id, out.name, out.gen = acc.acc_id, acc.name, live.id
        elif st.owner:
            out.acc_id, out.name = st.owner.get("acc"), st.owner.get("name")
        progress("write", "wiping personal data")
        finish_return(badge, db, live, cards_dir)
        out.status = "returned"
        if live is not None:
            out.message = "wiped; %s's badge is free for reuse" % out.name
        else:
            out.message = "wiped; the database had no live assignment for this badge"
    except BadgeGone as e:
        out.status = "gone"
        if not connected:
            out.message = _not_there(e)
        else:
            out.message = "unplugged during the return: plug it back in and run the return again"
    except (BadgeError, DeskDBError) as e:
        out.message = str(e)
    finally:
        badge.close()
    log.log(log_level(out.status), "%s return badge=%s acc=%s %s: %s", badge.port, out.badge_id, out.acc_id,
            out.status, out.message)
    return out

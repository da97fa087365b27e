"""The interactive desk: badges come and go on up to four ports, each gets
its own worker running the state machine (provision.py), and accreditations
scanned or typed by the operator go to the badge that has waited longest
(or wait in a queue for the next badge plugged in).

The operator's lines (a barcode scanner types like a keyboard and ends with
Enter) are checked before a badge gets them: unknown ids, accreditations
that already have a badge, one being written on another port. A scan for
someone whose unfinished badge is not plugged in here must be repeated to
release that badge and give them a new one.
"""
import collections
import logging
import os
import threading
import time

from host_tools.desk.db import DeskDBError
from host_tools.desk.hotplug import PortWatcher
from host_tools.desk.provision import PROGRESS, NoAccreditation, log_level, provision
from host_tools.desk.roster import check_acc_id, normalize_acc

log = logging.getLogger("cloudpin.desk")
MAX_PORTS = 4
HELP = ("scan or type an accreditation id; `next` = next on the roster; `q` = quit "
        "(badges being written are finished first)")


class Slot:
    """One port's row: what its badge is doing."""

    def __init__(self, port, lock, now):
        self.port = port
        self.state = "working"  # working | waiting | finished | held
        self.step = "connect"
        self.fraction = 0.0
        self.message = "connecting"
        self.badge_id = None
        self.acc_id = None
        self.name = None
        self.outcome = None
        self.since = now
        self.waiting_since = None
        self.offer = None
        self.cancelled = False
        self.cond = threading.Condition(lock)
        self.thread = None

    def row(self):
        return {"port": self.port, "state": self.state, "step": self.step, "fraction": self.fraction,
                "message": self.message, "badge_id": self.badge_id, "acc_id": self.acc_id, "name": self.name,
                "status": self.outcome.status if self.outcome else None}


class Station:
    def __init__(self, db, desk, lister, badge_factory, max_ports=MAX_PORTS, interval=0.5, on_message=None,
                 clock=time.monotonic):
        self.db = db
        self.desk = desk
        self.badge_factory = badge_factory
        self.max_ports = max_ports
        self.clock = clock
        self.lock = threading.RLock()
        self.slots = collections.OrderedDict()
        self.queue = collections.deque()  # scanned, waiting for a badge
        self.messages = collections.deque(maxlen=6)
        self.on_message = on_message
        self.confirm = {}  # acc_id -> id of the unfinished assignment a second scan releases
        self.stop_event = threading.Event()
        self.watcher = PortWatcher(lister, interval)
        self.finished = collections.Counter()
        self._input = threading.Lock()  # one operator line at a time, checked then delivered

    # -- life cycle ---------------------------------------------------------
    def start(self):
        self.say(HELP)
        return self.watcher.start(self.stop_event, self.plugged, self.unplugged)

    def stop(self, wait=30.0):
        """Stop watching; cancel badges waiting for a scan; let the ones being
        written finish (a badge half written is resumed next time anyway)."""
        self.stop_event.set()
        with self.lock:
            for s in self.slots.values():
                s.cond.notify_all()
            threads = [s.thread for s in self.slots.values() if s.thread]
        deadline = self.clock() + wait
        for t in threads:
            t.join(max(0.0, deadline - self.clock()))

    @property
    def stopping(self):
        return self.stop_event.is_set()

    def busy(self):
        with self.lock:
            return any(s.state in ("working", "waiting") for s in self.slots.values())

    def say(self, text, level=logging.INFO):
        with self.lock:
            self.messages.append(text)
        log.log(level, "desk: %s", text)
        if self.on_message:
            self.on_message(text)

    def snapshot(self):
        with self.lock:
            return [s.row() for s in self.slots.values()], list(self.messages), [a.acc_id for a in self.queue]

    # -- ports --------------------------------------------------------------
    def plugged(self, port):
        with self.lock:
            slot = Slot(port, self.lock, self.clock())
            self.slots[port] = slot
            self.slots.move_to_end(port)
            active = sum(1 for s in self.slots.values() if s.state in ("working", "waiting") and s is not slot)
            if active >= self.max_ports or self.stopping:
                slot.state = "held"
                slot.message = "%d ports busy: this badge waits for a free one" % self.max_ports
                return
            self._launch(slot)

    def _launch(self, slot):
        slot.state = "working"
        slot.thread = threading.Thread(target=self._work, args=(slot,), name="desk-" + slot.port, daemon=True)
        slot.thread.start()

    def unplugged(self, port):
        with self.lock:
            slot = self.slots.get(port)
            if slot is None:
                return
            if slot.state in ("working", "waiting"):
                # The worker notices (BadgeGone, or a cancelled wait) and says so.
                slot.cancelled = True
                slot.cond.notify_all()
                return
            del self.slots[port]
            self._start_held()

    def _start_held(self):
        active = sum(1 for s in self.slots.values() if s.state in ("working", "waiting"))
        for s in list(self.slots.values()):
            if active >= self.max_ports or self.stopping:
                return
            if s.state == "held":
                self._launch(s)
                active += 1

    def _progress(self, slot, step, message=""):
        with self.lock:
            slot.step = step
            slot.fraction = max(slot.fraction, PROGRESS.get(step, slot.fraction))
            slot.message = message or step

    def _work(self, slot):
        badge = self.badge_factory(slot.port)
        out = provision(badge, self.desk, self._chooser(slot), progress=lambda st, msg="": self._progress(slot, st, msg))
        with self.lock:
            slot.outcome = out
            slot.state = "finished"
            slot.badge_id = out.badge_id or slot.badge_id
            slot.acc_id, slot.name = out.acc_id, out.name
            slot.message = out.message
            if out.ok:
                slot.fraction = 1.0
            self.finished[out.status] += 1
            if slot.cancelled and self.slots.get(slot.port) is slot:
                del self.slots[slot.port]  # unplugged: the row goes with the badge
            self._start_held()
        if out.status == "cancelled":
            return
        who = " (%s, %s)" % (out.acc_id, out.name) if out.acc_id else ""
        self.say("%s%s: %s" % (os.path.basename(slot.port), who, out.message), log_level(out.status))

    # -- accreditations ---------------------------------------------------------
    def _chooser(self, slot):
        def choose(badge_id):
            with self.lock:
                slot.badge_id = badge_id
                if self.queue and not slot.cancelled:
                    return self.queue.popleft()
                slot.state = "waiting"
                slot.waiting_since = self.clock()
                slot.message = "scan or type an accreditation"
                while slot.offer is None and not slot.cancelled and not self.stopping:
                    slot.cond.wait(0.5)
                if slot.offer is None:
                    why = "unplugged" if slot.cancelled else "desk closing"
                    raise NoAccreditation("%s before an accreditation was scanned" % why, status="cancelled")
                acc, slot.offer = slot.offer, None
                slot.state = "working"
                return acc

        def rejected(acc, conflict):
            self.say("%s: %s" % (acc.acc_id, conflict), logging.WARNING)

        choose.rejected = rejected
        return choose

    def handle_line(self, line):
        """One line from the operator (keyboard or barcode scanner)."""
        with self._input:
            self._handle(line)

    def _handle(self, line):
        text = normalize_acc(line)
        if not text:
            return
        low = text.lower()
        if low in ("q", "quit", "exit"):
            self.say("closing: badges being written are finished first")
            self.stop_event.set()
            return
        if low in ("?", "h", "help"):
            self.say(HELP)
            return
        try:
            acc = self._next_on_roster() if low == "next" else self._check_scan(text)
        except DeskDBError as e:
            self.say("database problem: %s" % e, logging.ERROR)
            return
        if acc is not None:
            self._deliver(acc)

    def _pending_ids(self):
        ids = {a.acc_id for a in self.queue}
        ids.update(s.offer.acc_id for s in self.slots.values() if s.offer is not None)
        ids.update(s.acc_id for s in self.slots.values() if s.acc_id and s.state in ("working", "waiting"))
        return ids

    def _next_on_roster(self):
        with self.lock:
            skip = self._pending_ids()
        acc = self.db.next_unassigned(skip)
        if acc is None:
            self.say("roster used up: every accreditation has a badge (import more with `cloudpin desk import`)",
                     logging.WARNING)
        return acc

    def _check_scan(self, text):
        bad = check_acc_id(text)
        if bad:
            self.say("%r: %s; scan again" % (text[:40], bad), logging.WARNING)
            return None
        acc = self.db.accreditation(text)
        if acc is None:
            self.say("unknown accreditation %r: check the id, or import the roster with "
                     "`cloudpin desk import --roster FILE`" % text, logging.WARNING)
            return None
        with self.lock:
            if acc.acc_id in self._pending_ids():
                self.say("%s (%s) is already queued or being written" % (acc.acc_id, acc.name), logging.WARNING)
                return None
            here = {s.badge_id: s.port for s in self.slots.values() if s.badge_id}
        live = self.db.live_for_acc(acc.acc_id)
        if live is None:
            return acc
        if live.state == "done":
            self.say("%s (%s) already has badge %s: a lost badge is released with "
                     "`cloudpin desk return --acc %s --lost`" % (acc.acc_id, acc.name, live.badge_id[:8], acc.acc_id),
                     logging.WARNING)
            return None
        if live.badge_id in here:
            self.say("%s (%s) is being written on %s" % (acc.acc_id, acc.name, os.path.basename(here[live.badge_id])),
                     logging.WARNING)
            return None
        if self.confirm.get(acc.acc_id) != live.id:
            self.confirm[acc.acc_id] = live.id
            self.say("%s (%s) has an unfinished badge %s that is not plugged in: plug it back in to finish "
                     "it, or scan %s again to give them a new badge" % (acc.acc_id, acc.name, live.badge_id[:8],
                                                                      acc.acc_id))
            return None
        del self.confirm[acc.acc_id]
        if self.db.end(live.id, "void"):
            self.say("%s's unfinished badge %s released" % (acc.acc_id, live.badge_id[:8]))
        return acc

    def _deliver(self, acc):
        with self.lock:
            waiting = [s for s in self.slots.values() if s.state == "waiting" and s.offer is None
                       and not s.cancelled]
            if waiting:
                slot = min(waiting, key=lambda s: s.waiting_since)
                slot.offer = acc
                slot.acc_id, slot.name = acc.acc_id, acc.name
                slot.cond.notify_all()
                port = slot.port
            else:
                self.queue.append(acc)
                port = None
        if port:
            self.say("%s (%s) -> %s" % (acc.acc_id, acc.name, os.path.basename(port)))
        else:
            self.say("%s (%s) queued: plug in a badge" % (acc.acc_id, acc.name))

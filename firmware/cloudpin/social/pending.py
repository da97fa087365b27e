# Friendships not yet settled on both pins (docs/meet-and-greet.md,
# "Commit and reconciliation"): an atomic Store document of at most
# MAX_ENTRIES entries, each what this pin holds of one peer:
#   PENDING      the peer's record, verified but not committed (we are the
#                responder and CONFIRM did not arrive): we ask the peer
#   UNCONFIRMED  committed in the friend store, but the peer may not have
#                got CONFIRM: we answer the peer when it asks
#   SENT         we sent our record and got none back: the peer may hold us
#                pending; we answer (UNKNOWN) when it asks. No peer key.
# Pending records are not friends: the friend store holds committed ones only.
import binascii

from micropython import const

from cloudpin.social import friends
from cloudpin.store import Store

PATH = "pending.json"
MAX_ENTRIES = const(4)
PENDING = "p"
UNCONFIRMED = "u"
SENT = "s"
_STATES = (PENDING, UNCONFIRMED, SENT)


def _validate(doc):
    if not isinstance(doc, list) or len(doc) > MAX_ENTRIES:
        raise ValueError("pending: a list of up to %d" % MAX_ENTRIES)
    out = []
    for e in doc:
        if not isinstance(e, dict) or e.get("state") not in _STATES:
            raise ValueError("pending entry")
        t = e.get("t")
        if not isinstance(t, int) or isinstance(t, bool):
            raise ValueError("pending time")
        fk = e.get("fk", "")
        if e["state"] == SENT:
            fk = ""
        elif not isinstance(fk, str) or len(binascii.unhexlify(fk)) != 16:
            raise ValueError("pending key")
        card = friends.validate_card(e["card"]) if e["state"] == PENDING else None
        out.append({"state": e["state"], "fk": fk, "card": card, "t": t})
    return out


def _hex(fk):
    return binascii.hexlify(bytes(fk)).decode()


class Pending:
    def __init__(self, log=None, path=PATH):
        self._store = Store(path, _validate, log)
        self.entries = self._store.load(None) or []

    def save(self):
        self._store.save(self.entries)

    def _entry(self, fk):
        h = _hex(fk)
        for e in self.entries:
            if e["fk"] == h:
                return e
        return None

    def state_of(self, fk):
        e = self._entry(fk)
        return None if e is None else e["state"]

    def room(self):
        return MAX_ENTRIES - len(self.entries)

    def put(self, state, t, fk=None, card=None):
        """Record (or replace) what we hold of the peer `fk`; False if full.
        One atomic write."""
        h = _hex(fk) if fk is not None else ""
        kept = [e for e in self.entries if not (h and e["fk"] == h)]
        if len(kept) >= MAX_ENTRIES:
            return False
        kept.append({"state": state, "fk": h, "card": card if state == PENDING else None, "t": t})
        self.entries = kept
        self.save()
        return True

    def drop(self, fk=None, state=None):
        """Forget the entry of peer `fk` (or every entry in `state`)."""
        h = _hex(fk) if fk is not None else None
        kept = [e for e in self.entries if not ((h is not None and e["fk"] == h) or e["state"] == state)]
        if len(kept) != len(self.entries):
            self.entries = kept
            self.save()

    def peers(self, state):
        """Keys (bytes) of the peers in `state`."""
        return [binascii.unhexlify(e["fk"]) for e in self.entries if e["state"] == state]

    def card(self, fk):
        e = self._entry(fk)
        return None if e is None else e["card"]

    def wipe(self):
        self.entries = []
        self.save()

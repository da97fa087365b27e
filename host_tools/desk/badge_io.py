"""One badge over its serial port, in a host_tools.link SerialSession (the
raw REPL every tool uses: waking, errors, out-of-memory recovery). Each step is one short script that calls the firmware's
own modules (cloudpin.identity, owner, selftest) and prints one JSON line,
so the badge's rules (validation, commit-marker order) apply however it is
written, and a step costs one round trip.

Secrets go to the badge inside the write script and come back only from
pair_key(), for a pairing card; they never appear in an error message.
"""
import binascii
import json
import logging
from dataclasses import dataclass

from host_tools.fw import source as fwsource
from host_tools.link.session import BAUD, BadgeError, BadgeGone, SerialSession  # noqa: F401 (BadgeGone: the desk's too)

log = logging.getLogger("cloudpin.desk")
_MARK = "@@"


firmware_version = fwsource.version  # what this desk would deploy


@dataclass
class BadgeState:
    """What a badge holds, without secrets. version None: no CloudPin app;
    complete False: the app lacks the modules the desk needs."""

    version: str = None
    complete: bool = False
    badge_id: str = None  # 16 hex digits
    prov_gen: int = None
    identity_ok: bool = False  # NVS identity complete (marker set)
    digest: str = None
    owner: dict = None
    social: bool = False  # holds an event key and time zone (meet and greet on)
    utc_offset: int = None
    event_digest: str = None  # SHA-256 of its event key (hex), never the key

    @property
    def provisioned(self):
        """A finished provisioning: identity complete and an owner card of the same generation."""
        return bool(self.identity_ok and self.owner and self.owner.get("gen") == self.prov_gen)

    def holds(self, assignment):
        """Does the badge hold exactly what this assignment put there?"""
        return bool(self.provisioned and self.prov_gen == assignment.id and self.digest == assignment.digest
                    and self.badge_id == assignment.badge_id and self.owner.get("acc") == assignment.acc_id)

    def has_event(self, event):
        """Does the badge hold this event's key and time zone (a desk db.Event)?"""
        return bool(self.social and self.event_digest == event.digest and self.utc_offset == event.utc_offset)

    def public(self):
        return {"firmware": self.version, "badge_id": self.badge_id, "prov_gen": self.prov_gen,
                "provisioned": self.provisioned, "digest": self.digest, "owner": self.owner,
                "social": self.social, "utc_offset": self.utc_offset, "event_digest": self.event_digest}


_INSPECT = """
import json
try:
    from cloudpin import VERSION as _v
except ImportError:
    _v = None
_r = {"version": _v, "complete": False}
try:
    from cloudpin import identity as _i, owner as _o, clockset as _c
    _r.update(_i.public(_i.load(_i.open_nvs())))
    _r["owner"] = _o.load()
    _r["complete"] = True
except ImportError:
    pass
print("@@" + json.dumps(_r))
"""

_SET_ID = """
import binascii
from cloudpin import identity as _i
_i.set_badge_id(_i.open_nvs(), binascii.unhexlify(%r))
print("@@1")
"""

_WRITE = """
import json, binascii
from cloudpin import identity as _i, owner as _o
_n = _i.open_nvs()
_i.invalidate(_n)
_o.save(json.loads(%r))
_i.write(_n, binascii.unhexlify(%r), binascii.unhexlify(%r), %d, binascii.unhexlify(%r), %d)
print("@@1")
"""

_SET_CLOCK = """
import machine
from cloudpin import date as _d, clockset as _c
_d.set_utc_ms(machine.RTC(), %d)
_c.mark(%d, "desk")
print("@@1")
"""

_READ_CLOCK = """
import machine
from cloudpin import date as _d, clockset as _c
_m = _d.utc_ms(machine.RTC())
print("@@%d %s" % (_m, _c.source(_m) or "-"))
"""

_SELFTEST = """
import json
from cloudpin import selftest as _s
print("@@" + json.dumps(_s.run()))
"""

_PAIR_KEY = """
import binascii
from cloudpin import identity as _i
_k = _i.load(_i.open_nvs())["pair_key"]
print("@@" + (binascii.hexlify(_k).decode() if _k else ""))
"""

_WIPE = """
from cloudpin import identity as _i, owner as _o
_i.wipe(_i.open_nvs())
_o.wipe()
print("@@1")
"""


def state_from(d):
    return BadgeState(d.get("version"), bool(d.get("complete")), d.get("badge_id"), d.get("prov_gen"),
                      bool(d.get("provisioned")), d.get("digest"), d.get("owner"), bool(d.get("social")),
                      d.get("utc_offset"), d.get("event_digest"))


class SerialBadge(SerialSession):
    """A badge on a serial port, with the desk's steps. Methods raise
    BadgeGone or BadgeError only."""

    def __init__(self, port, baud=BAUD, connect_timeout=8.0, boot_wait=4.0):
        super().__init__(port, baud, wake_timeout=connect_timeout, boot_wait=boot_wait, log=log)

    def _run(self, code, timeout=15):
        """Run one step's script; its "@@" answer. Every script is
        idempotent, so the session may retry it (garbled exchange, a badge
        out of memory)."""
        return self._answer(self.after_oom(lambda: self.run(code, timeout, idempotent=True)))

    def _answer(self, out):
        for line in reversed(out.splitlines()):
            if line.startswith(_MARK):
                return line[len(_MARK):]
        raise BadgeError("%s: no answer from the badge" % self.port)

    # -- steps --------------------------------------------------------------
    def inspect(self):
        return state_from(json.loads(self._run(_INSPECT)))

    def set_badge_id(self, badge_id):
        self._run(_SET_ID % binascii.hexlify(badge_id).decode())

    def write(self, card, pair_key, id_key, gen, event):
        """Owner card, then the identity with the event's key and time zone
        (`event`: a desk db.Event), through cloudpin.identity.write."""
        self._run(_WRITE % (json.dumps(card, ensure_ascii=False), pair_key.hex(), id_key.hex(), gen,
                            event.key.hex(), event.utc_offset))

    def selftest(self):
        return json.loads(self._run(_SELFTEST, timeout=20))

    def set_clock(self, utc_ms):
        """Set the badge's RTC to utc_ms() (UTC ms, asked again if the
        command is retried) and mark it set by the desk (cloudpin.clockset)."""
        def once():
            ms = utc_ms()
            return self.run(_SET_CLOCK % (ms, ms))  # (not retried as it was: the time would be stale)

        self._answer(self.after_oom(once))

    def read_clock(self):
        """(the badge's UTC ms, "desk"/"friend" or None: who set it)."""
        ms, src = self._run(_READ_CLOCK).split()
        return int(ms), None if src == "-" else src

    def phone_check(self, pair_key, badge_id=None, acc=None):
        """The pin's phone service pairs with the card's secret, through the
        phone's own client (host_tools.phone.selftest); each fragment runs
        once (a retried one would be a replay to the pin)."""
        from host_tools.phone import selftest

        # the whole check starts over on a soft-reset badge if the stopped app left too little heap
        return self.after_oom(lambda: selftest.check(lambda code: self._answer(self.run(code, 15)), pair_key,
                                                     badge_id, acc))

    def pair_key(self):
        k = self._run(_PAIR_KEY)
        return bytes.fromhex(k) if k else None

    def wipe(self):
        self._run(_WIPE)


def deploy_updater(board_name):
    """The state machine's firmware updater, through host_tools.link.deploy when
    that tool is installed (None otherwise: outdated badges are reported).
    The deploy works on the desk's own session and restarts the app, which
    the desk then stops again on a fresh connection."""
    try:
        from host_tools.link import deploy
        from host_tools.boards import load_board
    except ImportError:
        return None
    if not hasattr(deploy, "deploy_badge"):
        return None
    board = load_board(board_name)

    def update(badge, progress):
        total = [0, 0]

        def note(event, **info):
            if event == "plan":
                total[0] = info.get("total") or 0
            elif event == "bytes" and total[0]:
                total[1] += info.get("n", 0)
                progress(min(1.0, total[1] / total[0]))

        deploy.deploy_badge(badge, board, progress=note)
        badge.reconnect()

    return update

"""The desk's self-test of a pin's phone service, with the same client a
phone uses, over the serial REPL the desk already holds (no radio at the
desk): the pin's own PhoneService, built from its NVS identity and owner
card, answers the client's fragments. Pairing with the secret printed on
the card proves the pin holds that secret and that its service accepts it;
INFO and CARD_GET must give back the badge id and the owner's name."""
from host_tools.phone.client import PhoneClientError, PinClient
from host_tools.phone.transports import p

_MARK = "@@"
_SETUP = """
import gc
gc.collect()
from cloudpin import VERSION as _v, identity as _i
from cloudpin.phone.backend import PinBackend as _B
from cloudpin.phone.service import PhoneService as _S
_d = _i.load(_i.open_nvs())
_ps = _S(_B(_v, _d["badge_id"], _d["prov_gen"]), _d["pair_key"])
_ps.connect(1)
print("@@ok")
"""
_WRITE = """
import binascii as _b
_a = _ps.write(1, _b.unhexlify(%r), 0)
print("@@" + (_b.hexlify(_a).decode() if _a else ""))
"""
_CLOSE = """
_ps = None
print("@@ok")
"""


class Repl:
    """Fragments to a PhoneService on the badge, one REPL round trip each.
    `run(code)` runs a script on the badge and returns its "@@" answer;
    it must not retry (a fragment given twice is a replay to the pin)."""

    fragment_size = 240  # no radio: one round trip carries a whole message

    def __init__(self, run):
        self._run = run
        self._q = []
        if run(_SETUP) != "ok":
            raise PhoneClientError("the badge could not start its phone service")

    def send(self, frag):
        ans = self._run(_WRITE % bytes(frag).hex())
        if ans:
            self._q.extend(p.fragments(bytes.fromhex(ans), self.fragment_size))

    def recv(self, timeout):
        return self._q.pop(0) if self._q else None

    def close(self):
        self._run(_CLOSE)


def check(run, pair_key, badge_id=None, acc=None):
    """{"ok": bool, "detail": text}: over the REPL (`run`, see Repl), pair
    with `pair_key`, read INFO and the owner card, compare with what the
    desk wrote (badge id hex, accreditation id)."""
    if pair_key is None:
        return {"ok": False, "detail": "phone service: the badge has no pairing key"}
    try:
        return check_transport(Repl(run), pair_key, badge_id, acc)
    except PhoneClientError as e:
        return {"ok": False, "detail": "phone service: %s" % e}


def check_transport(transport, pair_key, badge_id=None, acc=None):
    try:
        with PinClient(transport, pair_key, timeout=1.0).pair() as c:
            info = c.info()
            card = c.card()
    except (PhoneClientError, TimeoutError, ValueError) as e:
        return {"ok": False, "detail": "phone service: %s" % e}
    if badge_id is not None and info["badge_id"] != badge_id:
        return {"ok": False, "detail": "phone service: badge id %s, expected %s" % (info["badge_id"], badge_id)}
    if acc is not None and card["acc"] != acc:
        return {"ok": False, "detail": "phone service: owner card of %r, expected %r" % (card["acc"], acc)}
    return {"ok": True, "detail": "paired with the card's secret; badge %s, card of %s" % (info["badge_id"], card["acc"])}

# Shared by the phone service tests (both runtimes): a provisioned pin's
# backend on the test's files, and a phone talking to the service through
# 20-byte fragments both ways, as over a GATT link without an MTU exchange.
import sys

if sys.implementation.name != "micropython":
    from host_tools import hostcrypto

    hostcrypto.install()

from cloudpin import owner  # noqa: E402
from cloudpin.phone import phoneside as p  # noqa: E402  (protocol and the phone's side)
from cloudpin.phone.backend import PinBackend  # noqa: E402
from cloudpin.phone.service import PhoneService  # noqa: E402
from cloudpin.social.friends import Friends  # noqa: E402

SECRET = bytes(range(16))
BADGE = b"\x00\x11\x22\x33\x44\x55\x66\x77"
CARD = {"acc": "PR-7", "name": "Ana Lima", "organisation": "Folha", "role": "reporter",
        "handles": ["@ana"], "gen": 5}
FRAG = 20


class Counter:
    """Deterministic 'random' bytes, different at every call."""

    def __init__(self, seed):
        self.n = seed

    def __call__(self, k):
        self.n += 1
        return bytes([(self.n * 131 + i * 7) & 0xFF for i in range(k)])


SPORTS = ("athletics", "aquatics", "archery", "badminton", "boxing", "canoe")


def pack_doc(ids=SPORTS):
    """A small event pack: one plain design per sport."""
    return {"format": 1, "event": "Test", "sports": [
        {"id": sid, "name": sid, "short": sid[:16], "task": {"kind": "friends", "n": 1000}, "led": ["red"],
         "design": [["rect", 0, 0, 128, 128, "red", 1]]} for sid in ids]}


def designs(doc=None, unlock=("athletics", "boxing")):
    """The designs as the app runs them (a DesignService on a real unlock
    engine, designs.json in this folder), with the sports in `unlock`
    unlocked by one tap, in pack order: the newest is the one shown."""
    import os

    from cloudpin import bus as topics
    from cloudpin.bus import Bus
    from cloudpin.designs import engine, pack
    from cloudpin.designs.service import DesignService
    from cloudpin.log import Logger

    for name in os.listdir("."):
        if name.startswith("designs.json"):
            os.remove(name)
    doc = doc or pack_doc()
    for s in doc["sports"]:
        if s["id"] in unlock:
            s["task"] = {"kind": "tap_days", "n": 1}
    bus = Bus()
    e = engine.Designs(pack.Pack(doc), Logger("designs", sink=lambda line: None), clock=lambda: 1785000000)
    e.load(20000)
    e.subscribe(bus)
    bus.publish(topics.TAP, 1, 900)
    return DesignService(e, bus)


def friend_card(i):
    return {"name": "Friend %d" % i, "organisation": "Org %d" % (i % 7), "role": "photo",
            "handles": ["@f%d" % i]}


def pin(friends=0, engine=True, seed=1):
    owner.wipe()  # the VM runs a module's tests in one folder
    owner.save(CARD)
    fr = Friends("friends")
    fr.wipe()
    fr.open()
    for i in range(friends):
        slot = fr.add(bytes(((i >> 8) & 0xFF, i & 0xFF)) + bytes(14), friend_card(i), 1700000000 + i)
        if i % 3 == 0:
            fr.update(slot, 1000 + i, i % 5, 1700000500)
    b = PinBackend("0.1.0", BADGE, 5, friends=fr, designs=designs() if engine else None)
    return PhoneService(b, SECRET, random=Counter(seed))


def send(svc, handle, msg, now=0, size=FRAG):
    """Fragments of msg to the pin; the pin's answer reassembled (or None)."""
    ans = None
    for f in p.fragments(msg, size):
        got = svc.write(handle, f, now)
        if got is not None:
            assert ans is None  # one answer per message
            ans = got
    if ans is None:
        return None
    rx = p.Reassembler()
    whole = None
    for f in p.fragments(ans, size):
        whole = rx.feed(f)
    return bytes(whole)


def pair(svc, handle=1, secret=SECRET, now=0, seed=99):
    svc.connect(handle)
    ph = p.Phone(secret, Counter(seed))
    ph.welcome(send(svc, handle, ph.prove(send(svc, handle, ph.hello(), now)), now))
    return ph


def call(svc, ph, op, args=b"", handle=1):
    """(status, payload) of one request."""
    msg, seq = ph.request(op, args)
    kind, rseq, st, payload = ph.take(send(svc, handle, msg))
    assert kind == "response" and rseq == seq
    return st, payload


def error_of(ans):
    assert ans is not None and ans[0] == p.ERROR, ans
    return ans[1]


def state(svc):
    """Everything the pin keeps that a phone could change."""
    b = svc.backend
    try:
        with open("friends.log", "rb") as f:
            log = f.read()
    except OSError:
        log = None
    try:
        with open("designs.json", "rb") as f:
            picked = f.read()
    except OSError:
        picked = None
    return owner.load(), b.engine.selected if b.engine else None, picked, log, b.friends.count

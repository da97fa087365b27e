# The phone's side of the protocol (cloudpin.phone.protocol), without I/O:
# the host client (host_tools/phone) and the tests use it; the pin does not
# load it (its heap is better spent). Re-exports every public name of
# protocol, so `from cloudpin.phone import phoneside as p` is the whole API.
import struct

from cloudpin.phone.protocol import *  # noqa: F401,F403 (the bytes both sides share)
from cloudpin.phone.protocol import (CHALLENGE, COMPANY_ID, EV_BATTERY, EV_DESIGN, EV_FRIEND, EV_UPDATE,
                                     BEACON_KIND, ERROR, EVENT, HELLO, LOCKED, MALFORMED, NO_SLOT, NONCE, OK,
                                     PROOF, PROTO, PROVE, REQUEST, RESPONSE, SEALED_OVERHEAD, SESSION_OVER,
                                     UNAUTHORISED, VERSION, WELCOME, BAD_PROOF, Channel, Reader, beacon_tag,
                                     get_card, phone_proof, pin_proof, put_card, same)

STATUS_NAMES = ("ok", "malformed", "too large", "out of order", "unauthorised", "bad proof", "locked",
                "bad tag", "replay", "unknown", "invalid", "not found", "unavailable", "internal",
                "session over", "version")


def status_name(s):
    return STATUS_NAMES[s] if 0 <= s < len(STATUS_NAMES) else "status %d" % s


def beacon_fields(adv):
    """(nonce, tag) of a phone-window advertisement, or None for any other
    (walks the AD structures; never raises on bytes)."""
    i = 0
    n = len(adv)
    while i < n:
        k = adv[i]
        if k == 0 or i + 1 + k > n:
            return None
        if k == 12 and adv[i + 1] == 0xFF and adv[i + 2] == COMPANY_ID & 0xFF and adv[i + 3] == COMPANY_ID >> 8 \
                and adv[i + 4] == BEACON_KIND:
            return bytes(adv[i + 5:i + 9]), bytes(adv[i + 9:i + 13])
        i += 1 + k
    return None


def is_mine(adv, pair_key):
    """Is this advertisement the phone window of the pin holding pair_key?"""
    f = beacon_fields(adv)
    return f is not None and same(beacon_tag(pair_key, f[0]), f[1])


def get_friend(r):
    slot, added, flags = r.u16(), r.u32(), r.u8()
    latest = (r.u32(), r.u16(), r.u32()) if flags & 1 else None
    return {"slot": slot, "added": added, "latest": latest, "card": get_card(r), "shortened": bool(flags & 2)}


# -- the phone's side, without I/O (the host client and the tests use it) -----

class PhoneError(Exception):
    """The pin answered `status` (or a check failed on the phone's side)."""

    def __init__(self, status, what):
        super().__init__("%s: %s" % (what, status_name(status)))
        self.status = status
        self.what = what
        self.wait_s = 0


def _check_error(msg, what):
    if len(msg) >= 3 and msg[0] == ERROR:
        e = PhoneError(msg[1], what)
        if msg[1] == LOCKED and len(msg) >= 5:
            e.wait_s = msg[3] | (msg[4] << 8)
        raise e


class Phone:
    """The owner's phone, one connection: hello() -> message; the pin's
    CHALLENGE to prove() -> message; its WELCOME to welcome(); then
    request() messages and take() for what the pin sends."""

    def __init__(self, pair_key, random):
        self._key = bytes(pair_key)
        self._random = random
        self._pin_nonce = None
        self._nonce = None
        self.chan = None

    def hello(self):
        return bytes((HELLO, PROTO))

    def prove(self, msg):
        _check_error(msg, "hello")
        if len(msg) != 2 + NONCE or msg[0] != CHALLENGE:
            raise PhoneError(MALFORMED, "challenge")
        if msg[1] != PROTO:
            raise PhoneError(VERSION, "challenge")
        self._pin_nonce = bytes(msg[2:])
        self._nonce = bytes(self._random(NONCE))
        return bytes((PROVE,)) + self._nonce + phone_proof(self._key, self._pin_nonce, self._nonce)

    def welcome(self, msg):
        """Checks the pin's proof: a pin that cannot make it does not hold
        this secret (someone else's pin, or an impostor)."""
        _check_error(msg, "proof")
        if len(msg) != 1 + PROOF or msg[0] != WELCOME or self._nonce is None:
            raise PhoneError(MALFORMED, "welcome")
        if not same(pin_proof(self._key, self._pin_nonce, self._nonce), msg[1:]):
            raise PhoneError(BAD_PROOF, "the pin's proof")
        self.chan = Channel(self._key, self._pin_nonce, self._nonce, False)

    def request(self, op, args=b""):
        """(sealed REQUEST, its sequence number)."""
        chan = self.chan
        if chan is None:
            raise PhoneError(UNAUTHORISED, "request before pairing")
        seq = chan.tx_seq
        msg = chan.seal(REQUEST, bytes((op,)) + args)
        if msg is None:
            raise PhoneError(SESSION_OVER, "request")
        return msg, seq

    def take(self, msg):
        """("response", req_seq, status, payload) or ("event", code, payload).
        PhoneError for an ERROR or a message that does not verify."""
        _check_error(msg, "request")
        if len(msg) < SEALED_OVERHEAD or msg[0] not in (RESPONSE, EVENT) or self.chan is None:
            raise PhoneError(MALFORMED, "message")
        st, plain = self.chan.open(msg)
        if st != OK or plain is None:
            raise PhoneError(st, "message from the pin")
        if msg[0] == EVENT:
            if not plain:
                raise PhoneError(MALFORMED, "event")
            return "event", plain[0], bytes(plain[1:])
        if len(plain) < 3:
            raise PhoneError(MALFORMED, "response")
        return "response", plain[0] | (plain[1] << 8), plain[2], bytes(plain[3:])


# -- response payloads, read on the phone's side --------------------------------

def parse_info(b):
    r = Reader(b)
    proto, pct, low = r.u8(), r.u8(), r.u8()
    badge = bytes(r.take(8))
    version = bytes(r.take(r.u8())).decode()
    r.end()
    return {"proto": proto, "battery": None if pct == 0xFF else pct, "battery_low": bool(low),
            "badge_id": None if badge == bytes(8) else badge, "version": version}


def parse_card(b, with_acc=True):
    r = Reader(b)
    card = get_card(r, with_acc)
    r.end()
    return card


def card_args(card):
    out = bytearray()
    put_card(out, card)
    return out


def parse_page(b):
    """(total, next slot or None, [friend entries])."""
    r = Reader(b)
    total, nxt, n = r.u16(), r.u16(), r.u8()
    friends = [get_friend(r) for _ in range(n)]
    r.end()
    return total, None if nxt == NO_SLOT else nxt, friends


def parse_stats(b):
    day, steps, made, total, friends = struct.unpack("<IIHIH", bytes(b))
    return {"day": day, "steps_today": steps, "friends_today": made, "steps_total": total, "friends": friends}


def parse_designs(b):
    r = Reader(b)
    sel, n = r.u8(), r.u8()
    out = []
    for _ in range(n):
        i = r.u8()
        out.append((i, bytes(r.take(r.u8())).decode()))
    r.end()
    return (None if sel == 0xFF else sel), out


def parse_event(code, b):
    """An event's fields as a dict (code names as in docs/phone-api.md)."""
    if code == EV_FRIEND:
        r = Reader(b)
        d = get_friend(r)
        r.end()
        return {"event": "friend", "friend": d}
    if code == EV_UPDATE:
        slot, steps, made, t = struct.unpack("<HIHI", bytes(b))
        return {"event": "update", "slot": slot, "steps": steps, "made": made, "t": t}
    if code == EV_DESIGN:
        return {"event": "design", "index": b[0]}
    if code == EV_BATTERY:
        return {"event": "battery", "percent": b[0], "low": bool(b[1])}
    return {"event": "unknown", "code": code}

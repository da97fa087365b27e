# The phone protocol's bytes, shared by the pin (cloudpin.phone.service) and
# every client (host_tools/phone runs this very file under CPython; the web
# app's webapp/protocol.js follows it). docs/phone-api.md is the reference.
#
# Layers, bottom up:
#   fragments  GATT writes and notifications carry at most MTU - 3 bytes (20
#              before an MTU exchange), so a message travels in fragments:
#              the first is 0x80 | len u16 LE | bytes, the next ones n | bytes
#              with n = 1, 2, .. (mod 128).
#   messages   kind u8 | body. In the clear: HELLO/CHALLENGE (the pin's fresh
#              nonce), PROVE/WELCOME (each side proves it knows the pairing
#              secret from the card) and ERROR. Then sealed: kind | seq u16 LE |
#              AES-CTR ciphertext | HMAC-SHA256 tag (8 bytes), under keys of
#              this connection only (HKDF of the secret and both nonces).
#   requests   plaintext op u8 | arguments; responses req_seq u16 | status u8 |
#              payload; events code u8 | payload.
#
# Why not BLE bonding: it is unreliable on ESP32 MicroPython (hardware-facts)
# and lost with every reset; the card's secret survives both.
import cryptolib
from micropython import const

from cloudpin.social import kdf
from cloudpin.phone.ids import (EV_BATTERY, EV_DESIGN, EV_FRIEND, EV_UPDATE, RX_UUID,  # noqa: F401 (ours too)
                               SERVICE_UUID, TX_UUID)

PROTO = const(1)

_MAX_MESSAGE = const(1024)  # a reassembled message, either way
NONCE = const(16)
PROOF = const(16)
_TAG = const(8)
SEALED_OVERHEAD = const(11)  # kind + seq + tag
MAX_PLAIN = const(1013)  # _MAX_MESSAGE - SEALED_OVERHEAD
_MAX_SEQ = const(0xFFFF)  # messages per direction and connection
_FIRST = const(0x80)

# message kinds (phone -> pin below 0x80, pin -> phone from 0x80)
HELLO = const(0x01)  # proto u8
PROVE = const(0x02)  # phone nonce 16 | proof 16
REQUEST = const(0x03)  # sealed
CHALLENGE = const(0x81)  # proto u8 | pin nonce 16
WELCOME = const(0x82)  # pin proof 16
RESPONSE = const(0x83)  # sealed
EVENT = const(0x84)  # sealed
ERROR = const(0xFF)  # status u8 | kind it answers u8 | (LOCKED: seconds u16)

# request ops (inside a sealed REQUEST)
OP_INFO = const(1)
OP_CARD_GET = const(2)
OP_CARD_SET = const(3)
OP_FRIENDS = const(4)  # start slot u16 | most u8
OP_STATS = const(5)
OP_DESIGNS = const(6)
OP_DESIGN_SET = const(7)  # index u8


# status codes
OK = const(0)
MALFORMED = const(1)  # cannot be parsed (fragment, message or arguments)
TOO_LARGE = const(2)  # over _MAX_MESSAGE, or a value over its limit
OUT_OF_ORDER = const(3)  # not expected now (PROVE before HELLO, HELLO in a session, a lost fragment)
UNAUTHORISED = const(4)  # a request before the proof
BAD_PROOF = const(5)  # the proof does not match: wrong secret, or someone else's pin
LOCKED = const(6)  # too many wrong proofs: wait (seconds in the ERROR)
BAD_TAG = const(7)  # a sealed message that does not verify (altered, or from another session)
REPLAY = const(8)  # a verified message whose sequence number was used already
UNKNOWN = const(9)  # an op or kind this pin does not know
INVALID = const(10)  # well-formed but refused (e.g. a card over the owner card's limits)
NOT_FOUND = const(11)  # no such design (or not unlocked)
UNAVAILABLE = const(12)  # this pin has no owner card / no designs
INTERNAL = const(13)  # the pin failed (logged); nothing was changed
SESSION_OVER = const(14)  # _MAX_SEQ messages in this connection: reconnect
VERSION = const(15)  # a protocol version this pin does not speak

_LABEL_PHONE = const(b"cloudpin v1 phone proof")
_LABEL_PIN = const(b"cloudpin v1 pin proof")
_LABEL_BEACON = const(b"cloudpin v1 phone beacon")
_LABEL_SESSION = const(b"cloudpin v1 phone session")

NO_SLOT = const(0xFFFF)  # friends page: no more friends


# -- fragments ---------------------------------------------------------------

def fragment_into(buf, msg, pos, size):
    """Write the fragment of `msg` that starts at byte `pos` (0 for the
    first) into `buf`, at most `size` bytes (MTU - 3); its length (the next
    starts at pos + length - 3 after the first, pos + length - 1 after the
    others). Byte by byte, one int back: it allocates nothing (the pin sends
    a page through one buffer)."""
    n = len(msg)
    if pos == 0:
        buf[0] = _FIRST
        buf[1] = n & 0xFF
        buf[2] = n >> 8
        k = 3
    else:
        buf[0] = ((pos - size + 3) // (size - 1) + 1) & 0x7F
        k = 1
    end = min(n, pos + size - k)
    while pos < end:
        buf[k] = msg[pos]
        k += 1
        pos += 1
    return k


def fragments(msg, size):
    """The fragments of `msg`, each at most `size` bytes (MTU - 3)."""
    if size < 4:
        raise ValueError("fragment size")
    buf = bytearray(size)
    pos = 0
    while True:
        k = fragment_into(buf, msg, pos, size)
        yield bytes(buf[:k])
        pos += k - (3 if pos == 0 else 1)
        if pos >= len(msg):
            return


class Reassembler:
    """Joins fragments into a message in a buffer allocated once."""

    def __init__(self, most=_MAX_MESSAGE):
        self.buf = bytearray(most)
        self.want = -1  # -1: waiting for a first fragment
        self.have = 0
        self.next = 0

    def reset(self):
        self.want = -1

    def feed(self, frag):
        """A memoryview of the complete message, None while more is due, or
        a status (int) for a fragment that cannot be taken (the partial
        message is dropped)."""
        n = len(frag)
        if n == 0:
            self.want = -1
            return MALFORMED
        h = frag[0]
        if h & _FIRST:
            if h != _FIRST or n < 3:
                self.want = -1
                return MALFORMED
            want = frag[1] | (frag[2] << 8)
            if want == 0 or want > len(self.buf):
                self.want = -1
                return TOO_LARGE
            self.want = want
            self.have = 0
            self.next = 1
            body = 3
        else:
            if self.want < 0 or h != self.next:
                self.want = -1
                return OUT_OF_ORDER
            self.next = (self.next + 1) & 0x7F
            body = 1
        k = n - body
        if self.have + k > self.want:
            self.want = -1
            return MALFORMED
        self.buf[self.have:self.have + k] = frag[body:]
        self.have += k
        if self.have < self.want:
            return None
        self.want = -1
        return memoryview(self.buf)[:self.have]


# -- proofs and the sealed channel --------------------------------------------

def phone_proof(pair_key, pin_nonce, phone_nonce):
    return kdf.hmac_sha256(pair_key, (_LABEL_PHONE, pin_nonce, phone_nonce))[:PROOF]


def pin_proof(pair_key, pin_nonce, phone_nonce):
    return kdf.hmac_sha256(pair_key, (_LABEL_PIN, phone_nonce, pin_nonce))[:PROOF]


def beacon_tag(pair_key, nonce):
    """4 bytes the pin advertises in its phone window with a fresh nonce:
    its owner's phone recognises it, nobody else can link two windows."""
    return kdf.hmac_sha256(pair_key, (_LABEL_BEACON, nonce))[:4]


# The phone window's advertisement (26 bytes, no scan response needed):
#   02 01 06                          flags: LE general discoverable
#   0C FF FF FF 1F nonce(4) tag(4)    manufacturer data: company 0xFFFF (as
#                                     social.advert), 0x1F = version 1, kind
#                                     15 "phone window", a fresh nonce and
#                                     beacon_tag(secret, nonce)
#   09 09 "CloudPin"                  the name a phone's chooser shows
# Meet-and-greet decoders see it as theirs but INVALID (9 bytes, kind 15).
BEACON_KIND = const(0x1F)
COMPANY_ID = const(0xFFFF)
_NAME = const(b"CloudPin")


def beacon(pair_key, nonce):
    tag = beacon_tag(pair_key, nonce)
    return (b"\x02\x01\x06\x0c\xff" + bytes((COMPANY_ID & 0xFF, COMPANY_ID >> 8, BEACON_KIND)) + bytes(nonce)
            + tag + bytes((len(_NAME) + 1, 0x09)) + _NAME)


same = kdf.same  # the one constant-time comparison (social/kdf.py); phoneside and service use p.same


class Channel:
    """One connection's sealed messages, one side's view. Keys from HKDF of
    the secret with both nonces as salt: a recording of another connection
    does not verify here, and each direction counts its own messages."""

    def __init__(self, pair_key, pin_nonce, phone_nonce, pin_side):
        okm = kdf.hkdf(pair_key, bytes(pin_nonce) + bytes(phone_nonce), _LABEL_SESSION, 96)
        to_pin, to_phone = (okm[0:16], okm[32:64]), (okm[16:32], okm[64:96])
        out, inn = (to_phone, to_pin) if pin_side else (to_pin, to_phone)
        # tx AES, rx AES (CTR by hand: ECB is all a stock build has), tx MAC
        # key, rx MAC key, the counter block and the key stream's (one list:
        # each attribute name is a qstr the pin interns for good)
        self._s = [cryptolib.aes(out[0], 1), cryptolib.aes(inn[0], 1), out[1], inn[1], bytearray(16), bytearray(16)]
        self.tx_seq = 0
        self.rx_seq = 0

    def _ctr(self, aes, seq, src, dst):
        blk, ks = self._s[4], self._s[5]
        for i in range(16):
            blk[i] = 0
        blk[0] = seq & 0xFF
        blk[1] = seq >> 8
        n = len(src)
        for off in range(0, n, 16):
            # block index big-endian in the last bytes: WebCrypto's AES-CTR
            # (the web app) counts there, so it runs a message in one call
            blk[14] = off >> 12
            blk[15] = (off >> 4) & 0xFF
            aes.encrypt(blk, ks)
            for j in range(min(16, n - off)):
                dst[off + j] = src[off + j] ^ ks[j]

    def seal(self, kind, plain):
        """kind | seq | ciphertext | tag; None once _MAX_SEQ messages went."""
        seq = self.tx_seq
        if seq > _MAX_SEQ:
            return None
        n = len(plain)
        out = bytearray(3 + n + _TAG)
        out[0] = kind
        out[1] = seq & 0xFF
        out[2] = seq >> 8
        self._ctr(self._s[0], seq, plain, memoryview(out)[3:3 + n])
        out[3 + n:] = kdf.hmac_sha256(self._s[2], memoryview(out)[:3 + n])[:_TAG]
        self.tx_seq = seq + 1
        return out

    def open(self, msg):
        """(OK, plaintext) or (status, None). Only a message that verifies
        and carries the next sequence number is taken (and counted)."""
        n = len(msg) - SEALED_OVERHEAD
        if n < 0:
            return MALFORMED, None
        body = memoryview(msg)
        if not same(kdf.hmac_sha256(self._s[3], body[:3 + n])[:_TAG], body[3 + n:]):
            return BAD_TAG, None
        seq = msg[1] | (msg[2] << 8)
        if seq != self.rx_seq:
            return (REPLAY if seq < self.rx_seq else OUT_OF_ORDER), None
        plain = bytearray(n)
        self._ctr(self._s[1], seq, body[3:3 + n], plain)
        self.rx_seq = seq + 1
        return OK, plain


def error(status, kind, extra=b""):
    return bytes((ERROR, status, kind)) + extra


# -- payload codecs ------------------------------------------------------------

class Reader:
    """Bounded reads of a payload: ValueError past the end or for bad UTF-8."""

    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def take(self, n):
        p = self.pos
        if n < 0 or p + n > len(self.buf):
            raise ValueError("short")
        self.pos = p + n
        return self.buf[p:p + n]

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        b = self.take(2)
        return b[0] | (b[1] << 8)

    def u32(self):
        b = self.take(4)
        return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)

    def text(self):
        try:
            return bytes(self.take(self.u16())).decode()
        except UnicodeError:
            raise ValueError("utf-8")

    def end(self):
        if self.pos != len(self.buf):
            raise ValueError("trailing bytes")


def put_le(out, v, n):
    """Append v as n bytes, little-endian (the pin's packing: struct's
    format strings would each be a name it interns for good)."""
    for _ in range(n):
        out.append(v & 0xFF)
        v >>= 8


def _text(out, s):
    b = s.encode()
    put_le(out, len(b), 2)
    out.extend(b)


CARD_FIELDS = ("name", "organisation", "role")


def put_card(out, card, with_acc=False):
    """Append a card: [acc] name organisation role (u16 length + UTF-8
    each) | handle count u8 | handles (u16 length + UTF-8)."""
    if with_acc:
        _text(out, card.get("acc", ""))
    for f in CARD_FIELDS:
        _text(out, card.get(f, ""))
    handles = card.get("handles", [])
    out.append(len(handles))
    for h in handles:
        _text(out, h)


def get_card(r, with_acc=False):
    """The card at a Reader (types and counts only: limits are the owner
    card's, checked by cloudpin.owner where it is stored)."""
    card = {}
    if with_acc:
        card["acc"] = r.text()
    for f in CARD_FIELDS:
        card[f] = r.text()
    n = r.u8()
    if n > 8:
        raise ValueError("handles")
    card["handles"] = [r.text() for _ in range(n)]
    return card


SHORT_TEXT = const(60)  # characters kept of each text of a card too long for one message


def put_friend(out, d, shorten=False):
    """A friend entry: slot u16 | added u32 | flags u8 (1: has stats, 2:
    card shortened) | [steps u32 | made u16 | unix s u32] | card (as
    friends.Friends.get gives it). A card too long for one message even
    alone (possible only with non-Latin text at every limit) goes
    shortened: each text cut to SHORT_TEXT characters, no handles."""
    latest = d["latest"]
    card = d["card"]
    if shorten:
        card = {"handles": []}
        for f in CARD_FIELDS:
            card[f] = d["card"][f][:SHORT_TEXT]
    put_le(out, d["slot"], 2)
    put_le(out, d["added"], 4)
    out.append((0 if latest is None else 1) | (2 if shorten else 0))
    if latest is not None:
        put_le(out, latest[0], 4)
        put_le(out, latest[1], 2)
        put_le(out, latest[2], 4)
    put_card(out, card)

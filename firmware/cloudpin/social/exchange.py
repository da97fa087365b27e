# The friend-record exchange after a tap match, as pure state machines for
# both ends of the GATT link (meet.py moves the bytes), and reconciliation
# when a link dropped between the two commits. Messages, keys, the commit
# and the threat model: docs/meet-and-greet.md, "Commit and reconciliation".
#
# Exchange (initiator I = the pin with the lower RID, the GATT central;
# responder R):
#   HELLO    I->R  1 | Ni 16 | RID_I 6 | RID_R 6 | room_I 1
#   REPLY    R->I  2 | Nr 16 | room_R 1 | tag 16
#   RECORD   I->R  3 | CBC(Ke_IR, FK_I | card_I | 0-pad) | tag 16
#   RECORD   R->I  4 | CBC(Ke_RI, FK_R | card_R | 0-pad) | tag 16
#   CONFIRM  I->R  5 | tag 16
# keys: Ke_IR | Ke_RI | Km_IR | Km_RI = HKDF(tap key, salt Ni | Nr,
#   "cloudpin v1 exchange" | HELLO | Nr | room_R, 64); tag = HMAC-SHA256(Km
#   of the sender's direction, message before the tag)[0:16].
# R stores I's record PENDING before it sends its own; I commits R's record
# before it sends CONFIRM; R commits I's at CONFIRM.
#
# Reconciliation (A holds B pending, or committed B without knowing B got
# CONFIRM; RK_B = HKDF(FK_B, "", "cloudpin v1 recon", 32) = enc | mac):
#   QUERY    A->B  6 | Na 16 | CBC(RK_B.enc, iv Na, FK_A) | tag 16
#   STATUS   B->A  7 | Nb 16 | status 1 | tag 16   (tag also over Na, FK_A)
#   COMMIT   A->B  8 | tag 16                      (tag over Na, Nb, FK_A)
# status: what B holds of A (UNKNOWN, PENDING, COMMITTED). A sends COMMIT
# after PENDING (B commits) and after COMMITTED (B knows A has it).
#
# Every receive() returns REJECT and changes nothing for a message that is
# malformed, oversized, out of order or fails its tag.
import cryptolib
from micropython import const

from cloudpin.social import friends, kdf

NONCE = const(16)
TAG = const(16)
KEY = const(16)
RID_LEN = const(6)  # advert.RID_LEN (a const must be a literal here)
# The largest card encode_card makes from owner limits (3 texts of 100
# characters of up to 4 UTF-8 bytes, 8 handles of 64), with FK and padding.
MAX_PLAIN = const(3296)
MAX_MSG = const(1 + MAX_PLAIN + TAG)

T_HELLO = const(1)
T_REPLY = const(2)
T_RECORD_I = const(3)
T_RECORD_R = const(4)
T_CONFIRM = const(5)
T_QUERY = const(6)
T_STATUS = const(7)
T_COMMIT = const(8)
HELLO_LEN = const(1 + NONCE + 2 * RID_LEN + 1)
REPLY_LEN = const(1 + NONCE + 1 + TAG)
CONFIRM_LEN = const(1 + TAG)
QUERY_LEN = const(1 + NONCE + KEY + TAG)
STATUS_LEN = const(1 + NONCE + 1 + TAG)

# receive() results
REJECT = const(-1)  # bad input: ignored, nothing changed
SEND = const(0)  # send .out
FULL = const(1)  # a friend list is full: both sides stop (send .out first if not None)
STORE_PENDING = const(2)  # keep .peer_fk/.peer_card as PENDING, then send .out
COMMIT = const(3)  # commit .peer_fk/.peer_card, then send .out if not None
DROP = const(4)  # reconciliation: the peer never kept us; forget the pending peer

# what a pin holds of a peer (reconciliation)
UNKNOWN = const(0)
PENDING = const(1)
COMMITTED = const(2)

_ST_HELLO = const(0)  # responder: waiting for HELLO; initiator: HELLO sent
_ST_RECORD = const(1)  # waiting for the peer's record
_ST_CONFIRM = const(2)  # responder: waiting for CONFIRM
_ST_DONE = const(3)


def _tag(key, *parts):
    return kdf.hmac_sha256(key, parts)[:TAG]


def _bytes(msg):
    """`msg` as bytes, or None if it is not a byte string (a memoryview is
    copied: a message is read whole and rarely)."""
    if isinstance(msg, (bytes, bytearray)):
        return msg
    if isinstance(msg, memoryview):
        try:
            return bytes(msg)
        except (ValueError, TypeError):
            return None
    return None


def plain_record(friend_key, card):
    """What a pin sends of itself: its friend key and its public card
    (validated as the friend store will check it), zero-padded to AES blocks."""
    if len(friend_key) != KEY:
        raise ValueError("friend key: 16 bytes")
    enc = friends.encode_card(friends.validate_card(card))
    n = KEY + len(enc)
    out = bytearray((n + 15) // 16 * 16)
    if len(out) > MAX_PLAIN:
        raise ValueError("card too long")
    out[:KEY] = friend_key
    out[KEY:n] = enc
    return bytes(out)


def _open_record(plain):
    """(friend key, card) from a decrypted record, or None."""
    try:
        card, o = friends.decode_card(plain, KEY)
        if len(plain) - o >= 16:
            return None  # more padding than a block: not a record this code makes
        for i in range(o, len(plain)):
            if plain[i]:
                return None
        return bytes(plain[:KEY]), friends.validate_card(card)
    except ValueError:
        return None


class _Session:
    """State shared by both ends of one exchange."""

    def __init__(self, tap_key, my_record, room, nonce):
        if len(nonce) != NONCE:
            raise ValueError("nonce: 16 bytes")
        self._tk = tap_key
        self._record = my_record
        self._room = 1 if room else 0
        self._nonce = bytes(nonce)
        self.state = _ST_HELLO
        self.out = None
        self.peer_fk = None
        self.peer_card = None
        self._keys = (b"", b"", b"", b"")  # Ke_IR, Ke_RI, Km_IR, Km_RI once derived

    def _derive(self, hello, nr, room_r):
        okm = kdf.hkdf(self._tk, hello[1:1 + NONCE] + nr, b"cloudpin v1 exchange" + bytes(hello) + nr + bytes((room_r,)), 64)
        self._keys = (okm[0:16], okm[16:32], okm[32:48], okm[48:64])

    def _seal(self, kind, ke, km):
        ct = bytearray(len(self._record))
        cryptolib.aes(ke, 2, bytes(16)).encrypt(self._record, ct)  # fresh key per direction: a fixed IV is safe
        head = bytes((kind,)) + ct
        return head + _tag(km, head)

    def _take_record(self, msg, kind, ke, km):
        """Keep the peer's (FK, card) from a RECORD message; False (and
        nothing kept) unless it is whole, authentic and a valid card."""
        n = len(msg) - 1 - TAG
        if n < 32 or msg[0] != kind or n % 16 or n > MAX_PLAIN:
            return False
        if not kdf.same(_tag(km, msg[:1 + n]), msg[1 + n:]):
            return False
        plain = bytearray(n)
        cryptolib.aes(ke, 2, bytes(16)).decrypt(bytes(msg[1:1 + n]), plain)
        got = _open_record(plain)
        if got is None:
            return False
        self.peer_fk, self.peer_card = got
        return True


class Initiator(_Session):
    """The central's side. hello() first, then receive() each message."""

    def __init__(self, tap_key, my_rid, peer_rid, my_record, room, nonce):
        _Session.__init__(self, tap_key, my_record, room, nonce)
        self._hello = bytes((T_HELLO,)) + self._nonce + bytes(my_rid[:RID_LEN]) + bytes(peer_rid[:RID_LEN]) + bytes((self._room,))

    def hello(self):
        return self._hello

    def receive(self, msg):
        msg = _bytes(msg)
        if msg is None:
            return REJECT
        if self.state == _ST_HELLO:
            if len(msg) != REPLY_LEN or msg[0] != T_REPLY or msg[1 + NONCE] > 1:
                return REJECT
            nr = bytes(msg[1:1 + NONCE])
            room_r = msg[1 + NONCE]
            keys = self._keys
            self._derive(self._hello, nr, room_r)
            if not kdf.same(_tag(self._keys[3], msg[:1 + NONCE + 1]), msg[1 + NONCE + 1:]):
                self._keys = keys
                return REJECT
            if not (room_r and self._room):
                self.state = _ST_DONE
                self.out = None
                return FULL
            self.state = _ST_RECORD
            self.out = self._seal(T_RECORD_I, self._keys[0], self._keys[2])
            return SEND
        if self.state == _ST_RECORD:
            if not self._take_record(msg, T_RECORD_R, self._keys[1], self._keys[3]):
                return REJECT
            self.state = _ST_DONE
            confirm = bytes((T_CONFIRM,))
            self.out = confirm + _tag(self._keys[2], confirm, b"confirm")
            return COMMIT
        return REJECT


class Responder(_Session):
    """The GATT server's side: receive() every message the central writes."""

    def __init__(self, tap_key, my_rid, my_record, room, nonce):
        _Session.__init__(self, tap_key, my_record, room, nonce)
        self._rid = bytes(my_rid[:RID_LEN])
        self.peer_rid = None

    def receive(self, msg):
        msg = _bytes(msg)
        if msg is None:
            return REJECT
        if self.state == _ST_HELLO:
            if (len(msg) != HELLO_LEN or msg[0] != T_HELLO or msg[HELLO_LEN - 1] > 1
                    or not kdf.same(msg[1 + NONCE + RID_LEN:1 + NONCE + 2 * RID_LEN], self._rid)):
                return REJECT
            hello = bytes(msg)
            self._derive(hello, self._nonce, self._room)
            head = bytes((T_REPLY,)) + self._nonce + bytes((self._room,))
            self.out = head + _tag(self._keys[3], head)
            self.peer_rid = hello[1 + NONCE:1 + NONCE + RID_LEN]
            if not (self._room and hello[HELLO_LEN - 1]):
                self.state = _ST_DONE
                return FULL
            self.state = _ST_RECORD
            return SEND
        if self.state == _ST_RECORD:
            if not self._take_record(msg, T_RECORD_I, self._keys[0], self._keys[2]):
                return REJECT
            self.state = _ST_CONFIRM
            self.out = self._seal(T_RECORD_R, self._keys[1], self._keys[3])
            return STORE_PENDING
        if self.state == _ST_CONFIRM:
            confirm = bytes((T_CONFIRM,))
            if len(msg) != CONFIRM_LEN or msg[0] != T_CONFIRM or not kdf.same(
                    _tag(self._keys[2], confirm, b"confirm"), msg[1:]):
                return REJECT
            self.state = _ST_DONE
            self.out = None
            return COMMIT
        return REJECT


def recon_keys(friend_key):
    """(enc, mac) keys of the reconciliation with the pin whose FK this is."""
    k = kdf.hkdf(friend_key, b"", b"cloudpin v1 recon", 32)
    return k[:16], k[16:]


class Asker:
    """Reconciliation, side A: holds B (pending, or committed without B's
    confirmation) and asks B what B holds of A."""

    def __init__(self, my_fk, peer_fk, nonce):
        if len(nonce) != NONCE:
            raise ValueError("nonce: 16 bytes")
        self._fk = bytes(my_fk)
        self._enc, self._mac = recon_keys(peer_fk)
        self._na = bytes(nonce)
        ct = bytearray(KEY)
        cryptolib.aes(self._enc, 2, self._na).encrypt(self._fk, ct)
        head = bytes((T_QUERY,)) + self._na + ct
        self._query = head + _tag(self._mac, head)
        self.done = False
        self.peer_status = -1
        self.out = None

    def query(self):
        return self._query

    def receive(self, msg):
        """COMMIT (B holds us: commit B, then send .out), DROP (B never
        kept us: forget B) or REJECT."""
        msg = _bytes(msg)
        if self.done or msg is None or len(msg) != STATUS_LEN or msg[0] != T_STATUS:
            return REJECT
        status = msg[1 + NONCE]
        if status > COMMITTED or not kdf.same(_tag(self._mac, msg[:2 + NONCE], self._na, self._fk), msg[2 + NONCE:]):
            return REJECT
        self.done = True
        self.peer_status = status
        if status == UNKNOWN:
            self.out = None
            return DROP
        c = bytes((T_COMMIT,))
        self.out = c + _tag(self._mac, c, self._na, bytes(msg[1:1 + NONCE]), self._fk)
        return COMMIT


class Answerer:
    """Reconciliation, side B: answers a QUERY about what it holds of the
    asker. `status_of(fk)` gives UNKNOWN, PENDING or COMMITTED."""

    def __init__(self, my_recon_keys, nonce, status_of):
        if len(nonce) != NONCE:
            raise ValueError("nonce: 16 bytes")
        self._enc, self._mac = my_recon_keys
        self._nb = bytes(nonce)
        self._status_of = status_of
        self._na = None
        self._done = False
        self.peer_fk = None
        self.status = -1
        self.out = None

    def receive(self, msg):
        """SEND (.out is the STATUS), COMMIT (the asker holds us: commit
        .peer_fk if it was PENDING here; settled either way) or REJECT."""
        msg = _bytes(msg)
        if msg is None:
            return REJECT
        if self._na is None:
            if len(msg) != QUERY_LEN or msg[0] != T_QUERY:
                return REJECT
            if not kdf.same(_tag(self._mac, msg[:1 + NONCE + KEY]), msg[1 + NONCE + KEY:]):
                return REJECT
            na = bytes(msg[1:1 + NONCE])
            fk = bytearray(KEY)
            cryptolib.aes(self._enc, 2, na).decrypt(bytes(msg[1 + NONCE:1 + NONCE + KEY]), fk)
            fk = bytes(fk)
            status = self._status_of(fk)
            if status not in (UNKNOWN, PENDING, COMMITTED):
                status = UNKNOWN
            head = bytes((T_STATUS,)) + self._nb + bytes((status,))
            self.out = head + _tag(self._mac, head, na, fk)
            self._na = na
            self.peer_fk = fk
            self.status = status
            return SEND
        if self.status not in (PENDING, COMMITTED) or self._done or len(msg) != CONFIRM_LEN or msg[0] != T_COMMIT:
            return REJECT
        c = bytes((T_COMMIT,))
        if not kdf.same(_tag(self._mac, c, self._na, self._nb, self.peer_fk), msg[1:]):
            return REJECT
        self.status = COMMITTED
        self._done = True
        self.out = None
        return COMMIT


class Reassembler:
    """GATT values -> messages. A fragment is index u8 | count u8 | data;
    fragments of a message come in order. Anything else is REJECT and
    changes nothing. feed() returns 1 when a message is complete
    (.message()), 0 when more is expected."""

    def __init__(self, max_len=MAX_MSG):
        self.buf = bytearray(max_len)
        self.n = 0
        self.next = 0
        self.count = 0

    def feed(self, frag):
        frag = _bytes(frag)
        if frag is None or len(frag) < 3:
            return REJECT
        i, c = frag[0], frag[1]
        k = len(frag) - 2
        if c == 0 or i != self.next or (i and c != self.count) or i >= c:
            return REJECT
        base = 0 if i == 0 else self.n
        if base + k > len(self.buf):
            return REJECT
        self.buf[base:base + k] = frag[2:]
        self.n = base + k
        self.count = c
        self.next = i + 1
        if self.next < c:
            return 0
        self.next = 0
        return 1

    def message(self):
        return memoryview(self.buf)[:self.n]


def fragments(msg, size):
    """The GATT values (at most `size` bytes each) carrying `msg`."""
    step = size - 2
    count = (len(msg) + step - 1) // step
    if step < 1 or not 0 < count < 256:
        raise ValueError("message does not fit 255 fragments")
    out = []
    for i in range(count):
        out.append(bytes((i, count)) + bytes(msg[i * step:(i + 1) * step]))
    return out

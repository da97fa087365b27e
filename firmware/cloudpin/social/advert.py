# The meet-and-greet advertisement: codec, the keys it is made from, and
# how a pin recognises its friends' rotating identifiers. Pure (no radio);
# shared with the host tools as cloudpin.boardspec is. Formats, costs and the
# threat model: docs/meet-and-greet.md.
#
# A legacy advertisement, 31 bytes: Flags (3) + one Manufacturer Specific
# Data structure (28: length, type 0xFF, company id, 24-byte payload).
# payload[0] = version << 4 | kind. Two kinds, both 24 bytes:
#
#   UPDATE (kind 0), sent between taps, for friends:
#     [1:7]   RID     rotating identifier (see rid_for)
#     [7:23]  BLOCK   AES-128-ECB(stats key, steps u24 | made u16 | salt u24 |
#                     RID | epoch u16): only friends can read it; the RID and
#                     epoch inside authenticate it (64 bits of redundancy);
#                     the salt is the sender's clock (social/clocksync.py)
#     [23]    0
#   TAP (kind 1), sent during a tap window, for anyone of the event:
#     [1:7]   RID
#     [7:9]   tap age, ms since this pin's tap, u16 (0xFFFF: older)
#     [9:13]  peer: the first 4 bytes of the RID this pin chose, or zeros
#     [13]    TX power, dBm, signed
#     [14:24] MAC: AES-128-ECB(tap key, epoch u16 | payload[0:14])[0:10]
#
# Nothing in it is stable: the RID, the block and the MAC change with the
# epoch (15 minutes, with the random address) and carry no counter.
# Decoding never raises and never allocates: it fills a Frame made once.
from micropython import const

VERSION = const(1)
KIND_UPDATE = const(0)
KIND_TAP = const(1)
NOT_OURS = const(-1)  # no CloudPin structure in the advertisement
INVALID = const(-2)  # ours, but a version, kind or length this pin does not read

# Bluetooth SIG company identifier 0xFFFF: reserved for tests and products
# not yet assigned one. The event's organiser must put its own here before
# pins ship (core spec supplement: 0xFFFF must not be used in shipping products).
COMPANY_ID = const(0xFFFF)
_ADV_LEN = const(31)  # private as _PAYLOAD_LEN and _MAC_LEN (read here only): folded, no global kept
_PAYLOAD_LEN = const(24)
RID_LEN = const(6)
PEER_LEN = const(4)
_MAC_LEN = const(10)
EPOCH_S = const(900)  # RID rotation, with the random address: 15 minutes
TAP_AGE_MAX = const(0xFFFF)
MAX_FRIENDS = const(1024)  # what a Recognizer holds; the friend list's bound
# UPDATE's 24-bit salt: the sender's clock as its burst began and two flags
# (social/updates.py sets them, social/clocksync.py reads them). Named here,
# where the block is described: a pin with no friends never loads clocksync.
SALT_PHASE = const(0x3FFFFF)  # UTC ms mod 2^22 (70 minutes)
SALT_SYNCED = const(0x400000)  # the sender agrees with its friends (ClockSync.synced)
SALT_SET = const(0x800000)  # its clock was set (cloudpin.clockset: the desk, or a set friend)
_PIECE_BITS = const(10)  # Recognizer: slots in pieces of 1,024 (4 KB each),
_PIECE_SLOTS = const(1024)  # 1, 2 or 4 of them: >= 4 slots a friend
_PIECES = const(4)

_AD_FLAGS = const(0x01)
_AD_MANUFACTURER = const(0xFF)
_FLAGS = const(0x06)  # LE General Discoverable, BR/EDR not supported
_HEADER_UPDATE = const(0x10)  # VERSION << 4 | KIND_UPDATE
_HEADER_TAP = const(0x11)
_BYTELIKE = (bytes, bytearray, memoryview)
_RID_LABEL = b"CP-RID"  # padded block as Exposure Notification's "EN-RPI"


def epoch_of(unix_s):
    """The RID epoch for a UTC time in seconds since 1970. (The ESP32 port's
    time.time() counts from 2000; 946684800 s is a whole number of epochs,
    but pins must all use one convention: this one.)"""
    return unix_s // EPOCH_S


def epochs_held(unix_s):
    """The two epochs a friend's RID may be in, given clocks up to half an
    epoch apart: this one and the nearer neighbour. Recognizer.build takes
    these; they change every 7.5 minutes."""
    e = unix_s // EPOCH_S
    if unix_s % EPOCH_S < EPOCH_S // 2:
        return e - 1, e
    return e, e + 1


def derive_keys(id_key, event_key):
    """(friend key, tap key) from the pin's own secret and the event key.
    The friend key is what friends receive in the exchange."""
    from cloudpin.social import kdf

    fk = kdf.hkdf(id_key, event_key, b"cloudpin v1 friend key", 16)
    tk = kdf.hkdf(event_key, b"", b"cloudpin v1 tap mac", 16)
    return fk, tk


def friend_subkeys(friend_key):
    """(RID key, stats key) of a pin, from its friend key."""
    from cloudpin.social import kdf

    return (kdf.hkdf(friend_key, b"", b"cloudpin v1 rid", 16),
            kdf.hkdf(friend_key, b"", b"cloudpin v1 stats", 16))


def _rid_block(block, epoch):
    for i in range(16):
        block[i] = 0
    for i in range(6):
        block[i] = _RID_LABEL[i]
    block[12] = (epoch >> 24) & 0xFF
    block[13] = (epoch >> 16) & 0xFF
    block[14] = (epoch >> 8) & 0xFF
    block[15] = epoch & 0xFF


def rid_for(rid_aes, epoch, block, out):
    """RID of `epoch` with an AES-ECB object made from the RID key; `block`
    and `out` are 16-byte scratch buffers, the RID is out[0:6]."""
    _rid_block(block, epoch)
    rid_aes.encrypt(block, out)


class Frame:
    """One decoded advertisement, reused for every scan result."""

    def __init__(self):
        self.kind = NOT_OURS
        self.rid = bytearray(RID_LEN)
        self.block = bytearray(16)  # UPDATE: the encrypted stats
        self.tap_age_ms = 0  # TAP fields
        self.peer = bytearray(PEER_LEN)
        self.tx_power = 0
        self.mac = bytearray(_MAC_LEN)


def _find(data):
    """Offset of our 24-byte payload in `data`, NOT_OURS or INVALID."""
    n = len(data)
    i = 0
    found = NOT_OURS
    while i < n:
        ln = data[i]
        if ln <= 0:  # early end of significant part: the rest is padding
            break  # (< 0 only from a memoryview of wider items: not ours)
        ours = (ln >= 3 and i + 3 < n and data[i + 1] == _AD_MANUFACTURER
                and (data[i + 2] | (data[i + 3] << 8)) == COMPANY_ID)
        if i + 1 + ln > n:  # runs past the end: malformed
            return INVALID if ours or found != NOT_OURS else NOT_OURS
        if ours:
            if found != NOT_OURS:
                return INVALID  # two of ours in one advertisement: not a pin's
            found = i + 4 if ln == 3 + _PAYLOAD_LEN else INVALID
        i += 1 + ln
    return found


def decode(data, frame):
    """Fill `frame` from advertisement bytes; returns the kind, NOT_OURS or
    INVALID (and sets frame.kind). Never raises, never allocates."""
    frame.kind = NOT_OURS
    if not isinstance(data, _BYTELIKE):
        return NOT_OURS
    o = _find(data)
    if o < 0:
        frame.kind = o
        return o
    head = data[o]
    if head == _HEADER_UPDATE:
        if data[o + 23] != 0:
            frame.kind = INVALID
            return INVALID
        for i in range(16):
            frame.block[i] = data[o + 7 + i] & 0xFF
        kind = KIND_UPDATE
    elif head == _HEADER_TAP:
        frame.tap_age_ms = ((data[o + 7] & 0xFF) << 8) | (data[o + 8] & 0xFF)
        for i in range(PEER_LEN):
            frame.peer[i] = data[o + 9 + i] & 0xFF
        p = data[o + 13] & 0xFF
        frame.tx_power = p - 256 if p > 127 else p
        for i in range(_MAC_LEN):
            frame.mac[i] = data[o + 14 + i] & 0xFF
        kind = KIND_TAP
    else:
        frame.kind = INVALID
        return INVALID
    for i in range(RID_LEN):
        frame.rid[i] = data[o + 1 + i] & 0xFF  # (& 0xFF: a memoryview may hold wider items)
    frame.kind = kind
    return kind


def _header(adv, head):
    adv[0] = 2
    adv[1] = _AD_FLAGS
    adv[2] = _FLAGS
    adv[3] = 3 + _PAYLOAD_LEN
    adv[4] = _AD_MANUFACTURER
    adv[5] = COMPANY_ID & 0xFF
    adv[6] = COMPANY_ID >> 8
    adv[7] = head


class Advertiser:
    """This pin's side: its RID for the current epoch and the 31 bytes to
    advertise, built in place in `adv` (hand it to gap_advertise). Made once
    at boot; rotate() once per epoch; encoding allocates nothing."""

    def __init__(self, friend_key, tap_key):
        import cryptolib

        rik, sk = friend_subkeys(friend_key)
        self._rid_aes = cryptolib.aes(rik, 1)
        self._stats_aes = cryptolib.aes(sk, 1)
        self._tap = TapMac(tap_key)
        self.adv = bytearray(_ADV_LEN)
        self.rid = bytearray(RID_LEN)
        self.epoch = -1
        self._plain = bytearray(16)
        self._out = bytearray(16)

    def rotate(self, epoch):
        """New RID for `epoch`; change the random address at the same time."""
        rid_for(self._rid_aes, epoch, self._plain, self._out)
        for i in range(RID_LEN):
            self.rid[i] = self._out[i]
        self.epoch = epoch

    def update(self, steps, made, salt):
        """UPDATE frame: today's steps and friends made, for friends only.
        `salt` (24 bits) varies the block between frames of one epoch whose
        stats did not change; the update service puts its clock there
        (SALT_PHASE and the SALT_SYNCED and SALT_SET flags), which differs
        every window and only friends can read."""
        p = self._plain
        steps = min(max(steps, 0), 0xFFFFFF)
        made = min(max(made, 0), 0xFFFF)
        p[0] = steps >> 16
        p[1] = (steps >> 8) & 0xFF
        p[2] = steps & 0xFF
        p[3] = made >> 8
        p[4] = made & 0xFF
        p[5] = (salt >> 16) & 0xFF
        p[6] = (salt >> 8) & 0xFF
        p[7] = salt & 0xFF
        for i in range(RID_LEN):
            p[8 + i] = self.rid[i]
        p[14] = (self.epoch >> 8) & 0xFF
        p[15] = self.epoch & 0xFF
        self._stats_aes.encrypt(p, self._out)
        adv = self.adv
        _header(adv, _HEADER_UPDATE)
        for i in range(RID_LEN):
            adv[8 + i] = self.rid[i]
        for i in range(16):
            adv[14 + i] = self._out[i]
        adv[30] = 0
        return adv

    def tap(self, age_ms, peer, tx_power):
        """TAP frame: `age_ms` since this pin's tap (refresh it while the tap
        window lasts), `peer` the chosen partner's RID (or None), TX power."""
        adv = self.adv
        _header(adv, _HEADER_TAP)
        for i in range(RID_LEN):
            adv[8 + i] = self.rid[i]
        age_ms = min(max(age_ms, 0), TAP_AGE_MAX)
        adv[14] = age_ms >> 8
        adv[15] = age_ms & 0xFF
        for i in range(PEER_LEN):
            adv[16 + i] = peer[i] if peer is not None else 0
        adv[20] = tx_power & 0xFF
        self._tap.sign(adv, 7, self.epoch)
        return adv


class TapMac:
    """The event's tap MAC: AES-128 as a PRF over one block (epoch, first 14
    payload bytes). Any pin holding the event key can check it; an outsider
    cannot make one. One AES object, made once: checking allocates nothing."""

    def __init__(self, tap_key):
        import cryptolib

        self._aes = cryptolib.aes(tap_key, 1)
        self._in = bytearray(16)
        self._out = bytearray(16)

    def _run(self, payload, o, epoch):
        b = self._in
        b[0] = (epoch >> 8) & 0xFF
        b[1] = epoch & 0xFF
        for i in range(14):
            b[2 + i] = payload[o + i]
        self._aes.encrypt(b, self._out)

    def sign(self, buf, o, epoch):
        self._run(buf, o, epoch)
        for i in range(_MAC_LEN):
            buf[o + 14 + i] = self._out[i]

    def check(self, frame, epoch):
        """True if the TAP frame's MAC is right for `epoch` (try the
        neighbouring epochs too when clocks may differ)."""
        b = self._in
        b[0] = (epoch >> 8) & 0xFF
        b[1] = epoch & 0xFF
        b[2] = _HEADER_TAP
        for i in range(RID_LEN):
            b[3 + i] = frame.rid[i]
        b[9] = frame.tap_age_ms >> 8
        b[10] = frame.tap_age_ms & 0xFF
        for i in range(PEER_LEN):
            b[11 + i] = frame.peer[i]
        b[15] = frame.tx_power & 0xFF
        self._aes.encrypt(b, self._out)
        diff = 0
        for i in range(_MAC_LEN):
            diff |= self._out[i] ^ frame.mac[i]
        return diff == 0


def read_stats(stats_aes, frame, epoch, out):
    """Decrypt a friend's UPDATE block with an AES-ECB object made from its
    stats key (decrypt direction). Returns steps << 16 | made, or -1 if the
    block is not that friend's for that RID and epoch. `out`: 16 bytes."""
    stats_aes.decrypt(frame.block, out)
    for i in range(RID_LEN):
        if out[8 + i] != frame.rid[i]:
            return -1
    if out[14] != (epoch >> 8) & 0xFF or out[15] != epoch & 0xFF:
        return -1
    return (((out[0] << 16) | (out[1] << 8) | out[2]) << 16) | (out[3] << 8) | out[4]


class Recognizer:
    """Which friend, if any, sent a RID: an open-addressing table of the
    RIDs every friend uses in two epochs (see epochs_held), at a load of at
    most 0.5. Slots of 4 bytes in pieces of 1,024 (4 KB): 1, 2 or 4 pieces
    hold 256, 512 or 1,024 friends (16 KB at the bound), grown by reserve().
    A slot keeps 16 more bits of the RID than its position (10-12), so 26-28
    bits are matched; the UPDATE block (or, for a TAP frame, recomputing the
    friend's RID) confirms a match. Lookups allocate nothing.

    Pieces, not one block: a heap that has been in use for a while (imports,
    a tap, a phone session) has 4 KB holes long after its largest free block
    is under 16 KB; and a pin with a day's friends needs one piece, not four
    (docs/heap.md)."""

    def __init__(self, friends=MAX_FRIENDS):
        self.pieces = []
        self._mask = 0
        self.epochs = (-1, -1)
        self.count = 0
        self._block = bytearray(16)
        self._out = bytearray(16)
        self.reserve(friends)

    def reserve(self, friends):
        """Room for `friends` (up to MAX_FRIENDS). Growing empties the table
        (its slots move): True then, and it must be built again."""
        n = 1
        while n < _PIECES and n * _PIECE_SLOTS < 4 * friends:
            n *= 2
        if n <= len(self.pieces):
            return False
        while len(self.pieces) < n:
            self.pieces.append(bytearray(4 * _PIECE_SLOTS))
        self._mask = n * _PIECE_SLOTS - 1
        self.clear((-1, -1))
        return True

    def clear(self, epochs):
        for t in self.pieces:
            for i in range(2, len(t), 4):
                t[i] = 0
                t[i + 1] = 0
        self.epochs = epochs
        self.count = 0

    def add(self, friend, rid_key):
        """Insert friend number `friend` (0..1023) from its 16-byte RID key.
        Makes one AES object (about 350 bytes of garbage): once per friend
        per rebuild, never per scan result."""
        import cryptolib

        if not 0 <= friend < MAX_FRIENDS or 4 * (self.count + 1) > self._mask + 1:
            raise ValueError("friend index")  # or no room: reserve() first
        a = cryptolib.aes(rid_key, 1)
        for which in range(2):
            rid_for(a, self.epochs[which], self._block, self._out)
            self._insert(self._out, friend * 2 + which + 1)
        self.count += 1

    def build(self, epochs, keys):
        """Rebuild for `epochs` from an iterable of (friend, rid_key)."""
        self.clear(epochs)
        for friend, key in keys:
            self.add(friend, key)

    def _insert(self, rid, ref):
        pieces = self.pieces
        mask = self._mask
        s = ((rid[0] << 8) | rid[1]) & mask
        while True:
            t = pieces[s >> _PIECE_BITS]
            o = 4 * (s & (_PIECE_SLOTS - 1))
            if not (t[o + 2] | t[o + 3]):
                break
            s = (s + 1) & mask
        t[o] = rid[2]
        t[o + 1] = rid[3]
        t[o + 2] = ref >> 8
        t[o + 3] = ref & 0xFF

    def lookup(self, rid):
        """friend * 2 + which epoch (0 or 1) for a RID in the table, else -1.
        A frame may match more than one slot only with chance 2**-16 per
        probe; the first is returned and confirmed by the caller."""
        pieces = self.pieces
        mask = self._mask
        s = ((rid[0] << 8) | rid[1]) & mask
        while True:
            t = pieces[s >> _PIECE_BITS]
            o = 4 * (s & (_PIECE_SLOTS - 1))
            ref = (t[o + 2] << 8) | t[o + 3]
            if ref == 0:
                return -1
            if t[o] == rid[2] and t[o + 1] == rid[3]:
                return ref - 1
            s = (s + 1) & mask

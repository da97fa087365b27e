# The friend list on flash: up to MAX_FRIENDS friends with their public
# cards, in a heap that holds none of them.
#
# Two files (PATH.log, PATH.upd):
#   .log  append-only records, one per friend (and one more each time a
#         friend's card changes: the latest wins). Adding a friend appends
#         one record in one write; nothing else is rewritten.
#           0  magic 0xCF, format 1
#           2  friend number (slot), u16 LE
#           4  body length, u16 LE
#           6  CRC-32 of bytes 2..5 and the body, u32 LE
#          10  body: friend key 16 | RID key 16 | stats key 16 | added (unix s)
#              u32 LE | name, organisation, role (u16 LE length + UTF-8 each) |
#              handle count u8 | each handle (u16 LE length + UTF-8)
#   .upd  the latest stats each friend sent, 16 bytes at 16 x slot:
#         steps u32 | made u16 | time (unix s) u32 | friend key[0:2] | CRC-32
#         (seeded with the slot) u32; rewritten in place, cheaply.
#
# A power cut at any instant loses at most the friend being added (a torn
# record fails its CRC) or one stats update. open() validates every record:
# bytes that are not a valid record (a torn tail, bit rot) are copied to
# PATH.bad, reported, and the log is rewritten without them (temp file +
# rename, so that rewrite can be cut too). The heap holds 5 bytes per
# possible friend, allocated once: 3 for the record offset, 2 for a tag of
# its key (duplicate check without reading the log).
#
# At the bound (MAX_FRIENDS) add() refuses with FULL and writes nothing:
# friendships are mutual, so the pin never evicts a friend behind its
# back; the handshake checks room() first so that both pins refuse alike.
import binascii
import os

from micropython import const

from cloudpin import owner
from cloudpin.social.advert import MAX_FRIENDS, friend_subkeys
from cloudpin.store import _exists  # one helper for both stores

PATH = "friends"
FULL = const(-1)
CARD_FIELDS = ("name", "organisation", "role")
_MAGIC0 = const(0xCF)
_MAGIC1 = const(0x01)
_HEAD = const(10)
_KEYS = const(48)
_FIXED = const(52)  # keys + added time
_UPD = const(16)
_CHUNK = const(64)
_NOT_FOUND = const(-1)


def validate_card(card):
    """The public card a friend sent, normalised, or ValueError: the owner
    card's rules and limits (cloudpin.owner), keeping only the public fields
    (no accreditation number, no provisioning generation)."""
    if not isinstance(card, dict):
        raise ValueError("card is not an object")
    doc = {"acc": "-", "gen": 1, "handles": card.get("handles", [])}
    for f in CARD_FIELDS:
        doc[f] = card.get(f, "")
    doc = owner.validate(doc)
    out = {"handles": doc["handles"]}
    for f in CARD_FIELDS:
        out[f] = doc[f]
    return out


def _u16(b, o):
    return b[o] | (b[o + 1] << 8)


def _u32(b, o):
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)


def _put16(b, o, v):
    b[o] = v & 0xFF
    b[o + 1] = (v >> 8) & 0xFF


def _put32(b, o, v):
    for i in range(4):
        b[o + i] = (v >> (8 * i)) & 0xFF


def encode_card(card):
    """A validated card as records (and the handshake) carry it: name,
    organisation, role (u16 LE length + UTF-8 each), handle count u8, each
    handle (u16 LE length + UTF-8)."""
    parts = [card[f].encode() for f in CARD_FIELDS]
    handles = [h.encode() for h in card["handles"]]
    out = bytearray(sum(2 + len(p) for p in parts) + 1 + sum(2 + len(h) for h in handles))
    o = 0
    for p in parts:
        _put16(out, o, len(p))
        out[o + 2:o + 2 + len(p)] = p
        o += 2 + len(p)
    out[o] = len(handles)
    o += 1
    for h in handles:
        _put16(out, o, len(h))
        out[o + 2:o + 2 + len(h)] = h
        o += 2 + len(h)
    return out


def _record(slot, friend_key, t, card):
    rik, sk = friend_subkeys(friend_key)
    enc = encode_card(card)
    n = _HEAD + _FIXED + len(enc)
    rec = bytearray(n)
    rec[0] = _MAGIC0
    rec[1] = _MAGIC1
    _put16(rec, 2, slot)
    _put16(rec, 4, n - _HEAD)
    o = _HEAD
    for k in (friend_key, rik, sk):
        rec[o:o + 16] = k
        o += 16
    _put32(rec, o, t)
    rec[o + 4:] = enc
    _put32(rec, 6, binascii.crc32(memoryview(rec)[_HEAD:], binascii.crc32(memoryview(rec)[2:6])))
    return rec


def _text(body, o):
    n = _u16(body, o)
    if o + 2 + n > len(body):
        raise ValueError("record structure")
    return bytes(body[o + 2:o + 2 + n]).decode(), o + 2 + n


def decode_card(buf, o):
    """(card, offset after it) from encode_card's bytes at `o` in `buf`;
    ValueError if the structure is wrong (the fields are not validated:
    validate_card does that)."""
    card = {}
    try:
        for f in CARD_FIELDS:
            card[f], o = _text(buf, o)
        count = buf[o]
        o += 1
        handles = []
        for _ in range(count):
            h, o = _text(buf, o)
            handles.append(h)
        card["handles"] = handles
    except (IndexError, UnicodeError):
        raise ValueError("card structure")
    return card, o


def _parse_body(body):
    """The card from a record body whose CRC was checked; ValueError if
    its structure is wrong anyway (a bug, or a CRC that matched by chance)."""
    card, o = decode_card(body, _FIXED)
    if o != len(body):
        raise ValueError("record length")
    return card


class Friends:
    """The friend list. `opener` is open() unless a test cuts power."""

    def __init__(self, path=PATH, log=None, opener=open):
        self.path = path
        self._log = log
        self._open = opener
        self._offsets = bytearray(b"\xff" * (3 * MAX_FRIENDS))  # 0xFFFFFF: empty slot
        self._tags = bytearray(2 * MAX_FRIENDS)
        self._head = bytearray(_HEAD)
        self._chunk = bytearray(_CHUNK)
        self._slot = bytearray(_UPD)
        self.count = 0
        self.size = 0  # bytes of valid log
        self.set_aside = 0  # bytes moved to PATH.bad by the last open()

    # -- opening: validate everything, set aside what is not valid ---------

    def open(self):
        """Read the log: index every valid record, set aside the rest.
        Returns the number of bytes set aside (0 on a clean log)."""
        log = self.path + ".log"
        tmp = log + ".tmp"
        if _exists(tmp):
            if _exists(log):  # a rewrite cut before its rename: the log is intact
                os.remove(tmp)
            else:  # cut between remove and rename (FAT): tmp is complete
                os.rename(tmp, log)
        bad = self._scan(log)
        self.set_aside = bad
        if bad:
            if self._log:
                self._log.warning("friends: %d bytes of %s failed their check: set aside in %s.bad" % (
                    bad, log, self.path))
            self._rewrite(log, tmp)
            self._scan(log)
        return bad

    def _scan(self, log):
        """Index valid records; returns how many bytes were not valid."""
        for i in range(len(self._offsets)):
            self._offsets[i] = 0xFF
        self.count = 0
        self.size = 0
        bad = 0
        try:
            f = self._open(log, "rb")
        except OSError:
            return 0
        try:
            end = f.seek(0, 2)
            pos = 0
            while pos < end:
                n = self._valid_at(f, pos, end)
                if n:
                    slot = _u16(self._head, 2)
                    self._index(slot, pos, f)
                    pos += n
                    self.size += n
                else:
                    nxt = self._next_magic(f, pos, end)
                    bad += nxt - pos
                    pos = nxt
        finally:
            f.close()
        return bad

    def _next_magic(self, f, pos, end):
        """The next offset after `pos` holding the magic's first byte, or
        `end`: where a record may start again after damage."""
        mv = memoryview(self._chunk)
        pos += 1
        while pos < end:
            f.seek(pos)
            k = f.readinto(mv[:min(_CHUNK, end - pos)])
            if not k:
                break
            for i in range(k):
                if self._chunk[i] == _MAGIC0:
                    return pos + i
            pos += k
        return end

    def _valid_at(self, f, pos, end):
        """Length of the valid record at `pos`, or 0."""
        h = self._head
        if end - pos < _HEAD:
            return 0
        f.seek(pos)
        if f.readinto(h) != _HEAD or h[0] != _MAGIC0 or h[1] != _MAGIC1:
            return 0
        n = _u16(h, 4)
        if _u16(h, 2) >= MAX_FRIENDS or n < _FIXED + 7 or pos + _HEAD + n > end:
            return 0
        crc = binascii.crc32(memoryview(h)[2:6])
        left = n
        mv = memoryview(self._chunk)
        while left:
            k = min(left, _CHUNK)
            if f.readinto(mv[:k]) != k:
                return 0
            crc = binascii.crc32(mv[:k], crc)
            left -= k
        return _HEAD + n if crc == _u32(h, 6) else 0

    def _index(self, slot, pos, f):
        f.seek(pos + _HEAD)
        f.readinto(memoryview(self._chunk)[:2])
        self._set(slot, pos, self._chunk)

    def _set(self, slot, pos, key):
        """Record `slot` at log offset `pos`, tagged with key[0:2]."""
        o = 3 * slot
        if self._offsets[o] == 0xFF and self._offsets[o + 1] == 0xFF and self._offsets[o + 2] == 0xFF:
            self.count += 1
        self._offsets[o] = pos >> 16
        self._offsets[o + 1] = (pos >> 8) & 0xFF
        self._offsets[o + 2] = pos & 0xFF
        self._tags[2 * slot] = key[0]
        self._tags[2 * slot + 1] = key[1]

    def _offset(self, slot):
        o = 3 * slot
        if not 0 <= slot < MAX_FRIENDS or self._offsets[o] == 0xFF:
            return -1
        return (self._offsets[o] << 16) | (self._offsets[o + 1] << 8) | self._offsets[o + 2]

    def _rewrite(self, log, tmp):
        """Copy the valid records to tmp, the rest to .bad, then rename."""
        src = self._open(log, "rb")
        try:
            end = src.seek(0, 2)
            dst = self._open(tmp, "wb")
            badf = self._open(self.path + ".bad", "ab")
            try:
                pos = 0
                while pos < end:
                    n = self._valid_at(src, pos, end)
                    if n:
                        self._copy(src, pos, n, dst)
                        pos += n
                        continue
                    q = self._next_magic(src, pos, end)  # a run of bad bytes, up to the next valid record
                    while q < end and not self._valid_at(src, q, end):
                        q = self._next_magic(src, q, end)
                    self._copy(src, pos, q - pos, badf)
                    pos = q
            finally:
                dst.close()
                badf.close()
        finally:
            src.close()
        try:
            os.rename(tmp, log)
        except OSError:  # FAT cannot rename over a file (see cloudpin.store)
            os.remove(log)
            os.rename(tmp, log)

    def _copy(self, src, pos, n, dst):
        mv = memoryview(self._chunk)
        src.seek(pos)
        while n:
            k = min(n, _CHUNK)
            src.readinto(mv[:k])
            dst.write(mv[:k])
            n -= k

    # -- adding ------------------------------------------------------------

    def room(self):
        return MAX_FRIENDS - self.count

    def find(self, friend_key):
        """Slot of the friend with this key, or -1."""
        t0, t1 = friend_key[0], friend_key[1]
        buf = memoryview(self._chunk)[:16]
        for slot in range(MAX_FRIENDS):
            if self._tags[2 * slot] != t0 or self._tags[2 * slot + 1] != t1:
                continue
            pos = self._offset(slot)
            if pos < 0:
                continue
            f = self._open(self.path + ".log", "rb")
            try:
                f.seek(pos + _HEAD)
                f.readinto(buf)
            finally:
                f.close()
            if buf == friend_key:
                return slot
        return _NOT_FOUND

    def add(self, friend_key, card, t):
        """Store a friend (16-byte key, public card, time added in unix s).
        Returns its slot, FULL at the bound; ValueError for a bad card or
        key. A friend already known keeps its slot; a changed card is
        appended as a new record (the latest wins)."""
        if not isinstance(friend_key, (bytes, bytearray)) or len(friend_key) != 16:
            raise ValueError("friend key: 16 bytes")
        card = validate_card(card)
        slot = self.find(friend_key)
        if slot >= 0:
            if self.card(slot) == card:
                return slot
        else:
            if self.count >= MAX_FRIENDS:
                return FULL
            slot = 0
            while self._offset(slot) >= 0:
                slot += 1
        rec = _record(slot, friend_key, t, card)
        f = self._open(self.path + ".log", "ab")
        try:
            pos = f.seek(0, 2)
            f.write(rec)
        finally:
            f.close()
        self.size = pos + len(rec)
        self._set(slot, pos, friend_key)
        return slot

    # -- reading -----------------------------------------------------------

    def _read_body(self, slot):
        """The checked body of a slot's record as a bytearray, or None (and
        a warning) if it no longer passes its CRC."""
        pos = self._offset(slot)
        if pos < 0:
            return None
        f = self._open(self.path + ".log", "rb")
        try:
            f.seek(pos)
            h = self._head
            f.readinto(h)
            body = bytearray(_u16(h, 4))
            f.readinto(body)
        finally:
            f.close()
        if binascii.crc32(body, binascii.crc32(memoryview(h)[2:6])) != _u32(h, 6):
            if self._log:
                self._log.warning("friends: record %d failed its check: set aside at the next open" % slot)
            return None
        return body

    def card(self, slot):
        """The friend's public card, or None."""
        d = self.get(slot)
        return None if d is None else d["card"]

    def get(self, slot):
        """{slot, card, added, latest} or None."""
        body = self._read_body(slot)
        if body is None:
            return None
        try:
            card = _parse_body(body)
        except ValueError:
            return None
        return {"slot": slot, "card": card, "added": _u32(body, _KEYS), "latest": self.latest(slot)}

    def page(self, start, n):
        """Up to n friends from slot `start` on (skipping empty slots), and
        the slot to continue from (-1 at the end)."""
        out = []
        slot = start
        while slot < MAX_FRIENDS and len(out) < n:
            if self._offset(slot) >= 0:
                d = self.get(slot)
                if d is not None:
                    out.append(d)
            slot += 1
        while slot < MAX_FRIENDS and self._offset(slot) < 0:
            slot += 1
        return out, (slot if slot < MAX_FRIENDS else -1)

    def keys(self, slot, out):
        """Friend key, RID key and stats key (48 bytes) into `out`; False if
        the slot is empty. Reads 48 bytes; no CRC (open() checked it)."""
        pos = self._offset(slot)
        if pos < 0:
            return False
        f = self._open(self.path + ".log", "rb")
        try:
            f.seek(pos + _HEAD)
            return f.readinto(out) == _KEYS
        finally:
            f.close()

    def rid_keys(self):
        """(slot, RID key) for every friend, one buffer reused and the log
        opened once: what advert.Recognizer.build takes each half epoch."""
        if not self.count:
            return
        buf = bytearray(_KEYS)
        mv = memoryview(buf)
        f = self._open(self.path + ".log", "rb")
        try:
            for slot in range(MAX_FRIENDS):
                pos = self._offset(slot)
                if pos >= 0:
                    f.seek(pos + _HEAD)
                    if f.readinto(buf) == _KEYS:
                        yield slot, mv[16:32]
        finally:
            f.close()

    # -- latest stats from each friend ------------------------------------

    def update(self, slot, steps, made, t, min_interval_s=300):
        """Keep a friend's latest stats (with the time they were sent).
        Writes 16 bytes in place, at most once per `min_interval_s` per
        friend unless `made` changed (flash wear). Returns True if written."""
        if self._offset(slot) < 0:
            return False
        old = self.latest(slot)
        if old is not None:
            if t <= old[2] or (t - old[2] < min_interval_s and made == old[1]):
                return False
        s = self._slot
        _put32(s, 0, min(max(steps, 0), 0xFFFFFFFF))
        _put16(s, 4, min(max(made, 0), 0xFFFF))
        _put32(s, 6, t)
        s[10] = self._tags[2 * slot]
        s[11] = self._tags[2 * slot + 1]
        _put32(s, 12, binascii.crc32(memoryview(s)[:12], slot))
        path = self.path + ".upd"
        try:
            f = self._open(path, "r+b")
        except OSError:
            f = self._open(path, "w+b")
        try:
            end = f.seek(0, 2)
            zero = memoryview(self._chunk)[:_UPD]
            for i in range(_UPD):
                zero[i] = 0
            while end < _UPD * slot:  # grow to the slot: empty slots fail their CRC
                f.write(zero)
                end += _UPD
            f.seek(_UPD * slot)
            f.write(s)
        finally:
            f.close()
        return True

    def latest(self, slot):
        """(steps, made, t) last received from this friend, or None."""
        s = self._slot
        try:
            f = self._open(self.path + ".upd", "rb")
        except OSError:
            return None
        try:
            f.seek(_UPD * slot)
            n = f.readinto(s)
        finally:
            f.close()
        if n != _UPD or _u32(s, 12) != binascii.crc32(memoryview(s)[:12], slot):
            return None
        if s[10] != self._tags[2 * slot] or s[11] != self._tags[2 * slot + 1]:
            return None  # left from a friend added and lost in a power cut
        return _u32(s, 0), _u16(s, 4), _u32(s, 6)

    def wipe(self):
        """Forget every friend (the badge is returned)."""
        for ext in (".log", ".log.tmp", ".upd", ".bad"):
            try:
                os.remove(self.path + ext)
            except OSError:
                pass
        self._scan(self.path + ".log")

# The pin's side of the phone protocol (cloudpin.phone.protocol): per
# connection, fragments in, one answer per message out; the owner-only
# session; the request handlers. No radio here: the GATT role
# (cloudpin.phone.role) feeds write() and sends what it returns, tests and
# the fuzzer call it directly.
#
# The backend is what the service reads and changes on the pin, a small
# interface so that tests can give a fake (docs/phone-api.md, "Backend"):
#   info()                -> (firmware version str, badge id bytes 8 or None,
#                             battery percent 0..100 or -1, battery low bool)
#   card()                -> the owner card dict (cloudpin.owner) or None
#   set_card(card)        -> status; card has name, organisation, role,
#                             handles; acc and gen stay the desk's
#   friends               -> a cloudpin.social.friends.Friends, or None
#   stats()               -> (local day, steps today, friends made today,
#                             steps since provisioning, friends in all)
#   designs()             -> (selected index or -1, [(index, sport id)] of
#                             the unlocked ones), or None without an engine
#   select_design(index)  -> status (OK, NOT_FOUND)
#
# Every write that is malformed, oversized, out of order, unauthorised or
# refused is answered with an ERROR or a non-OK status and changes nothing
# the pin keeps. Wrong proofs are rate-limited for the whole pin (an
# attacker reconnects at will): FREE_FAILS free, then a lock doubling from
# 1 s up to LOCK_MAX_S. The secret is 128 random bits, so the lock protects
# the battery and the radio window from a flood more than the secret.
import os
import time

from micropython import const

from cloudpin.phone import protocol as p

FREE_FAILS = const(3)
LOCK_MAX_S = const(300)
PAGE_MOST = const(32)  # friends per page at most, whatever the phone asks


class _Conn:
    def __init__(self):
        self.rx = p.Reassembler()
        self.nonce = None  # the challenge outstanding (bytes 16)
        self.chan = None  # a Channel once the phone proved the secret


class PhoneService:
    def __init__(self, backend, pair_key, log=None, random=os.urandom):
        if not isinstance(pair_key, (bytes, bytearray)) or len(pair_key) != 16:
            raise ValueError("pair key: 16 bytes")
        self.backend = backend
        self._key = bytes(pair_key)
        self.log = log
        self._random = random
        self._conns = {}
        self.fails = 0
        self.lock_t = 0  # ticks_ms the lock started
        self.lock_ms = 0  # its length (0: not locked)
        self.sessions = 0  # proofs accepted since boot
        self.refused = 0  # wrong proofs since boot

    def beacon(self, nonce):
        """The phone window's advertisement (protocol.beacon) with `nonce`."""
        return p.beacon(self._key, nonce)

    # -- connections -------------------------------------------------------

    def connect(self, handle):
        self._conns[handle] = _Conn()

    def disconnect(self, handle):
        self._conns.pop(handle, None)

    def authenticated(self, handle=None):
        """Is `handle` (or any connection) in an owner session?"""
        if handle is not None:
            c = self._conns.get(handle)
            return c is not None and c.chan is not None
        for c in self._conns.values():
            if c.chan is not None:
                return True
        return False

    def _locked(self, kind, now_ms):
        """The ERROR LOCKED (seconds left) while wrong proofs lock the pin, else None."""
        if not self.lock_ms:
            return None
        left = self.lock_ms - time.ticks_diff(now_ms, self.lock_t)
        if left <= 0:
            self.lock_ms = 0
            return None
        s = (left + 999) // 1000
        return p.error(p.LOCKED, kind, bytes((s & 0xFF, s >> 8)))

    # -- the one entry point ---------------------------------------------

    def write(self, handle, frag, now_ms):
        """A fragment the phone wrote: the answer to send (bytes, whole: the
        caller fragments it) or None while a message is incomplete."""
        c = self._conns.get(handle)
        if c is None:
            return None  # not connected: the radio layer would not call us
        msg = c.rx.feed(frag)
        if msg is None:
            return None
        if isinstance(msg, int):
            return p.error(msg, 0)
        kind = msg[0]
        if kind == p.REQUEST:
            return self._request(c, msg)
        if kind == p.HELLO:
            return self._hello(c, msg, now_ms)
        if kind == p.PROVE:
            return self._prove(c, msg, now_ms)
        return p.error(p.UNKNOWN, kind)

    def _hello(self, c, msg, now_ms):
        if len(msg) != 2:
            return p.error(p.MALFORMED, p.HELLO)
        if msg[1] != p.PROTO:
            return p.error(p.VERSION, p.HELLO, bytes((p.PROTO,)))
        if c.chan is not None:
            return p.error(p.OUT_OF_ORDER, p.HELLO)
        locked = self._locked(p.HELLO, now_ms)
        if locked:
            return locked
        c.nonce = bytes(self._random(p.NONCE))
        return bytes((p.CHALLENGE, p.PROTO)) + c.nonce

    def _prove(self, c, msg, now_ms):
        if len(msg) != 1 + p.NONCE + p.PROOF:
            return p.error(p.MALFORMED, p.PROVE)
        if c.nonce is None or c.chan is not None:
            return p.error(p.OUT_OF_ORDER, p.PROVE)
        locked = self._locked(p.PROVE, now_ms)
        if locked:
            return locked
        pin_nonce, c.nonce = c.nonce, None  # one try per challenge
        phone_nonce = bytes(msg[1:1 + p.NONCE])
        if not p.same(p.phone_proof(self._key, pin_nonce, phone_nonce), msg[1 + p.NONCE:]):
            self.fails += 1
            self.refused += 1
            if self.fails >= FREE_FAILS:
                self.lock_t = now_ms
                self.lock_ms = 1000 * min(LOCK_MAX_S, 1 << min(self.fails - FREE_FAILS, 9))
            if self.log is not None:
                self.log.warning("phone proof refused fails=%d" % self.fails)
            return p.error(p.BAD_PROOF, p.PROVE)
        self.fails = 0
        self.sessions += 1
        c.chan = p.Channel(self._key, pin_nonce, phone_nonce, True)
        if self.log is not None:
            self.log.info("phone session open")
        return bytes((p.WELCOME,)) + p.pin_proof(self._key, pin_nonce, phone_nonce)

    def _request(self, c, msg):
        if c.chan is None:
            return p.error(p.UNAUTHORISED, p.REQUEST)
        st, plain = c.chan.open(msg)
        if st != p.OK:
            return p.error(st, p.REQUEST)
        seq = c.chan.rx_seq - 1
        out = bytearray((seq & 0xFF, seq >> 8, p.OK))
        try:
            st = self._op(plain, out) if plain else p.MALFORMED
        except (ValueError, IndexError):
            st = p.MALFORMED
        except Exception as e:  # flash trouble or a bug: say so, keep serving
            if self.log is not None:
                self.log.exc(e, "phone op failed")
            st = p.INTERNAL
        if st != p.OK:
            out = bytearray((seq & 0xFF, seq >> 8, st))
        sealed = c.chan.seal(p.RESPONSE, out)
        return sealed if sealed is not None else p.error(p.SESSION_OVER, p.REQUEST)

    # -- requests: each returns a status, appending its payload to `out` ----

    def _op(self, plain, out):
        op = plain[0]
        r = p.Reader(plain, 1)
        b = self.backend
        if op == p.OP_INFO:
            r.end()
            version, badge, pct, low = b.info()
            v = version.encode()[:32]
            out.extend(bytes((p.PROTO, pct if 0 <= pct <= 100 else 0xFF, 1 if low else 0)))
            out.extend(badge if badge is not None else bytes(8))
            out.append(len(v))
            out.extend(v)
            return p.OK
        if op == p.OP_CARD_GET:
            r.end()
            card = b.card()
            if card is None:
                return p.UNAVAILABLE
            p.put_card(out, card, True)
            return p.OK
        if op == p.OP_CARD_SET:
            card = p.get_card(r)
            r.end()
            return b.set_card(card)
        if op == p.OP_FRIENDS:
            start, most = r.u16(), r.u8()
            r.end()
            return self._friends(start, most, out)
        if op == p.OP_STATS:
            r.end()
            day, steps, made, total, friends = b.stats()
            p.put_le(out, day, 4)
            p.put_le(out, min(steps, 0xFFFFFFFF), 4)
            p.put_le(out, min(made, 0xFFFF), 2)
            p.put_le(out, min(total, 0xFFFFFFFF), 4)
            p.put_le(out, friends, 2)
            return p.OK
        if op == p.OP_DESIGNS:
            r.end()
            d = b.designs()
            if d is None:
                return p.UNAVAILABLE
            sel, unlocked = d
            out.append(sel if 0 <= sel < 255 else 0xFF)
            out.append(len(unlocked))
            for i, sport in unlocked:
                s = sport.encode()
                out.append(i)
                out.append(len(s))
                out.extend(s)
            return p.OK
        if op == p.OP_DESIGN_SET:
            i = r.u8()
            r.end()
            if b.designs() is None:
                return p.UNAVAILABLE
            return b.select_design(i)
        return p.UNKNOWN

    def _friends(self, start, most, out):
        """total u16 | next slot u16 (NO_SLOT at the end) | count u8 |
        entries, as many as fit one message."""
        f = self.backend.friends
        head = len(out)
        p.put_le(out, 0 if f is None else f.count, 2)
        out.extend(b"\xff\xff\x00")  # next slot NO_SLOT, count 0: filled in below
        if f is None or most == 0:
            return p.OK
        most = min(most, PAGE_MOST)
        slot, n = start, 0
        while slot >= 0 and n < most:
            got, nxt = f.page(slot, 1)
            if not got:
                slot = nxt
                break
            mark = len(out)
            p.put_friend(out, got[0])
            if len(out) > p.MAX_PLAIN:
                out[mark:] = b""  # (MicroPython: no del of a bytearray slice)
                if n:
                    break  # the next page starts with it
                p.put_friend(out, got[0], True)  # alone too long (non-Latin text): shortened
            n += 1
            slot = nxt
        nxt = slot if slot >= 0 else p.NO_SLOT
        out[head + 2] = nxt & 0xFF
        out[head + 3] = nxt >> 8
        out[head + 4] = n
        return p.OK

    # -- events: a sealed EVENT for every owner session ---------------------

    def event(self, code, payload=b""):
        """[(handle, sealed message)] to notify now."""
        msg = bytes((code,)) + payload
        out = []
        for h, c in self._conns.items():
            if c.chan is not None:
                sealed = c.chan.seal(p.EVENT, msg)
                if sealed is not None:
                    out.append((h, sealed))
        return out

    def friend_event(self, slot):
        f = self.backend.friends
        d = f.get(slot) if f is not None else None
        if d is None:
            return []
        buf = bytearray()
        p.put_friend(buf, d)
        return self.event(p.EV_FRIEND, bytes(buf))

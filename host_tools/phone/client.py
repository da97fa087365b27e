"""The phone's side of the phone service over any transport: pair with the
card's secret, then read and change what the owner may (docs/phone-api.md).

A transport moves fragments: send(fragment) (at most .fragment_size bytes,
in order, each acknowledged before the next), recv(timeout) -> the next
fragment the pin notified or None, close(). host_tools.phone.transports has
one for the emulated air, one for bleak and one in-process."""
import base64
import secrets
import struct
import time

from host_tools.phone import fw

p = fw.protocol()

FRIENDS_PER_REQUEST = 255  # the pin sends what fits one message (at most 32)


class PhoneClientError(Exception):
    """A problem a person can act on; the message is one line saying it."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def parse_secret(text):
    """The pairing secret from what the wearer has: the QR code's text
    (CLOUDPIN:1:<badge id>:<base32 key>, alone or after an address and #),
    the key in base32 or 32 hex digits.
    -> (badge id hex or None, 16-byte key)."""
    t = text.strip()
    if "#" in t:  # the web app's address with the code in its fragment
        t = t.split("#", 1)[1]
    if t.upper().startswith("CLOUDPIN:"):
        from host_tools.desk.card import parse_payload  # the card's own format, read back

        try:
            badge, key = parse_payload(t)
        except ValueError:
            raise PhoneClientError("not a CloudPin pairing code (expected CLOUDPIN:1:<badge>:<key>)")
        if len(key) != 16:
            raise PhoneClientError("the pairing code's key is %d bytes, not 16" % len(key))
        return badge, key
    badge = None
    try:
        if len(t) == 32 and all(c in "0123456789abcdefABCDEF" for c in t):
            key = bytes.fromhex(t)
        else:
            key = base64.b32decode(t.upper() + "=" * (-len(t) % 8))
    except ValueError:
        key = b""
    if len(key) != 16:
        raise PhoneClientError("the secret must be the card's 16-byte key (base32 as in its QR code, or 32 hex digits)")
    return badge, key


def read_card_qr(path):
    """The QR text of a pairing card image (PNG/JPEG, a photo of the card
    too), decoded with zxing-cpp."""
    import zxingcpp
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError) as e:
        raise PhoneClientError("cannot read the card image %s: %s" % (path, e))
    for code in zxingcpp.read_barcodes(img.convert("L")):
        if code.text.upper().startswith("CLOUDPIN:"):
            return code.text
    raise PhoneClientError("no CloudPin QR code found on %s" % path)


_MESSAGES = {
    p.BAD_PROOF: "the pin refused the secret: it belongs to someone else, or the secret is wrong",
    p.LOCKED: "the pin is locked after wrong secrets: try again in %d s",
    p.VERSION: "the pin speaks another protocol version: update this tool or the pin",
    p.UNAVAILABLE: "the pin has no owner card (the desk writes it) or nothing of that kind",
    p.INVALID: "the pin refused the values (owner card limits: name required, texts up to 100 "
               "characters, up to 8 handles of 1-64)",
    p.NOT_FOUND: "that design is not unlocked on this pin",
    p.SESSION_OVER: "this connection has used up its messages: reconnect",
}


def _error(e, what=None):
    msg = _MESSAGES.get(e.status, "%s: the pin answered %s" % (what or e.what, p.status_name(e.status)))
    if e.status == p.LOCKED:
        msg = msg % e.wait_s
    return PhoneClientError(msg, e.status)


class PinClient:
    """One connection to one pin. pair() first; every other call raises
    PhoneClientError (or the transport's ConnectionError/TimeoutError)."""

    def __init__(self, transport, secret, timeout=10.0, random=secrets.token_bytes):
        self.t = transport
        self.phone = p.Phone(secret, random)
        self.timeout = timeout
        self.events = []  # events that arrived while waiting for a response
        self._rx = p.Reassembler()
        self.paired = False

    # -- messages -------------------------------------------------------------
    def _send(self, msg):
        for f in p.fragments(msg, self.t.fragment_size):
            self.t.send(f)

    def _recv(self, timeout):
        """The next whole message from the pin, or None on timeout."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            frag = self.t.recv(max(left, 0))
            if frag is None:
                return None
            got = self._rx.feed(frag)
            if isinstance(got, int):
                raise PhoneClientError("the pin sent a broken fragment (%s)" % p.status_name(got))
            if got is not None:
                return bytes(got)

    def _answer(self, msg, what):
        self._send(msg)
        ans = self._recv(self.timeout)
        if ans is None:
            raise TimeoutError("%s: the pin did not answer in %s s" % (what, self.timeout))
        return ans

    def pair(self):
        """Prove the secret to the pin and check the pin's proof."""
        try:
            prove = self.phone.prove(self._answer(self.phone.hello(), "hello"))
            self.phone.welcome(self._answer(prove, "proof"))
        except p.PhoneError as e:
            if e.what == "the pin's proof":
                raise PhoneClientError("the pin could not prove it holds this secret: it is not your pin", e.status)
            raise _error(e)
        self.paired = True
        return self

    def call(self, op, args=b""):
        """The payload of one request (PhoneClientError unless OK)."""
        msg, seq = self.phone.request(op, args)
        self._send(msg)
        end = time.monotonic() + self.timeout
        while True:
            ans = self._recv(max(end - time.monotonic(), 0))
            if ans is None:
                raise TimeoutError("request %d: the pin did not answer in %s s" % (op, self.timeout))
            try:
                got = self.phone.take(ans)
            except p.PhoneError as e:
                raise _error(e, "request")
            if got[0] == "event":
                self.events.append(p.parse_event(got[1], got[2]))
                continue
            _, rseq, status, payload = got
            if rseq != seq:
                raise PhoneClientError("the pin answered request %d instead of %d" % (rseq, seq))
            if status != p.OK:
                raise _error(p.PhoneError(status, "request %d" % op))
            return payload

    def next_event(self, timeout):
        """The next event (a dict, see protocol.parse_event) or None."""
        if self.events:
            return self.events.pop(0)
        ans = self._recv(timeout)
        if ans is None:
            return None
        try:
            got = self.phone.take(ans)
        except p.PhoneError as e:
            raise _error(e, "event")
        if got[0] != "event":
            raise PhoneClientError("the pin sent a response nobody asked for")
        return p.parse_event(got[1], got[2])

    # -- what the owner does ------------------------------------------------------
    def info(self):
        d = p.parse_info(self.call(p.OP_INFO))
        d["badge_id"] = d["badge_id"].hex() if d["badge_id"] is not None else None
        return d

    def card(self):
        return p.parse_card(self.call(p.OP_CARD_GET))

    def set_card(self, name=None, organisation=None, role=None, handles=None):
        """Change the given fields, keep the others (acc is the desk's)."""
        card = self.card()
        for k, v in (("name", name), ("organisation", organisation), ("role", role), ("handles", handles)):
            if v is not None:
                card[k] = list(v) if k == "handles" else v
        args = p.card_args(card)
        if len(args) + 1 > p.MAX_PLAIN:
            raise PhoneClientError("the card is %d bytes encoded; at most %d fit a message" % (len(args), p.MAX_PLAIN - 1))
        self.call(p.OP_CARD_SET, args)
        return self.card()

    def friend_pages(self, start=0):
        """(total, [friends of one page]) for each page, from slot `start`."""
        slot = start
        while slot is not None:
            total, slot, got = p.parse_page(self.call(p.OP_FRIENDS, struct.pack("<HB", slot, FRIENDS_PER_REQUEST)))
            yield total, got

    def friends(self):
        out = []
        for _, got in self.friend_pages():
            out.extend(got)
        return out

    def stats(self):
        return p.parse_stats(self.call(p.OP_STATS))

    def designs(self):
        """{"selected": sport id or None, "unlocked": [sport ids]} and the index of each."""
        try:
            payload = self.call(p.OP_DESIGNS)
        except PhoneClientError as e:
            if e.status == p.UNAVAILABLE:
                raise PhoneClientError("this pin has no designs (no event pack on it)", e.status)
            raise
        sel, unlocked = p.parse_designs(payload)
        names = dict(unlocked)
        return {"selected": names.get(sel) if sel is not None else None, "unlocked": [s for _, s in unlocked],
                "index": {s: i for i, s in unlocked}}

    def select_design(self, sport):
        """Show design `sport` (its id, e.g. "athletics", or its index)."""
        d = self.designs()
        if isinstance(sport, int) or (isinstance(sport, str) and sport.isdigit()):
            index = int(sport)
        elif sport.lower() in d["index"]:
            index = d["index"][sport.lower()]
        else:
            have = ", ".join(d["unlocked"]) or "none yet"
            raise PhoneClientError("design %r is not unlocked on this pin (unlocked: %s)" % (sport, have))
        self.call(p.OP_DESIGN_SET, bytes((index,)))
        return self.designs()["selected"]

    def close(self):
        self.t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

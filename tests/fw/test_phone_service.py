# The phone service (cloudpin.phone.service) end to end without a radio:
# pairing with the card's secret, every request, paging, events, and the
# refusals (wrong secret, rate limit, replay, altered and out-of-order
# writes) changing nothing.
import json
import struct

from phonekit import (BADGE, CARD, SECRET, Counter, call, error_of, pair, pin, send,  # noqa: F401
                      state)

from cloudpin import owner
from cloudpin.phone import phoneside as p
from cloudpin.phone import service
from cloudpin.phone.backend import PinBackend


def test_fragments_round_trip_at_every_size_and_length():
    for size in (4, 20, 23, 182, 244):
        for n in (1, 2, size - 3, size - 2, size, 3 * size + 1, 1024):
            msg = bytes([i & 0xFF for i in range(n)])
            rx = p.Reassembler()
            frags = list(p.fragments(msg, size))
            assert all(len(f) <= size for f in frags)
            got = [rx.feed(f) for f in frags]
            assert all(g is None for g in got[:-1])
            assert bytes(got[-1]) == msg


def test_reassembler_refuses_bad_fragments_cleanly():
    rx = p.Reassembler()
    assert rx.feed(b"") == p.MALFORMED
    assert rx.feed(b"\x01abc") == p.OUT_OF_ORDER  # a continuation with no message begun
    assert rx.feed(b"\x80\x01\x04") == p.TOO_LARGE  # 1025 bytes
    assert rx.feed(b"\x80\x00\x00") == p.TOO_LARGE  # empty message
    assert rx.feed(b"\x81\x05\x00ab") == p.MALFORMED  # flags other than FIRST
    assert rx.feed(b"\x80\x05\x00ab") is None
    assert rx.feed(b"\x02cd") == p.OUT_OF_ORDER  # fragment 1 lost
    assert rx.feed(b"\x80\x03\x00abcd") == p.MALFORMED  # longer than it said
    assert rx.feed(b"\x80\x05\x00ab") is None
    assert bytes(rx.feed(b"\x01cde")) == b"abcde"


def test_the_owner_pairs_and_reads_everything():
    svc = pin(friends=5)
    ph = pair(svc)
    assert svc.authenticated(1) and svc.sessions == 1
    st, b = call(svc, ph, p.OP_INFO)
    assert st == p.OK
    info = p.parse_info(b)
    assert info == {"proto": 1, "battery": None, "battery_low": False, "badge_id": BADGE, "version": "0.1.0"}
    svc.backend.battery = (42, True)
    assert p.parse_info(call(svc, ph, p.OP_INFO)[1])["battery"] == 42
    st, b = call(svc, ph, p.OP_CARD_GET)
    card = dict(CARD)
    del card["gen"]
    assert st == p.OK and p.parse_card(b) == card
    st, b = call(svc, ph, p.OP_STATS)
    assert st == p.OK and p.parse_stats(b)["friends"] == 5
    st, b = call(svc, ph, p.OP_DESIGNS)
    assert st == p.OK and p.parse_designs(b) == (4, [(0, "athletics"), (4, "boxing")])  # the newest unlock shown


def test_stats_without_the_daily_counters_give_the_apps_count_on_the_local_day():
    # a pin without an event pack keeps no daily counters (the designs do):
    # the app's own count (App._today: steps since boot) instead of zeros,
    # on the day the pin's clock and the event's time zone say, as the
    # daily counters count it (2026-11-30 00:53:20 UTC: still the 29th an
    # hour west of UTC)
    from cloudpin.designs.service import Daily

    t = 1796000000
    b = PinBackend("0.1.0", BADGE, 5, now_s=lambda: t, today=lambda unix_s: (4321, 2), utc_offset=120)
    assert b.stats() == (20787, 4321, 2, 4321, 0)
    assert PinBackend("0.1.0", BADGE, 5, now_s=lambda: t).stats() == (20787, 0, 0, 0, 0)  # no time zone: UTC
    west = PinBackend("0.1.0", BADGE, 5, now_s=lambda: t, utc_offset=-60)
    assert west.stats()[0] == 20786 == Daily(-60, "x.json").local_day(t)
    assert PinBackend("0.1.0", BADGE, 5).stats() == (0, 0, 0, 0, 0)  # no clock: no day


def test_the_owner_sets_the_card_and_the_design():
    svc = pin()
    ph = pair(svc)
    new = {"name": "Ana M. Lima", "organisation": "Folha de S.Paulo", "role": "editor",
           "handles": ["@ana", "ana@bsky.social", "ひらがな"]}
    assert call(svc, ph, p.OP_CARD_SET, p.card_args(new)) == (p.OK, b"")
    stored = owner.load()
    assert stored["acc"] == "PR-7" and stored["gen"] == 5  # the desk's fields stay
    for k in new:
        assert stored[k] == new[k]
    assert call(svc, ph, p.OP_DESIGN_SET, b"\x00") == (p.OK, b"")
    assert svc.backend.engine.selected == 0
    assert p.parse_designs(call(svc, ph, p.OP_DESIGNS)[1])[0] == 0
    with open("designs.json") as f:  # the wearer's pick is saved: a later unlock does not replace it
        saved = json.load(f)
    assert saved["selected"] == "athletics" and saved["picked"] is True
    for i in (1, 5, 6, 255):  # locked, locked, past the pack's end, none
        assert call(svc, ph, p.OP_DESIGN_SET, bytes((i,)))[0] == p.NOT_FOUND
    assert svc.backend.engine.selected == 0


def test_refused_requests_change_nothing():
    svc = pin(friends=2)
    ph = pair(svc)
    before = state(svc)
    too_long = {"name": "x" * 101, "organisation": "", "role": "", "handles": []}
    assert call(svc, ph, p.OP_CARD_SET, p.card_args(too_long))[0] == p.INVALID
    no_name = {"name": "", "organisation": "", "role": "", "handles": []}
    assert call(svc, ph, p.OP_CARD_SET, p.card_args(no_name))[0] == p.INVALID
    good = p.card_args({"name": "B", "organisation": "", "role": "", "handles": []})
    assert call(svc, ph, p.OP_CARD_SET, good + b"\x00")[0] == p.MALFORMED  # trailing byte
    assert call(svc, ph, p.OP_CARD_SET, good[:-1])[0] == p.MALFORMED  # cut short
    assert call(svc, ph, p.OP_CARD_SET, b"\x01\x00\xff" + good[3:])[0] == p.MALFORMED  # not UTF-8
    assert call(svc, ph, p.OP_CARD_SET, b"\x00\x00" * 3 + b"\x09")[0] == p.MALFORMED  # 9 handles
    assert call(svc, ph, p.OP_DESIGN_SET)[0] == p.MALFORMED
    assert call(svc, ph, p.OP_FRIENDS, b"\x00")[0] == p.MALFORMED
    assert call(svc, ph, p.OP_INFO, b"\x00")[0] == p.MALFORMED
    assert call(svc, ph, 0x77)[0] == p.UNKNOWN
    assert state(svc) == before
    svc.backend.engine = None
    assert call(svc, ph, p.OP_DESIGNS)[0] == p.UNAVAILABLE
    assert call(svc, ph, p.OP_DESIGN_SET, b"\x00")[0] == p.UNAVAILABLE
    owner.wipe()
    assert call(svc, ph, p.OP_CARD_GET)[0] == p.UNAVAILABLE
    assert call(svc, ph, p.OP_CARD_SET, good)[0] == p.UNAVAILABLE
    assert owner.load() is None


def test_friends_come_in_pages_that_fit_a_message():
    svc = pin(friends=40)
    ph = pair(svc)
    seen, start, pages = [], 0, 0
    while start is not None:
        st, b = call(svc, ph, p.OP_FRIENDS, struct.pack("<HB", start, 255))
        assert st == p.OK
        total, start, got = p.parse_page(b)
        assert total == 40 and 0 < len(got) <= service.PAGE_MOST
        assert len(b) + 3 <= p.MAX_PLAIN
        seen.extend(got)
        pages += 1
    assert [d["slot"] for d in seen] == list(range(40))
    assert pages >= 2  # 40 friends do not fit one message
    assert seen[3]["card"] == {"name": "Friend 3", "organisation": "Org 3", "role": "photo", "handles": ["@f3"]}
    assert seen[3]["latest"] == (1003, 3, 1700000500) and seen[4]["latest"] is None
    assert seen[3]["added"] == 1700000003
    total, nxt, got = p.parse_page(call(svc, ph, p.OP_FRIENDS, struct.pack("<HB", 38, 5))[1])
    assert nxt is None and [d["slot"] for d in got] == [38, 39]
    assert p.parse_page(call(svc, ph, p.OP_FRIENDS, struct.pack("<HB", 3, 0))[1]) == (40, None, [])


def test_a_card_too_long_for_one_message_comes_shortened():
    svc = pin()
    big = {"name": "名" * 100, "organisation": "組" * 100, "role": "役" * 100, "handles": ["h" * 64] * 8}
    slot = svc.backend.friends.add(b"\x09" * 16, big, 1700000000)
    ph = pair(svc)
    total, nxt, got = p.parse_page(call(svc, ph, p.OP_FRIENDS, struct.pack("<HB", 0, 10))[1])
    assert nxt is None and len(got) == 1 and got[0]["slot"] == slot and got[0]["shortened"]
    assert got[0]["card"]["name"] == "名" * p.SHORT_TEXT and got[0]["card"]["handles"] == []


def test_a_wrong_secret_is_refused_and_then_rate_limited():
    svc = pin()
    before = state(svc)
    for i in range(service.FREE_FAILS):
        try:
            pair(svc, 2, b"W" * 16, now=i)
            assert False, "paired with a wrong secret"
        except p.PhoneError as e:
            assert e.status == p.BAD_PROOF
    assert not svc.authenticated() and svc.refused == service.FREE_FAILS
    # locked: 1 s after the third failure, then 2 s, 4 s ...
    svc.connect(3)
    assert error_of(send(svc, 3, p.Phone(SECRET, Counter(5)).hello(), now=500)) == p.LOCKED
    try:
        pair(svc, 3, SECRET, now=600)  # even the right secret waits
        assert False
    except p.PhoneError as e:
        assert e.status == p.LOCKED and e.wait_s == 1
    pair(svc, 3, SECRET, now=service.FREE_FAILS + 1000)
    assert svc.authenticated(3) and svc.fails == 0
    assert state(svc) == before


def test_the_lock_doubles_up_to_its_cap():
    svc = pin()
    t = 0
    waits = []
    for _ in range(14):
        svc.connect(2)
        ph = p.Phone(b"W" * 16, Counter(t))
        ans = send(svc, 2, ph.prove(send(svc, 2, ph.hello(), t)), t)
        assert error_of(ans) == p.BAD_PROOF
        locked = svc._locked(p.HELLO, t)  # ERROR LOCKED | seconds u16, or None
        waits.append(0 if locked is None else locked[3] | locked[4] << 8)
        t += 1000 * max(waits[-1], 0)
    assert waits[:5] == [0, 0, 1, 2, 4] and waits[-1] == service.LOCK_MAX_S


def test_pin_proof_tells_someone_elses_pin():
    svc = pin()
    svc.connect(1)
    ph = p.Phone(SECRET, Counter(1))
    ch = send(svc, 1, ph.hello())
    good = send(svc, 1, ph.prove(ch))
    forged = good[:5] + bytes([good[5] ^ 1]) + good[6:]
    try:
        ph.welcome(forged)  # an impostor that does not hold the secret cannot answer
        assert False
    except p.PhoneError as e:
        assert e.status == p.BAD_PROOF
    ph.welcome(good)


def test_a_recorded_session_cannot_be_replayed_or_altered():
    svc = pin(friends=1)
    tape = []
    real_send = send

    def rec(svc, h, msg, now=0):
        tape.append(bytes(msg))
        return real_send(svc, h, msg, now)

    svc.connect(1)
    ph = p.Phone(SECRET, Counter(7))
    ph.welcome(rec(svc, 1, ph.prove(rec(svc, 1, ph.hello()))))
    new = p.card_args({"name": "Recorded", "organisation": "", "role": "", "handles": []})
    msg, _ = ph.request(p.OP_CARD_SET, new)
    assert ph.take(rec(svc, 1, msg))[2] == p.OK
    svc.disconnect(1)
    owner.save(dict(CARD))  # the wearer puts it back; the recording must not undo it
    before = state(svc)
    # a new connection replays the tape
    svc.connect(2)
    assert send(svc, 2, tape[0])[0] == p.CHALLENGE  # a fresh challenge: the recorded proof is for another
    assert error_of(send(svc, 2, tape[1])) == p.BAD_PROOF
    assert error_of(send(svc, 2, tape[2])) == p.UNAUTHORISED
    assert state(svc) == before
    # within the live session: a replayed or altered request
    ph = pair(svc, 3)
    msg, _ = ph.request(p.OP_DESIGN_SET, b"\x00")
    assert ph.take(send(svc, 3, msg))[2] == p.OK
    assert error_of(send(svc, 3, msg)) == p.REPLAY
    msg, _ = ph.request(p.OP_DESIGN_SET, b"\x04")
    for i in range(len(msg)):
        bad = bytearray(msg)
        bad[i] ^= 0x10
        ans = send(svc, 3, bytes(bad))
        assert error_of(ans) == (p.UNKNOWN if i == 0 else p.BAD_TAG), (i, ans)
    assert svc.backend.engine.selected == 0
    assert ph.take(send(svc, 3, msg))[2] == p.OK  # the intact one still goes through, once
    assert svc.backend.engine.selected == 4


def test_out_of_order_messages_are_refused():
    svc = pin()
    svc.connect(1)
    ph = p.Phone(SECRET, Counter(3))
    prove_early = bytes((p.PROVE,)) + bytes(32)
    assert error_of(send(svc, 1, prove_early)) == p.OUT_OF_ORDER
    assert svc.fails == 0  # not a wrong proof: there was no challenge
    assert error_of(send(svc, 1, bytes((p.REQUEST,)) + bytes(20))) == p.UNAUTHORISED
    assert error_of(send(svc, 1, b"\x01\x02")) == p.VERSION
    assert error_of(send(svc, 1, b"\x01")) == p.MALFORMED
    assert error_of(send(svc, 1, b"\x42")) == p.UNKNOWN
    ph.welcome(send(svc, 1, ph.prove(send(svc, 1, ph.hello()))))
    assert error_of(send(svc, 1, ph.hello())) == p.OUT_OF_ORDER  # no second handshake in a session
    assert error_of(send(svc, 1, prove_early)) == p.OUT_OF_ORDER
    st, _ = call(svc, ph, p.OP_STATS)
    assert st == p.OK


def test_events_reach_only_owner_sessions_sealed():
    svc = pin(friends=2)
    svc.connect(9)  # someone connected but never proved
    ph = pair(svc, 1)
    out = svc.friend_event(1)
    assert [h for h, _ in out] == [1]
    kind, code, payload = ph.take(bytes(out[0][1]))
    assert kind == "event" and code == p.EV_FRIEND
    ev = p.parse_event(code, payload)
    assert ev["friend"]["slot"] == 1 and ev["friend"]["card"]["name"] == "Friend 1"
    (h, msg), = svc.event(p.EV_UPDATE, struct.pack("<HIHI", 1, 321, 2, 1700001000))
    assert p.parse_event(*ph.take(bytes(msg))[1:]) == {"event": "update", "slot": 1, "steps": 321, "made": 2,
                                                       "t": 1700001000}
    # responses and events share the pin's counter: the phone sees them in order
    assert call(svc, ph, p.OP_STATS)[0] == p.OK
    assert svc.friend_event(77) == []


def test_the_phone_window_beacon_names_its_owner_only():
    a = p.beacon(SECRET, b"\x01\x02\x03\x04")
    b = p.beacon(SECRET, b"\x01\x02\x03\x05")
    assert len(a) <= 31 and a[:3] == b"\x02\x01\x06"
    assert p.is_mine(a, SECRET) and p.is_mine(b, SECRET)
    assert not p.is_mine(a, b"\x01" * 16)
    assert a[9:13] != b[9:13]  # another nonce, an unrelated tag: two windows are not linkable
    for n in range(len(a)):
        assert p.is_mine(a[:n], SECRET) == (n >= 16)  # cut inside the beacon: nobody's
        bad = bytearray(a)
        bad[n] ^= 0x40
        # a change in the beacon (or a length before it) is nobody's; the flags' type and value and the name do not matter
        assert p.is_mine(bytes(bad), SECRET) == (n in (1, 2) or n >= 16), n
    assert p.beacon_fields(b"\x02\x01\x06\x03\xff\xff\xff") is None
    assert p.beacon_fields(b"") is None and p.beacon_fields(b"\x00\x00") is None

# The friend-record exchange and reconciliation (firmware/cloudpin/social/
# exchange.py): two pins with the event key swap records; an outsider, a
# replayed recording, a full list and out-of-order or malformed messages
# get nothing stored; a pending peer is settled by reconciliation.

from cloudpin.social import advert, exchange as ex

EVENT = b"E" * 16
CARD_A = {"name": "Ada Ω", "organisation": "Press", "role": "photo", "handles": ["@ada", "ada.example"]}
CARD_B = {"name": "Bo", "organisation": "", "role": "", "handles": []}


def _pin(i, event=EVENT):
    fk, tk = advert.derive_keys(bytes((i,)) * 16, event)
    a = advert.Advertiser(fk, tk)
    a.rotate(2000000)
    return fk, tk, bytes(a.rid)


def _nonce(i):
    return bytes((i,)) * 16


def _pair(room_i=True, room_r=True, event_r=EVENT, n=1):
    fk_i, tk_i, rid_i = _pin(1)
    fk_r, tk_r, rid_r = _pin(2, event_r)
    ini = ex.Initiator(tk_i, rid_i, rid_r, ex.plain_record(fk_i, CARD_A), room_i, _nonce(10 + n))
    res = ex.Responder(tk_r, rid_r, ex.plain_record(fk_r, CARD_B), room_r, _nonce(20 + n))
    return ini, res, fk_i, fk_r


def _via_gatt(msg, size=20):
    """Fragment and reassemble as the GATT link does (ATT MTU 23)."""
    r = ex.Reassembler()
    frags = ex.fragments(msg, size)
    for f in frags[:-1]:
        assert len(f) <= size and r.feed(f) == 0
    assert r.feed(frags[-1]) == 1
    return bytes(r.message())


def _snapshot(m):
    return (m.state, m.out, m.peer_fk, m.peer_card, m._keys)


def test_two_event_pins_swap_records_and_commit_in_order():
    ini, res, fk_i, fk_r = _pair()
    transcript = []
    m = _via_gatt(ini.hello())
    transcript.append(m)
    assert res.receive(m) == ex.SEND
    assert ini.receive(_via_gatt(res.out)) == ex.SEND
    m = _via_gatt(ini.out)
    transcript.append(m)
    assert res.receive(m) == ex.STORE_PENDING  # R keeps I pending before it sends its record
    assert res.peer_fk == fk_i and res.peer_card == CARD_A
    assert ini.receive(_via_gatt(res.out)) == ex.COMMIT  # I commits, then confirms
    assert ini.peer_fk == fk_r and ini.peer_card == CARD_B
    assert res.receive(_via_gatt(ini.out)) == ex.COMMIT
    # The card travelled encrypted: its text is not in any message.
    for msg in transcript:
        assert b"Press" not in msg and b"photo" not in msg and fk_i not in msg


def test_an_outsider_without_the_event_key_gets_nothing_stored():
    # A device with another event key acting as responder: its REPLY fails.
    ini, res, _, _ = _pair(event_r=b"X" * 16)
    res_rid = bytes(res._rid)
    ini2 = ex.Initiator(ini._tk, ini._hello[17:23], res_rid, ini._record, True, _nonce(7))
    assert res.receive(ini2.hello()) == ex.SEND
    before = _snapshot(ini2)
    assert ini2.receive(res.out) == ex.REJECT and _snapshot(ini2) == before
    # ... and as initiator: the responder answers HELLO but refuses its record.
    fk_x, tk_x, rid_x = _pin(9, b"X" * 16)
    fk_r, tk_r, rid_r = _pin(2)
    res = ex.Responder(tk_r, rid_r, ex.plain_record(fk_r, CARD_B), True, _nonce(3))
    out = ex.Initiator(tk_x, rid_x, rid_r, ex.plain_record(fk_x, CARD_A), True, _nonce(4))
    assert res.receive(out.hello()) == ex.SEND
    assert out.receive(res.out) == ex.REJECT  # it cannot even check the reply
    out._derive(out._hello, res.out[1:17], 1)  # suppose it goes on with its own keys
    forged = out._seal(ex.T_RECORD_I, out._keys[0], out._keys[2])
    before = _snapshot(res)
    assert res.receive(forged) == ex.REJECT and _snapshot(res) == before and res.peer_fk is None


def test_a_recorded_exchange_does_not_verify_again():
    ini, res, _, _ = _pair(n=1)
    to_r = [ini.hello()]
    res.receive(to_r[0])
    to_i = [res.out]
    ini.receive(to_i[0])
    to_r.append(ini.out)
    res.receive(to_r[1])
    to_i.append(res.out)
    ini.receive(to_i[1])
    to_r.append(ini.out)
    # Replayed to a fresh responder (new nonce): HELLO is taken, nothing after it.
    _, res2, _, _ = _pair(n=2)
    assert res2.receive(to_r[0]) == ex.SEND
    before = _snapshot(res2)
    for m in to_r[1:]:
        assert res2.receive(m) == ex.REJECT and _snapshot(res2) == before
    assert res2.peer_fk is None
    # Replayed to a fresh initiator: its own fresh nonce fails the old REPLY.
    ini2, _, _, _ = _pair(n=3)
    before = _snapshot(ini2)
    for m in to_i:
        assert ini2.receive(m) == ex.REJECT and _snapshot(ini2) == before


def test_a_full_list_on_either_side_stops_both_before_any_record():
    for room_i, room_r in ((False, True), (True, False), (False, False)):
        ini, res, _, _ = _pair(room_i, room_r)
        code = res.receive(ini.hello())
        assert code == (ex.FULL if not (room_i and room_r) else ex.SEND)
        assert ini.receive(res.out) == ex.FULL and ini.out is None
        assert res.peer_fk is None and ini.peer_fk is None
        assert res.receive(b"\x03" + bytes(48)) == ex.REJECT


def test_out_of_order_malformed_and_wrong_peer_messages_change_nothing():
    ini, res, _, _ = _pair()
    hello = ini.hello()
    for bad in (b"", b"\x01", hello[:-1], hello + b"\x00", b"\x05" + bytes(16), "text", None, 7,
                hello[:23] + bytes(6) + hello[29:],  # names another RID
                hello[:-1] + b"\x02"):  # room flag out of range
        before = _snapshot(res)
        assert res.receive(bad) == ex.REJECT and _snapshot(res) == before
    assert res.receive(hello) == ex.SEND
    reply = res.out
    assert res.receive(hello) == ex.REJECT  # a second HELLO on this link
    assert ini.receive(reply[:-1] + bytes((reply[-1] ^ 1,))) == ex.REJECT
    assert ini.receive(reply) == ex.SEND
    rec = ini.out
    for bad in (rec[:-1] + bytes((rec[-1] ^ 1,)), rec[:20], b"\x04" + rec[1:], rec + bytes(16)):
        before = _snapshot(res)
        assert res.receive(bad) == ex.REJECT and _snapshot(res) == before
    assert res.receive(ini.out) == ex.STORE_PENDING


def test_a_record_whose_card_breaks_the_rules_is_refused_even_with_the_right_keys():
    ini, res, fk_i, _ = _pair()
    res.receive(ini.hello())
    ini.receive(res.out)
    long_name = dict(CARD_A, name="x" * 101)
    # Bypass plain_record's validation, as a buggy or hostile insider might.
    enc = ex.friends.encode_card(long_name)
    plain = bytearray((16 + len(enc) + 15) // 16 * 16)
    plain[:16] = fk_i
    plain[16:16 + len(enc)] = enc
    ini._record = bytes(plain)
    bad = ini._seal(ex.T_RECORD_I, ini._keys[0], ini._keys[2])
    before = _snapshot(res)
    assert res.receive(bad) == ex.REJECT and _snapshot(res) == before
    ini._record = bytes(ex.plain_record(fk_i, CARD_A)[:-1]) + b"\x01"  # non-zero padding
    assert res.receive(ini._seal(ex.T_RECORD_I, ini._keys[0], ini._keys[2])) == ex.REJECT


def _recon(a_fk, b_fk, b_status, n=5):
    holds = {}
    if b_status != ex.UNKNOWN:
        holds[a_fk] = b_status
    asker = ex.Asker(a_fk, b_fk, _nonce(n))
    ans = ex.Answerer(ex.recon_keys(b_fk), _nonce(n + 1), lambda fk: holds.get(fk, ex.UNKNOWN))
    return asker, ans


def test_reconciliation_settles_each_case():
    fk_a, _, _ = _pin(1)
    fk_b, _, _ = _pin(2)
    # B committed A: A commits and tells B it has (B forgets its doubt).
    asker, ans = _recon(fk_a, fk_b, ex.COMMITTED)
    assert ans.receive(_via_gatt(asker.query())) == ex.SEND and ans.peer_fk == fk_a
    assert asker.receive(_via_gatt(ans.out)) == ex.COMMIT and asker.out is not None
    assert ans.receive(_via_gatt(asker.out)) == ex.COMMIT and ans.receive(asker.out) == ex.REJECT
    # B holds A pending too: A commits and tells B to commit.
    asker, ans = _recon(fk_a, fk_b, ex.PENDING)
    ans.receive(asker.query())
    assert asker.receive(ans.out) == ex.COMMIT and asker.out is not None
    assert ans.receive(asker.out) == ex.COMMIT and ans.status == ex.COMMITTED
    assert ans.receive(asker.out) == ex.REJECT  # once
    # B never kept A: A forgets its pending B; nothing more to say.
    asker, ans = _recon(fk_a, fk_b, ex.UNKNOWN)
    ans.receive(asker.query())
    assert asker.receive(ans.out) == ex.DROP and asker.out is None
    assert ans.receive(b"\x08" + bytes(16)) == ex.REJECT


def test_reconciliation_refuses_strangers_and_replays():
    fk_a, _, _ = _pin(1)
    fk_b, _, _ = _pin(2)
    fk_c, _, _ = _pin(3)
    # A query made for C's key is not B's.
    asker, _ = _recon(fk_a, fk_c, ex.COMMITTED)
    _, ans = _recon(fk_a, fk_b, ex.COMMITTED)
    assert ans.receive(asker.query()) == ex.REJECT and ans.peer_fk is None and ans.out is None
    # A recorded STATUS does not answer a new query (fresh Na).
    asker, ans = _recon(fk_a, fk_b, ex.UNKNOWN, n=5)
    ans.receive(asker.query())
    old_status = ans.out
    asker2, _ = _recon(fk_a, fk_b, ex.UNKNOWN, n=40)
    assert asker2.receive(old_status) == ex.REJECT and not asker2.done
    # A recorded COMMIT does not verify against a new STATUS (fresh Nb).
    asker, ans = _recon(fk_a, fk_b, ex.PENDING, n=5)
    ans.receive(asker.query())
    asker.receive(ans.out)
    old_commit = asker.out
    asker3, ans3 = _recon(fk_a, fk_b, ex.PENDING, n=60)
    ans3.receive(asker3.query())
    assert ans3.receive(old_commit) == ex.REJECT and ans3.status == ex.PENDING


def test_reassembly_takes_fragments_in_order_only():
    msg = bytes(range(200)) * 3
    frags = ex.fragments(msg, 20)
    r = ex.Reassembler()
    assert r.feed(frags[1]) == ex.REJECT and r.n == 0
    assert r.feed(frags[0]) == 0
    for bad in (frags[0], frags[2], frags[1][:2], bytes((1, 9)) + b"x", b"", None, bytes((1, 0, 1))):
        state = (r.n, r.next, r.count)
        assert r.feed(bad) == ex.REJECT and (r.n, r.next, r.count) == state
    for f in frags[1:-1]:
        assert r.feed(f) == 0
    assert r.feed(frags[-1]) == 1 and bytes(r.message()) == msg
    small = ex.Reassembler(40)
    big = ex.fragments(bytes(60), 20)
    assert small.feed(big[0]) == 0 and small.feed(big[1]) == 0 and small.feed(big[2]) == ex.REJECT
    longest = ex.plain_record(b"k" * 16, {"name": "ж" * 100, "organisation": "ж" * 100, "role": "ж" * 100,
                                          "handles": ["😀" * 64] * 8})
    assert len(longest) <= ex.MAX_PLAIN and len(ex.fragments(bytes(ex.MAX_MSG), 20)) < 256

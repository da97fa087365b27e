# The meet-and-greet advertisement (firmware/cloudpin/social/advert.py):
# 31 bytes, rotating, friends-only stats, event-authenticated taps, and a
# decoder that never raises and never allocates.
import gc

import cryptolib

from cloudpin.social import advert

EVENT = b"E" * 16
T0 = 1780000000  # a UTC time in seconds (2026)


def _pin(n, event=EVENT):
    fk, tk = advert.derive_keys(bytes((n,)) * 16, event)
    return fk, tk, advert.Advertiser(fk, tk)


def _stats_aes(fk):
    return cryptolib.aes(advert.friend_subkeys(fk)[1], 1)


def test_update_frame_is_31_bytes_flags_and_one_manufacturer_structure():
    fk, tk, a = _pin(1)
    a.rotate(advert.epoch_of(T0))
    adv = a.update(8123, 4, 0x123456)
    assert len(adv) == 31
    assert bytes(adv[0:3]) == b"\x02\x01\x06"
    assert adv[3] == 27 and adv[4] == 0xFF and adv[5] | adv[6] << 8 == advert.COMPANY_ID
    assert adv[7] >> 4 == advert.VERSION
    f = advert.Frame()
    assert advert.decode(bytes(adv), f) == advert.KIND_UPDATE == f.kind
    assert f.rid == a.rid
    # A friend (who holds fk) reads the stats; the block is tied to RID and epoch.
    out = bytearray(16)
    v = advert.read_stats(_stats_aes(fk), f, a.epoch, out)
    assert (v >> 16, v & 0xFFFF) == (8123, 4)
    assert advert.read_stats(_stats_aes(fk), f, a.epoch + 1, out) == -1
    # A non-friend's key, however close, reads nothing.
    other, _, _ = _pin(2)
    assert advert.read_stats(_stats_aes(other), f, a.epoch, out) == -1


def test_stats_saturate_and_the_salt_changes_the_block():
    fk, _, a = _pin(3)
    a.rotate(advert.epoch_of(T0))
    f = advert.Frame()
    out = bytearray(16)
    advert.decode(bytes(a.update(10 ** 9, 70000, 1)), f)
    v = advert.read_stats(_stats_aes(fk), f, a.epoch, out)
    assert (v >> 16, v & 0xFFFF) == (0xFFFFFF, 0xFFFF)
    b1 = bytes(a.update(5, 1, 1)[14:30])
    b2 = bytes(a.update(5, 1, 2)[14:30])
    assert b1 != b2


def test_nothing_links_two_rotations():
    fk, _, a = _pin(4)
    e = advert.epoch_of(T0)
    frames = []
    for k in range(4):
        a.rotate(e + k)
        frames.append(bytes(a.update(100, 2, 7)))
    # Between rotations every payload byte that is not the fixed header or
    # the zero pad differs somewhere, and no 3-byte run repeats.
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            x, y = frames[i][8:30], frames[j][8:30]
            assert x != y
            runs = set(x[k:k + 3] for k in range(len(x) - 2))
            assert not any(y[k:k + 3] in runs for k in range(len(y) - 2)), (i, j)
    # Within one epoch the RID stays (it changes with the random address).
    a.rotate(e)
    assert frames[0][8:14] == bytes(a.rid)


def test_tap_frame_roundtrip_and_event_mac():
    _, tk, a = _pin(5)
    e = advert.epoch_of(T0)
    a.rotate(e)
    peer = b"\xaa\xbb\xcc\xdd\xee\xff"
    adv = bytes(a.tap(1234, peer, -4))
    f = advert.Frame()
    assert advert.decode(adv, f) == advert.KIND_TAP
    assert f.tap_age_ms == 1234 and f.peer == peer[:4] and f.tx_power == -4 and f.rid == a.rid
    mac = advert.TapMac(tk)
    assert mac.check(f, e)
    assert not mac.check(f, e + 1) and not mac.check(f, e - 1)
    # Another event's key, or any changed field, fails.
    _, tk_other, _ = _pin(5, b"X" * 16)
    assert not advert.TapMac(tk_other).check(f, e)
    for pos in range(7, 31):
        bad = bytearray(adv)
        bad[pos] ^= 0x01
        assert advert.decode(bytes(bad), f) in (advert.KIND_TAP, advert.INVALID)
        assert f.kind != advert.KIND_TAP or not mac.check(f, e), pos
    # No peer yet; age saturates.
    advert.decode(bytes(a.tap(10 ** 6, None, 0)), f)
    assert f.peer == bytes(4) and f.tap_age_ms == advert.TAP_AGE_MAX and mac.check(f, e)


def test_decoder_says_not_ours_or_invalid():
    f = advert.Frame()
    _, _, a = _pin(6)
    a.rotate(1)
    good = bytes(a.update(1, 1, 1))
    for data in (b"", b"\x00", b"\x02\x01\x06", b"\xfe" * 31, bytes(31), None, 5, "text", [1, 2],
                 b"\x1b\xff\x4c\x00" + bytes(24),  # another company's data
                 b"\x02\x01\x06\x05\x09CPIN"):  # a name, nothing of ours
        assert advert.decode(data, f) == advert.NOT_OURS == f.kind, data
    for data in (good[:30],  # truncated: our structure runs past the end
                 good[:7] + b"\x21" + good[8:],  # version 2
                 good[:7] + b"\x17" + good[8:],  # unknown kind
                 good[:30] + b"\x01",  # pad byte set
                 good[:3] + b"\x1a" + good[4:30],  # shorter structure of ours
                 good + good[3:31]):  # two of ours
        assert advert.decode(data, f) == advert.INVALID == f.kind, data
    # Ours after other structures, and inside a memoryview, decode.
    assert advert.decode(b"\x03\x03\x6f\xfd" + good[3:], f) == advert.KIND_UPDATE
    assert advert.decode(memoryview(bytearray(good)), f) == advert.KIND_UPDATE
    # A zero length byte ends the significant part (what follows is padding).
    assert advert.decode(good + b"\x00\xff\xff", f) == advert.KIND_UPDATE
    # A memoryview of wider items (not what the IRQ gives, but "any input"):
    # values out of byte range never raise.
    import array

    for typecode in ("h", "b", "i"):
        for items in ([-1, 5], [2, 1, 6, 27, 255, 255, 255] + [-300] * 24, [27, 255, 255, 255, 0x11] + [300] * 23):
            advert.decode(memoryview(array.array(typecode, [v if typecode != "b" else max(-128, min(127, v))
                                                            for v in items])), f)


def test_epochs_held_cover_half_an_epoch_of_clock_skew():
    for t in range(T0, T0 + 3 * advert.EPOCH_S, 37):
        held = advert.epochs_held(t)
        assert held[1] == held[0] + 1
        for skew in (-449, -200, 0, 200, 449):
            assert advert.epoch_of(t + skew) in held, (t, skew)


def _recognizer_with(n_friends, t):
    r = advert.Recognizer()
    pins = []
    for i in range(n_friends):
        fk, _ = advert.derive_keys(i.to_bytes(2, "big") * 8, EVENT)
        pins.append(fk)
    r.build(advert.epochs_held(t), ((i, advert.friend_subkeys(fk)[0]) for i, fk in enumerate(pins)))
    return r, pins


def test_recognizer_finds_each_friend_in_either_epoch_and_no_stranger():
    t = T0 + 600  # second half of an epoch: holds e and e + 1
    r, pins = _recognizer_with(40, t)
    held = advert.epochs_held(t)
    f = advert.Frame()
    out = bytearray(16)
    for i in (0, 17, 39):
        a = advert.Advertiser(pins[i], b"t" * 16)
        for which in range(2):
            a.rotate(held[which])
            advert.decode(bytes(a.update(i * 10, i, 9)), f)
            ref = r.lookup(f.rid)
            assert ref == i * 2 + which, (i, which, ref)
            v = advert.read_stats(_stats_aes(pins[i]), f, held[ref & 1], out)
            assert v >> 16 == i * 10
        a.rotate(held[1] + 1)  # an epoch the table does not hold
        advert.decode(bytes(a.update(1, 1, 1)), f)
        assert r.lookup(f.rid) == -1
    for s in range(200):
        a = advert.Advertiser(bytes((s, 0x5A)) * 8, b"t" * 16)
        a.rotate(held[0])
        assert r.lookup(a.rid) == -1


def test_recognizer_holds_the_bound_and_refuses_more():
    r = advert.Recognizer()
    r.clear((10, 11))
    for i in range(advert.MAX_FRIENDS):
        r.add(i, i.to_bytes(2, "big") * 8)
    a = cryptolib.aes((777).to_bytes(2, "big") * 8, 1)
    block, out = bytearray(16), bytearray(16)
    advert.rid_for(a, 11, block, out)
    assert r.lookup(out) == 777 * 2 + 1
    try:
        r.add(0, b"k" * 16)
        assert False
    except ValueError:
        pass


def test_mp_decode_lookup_check_and_encode_allocate_nothing():
    fk, tk, a = _pin(7)
    e = advert.epoch_of(T0)
    a.rotate(e)
    r, _ = _recognizer_with(20, T0)
    f = advert.Frame()
    mac = advert.TapMac(tk)
    upd = bytes(a.update(50, 2, 3))
    tap = bytes(a.tap(20, a.rid, 0))
    junk = b"\x02\x01\x06\x1b\xff\xff\xff\x99" + bytes(23)
    mv = memoryview(bytearray(upd))
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(50):
        advert.decode(upd, f)
        r.lookup(f.rid)
        advert.decode(mv, f)
        advert.decode(tap, f)
        mac.check(f, e)
        advert.decode(junk, f)
        advert.decode(b"", f)
        a.update(51, 2, 4)
        a.tap(30, None, -2)
    grown = gc.mem_alloc() - before
    assert grown == 0, grown


def test_mp_recognizer_fits_a_heap_with_no_16k_block():
    # A heap in use for a while has 4 KB holes long after its largest free
    # block is under 16 KB: the table is made of 4 KB pieces, so it fits.
    import gc

    gc.collect()
    held, chunk = [], 4 * 1024 + 512
    try:
        while True:
            held.append(bytearray(chunk))
    except MemoryError:
        pass
    for i in range(0, len(held), 2):
        held[i] = None  # every other chunk freed: holes of 4.5 KB between live ones
    gc.collect()
    try:
        whole = bytearray(16 * 1024)
    except MemoryError:
        whole = None
    assert whole is None  # one 16 KB block: not there
    r = advert.Recognizer()
    r.clear((10, 11))
    r.add(3, b"k" * 16)
    a = cryptolib.aes(b"k" * 16, 1)
    block, out = bytearray(16), bytearray(16)
    advert.rid_for(a, 11, block, out)
    assert r.lookup(out) == 3 * 2 + 1
    held = None


def test_the_table_takes_one_4k_piece_for_a_days_friends_and_grows_with_the_list():
    r = advert.Recognizer(25)
    assert len(r.pieces) == 1 and len(r.pieces[0]) == 4096
    keys = [(i, i.to_bytes(2, "big") * 8) for i in range(300)]
    r.build((10, 11), keys[:256])
    try:
        r.add(256, keys[256][1])  # past a load of 0.5 in one piece: refused, not a full table
        assert False
    except ValueError:
        pass
    assert r.reserve(300) and len(r.pieces) == 2 and r.count == 0 and r.epochs == (-1, -1)  # emptied: rebuild
    assert not r.reserve(300)
    r.build((10, 11), keys)
    block, out = bytearray(16), bytearray(16)
    for i in (0, 255, 299):
        advert.rid_for(cryptolib.aes(keys[i][1], 1), 11, block, out)
        assert r.lookup(out) == i * 2 + 1, i

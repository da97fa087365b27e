# 100,000 random and mutated advertisements at the meet-and-greet decoder
# and what a scanner does next (recognise, check the tap MAC, read a
# friend's stats), in both runtimes: nothing raises and nothing the pin
# keeps (friend table, own advertisement, keys) changes. Seeded, with the
# emulator's xorshift generator so both runtimes see the same inputs.

import cryptolib

from cloudpin.social import advert
from cpsim.rng import Rng

N = 100000
EVENT = b"F" * 16


class Gen(Rng):
    def below(self, n):
        return self.next() % n


def test_fuzz_decoder_and_scan_path_never_raise_or_change_state():
    e = 2000000
    fk, tk = advert.derive_keys(b"\x01" * 16, EVENT)
    me = advert.Advertiser(fk, tk)
    me.rotate(e)
    mine = bytes(me.update(10, 1, 1))
    # Three friends (one of them sends the seeds below), table for (e, e + 1).
    friends = [advert.derive_keys(bytes((i,)) * 16, EVENT)[0] for i in (2, 3, 4)]
    r = advert.Recognizer()
    r.build((e, e + 1), ((i, advert.friend_subkeys(k)[0]) for i, k in enumerate(friends)))
    stats = [cryptolib.aes(advert.friend_subkeys(k)[1], 1) for k in friends]
    peer = advert.Advertiser(friends[0], tk)
    peer.rotate(e)
    seeds = (bytes(peer.update(500, 3, 9)), bytes(peer.tap(40, me.rid, -8)), mine)
    table = b"".join(bytes(t) for t in r.pieces)
    mac = advert.TapMac(tk)
    f = advert.Frame()
    out = bytearray(16)
    buf = bytearray(64)
    mv = memoryview(buf)
    rng = Gen(0x2545F491)
    kinds = {advert.NOT_OURS: 0, advert.INVALID: 0, advert.KIND_UPDATE: 0, advert.KIND_TAP: 0}
    recognised = stats_read = macs_ok = 0
    for k in range(N):
        mode = rng.below(8)
        if mode == 0:  # pure noise of any length up to 40
            n = rng.below(41)
            for i in range(n):
                buf[i] = rng.below(256)
        else:  # a real frame, mutated
            src = seeds[rng.below(3)]
            n = len(src)
            buf[:n] = src
            for _ in range(1 + rng.below(3)):
                how = rng.below(6) if n else 3
                if how == 0:  # flip a bit
                    buf[rng.below(n)] ^= 1 << rng.below(8)
                elif how == 1:  # any byte
                    buf[rng.below(n)] = rng.below(256)
                elif how == 2 and n:  # truncate
                    n = rng.below(n + 1)
                elif how == 3:  # extend with noise
                    m = min(64, n + 1 + rng.below(8))
                    for i in range(n, m):
                        buf[i] = rng.below(256)
                    n = m
                elif how == 4 and n > 3:  # a length byte: the AD walk must not run off
                    buf[rng.below(4) * 3 % n] = rng.below(256)
                elif how == 5:  # keep the frame (some pass through intact)
                    pass
        data = mv[:n] if k & 1 else bytes(buf[:n])
        kind = advert.decode(data, f)
        kinds[kind] += 1
        assert kind == f.kind
        if kind >= 0:
            ref = r.lookup(f.rid)
            if kind == advert.KIND_TAP and (mac.check(f, e) or mac.check(f, e + 1)):
                macs_ok += 1  # only ever the untouched tap frame
                assert f.tap_age_ms == 40 and f.peer == me.rid[:4] and f.tx_power == -8 and f.rid == peer.rid
            if ref >= 0:
                recognised += 1
                if kind == advert.KIND_UPDATE:
                    v = advert.read_stats(stats[ref >> 1], f, e + (ref & 1), out)
                    if v >= 0:
                        stats_read += 1
                        assert v == (500 << 16) | 3
    # Every path was reached, and only intact frames were accepted.
    assert min(kinds.values()) > 1000, kinds
    assert recognised > 1000 and 0 < stats_read < recognised and 0 < macs_ok < kinds[advert.KIND_TAP]
    assert b"".join(bytes(t) for t in r.pieces) == table and bytes(me.update(10, 1, 1)) == mine
    assert sum(kinds.values()) == N

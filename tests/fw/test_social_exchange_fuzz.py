# 100,000 random and mutated messages at every write handler of the friend
# exchange and of reconciliation (firmware/cloudpin/social/exchange.py), in
# both runtimes: nothing raises, a rejected message changes nothing, and
# the only messages taken are the genuine ones (or, for the unauthenticated
# HELLO, a well-formed HELLO naming this pin). Seeded with the emulator's
# xorshift generator so both runtimes see the same inputs.
import binascii

from cloudpin.social import advert, exchange as ex
from cpsim.rng import Rng

N = 100000
EVENT = b"Z" * 16
CARD = {"name": "Fuzz", "organisation": "Org", "role": "r", "handles": ["@f"]}


class Gen(Rng):
    def below(self, n):
        return self.next() % n


def _pin(i):
    fk, tk = advert.derive_keys(bytes((i,)) * 16, EVENT)
    a = advert.Advertiser(fk, tk)
    a.rotate(2000000)
    return fk, tk, bytes(a.rid)


FK_I, TK, RID_I = _pin(1)
FK_R, _, RID_R = _pin(2)
REC_I = ex.plain_record(FK_I, CARD)
REC_R = ex.plain_record(FK_R, dict(CARD, name="Other"))


def _ini():
    return ex.Initiator(TK, RID_I, RID_R, REC_I, True, b"i" * 16)


def _res():
    return ex.Responder(TK, RID_R, REC_R, True, b"r" * 16)


def _asker():
    return ex.Asker(FK_I, FK_R, b"a" * 16)


def _answerer():
    return ex.Answerer(ex.recon_keys(FK_R), b"b" * 16, lambda fk: ex.PENDING if fk == FK_I else ex.UNKNOWN)


def _genuine():
    """Every message of one exchange and one reconciliation, in order."""
    ini, res = _ini(), _res()
    hello = ini.hello()
    res.receive(hello)
    reply = res.out
    ini.receive(reply)
    rec_i = ini.out
    res.receive(rec_i)
    rec_r = res.out
    ini.receive(rec_r)
    confirm = ini.out
    asker, ans = _asker(), _answerer()
    query = asker.query()
    ans.receive(query)
    status = ans.out
    asker.receive(status)
    return [hello, reply, rec_i, rec_r, confirm, query, status, asker.out]


GENUINE = _genuine()
# target: (factory, the messages that lead to the state under test, the one it takes)
TARGETS = (
    (_res, 0, 0), (_res, 1, 2), (_res, 2, 4),  # responder waiting for HELLO, RECORD, CONFIRM
    (_ini, 0, 1), (_ini, 1, 3),  # initiator waiting for REPLY, RECORD
    (_answerer, 0, 5), (_answerer, 1, 7),  # answerer waiting for QUERY, COMMIT
    (_asker, 0, 6),  # asker waiting for STATUS
)
_LEADS = {_res: (0, 2), _ini: (1, 3), _answerer: (5, 7), _asker: ()}


def _build(factory, depth):
    m = factory()
    for k in _LEADS[factory][:depth]:
        assert m.receive(GENUINE[k]) != ex.REJECT
    return m


def _snap(m):
    d = dict(m.__dict__)
    d.pop("_status_of", None)
    return d


def _mutate(rng, buf, src):
    n = len(src)
    buf[:n] = src
    for _ in range(1 + rng.below(3)):
        how = rng.below(6)
        if how == 0 and n:
            buf[rng.below(n)] ^= 1 << rng.below(8)
        elif how == 1 and n:
            buf[rng.below(n)] = rng.below(256)
        elif how == 2 and n:
            n = rng.below(n + 1)
        elif how == 3:
            m = min(len(buf), n + 1 + rng.below(20))
            for i in range(n, m):
                buf[i] = rng.below(256)
            n = m
        elif how == 4 and n > 1:  # type byte, or a fragment header
            buf[rng.below(2)] = rng.below(12)
    return n


def _hello_for_us(msg):
    return (len(msg) == ex.HELLO_LEN and msg[0] == ex.T_HELLO and msg[-1] <= 1
            and bytes(msg[23:29]) == RID_R)


def test_fuzz_every_exchange_write_handler_rejects_cleanly():
    rng = Gen(0x9E3779B9)
    machines = [_build(f, d) for f, d, _ in TARGETS]
    snaps = [_snap(m) for m in machines]
    fresh_r = ex.Reassembler()
    mid_r = ex.Reassembler()
    big = ex.fragments(GENUINE[2], 20)
    mid_r.feed(big[0])
    frag_seeds = big + ex.fragments(GENUINE[0], 20) + ex.fragments(GENUINE[6], 20)
    buf = bytearray(600)
    mv = memoryview(buf)
    taken = [0] * len(TARGETS)
    rejected = frag_taken = frag_rejected = 0
    for k in range(N):
        t = rng.below(len(TARGETS) + 2)
        mode = rng.below(8)
        if t >= len(TARGETS):  # the GATT write itself: fragments into a reassembler
            r = fresh_r if t == len(TARGETS) else mid_r
            if mode == 0:
                n = rng.below(25)
                for i in range(n):
                    buf[i] = rng.below(256)
            else:
                n = _mutate(rng, buf, frag_seeds[rng.below(len(frag_seeds))])
            before = (r.n, r.next, r.count, binascii.crc32(r.buf))
            got = r.feed(mv[:n] if k & 1 else bytes(buf[:n]))
            if got == ex.REJECT:
                frag_rejected += 1
                assert (r.n, r.next, r.count, binascii.crc32(r.buf)) == before
            else:
                frag_taken += 1
                assert got in (0, 1) and n >= 3 and buf[1] > buf[0]
            if r is mid_r and (got == 1 or r.next == 0):
                mid_r = ex.Reassembler()  # back to the middle of a long message
                mid_r.feed(big[0])
            continue
        factory, depth, want = TARGETS[t]
        if mode == 0:
            n = rng.below(60)
            for i in range(n):
                buf[i] = rng.below(256)
        else:
            src = GENUINE[want] if mode < 5 else GENUINE[rng.below(len(GENUINE))]
            n = _mutate(rng, buf, src) if mode != 7 else len(src)
            if mode == 7:
                buf[:n] = src  # some arrive intact
        msg = mv[:n] if k & 1 else bytes(buf[:n])
        m = machines[t]
        got = m.receive(msg)
        if got == ex.REJECT:
            rejected += 1
            assert _snap(m) == snaps[t], (t, bytes(msg))
            continue
        taken[t] += 1
        if factory is _res and depth == 0:
            assert _hello_for_us(msg), bytes(msg)
        else:
            assert bytes(msg) == GENUINE[want], (t, bytes(msg))
        machines[t] = _build(factory, depth)
        snaps[t] = _snap(machines[t])
    assert rejected > N // 2 and frag_rejected > 10000 and frag_taken > 300
    assert min(taken) > 50, taken  # every handler also met the real thing

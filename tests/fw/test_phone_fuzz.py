# 100,000 malformed or unauthorised writes at the phone service, in both
# runtimes: noise, and recorded messages (a handshake, requests of this
# session already used, a whole session of another connection) mutated and
# cut into fragments of any size, on an owner session and on a connection
# that never proved the secret. Nothing raises, no proof is ever accepted,
# no request is ever served, nothing the pin keeps changes, and the owner's
# session still works afterwards. Seeded (the emulator's xorshift), so both
# runtimes see the same writes.
import struct

from phonekit import SECRET, Counter, call, pair, pin, send, state

from cloudpin.phone import phoneside as p
from cpsim.rng import Rng

N = 100000
MASK = (1 << 30) - 1  # ticks_ms wrap


class Gen(Rng):
    def below(self, n):
        return self.next() % n


def _seeds(svc):
    """Messages a listener could have recorded."""
    ph = pair(svc, 1)
    out = [ph.hello()]
    args = (
        (p.OP_CARD_SET, p.card_args({"name": "Mallory", "organisation": "", "role": "", "handles": ["@m"]})),
        (p.OP_DESIGN_SET, b"\x04"), (p.OP_FRIENDS, struct.pack("<HB", 0, 5)), (p.OP_INFO, b""),
    )
    for op, a in args:  # used once in this session: replays from here on
        msg, _ = ph.request(op, a)
        assert ph.take(send(svc, 1, msg))[2] == p.OK
        out.append(bytes(msg))
    assert svc.backend.engine.select(0)  # back from the recorded pick: a replay of it would show
    from phonekit import CARD, owner

    owner.save(dict(CARD))
    other = pin(friends=0, seed=50)  # another connection's whole session, recorded
    other.connect(5)
    ph2 = p.Phone(SECRET, Counter(77))
    hello_ans = send(other, 5, ph2.hello())
    prove = ph2.prove(hello_ans)
    ph2.welcome(send(other, 5, prove))
    out.append(bytes(prove))
    for op, a in args:
        out.append(bytes(ph2.request(op, a)[0]))
    return ph, out


def test_fuzz_writes_never_raise_never_authorise_and_change_nothing():
    svc = pin(friends=3)
    ph, seeds = _seeds(svc)
    before = state(svc)
    svc.connect(2)  # never proves
    rng = Gen(0x1F123BB5)
    buf = bytearray(1100)
    now = 0
    answers = {}
    writes = 0
    while writes < N:
        now = (now + rng.below(200000)) & MASK
        handle = 1 + rng.below(2)
        mode = rng.below(4)
        if mode == 0:  # one fragment of noise
            n = rng.below(32)
            for i in range(n):
                buf[i] = rng.below(256)
            frags = [bytes(buf[:n])]
        else:  # a recorded message, mutated, in fragments of any size
            src = seeds[rng.below(len(seeds))]
            n = len(src)
            buf[:n] = src
            for _ in range(rng.below(4)):
                how = rng.below(5)
                if how == 0 and n:
                    buf[rng.below(n)] ^= 1 << rng.below(8)
                elif how == 1 and n:
                    buf[rng.below(n)] = rng.below(256)
                elif how == 2 and n > 1:
                    n = 1 + rng.below(n - 1)
                elif how == 3:
                    m = min(len(buf), n + 1 + rng.below(40))
                    for i in range(n, m):
                        buf[i] = rng.below(256)
                    n = m
                elif how == 4 and n:  # a proof attempt with a random guess after a fresh challenge
                    buf[0] = p.PROVE
                    n = 33
            frags = list(p.fragments(bytes(buf[:n]), 4 + rng.below(30)))
            if mode == 3 and len(frags) > 1:  # lose, repeat or garble one fragment
                k = rng.below(len(frags))
                how = rng.below(3)
                if how == 0:
                    frags.pop(k)
                elif how == 1:
                    frags.insert(k, frags[k])
                else:
                    f = bytearray(frags[k])
                    f[0] = rng.below(256)
                    frags[k] = bytes(f)
        for f in frags:
            ans = svc.write(handle, f, now)
            writes += 1
            if ans is not None:
                kind = ans[0]
                assert kind in (p.ERROR, p.CHALLENGE), ans  # never a WELCOME, RESPONSE or EVENT
                key = kind if kind != p.ERROR else ans[1]
                answers[key] = answers.get(key, 0) + 1
    assert not svc.authenticated(2)
    assert state(svc) == before
    # the refusals the fuzz should have met, each at least once
    for st in (p.MALFORMED, p.TOO_LARGE, p.OUT_OF_ORDER, p.UNAUTHORISED, p.BAD_PROOF, p.LOCKED, p.BAD_TAG,
               p.REPLAY, p.UNKNOWN):
        assert answers.get(st, 0) > 0, (st, answers)
    assert answers.get(p.CHALLENGE, 0) > 0
    # the owner's session is intact: its next request is served
    svc.write(1, b"\x80\x01\x00\x00", now)  # ends any message a fuzz fragment began
    st, b = call(svc, ph, p.OP_STATS)
    assert st == p.OK and p.parse_stats(b)["friends"] == 3

# Meet and greet's reconciliation (docs/meet-and-greet.md, "Commit and
# reconciliation"): a friendship one pin committed and the other holds
# pending is settled at the next contact, in windows counted from the
# pending entry. Loaded by meet.py (`Meet._recon`) only while something is
# unsettled, and let go once all is: a tap carries none of this code.
#
# When: two strangers' RTCs drift apart asleep by up to ~1.2% of the time
# (docs/clock.md) and only friends correct each other, so windows on the UTC
# clock stop meeting within minutes. Both pins make their entries at the tap
# (within a second of each other) and count from it on their own clocks:
# every 30 s for the first 2 minutes, then a quarter of the time since the
# entry apart (19 windows in an hour); each opens early and closes late by
# what the two clocks may have drifted apart since (0.6% of it each) and a
# second (whole seconds read at both ends), so two pins' windows share at
# least RECON_WINDOW_MS (tests/fw/test_social_recon.py).
import os
import time

from micropython import const

from cloudpin.social import advert, exchange as ex, pending as pend
from cloudpin.social.meet import ADV_MS, RECON_WINDOW_MS, SCAN_US, fk8

_EVERY_S = const(30)
_STEADY_S = const(120)
_DRIFT_PER_MILLE = const(6)  # half of 2 x (5,000 + 1,000) ppm: each pin's error and wander


def window(elapsed_s):
    """The next window of an entry made `elapsed_s` seconds ago (whole
    seconds of this pin's clock) that has over a second left: (ms until it
    opens, 0 if it is open, its length in ms from then)."""
    e_ms = elapsed_s * 1000 if elapsed_s > 0 else 0
    t = _EVERY_S
    while True:
        m_ms = 1000 + t * _DRIFT_PER_MILLE  # a second, and 0.6% of t (s) in ms
        end_ms = t * 1000 + RECON_WINDOW_MS + m_ms
        if end_ms - 1000 > e_ms:  # (less than a second left, read in whole seconds: it is over)
            start_ms = t * 1000 - m_ms
            if start_ms < e_ms:
                start_ms = e_ms
            return start_ms - e_ms, end_ms - start_ms
        t += _EVERY_S if t < _STEADY_S else t // 4


def _status_of(m, fk):
    st = m.pending.state_of(fk)
    if st == pend.PENDING:
        return ex.PENDING
    if m.friends.find(fk) >= 0:
        return ex.COMMITTED
    return ex.UNKNOWN


def answer(m, conn, query):
    """Answer a reconciliation QUERY (we are B); one round, then COMMIT may
    follow on the same link (run() handles it)."""
    ans = ex.Answerer(m.recon_keys, os.urandom(16), lambda fk: _status_of(m, fk))
    if ans.receive(query) != ex.SEND:
        return None
    m._notify(conn, ans.out)
    if ans.status == ex.UNKNOWN:
        m.pending.drop(state=pend.SENT)  # the pin that may have held us asked
    return ans


async def run(m, window_ms, tap_ends):
    """A window of Meet `m`: advertise (a TAP frame with no tap), listen; ask
    every peer we hold pending that we hear; answer those that ask us.
    tap_ends: a tap (or a suspected one) ends it early."""
    m._expire()
    m._watch = -1  # no responder link to watch here
    asks = m.pending.peers(pend.PENDING)
    m._recon_rids = []
    m._recon_seen = []
    for fk in asks:
        # the peer's RID in both epochs we hold: its clock may be past a boundary ours is not
        m._recon_rids.append(_rid_of(fk, m._e0))
        m._recon_rids.append(_rid_of(fk, m._e1))
        m._recon_seen.append(None)
    deadline = time.ticks_add(time.ticks_ms(), window_ms)
    m.adv.start(m.adv_frames.tap(advert.TAP_AGE_MAX, None, m.tx_power), ADV_MS * 2, connectable=True)
    m.scan.start(m._on_report, 0, SCAN_US, SCAN_US, take=True)  # an update window gives way
    done = [False] * len(asks)
    m._reasm = {}
    answering = {}
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        for i in range(len(asks)):
            if not done[i] and m._recon_seen[i] is not None:
                done[i] = True
                m.scan.stop()
                m.adv.stop()
                await _ask(m, asks[i], m._recon_seen[i])
        if not m.pending.entries and not m.server.connected:
            break  # settled (and the asker has hung up)
        if tap_ends and (m._t_tap is not None or m._t_suspect is not None) and not m.server.connected:
            break  # the wearer tapped: the tap's window now (this one's peers get the next)
        got = await m._next_message(time.ticks_add(time.ticks_ms(), 100))
        if got is None:
            continue
        conn, msg = got
        if msg and msg[0] == ex.T_QUERY:
            answering[conn] = answer(m, conn, msg)
        elif conn in answering and answering[conn] is not None:
            ans = answering[conn]
            if ans.receive(msg) == ex.COMMIT:
                _settle(m, ans.peer_fk)
    m._recon_rids = []


def _rid_of(fk, epoch):
    import cryptolib

    rik = advert.friend_subkeys(fk)[0]
    out = bytearray(16)
    advert.rid_for(cryptolib.aes(rik, 1), epoch, bytearray(16), out)
    return bytes(out[:advert.RID_LEN])


async def _ask(m, fk, where):
    from cloudpin.ble.central import GattError

    conn, h = await m._connect(where[0], where[1])
    if conn is None:
        return
    asker = ex.Asker(m.fk, fk, os.urandom(16))
    try:
        await m._send(conn, h, asker.query())
        code = asker.receive(await m._recv(conn, h))
        if code == ex.DROP:
            m.pending.drop(fk)
            m.rlog.info("dropped fk=%s" % fk8(fk))
        elif code == ex.COMMIT:
            _settle(m, fk)
            await m._send(conn, h, asker.out)
    except GattError:
        pass
    finally:
        await m._disconnect(conn)


def _settle(m, fk):
    """The peer holds us: commit a pending peer now; an unconfirmed one is
    committed already and needs nothing more."""
    st = m.pending.state_of(fk)
    if st == pend.PENDING:
        card = m.pending.card(fk)
        if card is not None and m.friends.find(fk) < 0:
            m._commit(fk, card)
        m.pending.drop(fk)
        m.log.info("reconciled fk=%s" % fk8(fk))
    elif st is not None:
        m.pending.drop(fk)
        m.rlog.info("confirmed fk=%s" % fk8(fk))

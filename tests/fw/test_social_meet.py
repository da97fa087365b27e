# Meet and greet on the emulated radio (firmware/cloudpin/social/meet.py),
# on simulated time: two pins tapped together become friends on both sides;
# a third pin knocked at the same instant a metre away gets nobody; a link
# cut between the two commits is settled by reconciliation; a pin of
# another event (no event key) and a replayed exchange get nothing stored.
import asyncio
import gc
import time

import machine
from bletest import owner_pin
from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.log import Logger
from cloudpin.social import advert, meet as meet_mod
from cloudpin.social.friends import Friends
from cloudpin.social.pending import Pending
from cloudpin.social.updates import utc_ms
from cpsim.blelog import IrqLog, ble_of
from cpsim.world import World

PINS = 3  # up to three pins at once: the VM's heap holds three pins' heaps (conftest)
_EVENT = bytes(range(16))
_T0 = 1796000010  # UTC at t = 0: 10 s after a whole minute
_RTC_EPOCH = 946684800


def _pin(w, name, event=_EVENT):
    gc.collect()  # three pins share one pin-sized VM heap: keep its free blocks whole
    lines, events = [], []
    bus = Bus()
    bus.subscribe(topics.FRIEND, lambda slot, t: events.append(("friend", slot, t)))
    bus.subscribe(topics.TAP_AGAIN, lambda reason: events.append(("again", reason)))
    dev, owner = owner_pin(w, name, lines, bus)
    dev.rtc_offset_us = (_T0 - _RTC_EPOCH) * 1000000
    rtc = machine.RTC()
    fk, tk = advert.derive_keys(bytes([len(w.devices)]) * 16, event)
    store = Friends(name + "_friends")
    store.wipe()
    store.open()
    pend = Pending(path=name + "_pending.json")
    pend.wipe()
    m = meet_mod.Meet(owner, bus, Logger("meet", sink=lines.append), store, (fk, tk),
                      {"name": name, "organisation": "Org " + name, "role": "", "handles": ["@" + name]},
                      pending=pend, unix=lambda: utc_ms(rtc) // 1000)
    return {"name": name, "dev": dev, "meet": m, "bus": bus, "fk": fk, "store": store, "pending": pend,
            "lines": lines, "events": events, "ble": ble_of(dev)}


def _tap_at(p, at_ms):
    async def tap():
        await asyncio.sleep_ms(at_ms)
        p["bus"].publish(topics.TAP, time.ticks_ms(), 900)
    return tap()


def _start(w, pins, taps):
    for p in pins:
        w.start(p["dev"], p["meet"].run())
    for p, at in taps:
        w.start(p["dev"], _tap_at(p, at))


def _meet_lines(p, head):
    out = []
    for ln in p["lines"]:
        parts = ln.split(" ", 3)
        if parts[2] == "meet" and parts[3].startswith(head):
            out.append(parts[3])
    return out


def _friends(p):
    keys = []
    buf = bytearray(48)
    for slot in range(8):
        if p["store"].keys(slot, buf):
            keys.append(bytes(buf[:16]))
    return keys


def test_two_pins_tapped_together_become_friends_on_both_sides():
    w = World()
    a, b = _pin(w, "a"), _pin(w, "b")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    _start(w, (a, b), ((a, 1000), (b, 1001)))
    w.run_for(5000)
    assert _friends(a) == [b["fk"]] and _friends(b) == [a["fk"]], (a["lines"], b["lines"])
    assert a["store"].card(0) == {"name": "b", "organisation": "Org b", "role": "", "handles": ["@b"]}
    for p, other in ((a, b), (b, a)):
        line = _meet_lines(p, "friend ")[0]
        assert line.startswith("friend slot=0 fk=%s t_ms=" % meet_mod.fk8(other["fk"]))
        t = int(line.split("t_ms=")[1])
        assert 1000 < t < 4000  # tap to friendship within 3 s
        assert [e[0] for e in p["events"]] == ["friend"] and not p["pending"].entries
        on = [int(x.split("=")[1]) for x in _meet_lines(p, "radio_on_ms=")]
        assert len(on) == 1 and 0 < on[0] < 4000
        assert not p["meet"].owner.on  # the radio sleeps again
    # The responder logged its pending record before the commit.
    assert len(_meet_lines(a, "pending ")) + len(_meet_lines(b, "pending ")) == 1


def test_a_third_pin_knocked_at_the_same_instant_a_metre_away_gets_nobody():
    w = World()
    a, b, c = _pin(w, "a"), _pin(w, "b"), _pin(w, "c")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    w.radio.set_distance(a["dev"], c["dev"], 1.0)
    w.radio.set_distance(b["dev"], c["dev"], 1.0)
    _start(w, (a, b, c), ((a, 1000), (b, 1000), (c, 1000)))
    w.run_for(5000)
    assert _friends(a) == [b["fk"]] and _friends(b) == [a["fk"]]
    assert _friends(c) == [] and not c["pending"].entries
    assert _meet_lines(c, "tap again reason=") == ["tap again reason=alone"]


def test_a_pin_just_past_the_bound_waits_for_its_partner_to_name_it():
    # One link, read 3 dB apart by its two ends (here b's frames claim 0 dBm,
    # a's 3 dBm, over the same -48 dBm without fading): a reads b at 48 dB
    # and chooses it; b reads a at 51 dB, past TOUCH_LOSS_DB, and is alone at
    # the end of its collection; it waits, a names it, and both commit. At
    # -51 dBm (51 and 54 dB) neither takes the other: tap again on both.
    for rssi, made in ((-48, True), (-51, False)):
        w = World()
        w.radio.fading = False
        a, b = _pin(w, "a"), _pin(w, "b")
        b["meet"].tx_power = 0
        w.radio.set_rssi(a["dev"], b["dev"], rssi)
        _start(w, (a, b), ((a, 1000), (b, 1001)))
        w.run_for(5000)
        if made:
            assert _friends(a) == [b["fk"]] and _friends(b) == [a["fk"]], (a["lines"], b["lines"])
            assert not _meet_lines(a, "tap again") and not _meet_lines(b, "tap again")
        else:
            assert _friends(a) == [] and _friends(b) == []
            assert _meet_lines(a, "tap again") == _meet_lines(b, "tap again") == ["tap again reason=alone"]


def test_two_touching_tappers_at_once_mean_tap_again_never_a_guess():
    w = World()
    a, b, c = _pin(w, "a"), _pin(w, "b"), _pin(w, "c")
    for x, y in ((a, b), (a, c), (b, c)):
        w.radio.set_distance(x["dev"], y["dev"], 0.02)
    _start(w, (a, b, c), ((a, 1000), (b, 1000), (c, 1001)))
    w.run_for(5000)
    for p in (a, b, c):
        assert _friends(p) == [] and not p["pending"].entries
        assert _meet_lines(p, "tap again reason=") == ["tap again reason=crowded"]


def _suspect_at(p, at_ms, confirm_ms, cancel=False):
    """The detector's two steps (bus.TAP_SUSPECT): a touch peaking at at_ms
    is suspected 30 ms later, then confirmed (TAP) or cancelled at confirm_ms."""
    async def run():
        await asyncio.sleep_ms(at_ms + 30)
        p["bus"].publish(topics.TAP_SUSPECT, at_ms, True)
        await asyncio.sleep_ms(confirm_ms - at_ms - 30)
        if cancel:
            p["bus"].publish(topics.TAP_SUSPECT, at_ms, False)
        else:
            p["bus"].publish(topics.TAP, at_ms, 900)
    return run()


def _radio_times(p):
    out = []
    p["bus"].subscribe(topics.RADIO, lambda on: out.append((on, time.ticks_ms())))
    return out


def test_a_suspected_tap_has_the_radio_up_by_the_time_it_is_confirmed():
    # the detector confirms 200 ms after the peak; the radio started on the
    # suspicion is up 250 ms after it, and the window opens at once
    w = World()
    a, b = _pin(w, "a"), _pin(w, "b")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    radio = [_radio_times(p) for p in (a, b)]
    for p in (a, b):
        w.start(p["dev"], p["meet"].run())
        w.start(p["dev"], _suspect_at(p, 1000, 1200))
    w.run_for(5000)
    assert _friends(a) == [b["fk"]] and _friends(b) == [a["fk"]], (a["lines"], b["lines"])
    for p, r in zip((a, b), radio):
        assert r[0][0] is True and r[0][1] <= 1030 + 260, r  # up at the suspicion + the start
        m = p["meet"]
        assert (m.suspects, m.cancels, m.taps) == (1, 0, 1) and not m.owner.on
        t = int(_meet_lines(p, "friend ")[0].split("t_ms=")[1])
        assert t < 1000 + 1400, t  # the last tap-to-friendship p95 was 1.31-1.41 s, counted from the start


def test_a_cancelled_suspicion_turns_the_radio_off_without_a_window():
    w = World()
    a = _pin(w, "a")
    radio = _radio_times(a)
    w.start(a["dev"], a["meet"].run())
    w.start(a["dev"], _suspect_at(a, 1000, 1200, cancel=True))
    w.run_for(3000)
    m = a["meet"]
    assert (m.suspects, m.cancels, m.taps, m.again) == (1, 1, 0, 0), a["lines"]
    assert [on for on, _ in radio] == [True, False] and radio[1][1] - 1030 <= 300, radio
    assert m.adv.updates == 0 and not a["events"]  # nothing on the air, no "tap again"
    assert any("meet.radio suspect cancelled on_ms=" in ln for ln in a["lines"]), a["lines"]
    assert not _meet_lines(a, "radio_on_ms")  # not a tap window (the simulator counts those)
    # the next touch is a tap as before
    w.start(a["dev"], _tap_at(a, 2000))
    w.run_for(3000)
    assert m.taps == 1 and _meet_lines(a, "tap again reason=") == ["tap again reason=alone"]


def test_a_pin_of_another_event_gets_no_friendship():
    w = World()
    a, x = _pin(w, "a"), _pin(w, "x", event=b"O" * 16)
    w.radio.set_distance(a["dev"], x["dev"], 0.02)
    _start(w, (a, x), ((a, 1000), (x, 1000)))
    w.run_for(5000)
    assert _friends(a) == [] and _friends(x) == []  # its tap frames fail our MAC: nobody tapped
    assert _meet_lines(a, "tap again") == ["tap again reason=alone"]


def _stranger_links(w, pins, connect_ms, leave_ms, flood=False):
    """A central that is not a partner (a phone, a replaying attacker)
    connects to each pin at connect_ms and hangs up at leave_ms (with
    `flood`, writing a junk one-fragment message to each every 10 ms
    meanwhile); returns its IRQ log."""
    s = ble_of(w.device("s"))
    s.active(True)
    log = IrqLog(s)

    async def run():
        await asyncio.sleep_ms(connect_ms)
        for p in pins:
            at, addr = p["ble"].config("mac")
            s.gap_connect(at, addr, 300)
            n = len(log.of(7))
            for _ in range(40):
                await asyncio.sleep_ms(10)
                if len(log.of(7)) > n:
                    break
        while flood and time.ticks_diff(leave_ms, time.ticks_ms()) > 0:
            for (conn, _, _), p in zip(log.of(7), pins):
                if p["meet"].svc.handles is not None:
                    try:
                        s.gattc_write(conn, p["meet"].svc.handles[0], b"\x00\x01junk", 0)
                    except OSError:
                        pass  # the link is gone, or no host buffer left
            await asyncio.sleep_ms(10)
        await asyncio.sleep_ms(leave_ms - time.ticks_ms())
        for d in log.of(7):
            s.gap_disconnect(d[0])

    w.start(w.devices[-1], run())
    return log


def _pair_with_stranger(connect_ms, leave_ms, flood=False):
    w = World()
    a, b = _pin(w, "a"), _pin(w, "b")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    _start(w, (a, b), ((a, 1000), (b, 1001)))
    log = _stranger_links(w, (a, b), connect_ms, leave_ms, flood)
    w.run_for(6000)
    assert len(log.of(7)) == 2  # it did hold a link to each
    assert _friends(a) == [b["fk"]] and _friends(b) == [a["fk"]], (a["lines"], b["lines"])
    return a, b


def test_a_strangers_link_through_the_tap_window_does_not_silence_the_pins():
    # the link ends the pins' advertising (NimBLE): they take it up again at
    # the next refresh, so each still hears the other name it (before, they
    # stayed silent while linked and both gave up: "one_sided")
    _pair_with_stranger(1300, 3500)


def test_a_strangers_flood_of_writes_is_not_a_flood_of_advertising_calls():
    # the responder re-advertises every refresh while it waits for its
    # partner's HELLO, however many junk messages arrive (before: one
    # gap_advertise per message)
    a, b = _pair_with_stranger(1300, 2600, flood=True)
    # one update per 100 ms refresh over a 1.3 s window, whoever responds
    assert max(a["meet"].adv.updates, b["meet"].adv.updates) < 30, (a["meet"].adv.updates, b["meet"].adv.updates)


def test_a_strangers_dropped_link_does_not_end_the_partners_link_on_its_handle():
    # the stranger leaves before the exchange; the initiator's link then gets
    # the same handle on the responder, which took it for the stranger's
    # dropped link (before: "tap again reason=link" on both)
    _pair_with_stranger(1300, 1600)


def _cut_before_confirm(w, a, b, apart=False):
    """Pins a and b tapped together; the initiator's link drops just as it
    sends CONFIRM (it has committed, the responder holds it pending). With
    `apart` the pins are out of range from then until t = 20 s."""
    ini = a if _lower_rid(a, b) else b
    res = b if ini is a else a
    m = ini["meet"]
    send = m._send

    async def cut(conn, h, msg):
        if msg[0] == 5:  # CONFIRM
            ini["ble"].gap_disconnect(conn.handle)
            if apart:
                w.radio.set_distance(a["dev"], b["dev"], 200.0)
            await asyncio.sleep_ms(50)
            m._send = send
        return await send(conn, h, msg)

    m._send = cut
    return ini, res


def test_a_link_cut_between_the_two_commits_is_settled_while_the_pair_is_still_there():
    w = World()
    a, b = _pin(w, "a"), _pin(w, "b")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    ini, res = _cut_before_confirm(w, a, b)
    _start(w, (a, b), ((a, 1000), (b, 1000)))
    w.run_for(6000)
    assert _friends(ini) == [res["fk"]] and _friends(res) == [ini["fk"]], (ini["lines"], res["lines"])
    assert _meet_lines(res, "pending ") and _meet_lines(res, "reconciled fk=%s" % meet_mod.fk8(ini["fk"]))
    assert not ini["pending"].entries and not res["pending"].entries
    assert not _meet_lines(res, "tap again") and not _meet_lines(ini, "tap again")


def test_a_link_cut_between_the_two_commits_is_reconciled_at_the_next_contact():
    w = World()
    a, b = _pin(w, "a"), _pin(w, "b")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    ini, res = _cut_before_confirm(w, a, b, apart=True)
    _start(w, (a, b), ((a, 1000), (b, 1000)))
    w.run_for(20000)
    # Apart: one side committed, the other holds it pending (not a friend yet).
    assert _friends(ini) == [res["fk"]] and _friends(res) == []
    assert res["pending"].state_of(ini["fk"]) == "p" and ini["pending"].state_of(res["fk"]) == "u"
    assert _meet_lines(res, "tap again reason=link")
    w.radio.set_distance(a["dev"], b["dev"], 2.0)  # they meet again (no tap)
    w.run_for(25000)  # the first reconciliation window, 30 s after the entries (t = ~31 s)
    assert _friends(res) == [ini["fk"]], (ini["lines"], res["lines"])
    assert not ini["pending"].entries and not res["pending"].entries
    line = _meet_lines(res, "reconciled fk=")
    assert line == ["reconciled fk=%s" % meet_mod.fk8(ini["fk"])]


def _radio_lines(p, head):
    return [ln.split(" ", 3)[3] for ln in p["lines"] if ln.split(" ", 3)[2] == "meet.radio"
            and ln.split(" ", 3)[3].startswith(head)]


def test_a_pending_peer_never_met_again_is_asked_only_while_its_answerer_can_be_left():
    # A pin holding a peer pending (it asks) and another unconfirmed (it
    # answers), made at the same instant, meets neither again: the
    # answering side's entry lives ANSWER_FOR_S, so the pending side asks
    # only in the windows its answerer still opens (11, the last ~562-573 s
    # after the entry); both entries are dropped with the radio off (no
    # window at ~702 s: 200 s more of radio an hour had nobody to answer).
    w = World()
    a = _pin(w, "a")
    t0 = _T0  # the entries' time: now
    a["pending"].put("p", t0, bytes(16), {"name": "Zoe", "organisation": "", "role": "", "handles": []})
    a["pending"].put("u", t0, bytes([1]) * 16)
    _start(w, (a,), ())
    w.run_for(meet_mod.ANSWER_FOR_S * 1000 + 2500)  # the answerer's entry is gone
    assert [e["state"] for e in a["pending"].entries] == ["p"]
    w.run_for((meet_mod.RECON_GIVE_UP_S - meet_mod.ANSWER_FOR_S) * 1000)
    assert not a["pending"].entries and _friends(a) == []  # never committed: not half a friendship
    w.run_for(120000)  # t = 732 s
    assert len(_radio_lines(a, "window on_ms=")) == 11, _radio_lines(a, "window")
    assert a["dev"].acct.counts.get("radio.starts", 0) == 11


def _lower_rid(a, b):
    ea = a["meet"].adv_frames
    eb = b["meet"].adv_frames
    e = advert.epoch_of(_T0)
    ea.rotate(e)
    eb.rotate(e)
    return meet_mod._lower(ea.rid, eb.rid)


def test_the_pending_store_survives_a_reopen_and_a_corrupt_file_reads_empty():
    p = Pending(path="t_pending.json")
    p.wipe()
    fk = bytes(range(16))
    assert p.put("p", 100, fk, {"name": "Zoe", "organisation": "", "role": "", "handles": []})
    assert p.put("s", 101)
    q = Pending(path="t_pending.json")
    assert q.state_of(fk) == "p" and q.card(fk)["name"] == "Zoe" and len(q.entries) == 2
    q.drop(state="s")
    assert Pending(path="t_pending.json").entries == q.entries and len(q.entries) == 1
    for i in range(3):
        assert q.put("u", 102 + i, bytes((i,)) * 16)
    assert not q.put("u", 200, b"\xee" * 16) and q.room() == 0  # bounded: the exchange says "full"
    with open("t_pending.json", "w") as f:
        f.write('[{"state": "p", "fk": "zz"')
    assert Pending(path="t_pending.json").entries == []

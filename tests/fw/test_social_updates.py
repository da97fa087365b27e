# Friend updates (cloudpin.social.updates) between emulated pins on one
# World's radio, on simulated time: two friends exchange their stats in the
# windows they open at the same UTC instants, a pin of the same event that
# is nobody's friend learns nothing (and nobody learns from it), and the
# per-report path allocates nothing (VM only: gc.mem_alloc).
import gc

import machine
from appkit import app_pin
from bletest import owner_pin
from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.social import advert
from cloudpin.social.friends import Friends
from cloudpin.social.updates import PERIOD_S, QUIET_MS, WINDOW_MS, UpdatesService, utc_ms
from cpsim.world import World

PINS = 3  # up to three pins (two friends and a stranger) share the VM: each gets its heap

_EVENT = bytes(range(16))
_T0 = 1796000000  # 2026-11-29 UTC: the pins' clocks at t = 0 (set by the desk)
_RTC_EPOCH = 946684800  # the emulated ESP32 RTC counts from 2000


def _pin(w, name, steps, made):
    lines, events = [], []
    bus = Bus()
    bus.subscribe(topics.UPDATE, lambda *a: events.append(a))
    dev, owner = owner_pin(w, name, lines, bus)
    dev.rtc_offset_us = (_T0 - _RTC_EPOCH) * 1000000
    rtc = machine.RTC()
    id_key = bytes([len(w.devices)]) * 16
    fk, tk = advert.derive_keys(id_key, _EVENT)
    store = Friends(name + "_friends")
    store.wipe()  # the VM runs a module's tests in one folder
    store.open()
    from cloudpin.log import Logger

    log = Logger("updates", sink=lines.append)
    svc = UpdatesService(owner, store, fk, tk, log, bus, lambda: utc_ms(rtc), lambda t: (steps, made))
    return {"dev": dev, "svc": svc, "fk": fk, "store": store, "lines": lines, "events": events}


def _befriend(a, b):
    a["store"].add(b["fk"], {"name": "B"}, _T0)
    b["store"].add(a["fk"], {"name": "A"}, _T0)


def _start(w, *pins):
    for p in pins:
        w.start(p["dev"], p["svc"].run())


def _updates(p):
    # the contract with the simulator (host_tools/sim/social.py): "I <t> updates friend slot= steps= made="
    return [ln.split(" ", 3)[3] for ln in p["lines"] if ln.split(" ", 3)[2] == "updates" and " friend " in ln]


def test_the_rtc_gives_utc_milliseconds():
    w = World()
    dev = w.device("p")
    dev.rtc_offset_us = (_T0 - _RTC_EPOCH) * 1000000 + 250000
    rtc = machine.RTC()
    assert utc_ms(rtc) == _T0 * 1000 + 250
    w.advance(86400 * 1000 + 1)
    assert utc_ms(rtc) == (_T0 + 86400) * 1000 + 251


def test_two_friends_learn_each_others_stats_and_a_stranger_learns_nothing():
    w = World()
    a = _pin(w, "a", 4321, 3)
    b = _pin(w, "b", 8765, 1)
    c = _pin(w, "c", 999, 9)  # same event, nobody's friend
    _befriend(a, b)
    _start(w, a, b, c)
    first = (_T0 // PERIOD_S + 1) * PERIOD_S  # the first window after boot
    w.run_for((first - _T0) * 1000 + WINDOW_MS + 1000)
    slot_b, slot_a = a["store"].find(b["fk"]), b["store"].find(a["fk"])
    assert _updates(a) == ["friend slot=%d steps=8765 made=1" % slot_b], a["lines"]
    assert _updates(b) == ["friend slot=%d steps=4321 made=3" % slot_a], b["lines"]
    assert a["store"].latest(slot_b) == (8765, 1, first)  # kept with the window's time
    assert a["events"] == [(slot_b, 8765, 1, first)] and b["events"] == [(slot_a, 4321, 3, first)]
    assert c["svc"].heard == 0 and c["store"].count == 0 and _updates(c) == [] and c["events"] == []
    assert a["svc"].heard >= 1 and a["svc"].windows == 1 and a["svc"].skipped == 0
    assert c["svc"].idle == 1 and c["svc"].owner.starts == 0  # no friends: no window, radio off
    assert a["svc"].quiet == b["svc"].quiet == 0  # each heard the other's frames: whole windows
    for p in (a, b):  # the radio was on only for the window (and off again)
        owner = p["svc"].owner
        assert owner.starts == 1 and not owner.on
        t = p["dev"].acct.snapshot()["time_us"]
        on = t.get("radio.idle", 0)
        assert WINDOW_MS * 1000 <= on <= (WINDOW_MS + 400) * 1000, t
    # the next window: the same friends again, 5 minutes later
    w.run_for(PERIOD_S * 1000)
    assert a["store"].latest(slot_b) == (8765, 1, first + PERIOD_S)
    assert len(_updates(a)) == 2 and c["svc"].heard == 0


def test_a_window_on_an_empty_air_stops_scanning_early_and_its_burst_still_reaches_a_late_friend():
    w = World()
    a = _pin(w, "a", 4321, 3)
    b = _pin(w, "b", 8765, 1)
    _befriend(a, b)
    a["svc"].sync = _Sync(lost=True)  # a: alone past LOST_MS (a synced pin, or a new one, scans it whole)
    b["dev"].rtc_offset_us -= 1200000  # b's clock 1.2 s behind: its burst starts after a's scan stopped
    first = (_T0 // PERIOD_S + 1) * PERIOD_S

    async def a_window():  # (its clock's cycle stood in for: the window at the period's instant)
        import asyncio

        await asyncio.sleep_ms((first - _T0) * 1000)
        await a["svc"].window()

    w.start(a["dev"], a_window())
    _start(w, b)
    w.run_for((first - _T0) * 1000 + 1200 + WINDOW_MS + 1000)
    slot_a = b["store"].find(a["fk"])
    # a heard no UPDATE frame in its first QUIET_MS: it stopped scanning there ...
    assert a["svc"].quiet == 1 and a["svc"].windows == 1 and _updates(a) == []
    t = a["dev"].acct.snapshot()["time_us"]
    assert t["air.rx"] < (QUIET_MS + 100) * 1000 < WINDOW_MS * 1000 // 2, t
    # ... but sent its burst to the end: b, scanning from 1.2 s, heard the rest of it
    assert WINDOW_MS * 1000 <= t["radio.idle"] <= (WINDOW_MS + 400) * 1000, t
    assert b["svc"].quiet == 0 and _updates(b) == ["friend slot=%d steps=4321 made=3" % slot_a], b["lines"]


def test_friends_addresses_and_rids_rotate_with_the_epoch():
    w = World()
    a = _pin(w, "a", 1, 0)
    b = _pin(w, "b", 2, 0)
    _befriend(a, b)
    seen = []
    orig = b["svc"].on_report

    def spy(addr_type, addr, adv_type, rssi, data):
        if advert.decode(data, advert.Frame()) == advert.KIND_UPDATE:
            seen.append((bytes(addr), bytes(data[8:14])))
        orig(addr_type, addr, adv_type, rssi, data)

    b["svc"].on_report = spy
    _start(w, a, b)
    w.run_for(3 * advert.EPOCH_S * 1000)  # nine windows over three or four epochs
    addrs = set(x[0] for x in seen)
    rids = set(x[1] for x in seen)
    assert len(addrs) == a["svc"].windows == 9, (len(addrs), a["svc"].windows, len(seen))  # a new address every window (every start)
    assert 3 <= len(rids) <= 4  # one RID per 15-minute epoch
    assert len(_updates(b)) == 9


def test_a_radio_that_will_not_start_skips_the_window_and_the_next_one_works():
    w = World()
    a = _pin(w, "a", 1, 0)
    b = _pin(w, "b", 2, 0)
    _befriend(a, b)
    a["dev"].ble_start_fail = lambda n: 5 if n == 1 else None  # EIO at the first start
    _start(w, a, b)
    first = (_T0 // PERIOD_S + 1) * PERIOD_S
    w.run_for((first - _T0 + PERIOD_S) * 1000 + WINDOW_MS + 1000)
    assert a["svc"].skipped == 1 and a["svc"].windows == 1
    assert len(_updates(a)) == 1 and len(_updates(b)) == 1  # b heard a in the second window only
    assert any("radio start failed" in ln for ln in a["lines"])


def test_mp_a_scan_report_is_decoded_looked_up_and_queued_without_allocating():
    w = World()
    a = _pin(w, "a", 1, 0)
    b = _pin(w, "b", 2, 0)
    _befriend(a, b)
    svc = a["svc"]
    svc._prepare(_T0)
    other = advert.Advertiser(b["fk"], advert.derive_keys(bytes(16), _EVENT)[1])
    other.rotate(advert.epoch_of(_T0))
    friend = memoryview(bytearray(other.update(5, 1, 7)))
    stranger = memoryview(bytearray(advert.Advertiser(bytes(16), bytes(16)).update(5, 1, 7)))
    junk = memoryview(b"\x02\x01\x06\x03\xff\x00\x01")
    addr = memoryview(bytearray(6))
    gc.collect()
    before = gc.mem_alloc()
    i = 0
    while i < 100:
        svc.on_report(1, addr, 3, -60, friend)
        svc.on_report(1, addr, 3, -60, stranger)
        svc.on_report(1, addr, 3, -60, junk)
        i += 1
    grown = gc.mem_alloc() - before
    assert grown == 0, grown
    assert svc.heard == 100 and svc._n == 1  # queued once: one read per friend per window


def _app(w, root, name, n, social=True):
    return app_pin(w, root, name, n, _T0, social, status_every_ms=600000)


def test_app_runs_update_windows_only_when_provisioned_for_meet_and_greet():
    import os

    w = World()
    root = os.getcwd()
    da, a, la = _app(w, root, "pa", 1)
    db, b, lb = _app(w, root, "pb", 2)
    dc, c, lc = _app(w, root, "pc", 3, social=False)
    assert c.radio is None and c.updates is None  # no event keys: the radio never starts
    assert a.updates in a.services and a.radio.ble is da.ble_obj
    fa = advert.derive_keys(bytes([2]) * 16, _EVENT)[0]
    fb = advert.derive_keys(bytes([3]) * 16, _EVENT)[0]
    w.use(da)
    a.friends.add(fb, {"name": "B"}, _T0)
    w.use(db)
    b.friends.add(fa, {"name": "A"}, _T0)
    radio = []
    a.bus.subscribe(topics.RADIO, lambda on: radio.append((w.clock.now_ms(), on)))
    for dev, app in ((da, a), (db, b), (dc, c)):
        w.start(dev, app.main())
    first = (_T0 // PERIOD_S + 1) * PERIOD_S
    t_win = (first - _T0) * 1000
    try:
        w.run_for(t_win + WINDOW_MS + 1000)
    finally:
        os.chdir(root)
    assert radio == [(t_win + 250, True), (t_win + 250 + WINDOW_MS, False)], (radio, la)
    ups = [ln for ln in la if ln.split(" ")[2] == "updates"]
    assert len(ups) == 1 and "steps=0 made=0" in ups[0], la
    assert b.updates.stored == 1 and c.updates is None
    assert dc.acct.snapshot()["time_us"].get("radio.idle", 0) == 0  # pc's radio stayed off


class _Sync:
    """Stands in for clocksync.ClockSync: records what the window feeds it."""

    def __init__(self, lost=False):
        self.calls = []
        self.src = None  # its clock never set (cloudpin.clockset)
        self.lost = lost  # in step once, no friend heard for LOST_MS

    def synced(self):
        return False

    def lost_once(self):
        return self.lost

    def begin(self, *a):
        self.calls.append("begin")

    def heard(self, block, q, o):
        self.calls.append("heard")

    def end(self):
        self.calls.append("end")
        return False


def test_a_window_whose_scan_a_tap_took_keeps_stats_but_not_timing():
    # a tap window takes the scanner over (ble/scanner.py, take=True): the
    # update window ends there; what it heard is good stats, but its edges
    # are the cut's, so clocksync must not place friends' bursts from it
    import asyncio

    def run(cut):
        w = World()
        a = _pin(w, "a", 4321, 3)
        b = _pin(w, "b", 8765, 1)
        _befriend(a, b)
        sync = a["svc"].sync = _Sync()

        async def tap():
            await asyncio.sleep_ms(WINDOW_MS // 2)
            await a["svc"].owner.acquire("meet")
            a["svc"].owner.scanner().start(lambda *r: None, 0, take=True)
            await asyncio.sleep_ms(100)
            a["svc"].owner.scanner().stop()
            a["svc"].owner.release("meet")

        w.start(a["dev"], a["svc"].window())
        w.start(b["dev"], b["svc"].window())
        if cut:
            w.start(a["dev"], tap())
        w.run_for(WINDOW_MS + 2000)
        return sync.calls, _updates(a), a["svc"].owner.scanner().cuts

    calls, got, cuts = run(False)
    assert calls[0] == "begin" and "heard" in calls and cuts == 0 and len(got) == 1, (calls, got)
    calls, got, cuts = run(True)
    assert calls == [] and cuts == 1 and len(got) == 1, (calls, got)


def test_an_empty_air_never_stops_the_scan_a_tap_took_over():
    # a tap 200 ms into a window on an empty air takes the scanner (meet:
    # take=True); at QUIET_MS the window must leave the tap's scan running
    import asyncio

    w = World()
    a = _pin(w, "a", 1, 0)
    b = _pin(w, "b", 2, 0)
    _befriend(a, b)  # b never opens its window: a's air stays empty
    a["svc"].sync = _Sync(lost=True)
    scanning = []

    async def tap():
        await asyncio.sleep_ms(200)
        await a["svc"].owner.acquire("meet")
        scan = a["svc"].owner.scanner()
        scan.start(lambda *r: None, 0, take=True)
        await asyncio.sleep_ms(QUIET_MS + 300 - 200)
        scanning.append(scan.scanning)
        scan.stop()
        a["svc"].owner.release("meet")

    w.start(a["dev"], a["svc"].window())
    w.start(a["dev"], tap())
    w.run_for(WINDOW_MS + 2000)
    assert scanning == [True] and a["svc"].quiet == 0 and a["svc"].owner.scanner().cuts == 1

# BLE events of a pin that light-sleeps (cpsim/bleirq.py): its CPU is halted,
# so they wait for the wake-up (advertising reports only as many as the HCI
# event buffers hold), and each event the handler takes costs CPU time.
from cpsim.world import World
from cpsim.blelog import ble_of
from cpsim import radio as R

_ADV = b"\x02\x01\x06\x03\xff\xaa\xbb"


def _pair():
    w = World()
    w.radio.fading = False
    a, b = w.device("a"), w.device("b")
    w.radio.set_rssi(a, b, -50)
    return w, a, b


async def _advertise(dev, ms):
    import asyncio

    ble = ble_of(dev)
    ble.active(True)
    ble.gap_advertise(20000, _ADV, connectable=False)
    await asyncio.sleep_ms(ms)


def _readable(view):
    try:
        return bytes(view)
    except ValueError:  # CPython: the view was released
        return None


def test_scan_results_wait_while_the_pin_sleeps_and_reach_it_when_it_wakes():
    import asyncio
    import machine

    w, a, b = _pair()
    seen = []
    kept = []
    slept = []  # when the scanner went to sleep and woke (active(True) takes its start-up first)

    def irq(event, data):
        if event == 5:
            seen.append((w.clock.now_ms(), bytes(data[1]), bytes(data[4])))
            kept.append(data[4])  # a view the handler should not keep

    async def scanner():
        ble = ble_of(a)
        ble.irq(irq)
        ble.active(True)
        ble.gap_scan(0, 30000, 30000)
        await asyncio.sleep_ms(300)
        slept.append(w.clock.now_ms())
        machine.lightsleep(500)
        slept.append(w.clock.now_ms())
        await asyncio.sleep_ms(300)

    w.start(a, scanner())
    w.start(b, _advertise(b, 2000))
    w.run_for(1500)
    t0, t1 = slept
    assert t1 - t0 == 500
    before = [s for s in seen if s[0] < t0]
    during = [s for s in seen if t0 <= s[0] <= t1]
    after = [s for s in seen if s[0] > t1]
    assert len(before) >= 5 and len(after) >= 5, seen
    # none while asleep; at the wake-up, the controller's buffers' worth, in order
    assert [s[0] for s in during] == [t1] * R.EVT_DISCARD_COUNT, [s[0] for s in during]
    mac = ble_of(b).config("mac")[1]
    assert all(s[1] == mac and s[2] == _ADV for s in seen)
    # the rest of the sleep's reports (~20 advertising events at 20 ms plus
    # 0-10 ms advDelay) were dropped, and counted
    dropped = a.acct.snapshot()["counts"].get("radio.reports_dropped", 0)
    assert 5 <= dropped <= 500 // 20 - R.EVT_DISCARD_COUNT, dropped
    # what a deferred event's views showed is gone once its handler returned
    assert not [v for v in kept if _readable(v) == _ADV]


def test_each_ble_event_costs_the_pin_cpu_time():
    import asyncio

    w, a, b = _pair()
    n = [0]

    def irq(event, data):
        if event == 5:
            n[0] += 1

    async def scanner():
        ble = ble_of(a)
        ble.irq(irq)
        ble.active(True)
        ble.gap_scan(0, 30000, 30000)
        await asyncio.sleep_ms(1000)

    async def quiet():
        ble_of(a2).active(True)  # the same radio start-up, no events
        await asyncio.sleep_ms(1000)

    w.start(a, scanner())
    w.start(b, _advertise(b, 1000))
    w.run_for(1000)
    busy = a.acct.snapshot()["time_us"].get("cpu.active", 0)
    w2, a2, b2 = _pair()
    w2.start(a2, quiet())
    w2.run_for(1000)
    idle = a2.acct.snapshot()["time_us"].get("cpu.active", 0)
    assert n[0] >= 30, n
    # each report: the radio's host time per event, on top of the task's own steps
    assert busy - idle >= n[0] * R.IRQ_US, (busy, idle, n[0])

# The battery level end to end (issue 12, item 5): the reference pin's ADC
# divider read on the shared LiPo curve by the app's status line, published
# on bus.BATTERY, kept by the phone role and sent to the owner's phone on
# the emulated air: the level a phone reads in INFO, and the low-battery
# event it gets when the cell crosses the warning line during its session.
import os

from appkit import BOARD, app_pin, pair_key, phone_connect, phone_device
from cloudpin.battery import LOW_PCT, curve_mv
from cpsim.world import World

PINS = 2  # the pin and the phone (conftest: one pin's heap each)
_T0 = 1796000010  # no friend-update window in this run (2 s every 5 min)
_ADC = {"type": "adc", "adc_pin": 35, "divider": 2.0, "full_mv": 4200, "empty_mv": 3300}
_DROP_MS = 9000  # the cell is at 40 % until then, at LOW_PCT - 5 after (a load step on a worn cell)


def _left(t_ms):
    return 40 if t_ms < _DROP_MS else LOW_PCT - 5


async def _owner_phone(radio, pin, secret, out):
    from cloudpin.phone import phoneside as p

    conn, rx, tx = await phone_connect(radio, pin)
    r = p.Reassembler()

    async def message(timeout_ms):
        while True:
            got = r.feed((await conn.notified(tx, timeout_ms))[1])
            if got is not None:
                return bytes(got)

    async def ask(msg):
        for f in p.fragments(msg, 20):
            await conn.write(rx, f)
        return await message(3000)

    def event(got):
        ev = p.parse_event(got[1], got[2])
        if ev["event"] == "battery":
            out.append(("event", ev))
        return ev

    ph = p.Phone(secret, os.urandom)
    ph.welcome(await ask(ph.prove(await ask(ph.hello()))))
    msg, seq = ph.request(p.OP_INFO)
    got = ph.take(await ask(msg))
    while got[0] == "event":  # the pin's events come as they happen (a reading a second)
        event(got)
        got = ph.take(await message(3000))
    out.insert(0, ("info", p.parse_info(got[3])))
    for _ in range(10):  # the events of the next seconds, until the low one
        got = ph.take(await message(3000))
        if got[0] == "event" and event(got).get("low"):
            break
    await conn.disconnect()
    radio.release("phone")


def test_the_owners_phone_reads_the_cells_level_and_is_told_when_it_runs_low():
    w = World()
    root = os.getcwd()
    try:
        dev, app, lines = app_pin(w, root, "cell", 1, _T0, card=True, board=dict(BOARD, battery=_ADC),
                                  status_every_ms=1000)
        dev.adc_values[35] = lambda t_ms: curve_mv(_left(t_ms)) * 1000 // 2  # the divider halves it
        dp, phone_radio = phone_device(w, (dev,))
        w.start(dev, app.main())
        w.run_for(4000)
        w.use(dev)
        app.phone.open()  # the wearer's double tap (or a button)
        got = []
        w.start(dp, _owner_phone(phone_radio, app, pair_key(1), got))
        w.run_for(12000)
    finally:
        os.chdir(root)
    assert got and got[0][0] == "info", (got, [ln for ln in lines if " phone " in ln])
    info = got[0][1]
    assert 39 <= info["battery"] <= 40 and not info["battery_low"], info  # the curve's level, ADC steps under
    evs = [e for k, e in got[1:]]
    assert evs and evs[-1]["low"] and LOW_PCT - 6 <= evs[-1]["percent"] < LOW_PCT, evs
    assert all(not e["low"] and 39 <= e["percent"] <= 40 for e in evs[:-1]), evs

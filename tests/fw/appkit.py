# A pin as the desk leaves it and main.py starts it, for tests of the whole
# App on simulated time (both runtimes): its flash a folder of its own, its
# clock on UTC, identity written (with the event's keys for meet and greet),
# no accelerometer fitted (the app runs without one); taps and the owner's
# phone (tests/fw/test_app_full.py, host_tools/bench/heap.py).
import asyncio
import os
import time

from cloudpin import board as board_layer
from cloudpin import bus as topics
from cloudpin import identity, owner
from cloudpin.app import App
from cloudpin.log import Logger

EVENT = bytes(range(16))
RTC_EPOCH = 946684800  # the emulated ESP32 RTC counts from 2000
BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
}


def pair_key(n):
    return bytes([n]) * 16


def app_pin(w, root, name, n, t0, social=True, card=False, pack=None, board=None, dev=None, **kw):
    """(Device, App, log lines) of pin number `n` (1..254) named `name` in
    World `w`, its clock at UTC `t0` at t = 0. social: the event's keys;
    card: an owner card too (meet and greet sends it); pack: a compiled
    event pack put on its flash as pack.bin; board: its board file's dict
    (BOARD if None); dev: a Device of `w` made for it already (its parts
    fitted: cpsim.boardfit), else a new one. kw: for App."""
    if dev is None:
        dev = w.device(name)
    dev.flash_dir = root + "/" + name
    os.mkdir(dev.flash_dir)
    w.use(dev)
    if pack is not None:
        with open("pack.bin", "wb") as f:
            f.write(pack)
    dev.rtc_offset_us = (t0 - RTC_EPOCH) * 1000000
    lines = []
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(BOARD if board is None else board, log.child("board"), wdt_timeout_ms=0)
    identity.set_badge_id(hw.nvs, bytes((0, 0, 0, 0, 0, 0, 0, n)))
    if social:
        identity.write(hw.nvs, pair_key(n), bytes([n + 1]) * 16, 1, EVENT, 60)
    else:
        identity.write(hw.nvs, pair_key(n), bytes([n + 1]) * 16, 1)
    if card:
        owner.save({"acc": "PR-%d" % n, "name": "Wearer " + name, "organisation": "Org", "role": "",
                    "handles": [], "gen": 1})
    if kw.get("mark") is not None:
        kw["mark"]("hardware")  # the board layer's objects, before the app's
    return dev, App(hw, log, **kw), lines


async def tap_at(app, at_ms):
    """A tap felt by `app` `at_ms` from now (published as its motion does)."""
    await asyncio.sleep_ms(at_ms)
    app.bus.publish(topics.TAP, time.ticks_ms(), 900)


async def phone_connect(radio, pin):
    """The owner's phone on its own RadioOwner `radio` waits for the App
    `pin` to advertise for it (its window opened by the button or a double
    tap) and connects: (connection, rx handle, tx handle, subscribed)."""
    import bluetooth
    from cloudpin.phone import ids

    from cloudpin.ble.central import ConnectError

    await radio.acquire("phone")
    for attempt in range(3):
        # The address is read when the pin advertises for us: during a clock
        # or update burst it shows that window's address instead, so a
        # failed attempt is retried as a phone's app does.
        while not pin.phone.advertising:
            await asyncio.sleep_ms(50)
        try:
            conn = await radio.central().connect(*pin.radio.address(), timeout_ms=3000)
            break
        except ConnectError:
            if attempt == 2:
                raise
    u = bluetooth.UUID
    rx, tx = await conn.discover(u(ids.SERVICE_UUID), (u(ids.RX_UUID), u(ids.TX_UUID)))
    await conn.subscribe(tx)
    return conn, rx, tx


async def phone_reads_friends(radio, pin, secret, out, connected=None):
    """The owner's phone (phone_connect) pairs with the card's secret and
    reads the first friend page: out gets (kind, sequence matches, status,
    (total, next, friends)); connected() is called before it hangs up."""
    from cloudpin.phone import phoneside as p

    conn, rx, tx = await phone_connect(radio, pin)

    async def ask(msg):
        for f in p.fragments(msg, 20):
            await conn.write(rx, f)
        r = p.Reassembler()
        while True:
            got = r.feed((await conn.notified(tx, 3000))[1])
            if got is not None:
                return bytes(got)

    ph = p.Phone(secret, os.urandom)
    ph.welcome(await ask(ph.prove(await ask(ph.hello()))))
    msg, seq = ph.request(p.OP_FRIENDS, b"\x00\x00\x14")
    kind, rseq, st, payload = ph.take(await ask(msg))
    out.append((kind, rseq == seq, st, p.parse_page(payload)))
    if connected is not None:
        connected()  # (the heap bench measures here)
    await conn.disconnect()
    radio.release("phone")


def phone_device(w, pins, name="phone"):
    """A phone in World `w` half a metre from the first of `pins` (Devices),
    further from the others: its own RadioOwner, for phone_reads_friends."""
    from cloudpin.ble.radio import RadioOwner
    from cpsim.blelog import ble_of

    dev = w.device(name)
    w.use(dev)
    for i, pin in enumerate(pins):
        w.radio.set_distance(pin, dev, 0.5 + i)
    return dev, RadioOwner(ble_of(dev), Logger(name))


def start_and_tap(w, pins, at_ms=3000):
    """Start each (Device, App)'s main() and tap them all together `at_ms` in."""
    for dev, app in pins:
        w.start(dev, app.main())
        w.start(dev, tap_at(app, at_ms))


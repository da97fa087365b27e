# Central and server roles (cloudpin.ble.central, .server) between two
# emulated pins on one World's radio: connect, discover by UUID, read,
# write, notify, disconnect; and every failure as a clear exception:
# nobody there, a link lost in the middle of a procedure, a dead peer.
import bluetooth

from bletest import owner_pin as _pin
from bletest import run_tasks as _go
from cloudpin.ble.central import ConnectError, GattError, LinkLost
from cpsim.world import World

_SVC = bluetooth.UUID("7c3a0001-5b1e-4a57-9d0c-2c1f1e0c1d00")
_STATE = bluetooth.UUID("7c3a0002-5b1e-4a57-9d0c-2c1f1e0c1d00")
_INBOX = bluetooth.UUID("7c3a0003-5b1e-4a57-9d0c-2c1f1e0c1d00")
_OTHER = bluetooth.UUID("7c3a00ff-5b1e-4a57-9d0c-2c1f1e0c1d00")


class _Peripheral:
    """Pin A: a service with a readable/notifying value and a writable inbox."""

    def __init__(self, owner):
        self.owner = owner
        self.server = owner.server()
        self.writes = []
        self.links = []
        self.svc = self.server.service(
            _SVC, ((_STATE, bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY), (_INBOX, bluetooth.FLAG_WRITE, 64)),
            on_write=self._written, on_ready=self._ready)
        self.server.links(lambda c, t, a: self.links.append(("up", c)), lambda c: self.links.append(("down", c)))

    def _ready(self, svc):
        self.server.write(svc.handles[0], b"steps=42")

    def _written(self, conn, handle, value):
        self.writes.append((conn, handle, value))

    async def up(self):
        await self.owner.acquire("test")
        self.owner.advertiser().start(b"\x02\x01\x06", 50, connectable=True)
        return self.owner.address()


def _world():
    w = World()
    da, oa = _pin(w, "a")
    db, ob = _pin(w, "b")
    return w, da, db, _Peripheral(oa), ob


def test_connect_discover_read_write_notify_disconnect():
    w, da, db, per, ob = _world()
    addr = _go(w, [("a", da, per.up())], 500)["a"]
    assert addr[0] == 1

    async def client():
        await ob.acquire("test")
        central = ob.central()
        conn = await central.connect(addr[0], addr[1], 2000)
        state, inbox = await conn.discover(_SVC, (_STATE, _INBOX))
        first = await conn.read(state)
        try:
            await conn.write(inbox, b"x" * 40)  # ATT_MTU 23: 20 bytes at most
            return "cut"
        except GattError:
            pass
        before = per.server.mtu(per.server.connected[0])
        mtu = await conn.exchange_mtu()
        mtu = (before, mtu, per.server.mtu(per.server.connected[0]))
        await conn.write(inbox, b"x" * 40)  # the inbox was given 64 bytes
        await conn.subscribe(state)
        per.server.notify(per.server.connected[0], state, b"steps=43")
        got = await conn.notified(state, 1000)
        await conn.disconnect()
        return conn, state, inbox, first, got, central.connections(), mtu

    conn, state, inbox, first, got, left, mtu = _go(w, [("b", db, client())], 3000)["b"]
    assert first == b"steps=42" and got == (state, b"steps=43") and mtu == (23, 256, 256)
    assert per.svc.handles == (state, inbox)
    assert per.writes == [(0, inbox, b"x" * 40)]  # copied: intact after the IRQ returned
    assert not conn.connected and left == []
    assert per.links == [("up", 0), ("down", 0)] and per.server.connected == []
    assert not per.owner.advertiser().advertising  # NimBLE stops connectable advertising on a link


def test_missing_service_or_characteristic_and_att_errors_are_gatt_errors():
    w, da, db, per, ob = _world()
    addr = _go(w, [("a", da, per.up())], 500)["a"]

    async def client():
        await ob.acquire("test")
        conn = await ob.central().connect(addr[0], addr[1])
        errors = []
        for call in (lambda: conn.service(_OTHER), lambda: conn.discover(_SVC, (_STATE, _OTHER))):
            try:
                await call()
            except GattError as e:
                errors.append(e.status)
        state, inbox = await conn.discover(_SVC, (_STATE, _INBOX))
        try:
            await conn.read(inbox)  # write-only
        except GattError as e:
            errors.append(e.status)
        try:
            await conn.notified(state, 300)  # nothing sent
        except GattError as e:
            errors.append(e.status)
        return errors, conn.connected

    errors, still = _go(w, [("b", db, client())], 5000)["b"]
    assert errors == [0x10A, 0x10A, 0x102, -1] and still  # read not permitted; timeout


def test_nobody_there_is_a_connect_error_after_the_timeout():
    w, da, db, per, ob = _world()

    async def client():
        await ob.acquire("test")
        t0 = w.clock.now_ms()
        try:
            await ob.central().connect(1, b"\x12\x34\x56\x78\x9a\xbc", 700)
        except ConnectError as e:
            return w.clock.now_ms() - t0, str(e)

    took, msg = _go(w, [("b", db, client())], 3000)["b"]
    assert took == 700 and "no connection to 12:34:56:78:9a:bc" in msg


def test_link_lost_in_the_middle_of_a_procedure():
    w, da, db, per, ob = _world()
    addr = _go(w, [("a", da, per.up())], 500)["a"]
    t_lost = []

    async def client():
        await ob.acquire("test")
        conn = await ob.central().connect(addr[0], addr[1])
        state, inbox = await conn.discover(_SVC, (_STATE, _INBOX))
        w.radio.set_rssi(da, db, -120)  # the wearers walk apart: supervision timeout
        t_lost.append(w.clock.now_ms())
        try:
            await conn.read(state, 10000)
            return "read"
        except LinkLost as e:
            t_lost.append(w.clock.now_ms())
        try:
            await conn.write(inbox, b"late")
        except LinkLost:
            pass
        return conn.connected

    out = _go(w, [("b", db, client())], 6000)
    assert out["b"] is False, out
    # supervision: 2.56 s after its last event through (just before the mean fell away)
    assert 2560 <= t_lost[1] - t_lost[0] <= 3200 + 30, t_lost


def test_peer_switching_its_radio_off_mid_notify_wait():
    w, da, db, per, ob = _world()
    addr = _go(w, [("a", da, per.up())], 500)["a"]

    async def client():
        await ob.acquire("test")
        conn = await ob.central().connect(addr[0], addr[1])
        try:
            await conn.notified(None, 5000)
        except LinkLost:
            return "lost"

    async def peer_off():
        await __import__("asyncio").sleep_ms(600)
        per.owner.release("test")
        return per.owner.on

    out = _go(w, [("b", db, client()), ("a", da, peer_off())], 4000)
    assert out == {"b": "lost", "a": False}, out

# The radio owner's IRQ handler under hostile input: seeded random events
# and malformed data tuples (wrong lengths, types, handles, memoryviews of
# any size) reach every role (advertiser, scanner, central, server, a
# service with a write callback). Nothing escapes the handler, it stays
# registered, the roles' state stays sane, and real traffic works after.
import bluetooth

from bletest import owner_pin, run_tasks
from cpsim.world import World

_SVC = bluetooth.UUID(0xFFF0)
_CHR = bluetooth.UUID(0xFFF1)


class _Rand:
    def __init__(self, seed):
        self.x = seed

    def __call__(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n


def _value(r):
    k = r(9)
    if k == 0:
        return None
    if k == 1:
        return -r(70000)
    if k == 2:
        return r(70000)
    if k == 3:
        return memoryview(bytes(r(40)))
    if k == 4:
        return bytes(r(300))
    if k == 5:
        return bluetooth.UUID(r(65536))
    if k == 6:
        return "x" * r(5)
    if k == 7:
        return (r(3),)
    return r(4)


def test_random_events_and_malformed_tuples_never_escape_the_handler():
    w = World()
    dev, owner = owner_pin(w, "p")
    writes = []
    server = owner.server()
    server.service(_SVC, ((_CHR, bluetooth.FLAG_WRITE),), on_write=lambda c, h, v: writes.append(v))
    owner.central()
    owner.advertiser()
    seen = []

    async def up():
        await owner.acquire("t")
        owner.scanner().start(lambda *a: seen.append(len(a)), 0)
        return owner.on

    assert run_tasks(w, [("p", dev, up())], 500)["p"] is True
    r = _Rand(12345)
    irq = owner._irq
    n = 20000
    for _ in range(n):
        ev = r(40) - 4
        data = tuple(_value(r) for _ in range(r(7)))
        if r(10) == 0:
            data = None if r(2) else b"\x00" * r(10)
        result = irq(ev, data)
        assert result is None or isinstance(result, (int, bool))
    assert dev.ble_obj._handler == irq  # never unregistered
    assert 0 < owner.irq_errors < n and owner.on and owner.users == ["t"]
    assert all(isinstance(c, int) for c in server.connected)
    # real traffic still flows through it after the storm (a forged SCAN_DONE
    # may have ended the scanner's state: start the scan again)
    w.use(dev)
    owner.ble.gap_scan(None)
    owner.scanner().start(lambda *a: seen.append(len(a)), 0)
    before = len(seen)
    w.radio.inject_advertisement(b"\x01" * 6, b"\x02\x01\x06")
    assert len(seen) == before + 1

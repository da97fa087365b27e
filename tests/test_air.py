"""Shared air: virtual badges of one farm, and host-side centrals, are
stations of one emulated radio in the host process (host_tools/air)."""
import ast
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.air import AirHub, Central, GattError
from host_tools.virtual_badge import VirtualBadgeFarm

BIN = Path(sys.executable).parent
TIMEOUT = 60

# Runs on each badge: advertise its own payload, scan 3 s, print what it heard.
FIRMWARE = """
import bluetooth, asyncio
seen = {}
def irq(ev, data):
    if ev == 5:
        at, addr, kind, rssi, adv = data
        if bytes(adv[2:4]) == b"CP":
            seen[bytes(adv)] = (bytes(addr), rssi)
b = bluetooth.BLE()
b.irq(irq)
b.active(True)
b.gap_advertise(100000, b"\\x03\\xffCP" + MINE)
b.gap_scan(0, 30000, 30000)
async def listen():
    await asyncio.sleep(3)
asyncio.run(listen())
b.gap_scan(None)
print("SEEN", repr(seen))
print("OWN", repr(b.config("mac")[1]))
"""


def payload(i):
    return b"\x03\xffCP" + bytes((0x30 + i,))


def test_two_virtual_badges_hear_each_other_and_a_host_central_hears_both():
    with VirtualBadgeFarm(2) as farm:
        for b in farm:
            assert b.wait_repl(TIMEOUT)
        central = Central(farm.air)
        central.scan()
        procs = [subprocess.Popen([str(BIN / "mpremote"), "connect", b.port, "exec",
                                   "MINE = %r\n" % bytes((0x30 + i,)) + FIRMWARE],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for i, b in enumerate(farm)]
        outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
        heard = central.adverts()
        assert os.path.exists(farm.air.path)
    assert not os.path.exists(farm.air.path)  # the farm leaves no socket behind

    own, seen = [], []
    for out in outs:
        lines = dict(line.split(" ", 1) for line in out.splitlines() if line[:5] in ("SEEN ", "OWN b"))
        assert "SEEN" in lines and "OWN" in lines, out
        seen.append(ast.literal_eval(lines["SEEN"]))
        own.append(ast.literal_eval(lines["OWN"]))
    assert own[0] != own[1]  # each badge has its own MAC
    for i in (0, 1):
        other = 1 - i
        assert set(seen[i]) == {payload(other)}, seen[i]  # the other's, never its own
        addr, rssi = seen[i][payload(other)]
        assert addr == own[other]
        assert -80 < rssi < -40  # unplaced stations: -60 dBm mean, fading around it
    by_payload = {a.data: a.addr for a in heard}
    assert by_payload.get(payload(0)) == own[0] and by_payload.get(payload(1)) == own[1]


# Runs on a badge: a GATT server whose characteristic notifies back what is
# written to it, reversed; advertises connectably until a central leaves.
GATT_SERVER = """
import bluetooth, asyncio
CHR = (bluetooth.UUID(0x2A6E), bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY)
b = bluetooth.BLE()
b.active(True)
((h,),) = b.gatts_register_services(((bluetooth.UUID(0x181A), (CHR,)),))
b.gatts_write(h, b"hello")
log = []
done = []
def irq(ev, data):
    if ev == 1:
        log.append(("connect", data[1], bytes(data[2])))
    elif ev == 2:
        log.append(("disconnect",))
        done.append(1)
    elif ev == 3:
        v = b.gatts_read(data[1])
        log.append(("write", bytes(v)))
        b.gatts_notify(data[0], data[1], bytes(reversed(v)))
b.irq(irq)
b.gap_advertise(50000, b"\\x02\\x01\\x06")
print("READY", h, b.config("mac")[1].hex())
async def serve():
    for _ in range(1500):
        if done:
            break
        await asyncio.sleep_ms(20)
asyncio.run(serve())
print("LOG", repr(log))
"""


def test_a_host_central_connects_to_a_badge_and_reads_writes_and_gets_notified():
    with VirtualBadgeFarm(1) as farm:
        assert farm[0].wait_repl(TIMEOUT)
        phone, other = Central(farm.air, "phone"), Central(farm.air, "other")
        with pytest.raises(ConnectionError):
            phone.connect(b"\x24\x0a\xc4\x00\x00\x03", timeout=1)  # not advertising yet
        proc = subprocess.Popen([str(BIN / "mpremote"), "connect", farm[0].port, "exec", GATT_SERVER],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("READY "), line + proc.stdout.read()
            h, mac = int(line.split()[1]), bytes.fromhex(line.split()[2])
            phone.scan()
            assert phone.wait_for(lambda ad: ad.addr == mac and ad.adv_type == 0, TIMEOUT) is not None
            phone.stop_scan()
            conn = phone.connect(mac, timeout=TIMEOUT)
            with pytest.raises(ConnectionError):
                other.connect(mac, timeout=1)  # a connection ends connectable advertising
            assert conn.read(h) == b"hello"
            conn.write(h, b"abc")
            assert conn.wait_notification(h, TIMEOUT) == b"cba"
            assert conn.read(h) == b"abc"
            with pytest.raises(GattError):
                conn.read(h + 5)  # no such handle
            conn.disconnect()
            assert not conn.connected
            out = proc.communicate(timeout=TIMEOUT)[0]
        finally:
            proc.kill()
    log = ast.literal_eval(out.split("LOG ", 1)[1].strip())
    assert log == [("connect", 1, phone.addr), ("write", b"abc"), ("disconnect",)]


def test_positions_on_the_hub_set_what_a_central_hears(tmp_path):
    with AirHub(tmp_path / "air.sock") as hub:
        hub.set_position("a", 0.0)
        hub.set_position("b", 0.02)  # touching
        a, b = Central(hub, "a"), Central(hub, "b")
        b.scan()
        a.advertise(b"\x02\x01\x06", interval_us=20000)
        near = b.wait_for(lambda ad: ad.data == b"\x02\x01\x06", timeout=TIMEOUT)
        assert near is not None and near.rssi > -35  # -24 dBm mean touching (docs/radio.md)
        assert near.addr_type == 1 and near.adv_type == 2
        hub.set_position("b", 200.0)  # far out of range
        n = len(b.adverts())
        assert hub.rssi("a", "b") < -110
        a.advertise(b"\x02\x01\x07", interval_us=20000)
        assert b.wait_for(lambda ad: ad.data == b"\x02\x01\x07", timeout=1.0) is None
        assert all(ad.data == b"\x02\x01\x06" for ad in b.adverts()[n:])


def test_hub_ignores_malformed_frames_and_serves_on(tmp_path):
    path = tmp_path / "air.sock"
    with AirHub(path) as hub:
        c = Central(hub, "listener")
        c.scan()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(path))
        # before hello, a short advert, an over-long advert, a window wider than
        # its interval, an unknown kind, an empty frame
        for p in (b"A" + bytes(20), b"H" + b"rogue", b"A\x01", b"A" + bytes(12) + b"\x28" + bytes(40),
                  b"S" + (1000).to_bytes(4, "little") + (2000).to_bytes(4, "little") + b"\x00", b"Z", b""):
            s.send(bytes((len(p),)) + p)
        good = b"\x02\x01\x05"
        itvl = (20000).to_bytes(4, "little")
        p = b"A" + itvl + b"\x01\x02" + b"\xc0\x01\x02\x03\x04\x05" + bytes((len(good),)) + good
        s.send(bytes((len(p),)) + p)
        ad = c.wait_for(lambda a: a.data == good, timeout=TIMEOUT)
        assert ad is not None and ad.addr == b"\xc0\x01\x02\x03\x04\x05"
        assert "rogue" in hub.names()
        s.close()
        assert wait_until(lambda: "rogue" not in hub.names())  # its station left the air


def wait_until(cond, timeout=TIMEOUT):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False

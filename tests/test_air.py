"""Shared air: virtual badges of one farm, and host-side centrals, are
stations of one emulated radio in the host process (host_tools/air); two
badges connect to each other over it (cpsim/airlink.py)."""
import ast
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cpsim.link import att_air_us

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
# written to it, reversed; advertises connectably again after each link ends,
# until LINKS have ended.
GATT_SERVER = """
import bluetooth, asyncio
CHR = (bluetooth.UUID(0x2A6E), bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY)
b = bluetooth.BLE()
b.active(True)
((h,),) = b.gatts_register_services(((bluetooth.UUID(0x181A), (CHR,)),))
b.gatts_set_buffer(h, 512)  # a written value is kept whole up to 512 bytes (the default: 20)
b.gatts_write(h, b"hello")
b.config(mtu=globals().get("MTU", 185))
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
    elif ev == 21:
        log.append(("mtu", data[1]))
b.irq(irq)
b.gap_advertise(30000, b"\\x02\\x01\\x06")
print("READY", h, b.config("mac")[1].hex())
async def serve():
    n = 0
    for _ in range(3000):
        if len(done) > n:
            n = len(done)
            if n >= LINKS:
                break
            b.gap_advertise(30000, b"\\x02\\x01\\x06")
        await asyncio.sleep_ms(10)
asyncio.run(serve())
print("LOG", repr(log))
"""


def test_a_host_central_connects_to_a_badge_and_reads_writes_and_gets_notified():
    with VirtualBadgeFarm(1) as farm:
        assert farm[0].wait_repl(TIMEOUT)
        phone, other = Central(farm.air, "phone"), Central(farm.air, "other")
        with pytest.raises(ConnectionError):
            phone.connect(b"\x24\x0a\xc4\x00\x00\x03", timeout=1)  # not advertising yet
        proc = subprocess.Popen([str(BIN / "mpremote"), "connect", farm[0].port, "exec", "LINKS = 1\n" + GATT_SERVER],
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


# Runs on a second badge: the central of a GATT_SERVER at ADDR.
CLIENT_SETUP = """
import bluetooth, asyncio, time
b = bluetooth.BLE()
ev = []
st = {}
def irq(e, d):
    if e == 7:
        st["conn"] = d[0]
        ev.append(("connect", d[0], d[1], bytes(d[2])))
    elif e == 8:
        st["down"] = d[0]
        ev.append(("disconnect", d[0], d[1], bytes(d[2])))
    elif e == 9:
        if d[3] == bluetooth.UUID(0x181A):
            st["svc"] = (d[1], d[2])
    elif e == 10:
        st["svcdone"] = d[1]
    elif e == 11:
        st["chr"] = (d[1], d[2], d[3], d[4] == bluetooth.UUID(0x2A6E))
    elif e == 12:
        st["chrdone"] = d[1]
    elif e == 13:
        if d[2] == bluetooth.UUID(0x2902):
            st["cccd"] = d[1]
    elif e == 14:
        st["dscdone"] = d[1]
    elif e == 15:
        st["value"] = bytes(d[2])
    elif e == 16:
        st["readdone"] = (d[1], d[2])
    elif e == 17:
        st["writedone"] = (d[1], d[2])
    elif e == 18:
        st["notify"] = (d[1], bytes(d[2]))
    elif e == 21:
        st["mtu"] = d[1]
b.irq(irq)
b.active(True)
b.config(mtu=globals().get("MTU", 100))
async def until(k, ms=15000):
    for _ in range(ms // 10):
        if k in st:
            return st.pop(k)
        await asyncio.sleep_ms(10)
    raise OSError("no " + k)
"""
CLIENT = CLIENT_SETUP + """
async def main():
    out = {}
    b.gap_connect(0, b"\\x00\\x00\\x00\\x00\\x00\\x01", 300)  # nobody: times out
    out["nobody"] = await until("down")
    b.gap_connect(0, ADDR)
    c = await until("conn")
    acct = b._dev.acct.totals  # this badge's own radio time from here (cpsim accounting)
    air0 = (acct.get("air.tx", 0), acct.get("air.rx", 0))
    b.gattc_exchange_mtu(c)
    out["mtu"] = await until("mtu")
    b.gattc_discover_services(c)
    s, e = await until("svc")
    out["svcdone"] = await until("svcdone")
    b.gattc_discover_characteristics(c, s, e)
    out["chr"] = await until("chr")
    out["chrdone"] = await until("chrdone")
    vh = out["chr"][1]
    b.gattc_discover_descriptors(c, vh, out["chr"][0])
    cccd = await until("cccd")
    out["dscdone"] = await until("dscdone")
    b.gattc_read(c, vh)
    out["read"] = (await until("readdone"), st.pop("value"))
    b.gattc_write(c, cccd, b"\\x01\\x00", 1)
    out["subscribe"] = await until("writedone")
    t0 = time.ticks_ms()
    b.gattc_write(c, vh, b"abc", 1)
    out["write"] = await until("writedone")
    out["notify"] = await until("notify")
    out["round_trip_ms"] = time.ticks_diff(time.ticks_ms(), t0)
    b.gattc_read(c, vh + 40)
    out["bad_read"] = await until("readdone")
    out["air"] = (acct.get("air.tx", 0) - air0[0], acct.get("air.rx", 0) - air0[1])
    b.gap_disconnect(c)
    out["down"] = await until("down")
    b.gap_connect(0, ADDR)
    c = await until("conn")
    print("LINKED", c)
    t0 = time.ticks_ms()
    out["lost"] = await until("down", 30000)
    out["lost_after_ms"] = time.ticks_diff(time.ticks_ms(), t0)
    print("OUT", repr(out))
    print("EV", repr(ev))
asyncio.run(main())
"""


def _exec(port, code):
    return subprocess.Popen([str(BIN / "mpremote"), "connect", port, "exec", code],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _value(out, tag):
    for line in out.splitlines():
        if line.startswith(tag + " "):
            return ast.literal_eval(line[len(tag) + 1:])
    raise AssertionError("no %s line in:\n%s" % (tag, out))


@contextlib.contextmanager
def _server_and_client(server_code, client_code):
    """Two badges: GATT_SERVER-like server_code on badge-1 (its READY line
    read), then client_code(h, mac) on badge-2: (farm, server, client, h, mac)."""
    with VirtualBadgeFarm(2) as farm:
        for b in farm:
            assert b.wait_repl(TIMEOUT)
        server = _exec(farm[0].port, server_code)
        client = None
        try:
            line = server.stdout.readline()
            assert line.startswith("READY "), line + server.stdout.read()
            h, mac = int(line.split()[1]), bytes.fromhex(line.split()[2])
            client = _exec(farm[1].port, client_code(h, mac))
            yield farm, server, client, h, mac
        finally:
            for p in (server, client):
                if p is not None:
                    p.kill()


def test_two_virtual_badges_connect_discover_read_write_notify_disconnect_and_lose_the_link():
    with _server_and_client("LINKS = 2\n" + GATT_SERVER, lambda h, mac: "ADDR = %r\n" % mac + CLIENT) as (
            farm, server, client, h, mac):
        seen = [client.stdout.readline()]
        while seen[-1] and not seen[-1].startswith("LINKED"):
            seen.append(client.stdout.readline())
        assert seen[-1].startswith("LINKED"), "".join(seen)
        time.sleep(0.5)
        farm.air.set_position("badge-1", 0.0)
        farm.air.set_position("badge-2", 300.0)  # walked out of range: the link is lost
        cout = "".join(seen) + client.communicate(timeout=TIMEOUT)[0]
        sout = server.communicate(timeout=TIMEOUT)[0]
    out, ev, log = _value(cout, "OUT"), _value(cout, "EV"), _value(sout, "LOG")
    assert out["nobody"] == 0xFFFF  # _IRQ_PERIPHERAL_DISCONNECT of no handle: the connect timed out
    assert ev[0] == ("disconnect", 0xFFFF, 0xFF, bytes(6))
    assert ev[1] == ("connect", 0, 0, mac)  # _IRQ_PERIPHERAL_CONNECT: (handle, addr_type, addr)
    assert out["mtu"] == 100  # min(100, 185)
    assert out["svcdone"] == 0
    end, vh, props, right_uuid = out["chr"]
    assert vh == h and right_uuid and props == 0x1A and out["chrdone"] == 0
    assert out["dscdone"] == 0
    assert out["read"] == ((vh, 0), b"hello")
    assert out["subscribe"][1] == 0 and out["write"] == (vh, 0)
    assert out["notify"] == (vh, b"cba")
    # (the round trip's duration, three connection events plus the hub, is
    # wall-clock time here: measured by the air bench, not asserted)
    assert out["bad_read"] == (vh + 40, 0x101)  # ATT invalid handle
    # the central's radio carried its requests and their answers (and the
    # notification), as between two pins in one process; the server's VM
    # charges its own side. Until now the central's was charged nothing.
    sent = (3, 7, 7, 7, 3, 3 + 2, 3 + 3, 3)  # MTU, 3 discoveries, read, 2 writes, bad read
    got = (3, 20, 20, 20, 1 + 5, 1, 1, 3 + 3, 1)  # their responses and the notification of b"cba"
    assert out["air"] == (sum(map(att_air_us, sent)), sum(map(att_air_us, got))), out["air"]
    assert out["down"] == 0 and ev[2][0] == "disconnect"
    # link loss: the supervision timeout (2.56 s) after the peer fell silent
    assert 2000 <= out["lost_after_ms"] - 500 <= 6000, out["lost_after_ms"]
    peer = log[0][2]
    # _IRQ_CENTRAL_CONNECT with the client's address; the clean disconnect, then the lost one
    assert log == [("connect", 0, peer), ("mtu", 100), ("write", b"abc"), ("disconnect",), ("connect", 0, peer),
                   ("disconnect",)], log


# Runs on a second badge: at the largest MTU, writes a 509-byte value to the
# GATT_SERVER at ADDR, gets it back reversed as a notification, reads it.
BIG_CLIENT = "MTU = 512\n" + CLIENT_SETUP + """
async def main():
    b.gap_connect(0, ADDR)
    c = await until("conn")
    b.gattc_exchange_mtu(c)
    mtu = await until("mtu")
    b.gattc_discover_characteristics(c, 1, 0xFFFF)
    vh = (await until("chr"))[1]
    await until("chrdone")
    big = bytes(range(256)) * 2
    b.gattc_write(c, vh, big[:mtu - 3], 1)
    status = (await until("writedone"))[1]
    back = (await until("notify"))[1]
    b.gattc_read(c, vh)
    await until("readdone")
    print("OUT", repr((mtu, status, back == bytes(reversed(big[:mtu - 3])), len(st.pop("value")))))
    b.gap_disconnect(c)
    await asyncio.sleep_ms(200)
asyncio.run(main())
"""


def test_two_virtual_badges_carry_att_values_of_the_largest_mtu():
    # ATT values up to MTU - 1 bytes cross the hub (frames of 255 bytes and
    # more: a long length); they were cut off at a one-byte length before
    with _server_and_client("LINKS = 1\nMTU = 512\n" + GATT_SERVER, lambda h, mac: "ADDR = %r\n" % mac + BIG_CLIENT) \
            as (farm, server, client, h, mac):
        cout = client.communicate(timeout=TIMEOUT)[0]
        sout = server.communicate(timeout=TIMEOUT)[0]
    mtu, status, reversed_back, read_len = _value(cout, "OUT")
    assert mtu == 512 and status == 0
    assert reversed_back  # the 509-byte notification, whole
    assert read_len == 509  # a read gives MTU - 1 bytes of the value (here all 509 written)
    log = _value(sout, "LOG")
    assert ("mtu", 512) in log and ("write", (bytes(range(256)) * 2)[:509]) in log


def test_frames_take_a_long_length_from_255_bytes():
    from cpsim.airclient import frame, next_frame

    stream = b"".join(frame(bytes([k % 256]) * k) for k in (0, 1, 254, 255, 516))
    assert stream[:2] == b"\x00\x01" and frame(bytes(255))[:3] == b"\xff\xff\x00"
    i, got = 0, []
    while i < len(stream):
        s, n = next_frame(stream, i, len(stream))
        got.append(stream[s:s + n])
        i = s + n
    assert got == [bytes([k % 256]) * k for k in (0, 1, 254, 255, 516)]
    long = frame(bytes(300))
    assert next_frame(long, 0, 2) is None and next_frame(long, 0, len(long) - 1) is None  # not all there yet


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
        # then connection frames for links that do not exist and a short connect
        for p in (b"A" + bytes(20), b"H" + b"rogue", b"A\x01", b"A" + bytes(12) + b"\x28" + bytes(40),
                  b"S" + (1000).to_bytes(4, "little") + (2000).to_bytes(4, "little") + b"\x00", b"Z", b"",
                  b"c\x07\x00", b"Q\x03\x01\x00", b"x\x09", b"K\x00\x01", b"k", b"D", b"W\x01"):
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


class FakeBadge:
    """A badge VM's end of the hub's socket, spoken by hand: it advertises
    as told and accepts every connection (answers C with c 0)."""

    def __init__(self, path, name="badge"):
        import threading

        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(str(path))
        self.connects = []  # (cid, addr_type, addr) of every C
        self.lost = []  # (cid, lost) of every L
        self._send(b"H" + name.encode())
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _send(self, p):
        self.s.send(bytes((len(p),)) + p)

    def advertise(self, addr, interval_us, addr_type=1):
        data = b"\x02\x01\x06"
        self._send(b"A" + interval_us.to_bytes(4, "little") + bytes((addr_type, 0)) + addr + bytes((len(data),))
                   + data)

    def _serve(self):
        buf = b""
        while True:
            try:
                got = self.s.recv(4096)
            except OSError:
                return
            if not got:
                return
            buf += got
            while buf and len(buf) > buf[0]:
                p, buf = buf[1:1 + buf[0]], buf[1 + buf[0]:]
                if p[:1] == b"C" and len(p) >= 9:
                    self.connects.append((p[1], p[2], bytes(p[3:9])))
                    self._send(b"c" + bytes((p[1], 0)))
                elif p[:1] == b"L" and len(p) == 3:
                    self.lost.append((p[1], p[2]))

    def end(self, cid):
        self._send(b"x" + bytes((cid,)))  # its side closed (gap_disconnect)

    def close(self):
        self.s.close()


@pytest.fixture
def hub_badge(tmp_path):
    """A hub and a FakeBadge on it."""
    with AirHub(tmp_path / "air.sock") as hub:
        badge = FakeBadge(hub.path)
        try:
            yield hub, badge
        finally:
            badge.close()


def test_a_host_central_connects_through_an_advertisement_that_gets_through(hub_badge):
    # as a pin's gap_connect: the central initiates, and only an ADV_IND it
    # decodes gets the CONNECT_IND out (the old hub connected on mean RSSI alone)
    hub, badge = hub_badge
    mac = b"\xc0\x0a\x0b\x0c\x0d\x0e"
    phone = Central(hub, "phone")
    phone.scan()
    badge.advertise(mac, 10240000)  # the longest legacy interval: one event, the next 10 s later
    assert phone.wait_for(lambda ad: ad.addr == mac, timeout=TIMEOUT) is not None
    with pytest.raises(ConnectionError, match="got through"):
        phone.connect(mac, timeout=2)  # no ADV_IND in 2 s
    badge.advertise(mac, 20000)
    t = time.monotonic()
    assert phone.wait_for(lambda ad: ad.addr == mac and ad.t > t, timeout=TIMEOUT)  # its scan went on after
    phone.stop_scan()
    with pytest.raises(ConnectionError):
        phone.connect(mac, timeout=1, addr_type=0)  # it advertises a random address, not a public one
    conn = phone.connect(mac, timeout=TIMEOUT, addr_type=1)
    assert conn.connected and badge.connects == [(conn.cid, 1, phone.addr)]
    other = Central(hub, "other")
    with pytest.raises(ConnectionError):
        other.connect(mac, timeout=1)  # the connection ended its advertising


def test_a_link_over_the_hub_takes_both_radios_at_its_events_and_follows_their_range(hub_badge):
    # half-duplex on the shared air: while a badge and a central are linked,
    # neither hears advertising during their connection events (the link runs
    # in the VMs; the hub only knew of it for range before), and the badge's
    # VM hears when its host central falls silent (it never did: such a link
    # outlived any distance)
    from cpsim.radio import CONN_EVENT_US

    hub, badge = hub_badge
    mac = b"\xc0\x0a\x0b\x0c\x0d\x0f"
    phone = Central(hub, "phone")
    badge.advertise(mac, 20000)
    conn = phone.connect(mac, timeout=TIMEOUT)
    stations = [hub.radio.station(hub.device(n)) for n in ("phone", "badge")]
    for st in stations:
        (events,) = st.links
        assert events.interval == 30000  # the badge's VM runs a host central's link at 30 ms
        t = events.anchor + 100 * events.interval
        assert hub.radio._busy(st, t + 100, t + 500)  # a packet inside a connection event is lost
        assert hub.radio._busy(st, t - 200, t + 100)  # one running into the next event too
        assert not hub.radio._busy(st, t + CONN_EVENT_US + 100, t + CONN_EVENT_US + 500)
    hub.set_position("phone", 0.0)
    hub.set_position("badge", 300.0)  # the phone walked away: the badge's VM is told its peer fell silent
    assert wait_until(lambda: badge.lost == [(conn.cid, 1)])
    hub.set_position("badge", 1.0)
    assert wait_until(lambda: badge.lost == [(conn.cid, 1), (conn.cid, 0)])  # and heard again
    badge.end(conn.cid)
    assert wait_until(lambda: not conn.connected)
    assert all(st.links == [] for st in stations)  # the radios are free again


def wait_until(cond, timeout=TIMEOUT):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


# The firmware's own radio owner and roles (firmware/cloudpin/ble) on two
# badges: what meet and greet's exchange builds on.
FW_LOG = """
import asyncio, bluetooth
from cloudpin.ble.radio import RadioOwner
class Log:
    def info(self, m):
        print("LOG", m)
    warning = error = info
owner = RadioOwner(bluetooth.BLE(), Log())
U_SVC, U_CHR = bluetooth.UUID("6c6f7564-7069-6e00-0000-0000000000a1"), bluetooth.UUID(0x2A6E)
"""
FW_SERVER = FW_LOG + """
srv = owner.server()
left = []
def on_write(conn, h, v):
    srv.notify(conn, h, bytes(reversed(v)))
svc = srv.service(U_SVC, ((U_CHR, bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY),),
                  on_write=on_write, on_ready=lambda s: srv.write(s.handles[0], b"hi"))
srv.links(on_disconnect=lambda conn: left.append(conn))
async def main():
    await owner.acquire("test")
    owner.ble.gap_advertise(30000, b"\\x02\\x01\\x06")
    print("READY", owner.ble.config("mac")[0], owner.ble.config("mac")[1].hex())
    for _ in range(1500):
        if left:
            break
        await asyncio.sleep_ms(20)
    print("LEFT", len(left))
asyncio.run(main())
"""
FW_CENTRAL = FW_LOG + """
async def main():
    await owner.acquire("test")
    conn = await owner.central().connect(ATYPE, ADDR, 5000)
    mtu = await conn.exchange_mtu()
    (h,) = await conn.discover(U_SVC, (U_CHR,))
    first = await conn.read(h)
    await conn.subscribe(h)
    await conn.write(h, b"tap!")
    got = await conn.notified(h)
    await conn.disconnect()
    print("OUT", repr((mtu, first, got, conn.connected)))
asyncio.run(main())
"""


def test_the_firmwares_central_and_server_roles_talk_across_two_virtual_badges():
    from host_tools import FIRMWARE_DIR
    from host_tools.demo import install_firmware, vm_arch

    with VirtualBadgeFarm(2) as farm:
        for b in farm:
            assert b.wait_repl(TIMEOUT)
            install_firmware(FIRMWARE_DIR, b.root, None, vm_arch(b.exe))
        server = _exec(farm[0].port, FW_SERVER)
        client = None
        try:
            line = server.stdout.readline()
            assert line.startswith("READY "), line + server.stdout.read()
            atype, mac = int(line.split()[1]), bytes.fromhex(line.split()[2])
            assert atype == 1 and mac[0] >> 6 == 0  # the owner's non-resolvable private address
            client = _exec(farm[1].port, "ATYPE, ADDR = %d, %r\n" % (atype, mac) + FW_CENTRAL)
            cout = client.communicate(timeout=TIMEOUT)[0]
            sout = server.communicate(timeout=TIMEOUT)[0]
        finally:
            for p in (server, client):
                if p is not None:
                    p.kill()
    mtu, first, got, connected = _value(cout, "OUT")
    assert mtu == 256  # both stacks offer NimBLE's preferred 256
    assert first == b"hi" and got[1] == b"!pat" and connected is False
    assert "LEFT 1" in sout, sout

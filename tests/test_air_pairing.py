"""BLE pairing across the air hub (issue #8's leftover), as MicroPython's
NimBLE binding raises it: a badge's gap_pair to another badge's VM, a host
central pairing with a badge, and a badge pairing with a host central. The
initiator's store is asked first (_IRQ_GET_SECRET), both ends that bond
offer their keys (_IRQ_SET_SECRET: ours, then the peer's), then
_IRQ_ENCRYPTION_UPDATE; an encrypted characteristic is refused with ATT
0x0F (insufficient encryption) before and served after. The phone service
needs none of this (its pairing is the application's challenge,
docs/phone-api.md "Interoperability")."""
import errno
import time

import pytest

from host_tools.air import Central, GattError
from host_tools.air.remote import RemoteCentral
from host_tools.virtual_badge import VirtualBadgeFarm

from test_air import CLIENT_SETUP, _exec, _server_and_client, _value  # (tests/ is on the path: the badges' REPL helpers)

TIMEOUT = 60

# test_air's client set-up (its IRQ records and until(key)), and a log of
# what pairing raises; the server's side of a link recorded too
LOGGER = CLIENT_SETUP + """
log = []
def paired(ev, data):
    if ev == 29:
        log.append(("get_secret", data[0], data[1]))
        return None
    if ev == 30:
        log.append(("set_secret", data[0], len(bytes(data[2]))))
        return True
    if ev == 28:
        log.append(("encryption", data[0], data[1], data[2], data[3], data[4]))
        st["enc"] = data[0]
    elif ev in (1, 2):
        st["conn" if ev == 1 else "down"] = data[0]
    return irq(ev, data)
b.irq(paired)
b.config(bond=BOND)
"""
# a server with an encrypted characteristic; after `LINKS` links have come and gone it prints its log
SERVER = LOGGER + """
((h,),) = b.gatts_register_services(((bluetooth.UUID(0x181A),
    ((bluetooth.UUID(0x2A6E), bluetooth.FLAG_READ | 0x0200),)),))
b.gatts_write(h, b"secret")
log.clear()  # from here: what the links raise (active(True) asked for our IRK before)
b.gap_advertise(30000, b"\\x02\\x01\\x06")
print("READY", h, b.config("mac")[1].hex())
async def serve():
    for n in range(LINKS):
        c = await until("conn", 60000)
        if PAIR_FROM_HERE and n == 0:
            await until("enc", 60000)  # the central pairs
        elif PAIR_FROM_HERE:
            b.gap_pair(c)  # we do
            await until("enc")
        await until("down", 60000)
        b.gap_advertise(30000, b"\\x02\\x01\\x06")
asyncio.run(serve())
print("LOG", repr(log))
"""
CLIENT = LOGGER + """
async def main():
    b.gap_connect(0, ADDR)
    c = await until("conn")
    log.clear()
    out = {}
    b.gattc_read(c, H)
    out["before"] = (await until("readdone"))[1]
    b.gap_pair(c)
    try:
        b.gap_pair(c)
    except OSError as e:
        out["again"] = e.errno  # EALREADY while under way
    await until("enc")
    b.gattc_read(c, H)
    out["after"] = ((await until("readdone"))[1], st.pop("value"))
    b.gap_disconnect(c)
    await until("down")
    print("OUT", repr(out))
    print("LOG", repr(log))
asyncio.run(main())
"""


def _ready(proc):
    line = proc.stdout.readline()
    assert line.startswith("READY "), line + proc.stdout.read()
    return int(line.split()[1]), bytes.fromhex(line.split()[2])


# what each end raises when both bond: our keys, the peer's (80-byte ble_store_value_sec), the update
BONDED = [("set_secret", 1, 80), ("set_secret", 2, 80)]


def test_two_badges_pair_across_the_hub_with_the_events_of_the_chip():
    with _server_and_client("BOND = True\nLINKS = 1\nPAIR_FROM_HERE = False\n" + SERVER,
                            lambda h, mac: "BOND = True\nADDR = %r\nH = %d\n" % (mac, h) + CLIENT) as (
            farm, server, client, h, mac):
        cout = client.communicate(timeout=TIMEOUT)[0]
        sout = server.communicate(timeout=TIMEOUT)[0]
    out, clog, slog = _value(cout, "OUT"), _value(cout, "LOG"), _value(sout, "LOG")
    assert out["before"] == 0x10F  # ATT insufficient encryption, as the chip reports a GATT error
    assert out["again"] == errno.EALREADY
    assert out["after"] == (0, b"secret")
    # the initiator asks its store for a bond with the peer (type 2, index 0, the peer's 7-byte key)
    assert clog[0][:2] == ("get_secret", 2) and len(clog) == 4, clog
    assert clog[1:] == BONDED + [("encryption", 0, 1, 0, 1, 16)], clog
    assert slog == BONDED + [("encryption", 0, 1, 0, 1, 16)], slog  # no store lookup on the responder


def test_a_host_central_and_a_badge_pair_either_way_across_the_hub():
    with VirtualBadgeFarm(1) as farm:
        assert farm[0].wait_repl(TIMEOUT)
        server = _exec(farm[0].port, "BOND = True\nLINKS = 2\nPAIR_FROM_HERE = True\n" + SERVER)
        try:
            h, mac = _ready(server)
            with Central(farm.air, "phone") as phone:
                conn = phone.connect(mac, timeout=TIMEOUT)
                with pytest.raises(GattError) as e:
                    conn.read(h, TIMEOUT)
                assert e.value.status == 0x0F  # insufficient encryption
                assert conn.pair(TIMEOUT) is True and conn.encrypted  # the phone asks: both bond
                assert conn.read(h, TIMEOUT) == b"secret"
                conn.disconnect(TIMEOUT)
            # the badge asks on the next link (its gap_pair), with a central that
            # joined through the hub's socket as `cloudpin phone --air` does: it answers as a phone does
            with RemoteCentral(farm.air.path) as phone:
                conn = phone.connect(mac, timeout=TIMEOUT)
                end = time.monotonic() + TIMEOUT
                while not conn.encrypted and time.monotonic() < end:
                    time.sleep(0.05)
                assert conn.encrypted and conn.bonded is True
                assert conn.read(h, TIMEOUT) == b"secret"
                conn.disconnect(TIMEOUT)
            sout = server.communicate(timeout=TIMEOUT)[0]
        finally:
            server.kill()
    log = _value(sout, "LOG")
    # the phone's pairing: the badge responds (no store lookup), both bond
    assert log[:3] == BONDED + [("encryption", 0, 1, 0, 1, 16)], log
    # the badge's own gap_pair on its second link: its store first
    assert log[3][:2] == ("get_secret", 2) and log[4:] == BONDED + [("encryption", log[6][1], 1, 0, 1, 16)], log

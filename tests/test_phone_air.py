"""The phone's transport on the emulated air: a host Central finds a
virtual badge's characteristics by UUID (Connection.discover), as a phone
does before it writes to the phone service."""
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.air import Central, GattError
from host_tools.phone.transports import p
from host_tools.virtual_badge import VirtualBadgeFarm

BIN = Path(sys.executable).parent
TIMEOUT = 60

# A GATT server with the phone service's table and one more service before
# it, so the handles are not the first ones.
SERVER = """
import bluetooth, asyncio
U = bluetooth.UUID
b = bluetooth.BLE()
b.active(True)
((h0,), (rx, tx)) = b.gatts_register_services((
    (U(0x181A), ((U(0x2A6E), bluetooth.FLAG_READ),)),
    (U(%r), ((U(%r), bluetooth.FLAG_WRITE), (U(%r), bluetooth.FLAG_NOTIFY))),
))
b.gap_advertise(50000, b"\\x02\\x01\\x06")
print("READY", rx, tx, b.config("mac")[1].hex())
async def serve():
    await asyncio.sleep(20)
asyncio.run(serve())
""" % (p.SERVICE_UUID, p.RX_UUID, p.TX_UUID)


def test_a_host_central_discovers_characteristics_by_uuid():
    with VirtualBadgeFarm(1) as farm:
        assert farm[0].wait_repl(TIMEOUT)
        proc = subprocess.Popen([str(BIN / "mpremote"), "connect", farm[0].port, "exec", SERVER],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("READY "), line + proc.stdout.read()
            rx, tx, mac = int(line.split()[1]), int(line.split()[2]), bytes.fromhex(line.split()[3])
            with Central(farm.air, "phone") as phone:
                conn = phone.connect(mac, timeout=TIMEOUT)
                assert conn.discover(p.RX_UUID) == rx
                assert conn.discover(p.TX_UUID) == tx
                assert conn.discover(0x2A6E) < rx
                with pytest.raises(GattError) as e:
                    conn.discover("00000000-0000-4000-8000-000000000000")
                assert e.value.status == 0x0A  # attribute not found
                conn.disconnect()
        finally:
            proc.kill()

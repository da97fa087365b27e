"""The phone on the emulated air. A host Central finds a virtual badge's
characteristics by UUID (Connection.discover), as a phone does before it
writes to the phone service. Then the whole service on a provisioned
virtual badge (host_tools/phone/vpin.py: the pin's own firmware, radio
owner, phone role and service, in its MicroPython VM) and the reference
client on a host Central: pair with the card's secret, set the profile,
read the friend list in pages, get a friend notification; a wrong secret
finds no pin, and the pin refuses it when connected to by address.
And `cloudpin phone --air` from a shell: the CLI in processes of its own
(a second terminal's), joining the farm's air hub through its socket."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest

from host_tools.air import AirHub, Central, GattError
from host_tools.bench.desk import badge_folder
from host_tools.phone import vpin
from host_tools.phone.client import PhoneClientError, PinClient
from host_tools.phone.transports import connect_air, find_on_air, p
from host_tools.vbadge.boot_shim import TOUCH_NAME
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
left = []
b.irq(lambda ev, data: left.append(ev) if ev == 2 else None)
b.gap_advertise(50000, b"\\x02\\x01\\x06")
print("READY", rx, tx, b.config("mac")[1].hex())
async def serve():
    while not left:  # until the central leaves, however long the host takes
        await asyncio.sleep_ms(20)
asyncio.run(serve())
print("LEFT")
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
                # (the badge's advertising may reach the hub after READY reaches
                # us: connect waits for an ADV_IND, as a phone's initiator does)
                conn = phone.connect(mac, timeout=TIMEOUT)
                assert conn.discover(p.RX_UUID, TIMEOUT) == rx
                assert conn.discover(p.TX_UUID, TIMEOUT) == tx
                assert conn.discover(0x2A6E, TIMEOUT) < rx
                with pytest.raises(GattError) as e:
                    conn.discover("00000000-0000-4000-8000-000000000000", TIMEOUT)
                assert e.value.status == 0x0A  # attribute not found
                conn.disconnect(TIMEOUT)
                assert not conn.connected
            assert "LEFT" in proc.communicate(timeout=TIMEOUT)[0]  # the badge saw the link end
        finally:
            proc.kill()


OTHER = b"\x07" * 16
N_FRIENDS = 50


@pytest.fixture
def farm(tmp_path):
    vpin.provision(badge_folder(tmp_path / "badge-1"), N_FRIENDS)
    with VirtualBadgeFarm(1, tmp_path) as f:
        yield f


def test_a_phone_pairs_with_a_virtual_badge_over_the_air(farm):
    with Central(farm.air, "phone") as central:
        t = connect_air(central, vpin.KEY, TIMEOUT)
        with PinClient(t, vpin.KEY, TIMEOUT).pair() as c:
            assert c.info()["badge_id"] == vpin.BADGE.hex()
            card = c.set_card(name="Ana B. Lima", handles=["@analima", "ana@bsky.social"])
            assert card["name"] == "Ana B. Lima" and card["acc"] == "PR-0042"
            pages = list(c.friend_pages())
            got = [f for _, page in pages for f in page]
            assert len(pages) >= 2 and [f["slot"] for f in got][:N_FRIENDS] == list(range(N_FRIENDS))
            assert got[4]["card"]["name"] == "Friend 4" and got[4]["latest"] == (4004, 4, 1785040000)
            ev = c.next_event(TIMEOUT)
            assert ev is not None and ev["event"] == "friend" and ev["friend"]["card"]["name"] == "New Friend"
            assert c.card()["handles"] == ["@analima", "ana@bsky.social"]  # read back from the pin's flash


def test_a_wrong_secret_finds_no_pin_and_is_refused_by_it(farm):
    with Central(farm.air, "stranger") as central:
        with pytest.raises(ConnectionError, match="no pin answering to this secret"):
            connect_air(central, OTHER, 3)
        ad = find_on_air(central, vpin.KEY, TIMEOUT)  # found with the owner's secret
        assert ad is not None
        t = connect_air(central, OTHER, TIMEOUT, address=ad.addr)
        with pytest.raises(PhoneClientError, match="someone else, or the secret is wrong"):
            PinClient(t, OTHER, TIMEOUT).pair()
        t.close()


@pytest.fixture
def shell_farm(tmp_path, monkeypatch):
    # the farm's hub socket in a folder of its own, which the CLI's
    # processes take as their temporary folder: there the CLI finds this
    # farm alone (not the other farms this machine may run)
    tmp = tempfile.mkdtemp(prefix="cpa", dir="/tmp")  # short: a socket's path has at most 107 bytes
    monkeypatch.setattr(tempfile, "tempdir", tmp)
    vpin.provision(badge_folder(tmp_path / "badge-1"), N_FRIENDS)
    try:
        with VirtualBadgeFarm(1, tmp_path) as f:
            yield f, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cloudpin(args, tmpdir, air=None):
    env = dict(os.environ, TMPDIR=tmpdir)
    env.pop("CLOUDPIN_AIR", None)
    if air:
        env["CLOUDPIN_AIR"] = air
    if "--timeout" not in args:
        args = args + ["--timeout", "30"]  # a loaded host's badge VM may answer late (the CLI's default: 10 s)
    r = subprocess.run([str(BIN / "cloudpin"), "phone"] + args, env=env, capture_output=True, text=True,
                       timeout=TIMEOUT * 2)
    return r.returncode, r.stdout, r.stderr


def test_cloudpin_phone_air_from_a_shell_pairs_once_then_each_command_connects_again(shell_farm, tmp_path):
    farm, tmp = shell_farm
    from host_tools.desk.card import write_card

    card = tmp_path / "card.png"
    acc = types.SimpleNamespace(acc_id="PR-0042", name="Ana Lima", organisation="Folha", role="photographer")
    write_card(card, acc, vpin.BADGE.hex(), vpin.KEY)
    state = str(tmp_path / "cfg" / "phone.json")
    # the hub named on the command line
    code, out, err = cloudpin(["pair", "--card", str(card), "--air", farm.air.path, "--state", state], tmp)
    assert code == 0 and out.strip().startswith("paired with badge %s" % vpin.BADGE.hex()), err
    assert os.stat(state).st_mode & 0o777 == 0o600
    # the hub from $CLOUDPIN_AIR, as the farm gives its badges; the secret from the pair's file
    code, out, err = cloudpin(["profile", "set", "--name", "Ana B. Lima", "--handle", "@ana", "--handle", "@b",
                               "--json", "--air", "--state", state], tmp, air=farm.air.path)
    assert code == 0, err
    card_now = json.loads(out)
    assert (card_now["name"], card_now["handles"], card_now["acc"]) == ("Ana B. Lima", ["@ana", "@b"], "PR-0042")
    # the hub found as the farm running on this machine
    code, out, err = cloudpin(["friends", "--json", "--air", "--state", state], tmp)
    assert code == 0, err
    friends = json.loads(out)
    assert [f["slot"] for f in friends][:N_FRIENDS] == list(range(N_FRIENDS))
    assert friends[4]["card"]["name"] == "Friend 4" and friends[4]["latest"] == [4004, 4, 1785040000]
    # the wearer's double tap first (the farm's touches; this pin's window is open anyway)
    code, out, err = cloudpin(["stats", "--json", "--tap", "badge-1", "--air", "--state", state], tmp)
    assert code == 0 and "double-tapping badge-1" in err, err
    assert len(list((tmp_path / "badge-1" / TOUCH_NAME).glob("*.csv"))) == 3  # three touches the badge felt
    assert json.loads(out)["friends"] in (N_FRIENDS, N_FRIENDS + 1)  # the pin makes one more once paired
    code, out, err = cloudpin(["profile", "--air", "--state", state], tmp)  # read back from the pin's flash
    assert code == 0 and "Ana B. Lima" in out and "@ana, @b" in out, err


def test_cloudpin_phone_air_says_in_one_line_what_is_wrong(shell_farm, tmp_path):
    farm, tmp = shell_farm
    code, out, err = cloudpin(["stats", "--secret", "B" * 26, "--air", "--timeout", "2"], tmp)
    assert code == 1 and out == "" and err.splitlines()[-1] == (
        "cloudpin phone: no pin answering to this secret is in range: double-tap the pin to open its phone window "
        "and come closer (if it is open and close, the secret is wrong)")
    code, out, err = cloudpin(["stats", "--secret", "B" * 26, "--tap", "badge-9", "--air"], tmp)
    assert code == 1 and err.splitlines()[-1].startswith("cloudpin phone: --tap: no badge badge-9 in this farm"), err
    with AirHub(os.path.join(tmp, "cloudpin-air-other.sock")):  # a second farm's
        code, out, err = cloudpin(["stats", "--secret", "B" * 26, "--tap", "badge-1", "--air"], tmp)
    assert code == 1 and err.splitlines()[-1].startswith(
        "cloudpin phone: --tap: 2 virtual badge farms are running here: give --air with the socket of the one"), err
    code, out, err = cloudpin(["stats", "--secret", "B" * 26, "--tap", "badge-1"], tmp)
    assert code == 1 and err.splitlines() == ["cloudpin phone: --tap double-taps a virtual badge: give --air too"]
    missing = str(tmp_path / "no.sock")
    code, out, err = cloudpin(["stats", "--secret", "B" * 26, "--air", missing], tmp)
    assert code == 1 and err.splitlines()[-1].startswith("cloudpin phone: cannot reach the air hub at %s" % missing)
    empty = tempfile.mkdtemp(prefix="cpb", dir="/tmp")
    try:
        code, out, err = cloudpin(["stats", "--secret", "B" * 26, "--air"], empty)
    finally:
        os.rmdir(empty)
    assert code == 1 and err.splitlines() == [
        "cloudpin phone: no virtual badges are running on this machine (no air hub: start them with "
        "`cloudpin virtual-badge` or `make demo`, or give --air SOCKET)"]


def test_a_shells_link_ends_when_the_pin_walks_out_of_range(farm):
    # through the hub's socket (as `cloudpin phone --air`): the hub says the
    # badge went silent, the link's supervision ends it, the client says so
    from host_tools.phone.transports import connect_hub

    t = connect_hub([farm.air.path], vpin.KEY, TIMEOUT)
    try:
        with PinClient(t, vpin.KEY, TIMEOUT).pair() as c:
            assert c.info()["badge_id"] == vpin.BADGE.hex()
            farm.air.set_position(t.conn.peer.name, 0.0)
            farm.air.set_position("badge-1", 300.0)
            end = time.monotonic() + TIMEOUT
            while t.conn.connected and time.monotonic() < end:
                time.sleep(0.05)
            assert not t.conn.connected
            with pytest.raises(ConnectionError, match="the link closed|not connected"):
                c.info()
    finally:
        t.close()

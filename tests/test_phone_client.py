"""The reference client (host_tools/phone) against the pin's own service in
this process: the same protocol file on both sides, 20-byte fragments."""
import base64
import json
from types import SimpleNamespace

import phonekit
import pytest

from host_tools.designs import DEFAULT_PACK
from host_tools.phone import client as cl
from host_tools.phone.client import PhoneClientError, PinClient
from host_tools.phone.transports import Loopback
from host_tools.testkit import phonepin

from cloudpin import owner  # noqa: E402  (firmware, on sys.path from conftest)
from cloudpin.phone import phoneside as p
from cloudpin.phone.service import PhoneService

SECRET = bytes(range(16))
ATHLETICS = [s["id"] for s in json.loads(DEFAULT_PACK.read_text())["sports"]].index("athletics")
CARD = {"acc": "PR-9", "name": "Ana", "organisation": "Folha", "role": "photo", "handles": ["@ana"], "gen": 2}


def designs():
    """The app's designs on a real engine with the Tokyo pack, athletics and
    judo unlocked (judo, the newest, shown)."""
    return phonekit.designs(json.loads(DEFAULT_PACK.read_text()), ("athletics", "judo"))


@pytest.fixture
def pin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    friends = [({"name": "F%d" % i, "organisation": "O", "role": "r", "handles": []}, 1700000000 + i, None)
               for i in range(45)]
    return phonepin.service(SECRET, CARD, friends, designs())


def test_secret_from_qr_text_base32_or_hex():
    key32 = base64.b32encode(SECRET).decode().rstrip("=")
    assert cl.parse_secret("CLOUDPIN:1:00112233AABBCCDD:" + key32) == ("00112233aabbccdd", SECRET)
    assert cl.parse_secret(key32.lower()) == (None, SECRET)
    assert cl.parse_secret("https://app.example/#CLOUDPIN:1:00112233AABBCCDD:" + key32)[1] == SECRET
    assert cl.parse_secret(SECRET.hex()) == (None, SECRET)
    for bad in ("CLOUDPIN:2:00:" + key32, "CLOUDPIN:1:00", "hello", key32[:-4], "CLOUDPIN:1:00:AAAA"):
        with pytest.raises(PhoneClientError):
            cl.parse_secret(bad)


def test_secret_read_from_the_desks_own_card_image(tmp_path):
    from host_tools.desk import card

    acc = SimpleNamespace(acc_id="PR-9", name="Zoë Ångström", organisation="Le Monde", role="photographer")
    path = card.write_card(tmp_path / "card.png", acc, "00112233aabbccdd", SECRET)
    assert cl.parse_secret(cl.read_card_qr(path)) == ("00112233aabbccdd", SECRET)
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (300, 200), "white").save(blank)
    with pytest.raises(PhoneClientError, match="no CloudPin QR code"):
        cl.read_card_qr(blank)
    with pytest.raises(PhoneClientError, match="cannot read"):
        cl.read_card_qr(tmp_path / "missing.png")


def test_pair_profile_friends_stats_designs(pin):
    with PinClient(Loopback(pin), SECRET).pair() as c:
        assert c.info()["badge_id"] == "aa" * 8
        card = c.set_card(name="Ana Lima", handles=["@ana", "ana@bsky.social"])
        assert card["name"] == "Ana Lima" and card["organisation"] == "Folha" and card["acc"] == "PR-9"
        assert owner.load()["handles"] == ["@ana", "ana@bsky.social"]
        pages = list(c.friend_pages())
        assert len(pages) == 2 and all(t == 45 for t, _ in pages)  # at most 32 a page
        assert [f["slot"] for _, got in pages for f in got] == list(range(45))
        assert c.stats()["friends"] == 45
        assert c.designs()["unlocked"] == ["athletics", "judo"]
        assert c.designs()["selected"] == "judo"
        assert c.select_design("Athletics") == "athletics" and pin.backend.engine.selected == ATHLETICS
        with pytest.raises(PhoneClientError, match="not unlocked.*athletics, judo"):
            c.select_design("sailing")
        with pytest.raises(PhoneClientError, match="owner card limits"):
            c.set_card(role="x" * 101)
        assert owner.load()["role"] == "photo"


def test_events_between_responses_are_kept(pin):
    t = Loopback(pin)
    c = PinClient(t, SECRET).pair()
    for h, msg in pin.friend_event(3):
        t.push(msg)
    assert c.stats()["friends"] == 45  # the event came first; the response is still matched
    ev = c.next_event(0)
    assert ev["event"] == "friend" and ev["friend"]["card"]["name"] == "F3"
    assert c.next_event(0) is None


def test_clear_errors_for_a_wrong_secret_a_lock_and_an_impostor(pin):
    with pytest.raises(PhoneClientError, match="someone else, or the secret is wrong"):
        PinClient(Loopback(pin, 2), b"\x01" * 16).pair()
    for h in (3, 4):
        with pytest.raises(PhoneClientError):
            PinClient(Loopback(pin, h), b"\x01" * 16).pair()
    with pytest.raises(PhoneClientError, match=r"locked after wrong secrets: try again in 1 s"):
        PinClient(Loopback(pin, 5), SECRET).pair()

    class Impostor(Loopback):  # relays to a pin that holds another secret, forging the last proof
        def push(self, msg):
            if msg[0] == p.WELCOME:
                msg = msg[:1] + bytes(16)
            super().push(msg)

    other = PhoneService(pin.backend, b"\x07" * 16)
    with pytest.raises(PhoneClientError, match="someone else"):
        PinClient(Impostor(other, 1), SECRET).pair()
    fooled = PhoneService(pin.backend, SECRET)
    with pytest.raises(PhoneClientError, match="not your pin"):
        PinClient(Impostor(fooled, 1), SECRET).pair()


def test_a_silent_pin_times_out():
    class Silent:
        fragment_size = 20

        def send(self, f):
            pass

        def recv(self, timeout):
            return None

        def close(self):
            pass

    with pytest.raises(TimeoutError, match="did not answer"):
        PinClient(Silent(), SECRET, timeout=0.01).pair()


class FakeBleak:
    """bleak's API shape (BleakScanner.find_device_by_filter/_by_address,
    BleakClient connect/start_notify/write_gatt_char/disconnect, mtu_size)
    in front of a PhoneService, to check the adapter, not bleak."""

    def __init__(self, service, beacon, mtu=23):
        from host_tools.phone.transports import p as proto

        fake = self
        self.service = service
        self.writes = []
        company = proto.COMPANY_ID

        class Dev:
            address = "C0:FF:EE:00:00:01"

        class Ad:
            manufacturer_data = {company: bytes(beacon[7:16])}  # what bleak gives: after the company id

        class BleakScanner:
            @staticmethod
            async def find_device_by_filter(f, timeout):
                return Dev() if f(Dev(), Ad()) else None

            @staticmethod
            async def find_device_by_address(address, timeout):
                return Dev() if address == Dev.address else None

        class BleakClient:
            mtu_size = mtu

            def __init__(self, dev, timeout):
                self.cb = None

            async def connect(self):
                fake.service.connect(7)

            async def start_notify(self, uuid, cb):
                assert uuid == proto.TX_UUID
                self.cb = cb

            async def write_gatt_char(self, uuid, data, response):
                assert uuid == proto.RX_UUID and response
                fake.writes.append(len(data))
                ans = fake.service.write(7, bytes(data), 0)
                if ans is not None:
                    for f in proto.fragments(ans, 20):
                        self.cb(None, bytearray(f))

            async def disconnect(self):
                fake.service.disconnect(7)

        self.module = SimpleNamespace(BleakScanner=BleakScanner, BleakClient=BleakClient)


def test_the_bleak_adapter_finds_the_pin_by_its_beacon_and_talks(pin, monkeypatch):
    import sys

    from host_tools.phone.transports import Bleak

    fake = FakeBleak(pin, pin.beacon(b"\x01\x02\x03\x04"), mtu=185)
    monkeypatch.setitem(sys.modules, "bleak", fake.module)
    with PinClient(Bleak.connect(SECRET, timeout=2), SECRET).pair() as c:
        assert c.t.fragment_size == 182
        assert c.set_card(name="Ana B")["name"] == "Ana B"
        assert len(c.friends()) == 45
    assert 36 in fake.writes  # the 33-byte PROVE in one write: larger fragments after a larger MTU
    with pytest.raises(ConnectionError, match="no pin answering to this secret"):
        Bleak.connect(b"\x05" * 16, timeout=2)  # another secret: its tag does not match
    with pytest.raises(ConnectionError, match="no device at"):
        Bleak.connect(SECRET, timeout=2, address="C0:FF:EE:00:00:09")
    monkeypatch.setitem(sys.modules, "bleak", None)  # not installed
    with pytest.raises(ConnectionError, match="needs the bleak package"):
        Bleak.connect(SECRET, timeout=2)

"""The desk's self-test of the phone service (host_tools/phone/selftest.py)
on a virtual badge over its serial REPL: the pin's own PhoneService, the
phone's own client, the secret the desk wrote."""
from types import SimpleNamespace

from host_tools.bench import desk as bench
from host_tools.desk.badge_io import SerialBadge
from host_tools.virtual_badge import VirtualBadge

PAIR, ID_KEY, EVENT = b"\x11" * 16, b"\x22" * 16, SimpleNamespace(key=b"\x33" * 16, utc_offset=60)
CARD = {"acc": "PR-7", "name": "Ana Lima", "organisation": "Folha", "role": "photo", "handles": [], "gen": 4}


def test_the_desk_checks_the_phone_service_with_the_cards_secret(tmp_path):
    with VirtualBadge(bench.badge_folder(tmp_path / "b"), name="b") as vb:
        sb = SerialBadge(vb.port)
        sb.connect()
        try:
            sb.set_badge_id(bytes.fromhex("00112233aabbccdd"))
            sb.write(CARD, PAIR, ID_KEY, 4, EVENT)
            ok = sb.phone_check(PAIR, "00112233aabbccdd", "PR-7")
            assert ok["ok"], ok
            assert ok["detail"] == "paired with the card's secret; badge 00112233aabbccdd, card of PR-7"
            wrong = sb.phone_check(b"\x12" * 16, "00112233aabbccdd", "PR-7")
            assert not wrong["ok"] and "refused the secret" in wrong["detail"]
            other = sb.phone_check(PAIR, "00112233aabbccdd", "PR-8")
            assert not other["ok"] and "owner card of 'PR-7', expected 'PR-8'" in other["detail"]
            assert not sb.phone_check(None)["ok"]
        finally:
            sb.close()

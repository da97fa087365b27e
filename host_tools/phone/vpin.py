"""A provisioned virtual badge running the phone service, for the air test
and `cloudpin bench phone`: its flash folder holds the app's firmware, the
owner card and a friend list written by the firmware's own modules, and a
main.py that provisions its NVS (identity.write, as the desk does), starts
the radio owner and the phone role with its window open, and makes one new
friend once the owner's phone is in (a FRIEND event to watch for). It has no
tap detector to double-tap, so each owner session that ends opens the
window again (the role closes it LINGER_S after a session)."""
import os
import sys
from pathlib import Path

from host_tools import EMULATOR_DIR, FIRMWARE_DIR

KEY = bytes(range(16))
BADGE = bytes.fromhex("0a292e185bbe4351")
CARD = {"acc": "PR-0042", "name": "Ana Lima", "organisation": "Folha", "role": "photographer",
        "handles": ["@analima"], "gen": 2}
NEW_FRIEND = {"name": "New Friend", "organisation": "AFP", "role": "photo", "handles": []}

MAIN = """
import asyncio, bluetooth, time
from cloudpin import identity, bus as topics
from cloudpin.bus import Bus
from cloudpin.log import Logger
from cloudpin.ble.radio import RadioOwner
from cloudpin.phone.backend import PinBackend
from cloudpin.phone.service import PhoneService
from cloudpin.phone.role import PhoneRole
from cloudpin.social.friends import Friends

nvs = identity.open_nvs()
if not identity.load(nvs)["provisioned"]:
    identity.set_badge_id(nvs, BADGE)
    identity.write(nvs, KEY, b"\\x01" * 16, 2)
ident = identity.load(nvs)
log = Logger("pin")
bus = Bus(log)
owner = RadioOwner(bluetooth.BLE(), log.child("radio"), bus)
fr = Friends()
fr.open()
svc = PhoneService(PinBackend("0.1.0", ident["badge_id"], 2, friends=fr), ident["pair_key"], log.child("phone"))
role = PhoneRole(owner, lambda: svc, bus, log.child("phone"))
role.open(seconds=3600)
bus.subscribe(topics.PHONE, lambda on: on or role.open(seconds=3600))

async def befriend():
    while not svc.authenticated():
        await asyncio.sleep_ms(100)
    await asyncio.sleep_ms(FRIEND_AFTER_MS)
    slot = fr.add(b"\\xee" * 16, NEW_FRIEND, 1785000000)
    bus.publish(topics.FRIEND, slot, time.ticks_ms())

async def main():
    asyncio.create_task(befriend())
    await role.run()

asyncio.run(main())
"""


def _firmware():
    for d in (str(FIRMWARE_DIR), str(EMULATOR_DIR)):
        if d not in sys.path:
            sys.path.append(d)
    from host_tools import hostcrypto

    hostcrypto.install()


def provision(folder, friends, friend_after_ms=1500):
    """Make `folder` (a badge folder with the firmware: bench.desk.badge_folder)
    a provisioned pin with `friends` friends that runs the phone service."""
    _firmware()
    from cloudpin import owner
    from cloudpin.social.friends import Friends

    folder = Path(folder)
    here = os.getcwd()
    os.chdir(folder)  # the firmware's paths are relative to the pin's /
    try:
        owner.save(dict(CARD))
        fr = Friends()
        fr.open()
        for i in range(friends):
            fr.add(bytes((i >> 8, i & 0xFF, 2)) + bytes(13), {
                "name": "Friend %d" % i, "organisation": "Org %d" % (i % 9), "role": "reporter",
                "handles": ["@friend%d" % i]}, 1785000000 + i)
            if i % 2 == 0:
                fr.update(i, 4000 + i, i % 7, 1785040000)
    finally:
        os.chdir(here)
    (folder / "main.py").write_text("BADGE = %r\nKEY = %r\nNEW_FRIEND = %r\nFRIEND_AFTER_MS = %d\n" % (
        BADGE, KEY, NEW_FRIEND, friend_after_ms) + MAIN)
    return folder

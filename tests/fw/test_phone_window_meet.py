# The phone window shares the one advertiser (the radio owner's,
# cloudpin.ble.advertiser) with meet and greet and the friend updates: a tap
# or an update window during an open phone window still sends its frames
# (they have priority; the phone's beacon pauses while another role holds
# the radio), the friendship or the update is made, and the phone window
# resumes after. Real services, emulated radio, simulated time.
import array
import asyncio
import time

from phonekit import SECRET, pin
from test_social_meet import _friends, _pin, _start
from test_social_updates import _T0, _befriend, _updates
from test_social_updates import _pin as _friend_pin
from test_social_updates import _start as _start_updates

from cloudpin.ble import advertiser as advmod
from cloudpin.bus import Bus
from cloudpin.log import Logger
from cloudpin.phone import phoneside as p
from cloudpin.phone.role import PhoneRole
from cloudpin.social.updates import PERIOD_S, WINDOW_MS
from cpsim.world import World

MEET, ONLY, BEACON, TAP = 1, 2, 4, 8
PINS = 2  # two pins in the test's VM (and a phone service)


def test_a_tap_during_an_open_phone_window_sends_tap_frames_and_the_window_resumes_after():
    w = World()
    a, b = _pin(w, "a"), _pin(w, "b")
    w.radio.set_distance(a["dev"], b["dev"], 0.02)
    svc = pin(friends=0, engine=False)  # (two pins and a phone service in the VM's heap)
    owner = a["meet"].owner
    role = PhoneRole(owner, lambda: svc, a["bus"], Logger("phone", sink=a["lines"].append))
    adv = owner.advertiser()
    # every 20 ms: the time, and bits: MEET holds the radio, ONLY the phone
    # does, the phone's BEACON is on the air, meet's TAP frames are (little
    # heap: two pins share the VM's)
    times = array.array("l")
    seen = bytearray()

    async def watch():
        t = time.ticks_ms()
        while t < 7000:
            data = owner.ble._adv_data if owner.on else None  # what the emulated stack sends
            mine = data is not None and p.is_mine(bytes(data), SECRET)
            bits = MEET if "meet" in owner.users else 0
            bits |= ONLY if owner.users == ["phone"] else 0
            bits |= BEACON if adv.holds(advmod.PHONE) and mine else 0
            bits |= TAP if adv.holds(advmod.TAP) and data is not None and not mine else 0
            times.append(t)
            seen.append(bits)
            await asyncio.sleep_ms(20)
            t = time.ticks_ms()

    async def phone():
        role.open(seconds=60)
        await role.run()

    w.start(a["dev"], phone())
    w.start(a["dev"], watch())
    _start(w, (a, b), ((a, 2000), (b, 2001)))
    w.run_for(7000)
    assert _friends(a) == [b["fk"]] and _friends(b) == [a["fk"]], (a["lines"], b["lines"])
    samples = list(zip(times, seen))
    before = [b for t, b in samples if 600 < t < 2000]
    assert before and all(b & BEACON for b in before), samples[:40]  # the phone window was on the air
    meet_on = [(t, b) for t, b in samples if b & MEET]
    assert meet_on and not any(b & BEACON for _, b in meet_on), meet_on  # never the beacon in the tap window
    assert any(b & TAP for _, b in meet_on)  # the tap frames were
    end = meet_on[-1][0]
    after = [b for t, b in samples if t > end + 600]
    assert after and all(b & BEACON and b & ONLY for b in after), after[:5]  # resumed
    # the radio stayed on for the paused window: one start, no 250 ms restart to resume
    assert all(b & (MEET | ONLY) for t, b in samples if t > 100) and owner.starts == 1


def test_an_update_window_during_an_open_phone_window_goes_out_and_the_window_resumes_after():
    w = World()
    a, b = _friend_pin(w, "a", 4321, 3), _friend_pin(w, "b", 8765, 1)
    _befriend(a, b)
    svc = pin(friends=0, engine=False)
    owner = a["svc"].owner
    role = PhoneRole(owner, lambda: svc, Bus(), Logger("phone", sink=a["lines"].append))
    adv = owner.advertiser()
    first = (_T0 // PERIOD_S + 1) * PERIOD_S  # the first update window, (first - _T0) s after boot
    at = (first - _T0) * 1000
    seen = bytearray(3)  # the beacon on the air before, the UPDATE frame during, the beacon after

    async def watch():
        while True:
            t = time.ticks_ms()
            data = owner.ble._adv_data if owner.on else None
            mine = data is not None and p.is_mine(bytes(data), SECRET)
            if at - 2000 < t < at and adv.holds(advmod.PHONE) and mine:
                seen[0] = 1
            if at < t < at + WINDOW_MS and "updates" in owner.users and adv.holds(advmod.UPDATES) and not mine:
                seen[1] = 1
            if t > at + WINDOW_MS + 1500 and adv.holds(advmod.PHONE) and mine and owner.users == ["phone"]:
                seen[2] = 1
            await asyncio.sleep_ms(100)

    async def phone():
        role.open(seconds=3600)
        await role.run()

    _start_updates(w, a, b)
    w.start(a["dev"], phone())
    w.start(a["dev"], watch())
    w.run_for(at + WINDOW_MS + 3000)
    slot_a = b["store"].find(a["fk"])
    assert _updates(b) == ["friend slot=%d steps=4321 made=3" % slot_a], (a["lines"], b["lines"])  # a's frame went out
    assert a["svc"].windows == 1 and a["svc"].skipped == 0
    assert bytes(seen) == b"\x01\x01\x01", seen

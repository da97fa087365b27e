# The phone window and meet and greet share one advertiser (the radio owner's,
# cloudpin.ble.advertiser): a tap during an open phone window still sends
# the tap frames (the tap window has priority; the phone's beacon pauses
# while another role holds the radio), the friendship is made, and the phone
# window resumes after. Real meet, real phone role, emulated radio, simulated time.
import array
import asyncio
import time

from phonekit import SECRET, pin
from test_social_meet import _friends, _pin, _start

from cloudpin.ble import advertiser as advmod
from cloudpin.log import Logger
from cloudpin.phone import phoneside as p
from cloudpin.phone.role import PhoneRole
from cpsim.world import World

MEET, ONLY, BEACON, TAP = 1, 2, 4, 8


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

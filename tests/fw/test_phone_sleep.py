# The phone role and the light sleeper (cloudpin.phone.role, cloudpin.power)
# in the whole app on simulated time: a pin with no phone window never runs
# the role (no 500 ms polls) and sleeps; a double tap opens the window at
# once, the owner's phone is served, the window's passes are deadlines the
# sleeper knows, the beacon comes back after the phone until the window's
# end, and the role is quiet again when the radio is let go, its protocol
# modules unloaded.
import gc
import os
import sys
import time

from appkit import app_pin, pair_key, phone_device, phone_reads_friends
from cloudpin import bus as topics
from cloudpin.phone import phoneside as p
from cloudpin.phone import role as rolemod
from cpsim.world import World

PINS = 2  # the pin and the phone (conftest: one pin's heap each)
_T0 = 1796000010  # UTC at t = 0: no friend-update window in these runs (2 s every 5 min)


def _slept_us(dev):
    return dev.acct.snapshot()["time_us"].get("cpu.lightsleep", 0)


async def _double_tap(app, at_ms, out):
    # two taps 400 ms apart, published as the motion service does (woken on
    # time: its INT line ends a light sleep; here a deadline the sleeper knows)
    await app.power.sleep_ms(at_ms)
    app.bus.publish(topics.TAP, time.ticks_ms(), 900)
    await app.power.sleep_ms(400)
    out.append(time.ticks_ms())
    app.bus.publish(topics.TAP, out[-1], 900)


def test_a_pin_with_no_phone_window_sleeps_and_never_runs_the_role():
    w = World()
    root = os.getcwd()
    try:
        dev, app, lines = app_pin(w, root, "quiet", 1, _T0, card=True, status_every_ms=600000)
        w.start(dev, app.main())
        w.run_for(20000)
    finally:
        os.chdir(root)
    assert app.phone is not None and app.phone.wait_ms == app.power.wait_ms  # the app's sleeper
    assert app.phone.passes == 0, app.phone.passes  # (it ran a pass at every wake: 20 in these 20 s)
    assert app.phone.service is None  # nothing of the protocol loaded
    assert _slept_us(dev) > 0.9 * 20000000, (_slept_us(dev), lines)


def test_a_double_tap_is_served_at_once_and_the_role_goes_quiet_after():
    w = World()
    root = os.getcwd()
    try:
        da, a, la = app_pin(w, root, "served", 1, _T0, card=True, status_every_ms=600000)
        dp, phone_radio = phone_device(w, (da,))
        w.start(da, a.main())
        tapped = []
        w.start(da, _double_tap(a, 3000, tapped))
        w.run_for(3000)
        passes = a.phone.passes
        assert passes == 0 and not a.phone.advertising
        # the window's beacon, after meet and greet's tap window (the single
        # tap's radio) let the radio go: looked at every 50 ms of simulated time
        beacon = None
        for _ in range(60):
            w.run_for(50)
            if a.phone.advertising:
                beacon = w.clock.now_ms()
                break
        assert beacon is not None, [ln for ln in la if " phone " in ln or " meet " in ln]
        w.use(da)
        delay = time.ticks_diff(time.ticks_ms(), tapped[0])
        assert 0 <= delay <= 1500, delay
        assert any(" phone window open mem_free=" in ln for ln in la), la
        got = []
        w.start(dp, phone_reads_friends(phone_radio, a, pair_key(1), got))
        for _ in range(120):  # until the pin saw its owner go (within 6 s)
            w.run_for(50)
            if any(" phone owner gone least_free=" in ln for ln in la):
                break
        left = w.clock.now_ms()
        assert len(got) == 1 and got[0][2] == p.OK, (got, [ln for ln in la if " phone " in ln])
        owner_in = [ln for ln in la if " phone owner in mem_free=" in ln]
        gone = [ln for ln in la if " phone owner gone least_free=" in ln]
        assert len(owner_in) == 1 and len(gone) == 1, la
        least = int(gone[0].split("least_free=")[1].split()[0])
        assert 0 < least <= int(owner_in[0].split("mem_free=")[1].split()[0])
        # the phone hung up: the beacon is back for the owner's next command
        # for LINGER_S (not to the window's end, 60 s from the double tap),
        # then the radio is let go and the role waits on its flag alone
        w.run_for(1000)
        w.use(da)
        assert a.phone.advertising and a.radio.users == ["phone"]
        w.run_for(rolemod.LINGER_S * 1000 - (w.clock.now_ms() - left) - 100)
        assert a.phone.advertising and a.radio.users == ["phone"]
        w.run_for(100 + rolemod.POLL_MS + 100)  # its next pass after the linger
        w.use(da)
        assert time.ticks_diff(time.ticks_ms(), tapped[0]) < rolemod.WINDOW_S * 1000 // 4
        assert not a.phone.advertising and not a.phone.holding and a.radio.users == []
        # the protocol, service and backend gave their heap back (only their
        # interned names stay): meet and greet's next tap has its room again
        assert a.phone.service is None and [ln for ln in la if " phone window closed mem_free=" in ln]
        if sys.implementation.name == "micropython":  # (the phone here holds the protocol: phoneside)
            assert "cloudpin.phone.service" not in sys.modules and "cloudpin.phone.backend" not in sys.modules
        passes, slept = a.phone.passes, _slept_us(da)
        w.run_for(10000)
        assert a.phone.passes == passes, (passes, a.phone.passes)
        assert _slept_us(da) - slept > 0.9 * 10000000
    finally:
        os.chdir(root)


def test_a_window_nobody_answers_closes_on_time_and_the_pin_sleeps_again():
    w = World()
    root = os.getcwd()
    try:
        da, a, la = app_pin(w, root, "unanswered", 1, _T0, card=False, status_every_ms=600000)  # no meet: taps are ours
        w.start(da, a.main())
        tapped = []
        w.start(da, _double_tap(a, 1000, tapped))
        w.run_for(2000)  # the second tap at 1,400 ms; the radio starts in ~300 ms
        assert a.phone.advertising and a.radio.users == ["phone"]
        gc.collect()
        opened = gc.mem_free()
        w.run_for(rolemod.WINDOW_S * 1000 - 1600)  # the window's last second
        assert a.phone.advertising
        passes = a.phone.passes
        w.run_for(1500)  # its deadline and the next pass (POLL_MS)
        assert not a.phone.advertising and a.radio.users == [] and not a.phone.holding
        # about two passes a second while it was open, through the sleeper's deadlines
        assert passes >= rolemod.WINDOW_S, passes
        assert a.phone.service is None
        if sys.implementation.name == "micropython":
            # the service and backend (the protocol is the test's too: phoneside)
            # and the radio's window gave their heap back
            gc.collect()
            closed = gc.mem_free()
            assert closed - opened > 12288, (opened, closed)
        passes, slept = a.phone.passes, _slept_us(da)
        w.run_for(10000)
        assert a.phone.passes == passes
        assert _slept_us(da) - slept > 0.9 * 10000000
        # a second window loads them again and leaves the heap as the first did
        w.start(da, _double_tap(a, 0, tapped))
        w.run_for(2000)
        assert a.phone.advertising and a.phone.service is not None
        w.run_for(rolemod.WINDOW_S * 1000)
        assert a.phone.service is None and not a.phone.advertising
        if sys.implementation.name == "micropython":
            gc.collect()
            assert gc.mem_free() > closed - 1024, (closed, gc.mem_free())  # (its few log lines)
    finally:
        os.chdir(root)

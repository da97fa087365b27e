# The pins' clocks drift in light sleep in the crowd simulator (the RTC slow
# clock, cpsim.slowclock) and friends keep them together (cloudpin.social.
# clocksync): without the correction two friends' update windows stop
# meeting within minutes; with it every window brings the friend's update.
import pytest

from host_tools import sim
from host_tools.sim import ScenarioError

_START = 1627027483  # windows at t = 17 s, 317 s, 617 s, 917 s


def _pair(duration_s, ppm_a, ppm_b, **extra):
    sc = {"name": "drift", "seed": 1, "duration_s": duration_s, "room": {"width_m": 6, "depth_m": 4},
          "event": {"utc_offset_min": 540, "start_utc": _START},
          "pins": [{"id": "a", "x": 2.0, "y": 2.0, "facing_deg": 0, "clock_ppm": ppm_a},
                   {"id": "b", "x": 2.6, "y": 2.0, "facing_deg": 180, "clock_ppm": ppm_b}],
          "taps": [{"t_ms": 12000, "a": "a", "b": "b"}]}
    sc.update(extra)
    return sim.validate(sc)


def test_drifting_friends_stop_meeting_without_the_correction(monkeypatch):
    from cloudpin.social import updates

    # +-2,500 ppm (within the cited +-5,000): 1.5 s apart after one period asleep; no ClockSync
    init = updates.UpdatesService.__init__

    def without_sync(self, *a, **kw):
        kw["make_sync"] = None
        init(self, *a, **kw)

    monkeypatch.setattr(updates.UpdatesService, "__init__", without_sync)
    r = sim.simulate(_pair(700, 2500, -2500), progress=None)
    a, b = r["pins"]["a"], r["pins"]["b"]
    assert a["friends"] == ["b"] and b["friends"] == ["a"]
    # their clocks really moved apart: the emulated RTCs gained and lost ~1.7 s in 700 s
    assert 1500 < a["clock"]["err_ms"] < 1800 and -1800 < b["clock"]["err_ms"] < -1500, (a["clock"], b["clock"])
    # what they heard came early (the window at 317 s, 1.6 s apart); at 617 s
    # (3.1 s apart) their 2-second windows no longer overlap
    for p in (a, b):
        last = list(p["updates_from_friends"].values())[0]["t_ms"]
        assert last < 617000, p["updates_from_friends"]


def test_friends_keep_their_clocks_together_and_every_window_meets():
    r = sim.simulate(_pair(700, 2500, -2500), progress=None)
    a, b = r["pins"]["a"], r["pins"]["b"]
    for p in (a, b):
        last = list(p["updates_from_friends"].values())[0]["t_ms"]
        assert last >= 600000, p["updates_from_friends"]  # the pair's clock drifts as one: near 617 s
        assert list(p["updates_received"].values()) >= [2], p["updates_received"]  # at 317 and 617 s


def test_the_clock_fields_are_checked_and_a_pin_can_be_given_its_error():
    with pytest.raises(ScenarioError, match="clock.range_ppm"):
        _pair(20, 0, 0, clock={"range_ppm": -1})
    with pytest.raises(ScenarioError, match="did you mean 'wander_ppm'"):
        _pair(20, 0, 0, clock={"wandr_ppm": 5})
    with pytest.raises(ScenarioError, match=r"pins\[0\] \(a\)\.clock_ppm"):
        _pair(20, 200000, 0)
    sc = _pair(20, 1234, 0)
    sc["pins"][1]["clock_ppm"] = None  # drawn from the scenario's ranges, by the seed and its id
    from host_tools.sim import runner
    from host_tools import firmware_on_path

    firmware_on_path(compat=True)
    assert runner._slow_clock(sc, sc["pins"][0]).ppm == 1234
    drawn = runner._slow_clock(sc, sc["pins"][1])
    assert drawn.ppm == runner._slow_clock(sc, sc["pins"][1]).ppm and abs(drawn.ppm) <= 5000
    sc["clock"] = {"range_ppm": 0, "wander_ppm": 0}
    assert runner._slow_clock(sc, sc["pins"][1]) is None  # exact clocks


def test_a_virtual_badge_drifts_by_default_its_own_every_run(monkeypatch):
    from host_tools import REPO
    from host_tools import firmware_on_path

    firmware_on_path(compat=True)
    from cpsim import default_device, slowclock, world

    board = str(REPO / "boards" / "cloudpin_ref.json")

    def power_on():
        world.reset()
        dev = default_device.build(board)
        assert dev.slow_clock is None  # drawn at power-on (cpsim.resident.power_on), not at build
        default_device.slow_clock(dev)
        return dev

    try:
        monkeypatch.delenv("CLOUDPIN_EMU_CLOCK_PPM", raising=False)
        monkeypatch.setenv("CLOUDPIN_EMU_UID", "240ac4000101")
        dev = power_on()
        first = dev.slow_clock
        assert first is not None and abs(first.ppm) <= slowclock.RANGE_PPM and 0 < first.wander_ppm
        assert dev.log[-1][1:] == ("clock", "slow clock %r" % first)  # the badge's notes say what it drew
        assert power_on().slow_clock.ppm == first.ppm  # its own, every run
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "draw")
        assert power_on().slow_clock.ppm == first.ppm
        assert slowclock.for_badge(bytes.fromhex("240ac4000101")).ppm == first.ppm  # what the host says it drew
        monkeypatch.setenv("CLOUDPIN_EMU_UID", "240ac4000102")
        assert abs(power_on().slow_clock.ppm - first.ppm) > 100  # a neighbouring id draws far from it
        # a farm's badges spread over the range, not bunched
        ppms = sorted(slowclock.for_badge(bytes((0x24, 0x0A, 0xC4, 0, 0, n))).ppm for n in range(1, 41))
        assert ppms[0] < -2500 and ppms[-1] > 2500, ppms
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "-1200")
        assert power_on().slow_clock.ppm == -1200
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "0")
        assert power_on().slow_clock is None
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "fast")
        with pytest.raises(ValueError, match="CLOUDPIN_EMU_CLOCK_PPM"):
            power_on()
    finally:
        world.reset()


def test_a_virtual_badge_sleeps_on_its_drawn_clock_and_keeps_nothing_of_it_in_the_firmwares_share(tmp_path):
    # Drawn at power-on by default (no CLOUDPIN_EMU_CLOCK_PPM), the host's
    # draw is the VM's, its light sleeps drift by it, and after 20 of them and
    # an RTC set the firmware has the same free heap as on an exact clock: the
    # clock keeps nothing in its share, sleep after sleep.
    import os
    import subprocess
    import sys

    from host_tools.vbadge.badge import VirtualBadge

    main = ("import machine\nmachine.RTC().datetime((2026, 12, 5, 5, 19, 0, 0, 0))\n"
            "for _ in range(20):\n    machine.lightsleep(50)\n")
    probe = ("import gc\ngc.collect()\nf = gc.mem_free()\nfrom cpsim.world import current\nd = current()\n"
             "print('CLOCK', d.slow_clock.ppm if d.slow_clock else 0, d.clock_err_us, f)\n")
    seen = {}
    env = os.environ.pop("CLOUDPIN_EMU_CLOCK_PPM", None)
    try:
        for setting in (None, "0"):
            if setting is not None:
                os.environ["CLOUDPIN_EMU_CLOCK_PPM"] = setting
            else:
                os.environ.pop("CLOUDPIN_EMU_CLOCK_PPM", None)
            folder = tmp_path / ("exact" if setting else "drawn")
            folder.mkdir()
            (folder / "main.py").write_text(main)
            with VirtualBadge(folder) as b:
                assert b.wait_repl(60)
                # "resume": no soft reset, this VM after main.py
                r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpremote"), "connect", b.port,
                                    "resume", "exec", probe], capture_output=True, text=True, timeout=60)
                ppm, err_us, free = r.stdout.split("CLOCK ")[1].split()[:3]
                seen[setting] = (b.slow_clock, float(ppm), int(err_us), int(free))
    finally:
        os.environ.pop("CLOUDPIN_EMU_CLOCK_PPM", None)
        if env is not None:
            os.environ["CLOUDPIN_EMU_CLOCK_PPM"] = env
    s, ppm, err_us, free = seen[None]
    assert seen["0"][0] is None and seen["0"][1:3] == (0, 0)
    assert s is not None and ppm == s.ppm  # the host's draw is the VM's
    want = s.ppm_at(0) * 1.0  # 20 x 50 ms asleep, counted on the slow clock: us gained
    assert abs(err_us - want) <= 0.05 * abs(want) + 20, (err_us, want)
    # (two VMs' layouts differ by up to ~100 bytes; 16 bytes kept a sleep would be 320)
    assert abs(free - seen["0"][3]) <= 128, (free, seen["0"][3])


def test_a_half_committed_friendship_is_reconciled_on_clocks_seconds_apart(monkeypatch):
    # Two pins at +5,000 and -5,000 ppm (the cited range's ends), 2.5 s apart
    # by the tap at 250 s: the initiator's link drops as it sends CONFIRM (it
    # committed, the responder holds it pending) and the pair is apart for
    # 100 s, then together again without a tap. Meet's reconciliation windows
    # must meet on clocks that far apart (cloudpin.social.meet).
    import bluetooth
    from cloudpin.social import meet as meet_mod
    from cpsim import world as world_mod
    from host_tools.sim import runner

    tap_ms, apart_ms = 250000, 100000
    sc = _pair(450, 5000, -5000, taps=[{"t_ms": tap_ms, "a": "a", "b": "b"}])
    for p in sc["pins"]:  # a walk that stands still: positions are placed every 250 ms
        p["walk"] = [[0, p["x"], p["y"]], [450, p["x"], p["y"]]]
    cut = {}
    send = meet_mod.Meet._send

    async def cut_at_confirm(self, conn, h, msg):
        if msg[0] == 5 and not cut:  # CONFIRM: the initiator has committed
            w = world_mod._state["world"]
            cut["t_ms"] = w.clock.now_ms()
            w.radio.set_distance(w.devices[0], w.devices[1], 500.0)  # (and _place below, until apart_ms)
            bluetooth.BLE().gap_disconnect(conn.handle)
        return await send(self, conn, h, msg)

    place = runner._place

    def apart(w, pins, by_id, sc, t_ms):
        place(w, pins, by_id, sc, t_ms)
        if cut and t_ms < cut["t_ms"] + apart_ms:
            w.radio.set_distance(by_id["a"].dev, by_id["b"].dev, 500.0)

    monkeypatch.setattr(meet_mod.Meet, "_send", cut_at_confirm)
    monkeypatch.setattr(runner, "_place", apart)
    r = sim.simulate(sc, progress=None)
    a, b = r["pins"]["a"], r["pins"]["b"]
    assert cut, "no CONFIRM was sent"
    assert abs(a["clock"]["rtc_err_ms"] - b["clock"]["rtc_err_ms"]) > 2000  # seconds apart, as their windows
    assert a["friends"] == ["b"] and b["friends"] == ["a"], (r["half_committed"], a, b)
    assert r["half_committed"] == []


def test_a_set_pin_meets_an_unset_one_the_unset_one_learns_the_date_the_set_one_does_not_move(monkeypatch):
    # "a" as the desk left it, 30 s into 2026-12-06 at the event (UTC+9);
    # "b" never set, 5 minutes behind (still the 5th there: close enough for
    # the two to recognise each other's frames, advert.epochs_held). They tap;
    # in the window after it "b" takes "a"'s time whole, "a" keeps its own.
    from host_tools.sim import provision

    midnight = 20793 * 86400 - 9 * 3600  # 2026-12-06 00:00 at UTC+9, in UTC s
    real = provision.provision

    def b_unset(world, dev, pin_id, keys, extra=None, pack=None, clock_ms=None):
        if pin_id == "b":
            dev.rtc_offset_us -= 300 * 1000000
            clock_ms = None
        return real(world, dev, pin_id, keys, extra, pack, clock_ms)

    monkeypatch.setattr(provision, "provision", b_unset)
    sc = _pair(60, 0, 0, event={"utc_offset_min": 540, "start_utc": midnight + 30})
    r = sim.simulate(sc, progress=None)
    a, b = r["pins"]["a"], r["pins"]["b"]
    assert a["friends"] == ["b"] and b["friends"] == ["a"]
    assert abs(a["clock"]["rtc_err_ms"]) < 50, a["clock"]  # the set clock did not move
    assert abs(b["clock"]["rtc_err_ms"]) < 500, b["clock"]  # was 300 s behind: the 6th now, as "a"

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
    from host_tools.bench.crowd import _paths

    _paths()
    assert runner._slow_clock(sc, sc["pins"][0]).ppm == 1234
    drawn = runner._slow_clock(sc, sc["pins"][1])
    assert drawn.ppm == runner._slow_clock(sc, sc["pins"][1]).ppm and abs(drawn.ppm) <= 5000
    sc["clock"] = {"range_ppm": 0, "wander_ppm": 0}
    assert runner._slow_clock(sc, sc["pins"][1]) is None  # exact clocks


def test_a_virtual_badge_drifts_when_told(monkeypatch):
    from host_tools import REPO
    from host_tools.bench.crowd import _paths

    _paths()
    from cpsim import default_device, world

    board = str(REPO / "boards" / "cloudpin_ref.json")
    try:
        monkeypatch.delenv("CLOUDPIN_EMU_CLOCK_PPM", raising=False)
        assert default_device.build(board).slow_clock is None  # exact by default (docs/clock.md: left to do)
        world.reset()
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "draw")
        monkeypatch.setenv("CLOUDPIN_EMU_UID", "240ac4000101")
        first = default_device.build(board).slow_clock
        world.reset()
        again = default_device.build(board).slow_clock
        assert first is not None and abs(first.ppm) <= 5000 and again.ppm == first.ppm  # its own, every run
        world.reset()
        monkeypatch.setenv("CLOUDPIN_EMU_UID", "240ac4000102")
        assert default_device.build(board).slow_clock.ppm != first.ppm
        world.reset()
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "-1200")
        assert default_device.build(board).slow_clock.ppm == -1200
        world.reset()
        monkeypatch.setenv("CLOUDPIN_EMU_CLOCK_PPM", "0")
        assert default_device.build(board).slow_clock is None
    finally:
        world.reset()

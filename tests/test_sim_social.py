# `cloudpin sim` meet and greet: pins provisioned as the desk does it, each
# with its own flash; the firmware's meet/updates/designs lines turned into
# friendships, half-committed ones and metrics; attackers validated.
import copy
import os

import pytest

from host_tools import sim
from host_tools.sim import provision, runner, social

PAIR = {
    "name": "pair", "seed": 3, "duration_s": 0.3, "room": {"width_m": 4, "depth_m": 4},
    "event": {"utc_offset_min": 540, "start_utc": 1627000000},
    "pins": [{"id": "p1", "x": 1.0, "y": 1.0, "card": {"organisation": "Reuters", "role": "press", "handles": ["@p1"]}},
             {"id": "p2", "x": 1.5, "y": 1.0}],
}


def _keys(ids=("a", "b", "c", "d"), seed=1):
    from host_tools import firmware_on_path

    firmware_on_path(compat=True)
    return provision.Keys(seed, list(ids))


def test_every_pin_is_provisioned_as_the_desk_does_it_in_a_flash_folder_of_its_own():
    from cloudpin import identity, owner
    from cloudpin.social import advert
    from esp32 import NVS

    home = os.getcwd()
    w, pins = runner.build(sim.validate(copy.deepcopy(PAIR)), warn=lambda m: None)
    try:
        assert os.getcwd() == home  # the caller's folder until the pins run
        folders = [p.dev.flash_dir for p in pins]
        assert len(set(folders)) == 2 and all(os.path.isdir(f) for f in folders)
        seen = []
        for p in pins:
            w.use(p.dev)  # the pin's NVS, and its folder is current
            d = identity.load(NVS(identity.NAMESPACE))
            assert d["provisioned"] and d["social"] and d["utc_offset"] == 540, identity.public(d)
            assert d["event_key"] == w.sim_keys.event_key
            card = owner.load()
            assert card["name"] == card["acc"] == p.spec["id"] and card["gen"] == d["prov_gen"]
            if p.spec["id"] == "p1":  # the scenario's card fields
                assert (card["organisation"], card["role"], card["handles"]) == ("Reuters", "press", ["@p1"])
            else:
                assert (card["organisation"], card["role"], card["handles"]) == ("", "", [])
            fk = advert.derive_keys(d["id_key"], d["event_key"])[0]
            assert w.sim_keys.pin_of(fk[:4].hex()) == p.spec["id"]
            seen.append(d["id_key"])
            # the RTC reads the event's start at t = 0
            import machine

            assert machine.RTC().datetime()[:3] == (2021, 7, 23)
        assert seen[0] != seen[1]
        from cpsim import world as world_mod

        world_mod.leave_flash(home)
        w.run_until(100)  # the apps run, each in its folder, and the caller's comes back
        assert os.getcwd() == home
    finally:
        runner.close(w)
    assert os.getcwd() == home and not any(os.path.exists(f) for f in folders)


def test_keys_follow_the_seed():
    a, b, c = _keys(seed=1), _keys(seed=1), _keys(seed=2)
    assert a.event_key == b.event_key != c.event_key
    assert a.fk == b.fk and a.fk["a"] != c.fk["a"] and a.fk["a"] != a.fk["b"]
    assert a.pin_of(a.fk["c"][:4].hex().upper()) == "c" and a.pin_of("00000000") is None


def test_the_contract_lines_are_read_and_anything_else_ignored_or_counted():
    lg = social.PinLog()
    ours = [
        "I 1200 meet pending slot=0 fk=0A1b2c3d",
        "I 1250 meet friend slot=0 fk=0a1b2c3d t_ms=1249",
        "I 9000 meet reconciled fk=deadbeef",
        "W 1300 meet tap again reason=ambiguous",
        "I 1400 meet radio_on_ms=850",
        "I 5000 updates friend slot=0 steps=1234 made=3",
        "I 6000 designs unlocked sport=archery t_ms=5999",
    ]
    for line in ours:
        assert lg.feed(line), line
    assert lg.unparsed == 0
    bad = ["I 1 meet friend slot=x fk=0a1b2c3d t_ms=1", "I 1 meet friend slot=1 fk=0a1b t_ms=1",
           "I 1 meet radio_on_ms=-4", "I x meet radio_on_ms=4", "I 1 updates friend slot=1 steps=2",
           "I 1 designs unlocked t_ms=4", "W 1 meet tap again", "I 1 meet something new"]
    for line in bad:
        assert lg.feed(line), line
    assert lg.unparsed == len(bad)
    for line in ["I 1 steps count=3", "W 5 app low battery", "I 2 meeting friend slot=1", "garbage", ""]:
        assert not lg.feed(line), line
    assert lg.commits == [("0a1b2c3d", 1249), ("deadbeef", 9000)]
    assert lg.pending == [("0a1b2c3d", 1200)] and lg.slots == {0: "0a1b2c3d"}
    assert lg.tap_again == [{"t_ms": 1300, "reason": "ambiguous"}] and lg.radio_on == [850]
    assert lg.updates == [(0, 1234, 3, 5000)] and lg.unlocked == [{"sport": "archery", "t_ms": 5999}]
    # the logger's name repeated at the start of the message is read the same
    assert lg.feed("I 9500 meet meet friend slot=1 fk=00000001 t_ms=9500") and lg.commits[-1] == ("00000001", 9500)
    assert lg.feed("I 9600 designs designs unlocked sport=judo t_ms=9600") and lg.unlocked[-1]["sport"] == "judo"


def _friend(lg, slot, keys, who, t):
    lg.feed("I %d meet friend slot=%d fk=%s t_ms=%d" % (t, slot, keys.fk[who][:4].hex(), t))


def test_friendships_half_committed_wrong_and_missed_from_known_lines():
    keys = _keys()
    logs = {p: social.PinLog() for p in "abcd"}
    taps = [{"t_ms": 1000, "a": "a", "b": "b"}, {"t_ms": 2000, "a": "c", "b": "d"},
            {"t_ms": 3000, "a": "a", "b": "d"}]
    _friend(logs["a"], 0, keys, "b", 1900)  # a-b: mutual, the second commit at 2400
    _friend(logs["b"], 0, keys, "a", 2400)
    _friend(logs["c"], 0, keys, "d", 2500)  # c-d: c committed, d only pending
    logs["d"].feed("I 2600 meet pending slot=0 fk=%s" % keys.fk["c"][:4].hex())
    _friend(logs["b"], 1, keys, "c", 4000)  # b-c: mutual but nobody tapped them together
    _friend(logs["c"], 1, keys, "b", 4100)
    logs["a"].feed("I 1500 meet friend slot=1 fk=feedf00d t_ms=1500")  # a key of no pin
    for p in "abcd":
        logs[p].feed("W 3100 meet tap again reason=crowded")
        logs[p].feed("I 3900 meet radio_on_ms=%d" % (100 * (1 + "abcd".index(p))))
    logs["a"].feed("I 7000 updates friend slot=0 steps=77 made=1")
    logs["a"].feed("I 7100 updates friend slot=0 steps=80 made=2")
    logs["a"].feed("I 7200 updates friend slot=9 steps=1 made=1")
    logs["b"].feed("I 8000 designs unlocked sport=judo t_ms=7999")
    stores = {"a": {0: keys.fk["b"][:4].hex(), 1: "feedf00d"}, "b": None, "c": None,
              "d": {0: keys.fk["c"][:4].hex()}}  # d's store holds the pending record
    friendships, half, per, m, missed = social.analyse(taps, logs, stores, keys)
    assert friendships == [{"a": "a", "b": "b", "t_ms": 2400}, {"a": "b", "b": "c", "t_ms": 4100}]
    assert sorted(half, key=lambda h: h["committed"]) == [
        {"committed": "a", "not": "?feedf00d", "pending": False},
        {"committed": "c", "not": "d", "pending": True}]
    assert per["a"]["friends"] == ["?feedf00d", "b"] and per["d"]["friends"] == []
    assert per["d"]["pending"] == ["c"] and per["c"]["friends"] == ["b", "d"]
    assert per["a"]["updates_from_friends"] == {"b": {"steps": 80, "made": 2, "t_ms": 7100},
                                                "?slot9": {"steps": 1, "made": 1, "t_ms": 7200}}
    assert per["b"]["unlocked"] == [{"sport": "judo", "t_ms": 7999}] and per["a"]["unlocked"] == []
    assert per["c"]["tap_again"] == [{"t_ms": 3100, "reason": "crowded"}]
    assert per["c"]["radio_on_ms"] == 300 and per["c"]["tap_windows"] == 1
    assert missed == [{"t_ms": 2000, "a": "c", "b": "d"}, {"t_ms": 3000, "a": "a", "b": "d"}]
    assert m["intended_taps"] == 3 and m["made"] == 1 and m["missed"] == 2 and m["made_share"] == 0.3333
    assert m["wrong"] == 2 and m["wrong_pairs"] == [["?feedf00d", "a"], ["b", "c"]]
    assert m["half_committed"] == 2 and m["friendships"] == 2
    assert m["tap_to_friendship_ms"] == {"median": 1400, "p95": 1400, "max": 1400}
    assert m["tap_again"] == 4 and m["tap_windows"] == 4 and m["radio_on_ms_per_tap"] == 250.0


def test_a_commit_before_the_tap_does_not_make_that_tap_and_flash_is_the_truth():
    keys = _keys(("a", "b"))
    logs = {"a": social.PinLog(), "b": social.PinLog()}
    _friend(logs["a"], 0, keys, "b", 500)
    _friend(logs["b"], 0, keys, "a", 600)
    taps = [{"t_ms": 1000, "a": "a", "b": "b"}]
    _, _, _, m, missed = social.analyse(taps, logs, {"a": None, "b": None}, keys)
    assert m["made"] == 0 and missed == [{"t_ms": 1000, "a": "a", "b": "b"}] and m["wrong"] == 0
    # a commit logged but gone from flash (lost in a power cut) does not count
    fr, half, per, m, _ = social.analyse(taps, logs, {"a": {}, "b": None}, keys)
    assert fr == [] and half == [{"committed": "b", "not": "a", "pending": False}]
    assert per["a"]["friends"] == [] and per["a"]["pending"] == [] and per["b"]["friends"] == ["a"]


def test_percentiles_are_nearest_rank():
    vals = list(range(1, 101))
    assert social._percentile(vals, 50) == 50 and social._percentile(vals, 95) == 95
    assert social._percentile([7], 95) == 7 and social._percentile([], 50) is None
    assert social._percentile([1, 2, 3, 4], 50) == 2


def test_a_run_reports_the_social_output_even_before_any_friendship():
    sc = copy.deepcopy(PAIR)
    sc["taps"] = [{"t_ms": 100, "a": "p1", "b": "p2"}]
    result = sim.simulate(sim.validate(sc))
    assert result["friendships"] == [] and result["half_committed"] == []
    for p in result["pins"].values():
        for k in ("friends", "pending", "updates_from_friends", "radio_on_ms", "tap_again", "unlocked"):
            assert k in p, (k, p)
    m = result["metrics"]["social"]
    assert m["intended_taps"] == 1 and m["made"] + m["missed"] == 1 and m["wrong"] == 0
    assert result["missed_taps"] == ([] if m["made"] else [{"t_ms": 100, "a": "p1", "b": "p2"}])


@pytest.mark.parametrize("change,field", [
    (lambda s: s.update(attackers=[{"id": "x", "x": 1, "y": 1, "kind": "jam"}]),
     "attackers[0] (x).kind: 'jam' is not one of replay, spoof, tap_storm"),
    (lambda s: s.update(attackers=[{"id": "x", "x": 1, "y": 1, "kind": "replai"}]), "did you mean 'replay'"),
    (lambda s: s.update(attackers=[{"id": "p1", "x": 1, "y": 1, "kind": "spoof"}]), "attackers[0].id: 'p1' is used twice"),
    (lambda s: s.update(attackers=[{"id": "x", "x": 9, "y": 1, "kind": "spoof"}]), "attackers[0] (x): (9, 1) is outside"),
    (lambda s: s.update(attackers=[{"id": "x", "y": 1, "kind": "spoof"}]), "attackers[0] (x).x: missing"),
    (lambda s: s.update(attackers=[{"id": "x", "x": 1, "y": 1, "kind": "spoof", "tx_dbm": 40}]), "tx_dbm: 40 is above 20"),
    (lambda s: s.update(attackers=[{"id": "x", "x": 1, "y": 1, "kind": "spoof", "power": 4}]), "attackers[0] (x).power"),
    (lambda s: s.update(attackers=[{"id": "x", "x": 1, "y": 1, "kind": "spoof", "tx_dbm": 2.5}]),
     "attackers[0] (x).tx_dbm: expected a whole number"),
    (lambda s: s.update(attackers={"id": "x"}), "attackers: expected a list"),
    (lambda s: s.update(taps=[{"t_ms": 1, "a": "p1", "b": ["p2"]}]), "taps[0].b: unknown pin ['p2']"),
    (lambda s: s.update(solo_taps=[{"t_ms": 1, "pin": {"id": "p2"}}]), "solo_taps[0].pin: unknown pin {'id': 'p2'}"),
    (lambda s: s.update(event={"utc_offset_min": 900}), "event.utc_offset_min: 900 is above 840"),
    (lambda s: s.update(event={"utc_offset_min": 1.5}), "event.utc_offset_min: expected a whole number"),
    (lambda s: s.update(event={"start_utc": 5}), "event.start_utc: 5 is below 946684800"),
    (lambda s: s.update(event={"start_uct": 5}), "did you mean 'start_utc'"),
    (lambda s: s["pins"][0].update(card={"organization": "x"}), "pins[0] (p1).card.organization"),
    (lambda s: s["pins"][0].update(card={"role": "x" * 101}), "pins[0] (p1).card: owner role: text up to 100"),
    (lambda s: s["pins"][0].update(card={"handles": ["@a"] * 9}), "pins[0] (p1).card: owner handles"),
    (lambda s: s["pins"][0].update(card=["x"]), "pins[0] (p1).card: expected an object"),
    (lambda s: s["pins"][1].update(id="p\x07"), "pins[1] (p\x07).id: owner acc: control characters"),
])
def test_bad_attackers_and_events_are_refused_naming_the_field(change, field):
    sc = copy.deepcopy(PAIR)
    change(sc)
    with pytest.raises(sim.ScenarioError) as e:
        sim.validate(sc)
    assert field in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_friend_stores_are_read_from_each_pins_own_flash_at_the_end(monkeypatch):
    # A stand-in for the firmware's meet service (until it runs in the
    # simulator): each pin adds its scripted friends to a real friends.Friends
    # store in its own flash folder and logs the contract line. The simulator
    # must read each store in that pin's folder and map keys back to pins.
    script = {"a": [(400, "b")], "b": [(700, "a")], "c": [(500, "a")]}

    async def fake_firmware(pin, board):
        import asyncio
        import time
        from types import SimpleNamespace

        from cloudpin.log import Logger
        from cloudpin.social import friends

        log = Logger("meet", sink=pin.sink)
        store = friends.Friends()
        store.open()
        pin.app_box[0] = SimpleNamespace(hw=SimpleNamespace(faults=[]), motion=None,
                                         meet=SimpleNamespace(friends=store))
        keys = pin.dev.world.sim_keys
        for t, who in script[pin.spec["id"]]:
            await asyncio.sleep_ms(t - time.ticks_ms())
            slot = store.add(keys.fk[who], {"name": who}, 0)
            log.info("friend slot=%d fk=%s t_ms=%d" % (slot, keys.fk[who][:4].hex(), time.ticks_ms()))
        log.info("radio_on_ms=250")
        while True:
            await asyncio.sleep_ms(1000)

    monkeypatch.setattr(runner, "_firmware", fake_firmware)
    sc = {"name": "stores", "seed": 4, "duration_s": 1, "room": {"width_m": 3, "depth_m": 3},
          "pins": [{"id": p, "x": 1.0 + 0.5 * i, "y": 1.0} for i, p in enumerate("abc")],
          "taps": [{"t_ms": 100, "a": "a", "b": "b"}]}
    home = os.getcwd()
    r = sim.simulate(sim.validate(sc))
    assert os.getcwd() == home and not os.path.exists("friends.log")
    assert r["friendships"] == [{"a": "a", "b": "b", "t_ms": 700}]
    assert r["half_committed"] == [{"committed": "c", "not": "a", "pending": False}]
    assert [r["pins"][p]["friends"] for p in "abc"] == [["b"], ["a"], ["a"]]
    m = r["metrics"]["social"]
    assert (m["made"], m["missed"], m["wrong"], m["wrong_pairs"]) == (1, 0, 1, [["a", "c"]])
    assert m["tap_to_friendship_ms"]["p95"] == 600 and m["radio_on_ms_per_tap"] == 250.0
    assert "made 1 of 1 intended taps" in sim.summary(r)


def test_coincident_knocks_a_metre_apart_make_no_friendship():
    # a pair whose one detector missed the touch looks like this: the other
    # pin and a pin a metre away knocked within 2 ms. The loss bound
    # (tapmatch.TOUCH_LOSS_DB, 50 dB) is what refuses them: at 60 dB they
    # chose each other (seed 1: p001-p003, seed 4: p004-p006; wrong
    # friendships in 5 of 6 seeds, docs/meet-and-greet.md)
    from host_tools import REPO

    sc = sim.load(REPO / "scenarios" / "coincident-knocks.json")
    for seed in (1, 4):
        sc["seed"] = seed
        result = sim.simulate(copy.deepcopy(sc))
        assert result["friendships"] == [] and result["metrics"]["social"]["wrong"] == 0, seed
        again = {k: [x["reason"] for x in p["tap_again"]] for k, p in result["pins"].items() if p["tap_again"]}
        assert sorted(again) == ["p001", "p003", "p004", "p006"], again

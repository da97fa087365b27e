"""The simulator's accelerometer source (host_tools/sim/motionsrc.py): a
touch is laid against the gravity the pin feels when it starts."""
import numpy as np

from host_tools.bench import tapmodel
from host_tools.sim import motionsrc


def _feel(source, seconds, rate=400):
    out, rows = [0, 0, 0], []
    period = int(1e6 / rate)
    for i in range(int(seconds * rate)):
        source.mean_ug((i - 1) * period, i * period, out, 0)
        rows.append(list(out))
    return np.array(rows, dtype=float)


def test_a_touch_meets_the_pin_across_the_gravity_it_feels():
    quiet = [0] * 3000  # rest noise: none, so the touch alone moves the signal
    for g in ((0, -1000000, 0), (0, 0, 1000000), (600000, 0, 800000)):
        up = np.asarray(g, dtype=float) / 1e6
        for seed in range(6):
            ev, p = motionsrc.touch_event(3000, 400, np.random.default_rng(seed))
            felt = _feel(motionsrc.Touches(motionsrc.RestNoise(quiet, 0, g), [ev]), 4.0) - g
            k = int(np.argmax(np.linalg.norm(felt, axis=1)))
            assert abs(k - 1200) <= 2  # the contact at 3 s
            v = felt[k] / np.linalg.norm(felt[k])
            # the impulse keeps the drawn angle to this pin's gravity
            assert abs(v @ up - p["vertical"]) < 0.05, (g, seed, v @ up, p["vertical"])


def test_touch_rows_default_to_a_pin_lying_on_its_back():
    lo, rows, p = motionsrc.touch_rows(400, np.random.default_rng(1))
    rows = np.array(rows, dtype=float)
    v = rows[-lo] / np.linalg.norm(rows[-lo])
    assert abs(v[2] - p["vertical"]) < 0.05


PAIRS = {
    "name": "pairs", "seed": 7, "duration_s": 12.0, "room": {"width_m": 6, "depth_m": 6},
    "pins": [{"id": "p%d" % i, "x": 1.0 + 2 * (i // 2), "y": 1.0 + 0.6 * (i % 2), "facing_deg": 90 + 180 * (i % 2),
              "board": "cloudpin_ref" if i % 3 else "devkitc_mpu6050"} for i in range(6)],
    "taps": [{"t_ms": 3000 + 400 * k, "a": "p%d" % (2 * (k % 3)), "b": "p%d" % (2 * (k % 3) + 1)} for k in range(6)],
}


def _felt_contact(pin, t_ms):
    # the sample, ms from the contact, where the pin's accelerometer source
    # (gravity and rest noise taken off) is strongest, and that strength
    rate = pin.rate
    period = int(round(1e6 / rate))
    out, rows = [0, 0, 0], []
    n = int(rate)  # the second before the contact, then 100 ms after it
    t0 = t_ms * 1000 - n * period
    for i in range(n + int(rate / 10)):
        t1 = t0 + i * period
        pin.source.mean_ug(t1 - period, t1, out, 0)
        rows.append(list(out))
    rows = np.array(rows[n - int(rate / 20):], dtype=float)  # from 50 ms before the contact
    rows -= np.median(rows, axis=0)
    k = int(np.argmax(np.linalg.norm(rows, axis=1)))
    return (k - int(rate / 20)) * 1000.0 / rate


def test_the_two_pins_of_a_touch_feel_one_contact():
    # Newton's third law: the two pins of a touch meet in one contact, the
    # same duration and the same impulse (equal pin masses), along one normal
    # (opposite signs to gravity), each holder ringing at its own frequency.
    from host_tools import sim
    from host_tools.sim import runner

    sc = sim.validate(PAIRS)
    w, pins = runner.build(sc, warn=lambda m: None)
    try:
        by_id = {p.spec["id"]: p for p in pins}
        mixed = 0
        for k, t in enumerate(sc["taps"]):
            pa, pb = w.sim_touches[(k, 0)], w.sim_touches[(k, 1)]
            assert pa["tau"] == pb["tau"] and pa["dv"] == pb["dv"], (k, pa["tau"], pb["tau"], pa["dv"], pb["dv"])
            assert pa["vertical"] == -pb["vertical"]
            mixed += pa["mount"] != pb["mount"]
        # and the pins' accelerometers feel it at the same instant (a sample apart at most)
        for k, t in enumerate(sc["taps"][:3]):
            da = _felt_contact(by_id[t["a"]], t["t_ms"])
            db = _felt_contact(by_id[t["b"]], t["t_ms"])
            assert abs(da) <= 5 and abs(db) <= 5, (k, da, db)
    finally:
        runner.close(w)
    assert mixed  # the seed draws unlike mounts too


def test_one_contact_takes_the_softer_interface_and_scales_each_holders_ringing():
    rng = np.random.default_rng(11)
    seen = 0
    for _ in range(400):
        pa, pb = tapmodel.draw_touch(rng), tapmodel.draw_touch(rng)
        before = {id(p): (p["tau"], p["ring_frac"], p["ring_hz"]) for p in (pa, pb)}
        motionsrc.one_contact(pa, pb)
        tau = max(before[id(pa)][0], before[id(pb)][0])
        assert pa["tau"] == pb["tau"] == tau
        for p in (pa, pb):
            tau0, frac0, hz = before[id(p)]
            assert p["ring_frac"] <= frac0 + 1e-12  # a longer contact excites the holder less
            if tau > 4 * tau0 and hz * tau > 1.5:  # far beyond its own contact: the ring all but gone
                assert p["ring_frac"] < 0.35 * frac0, (tau0, tau, hz, frac0, p["ring_frac"])
                seen += 1
    assert seen > 5
    # a short contact excites anything the way an instant one does; at f tau = 1/2, pi/4; at 3/2, nothing
    assert abs(motionsrc.excitation(100.0, 1e-5) - 1.0) < 1e-3
    assert abs(motionsrc.excitation(100.0, 5e-3) - np.pi / 4) < 1e-6
    assert motionsrc.excitation(100.0, 15e-3) < 1e-9


def test_each_scenario_draws_its_own_touches_at_a_seed():
    # tap k at seed s was one touch in every scenario: a sweep over scenarios
    # at seeds 1-10 counted one hard draw once per scenario
    from host_tools.sim import runner

    one, other = {"name": "walk-past", "seed": 4}, {"name": "attack-replay", "seed": 4}
    a, b = runner.touch_draws(one, 1, range(6)), runner.touch_draws(other, 1, range(6))
    assert all(a[k]["tau"] != b[k]["tau"] and a[k]["ring_hz"] != b[k]["ring_hz"] for k in a)
    again = runner.touch_draws(dict(one), 1, range(6))  # and the same scenario draws the same again
    assert all(a[k]["tau"] == again[k]["tau"] and a[k]["reach_m"] == again[k]["reach_m"] for k in a)

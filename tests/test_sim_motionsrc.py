"""The simulator's accelerometer source (host_tools/sim/motionsrc.py): a
touch is laid against the gravity the pin feels when it starts."""
import numpy as np

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

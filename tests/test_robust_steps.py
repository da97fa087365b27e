"""The perturbations robust_steps applies are the physical ones it names."""
import numpy as np

from host_tools.bench.robust_steps import perturb, random_rotation


def test_rotation_is_a_rotation_and_keeps_magnitude():
    rng = np.random.default_rng(1)
    for _ in range(20):
        r = random_rotation(rng)
        assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
    mg = np.array([[0, 0, 1000], [300, -400, 900], [1200, 50, -20]], dtype="<i2")
    out = perturb(mg, rng, rotate=True)
    assert not np.array_equal(out, mg)
    assert np.allclose(np.linalg.norm(out.astype(float), axis=1), np.linalg.norm(mg.astype(float), axis=1), atol=2)


def test_gain_scales_and_noise_has_the_asked_rms():
    rng = np.random.default_rng(2)
    mg = np.tile(np.array([[100, -200, 1000]], dtype="<i2"), (20000, 1))
    assert np.array_equal(perturb(mg, rng, gain=1.05)[0], [105, -210, 1050])
    d = perturb(mg, rng, noise_mg=5.0).astype(float) - mg
    assert 4.8 < d.std() < 5.2 and abs(d.mean()) < 0.1
    assert perturb(mg, rng, gain=40.0).max() == 32767  # clipped like an int16 register, not wrapped

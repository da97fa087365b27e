"""A virtual badge's injected touches (cpsim/touch.py): a double tap's second
touch is announced before the first is felt, and both are felt."""
import time
from types import SimpleNamespace

from cpsim.touch import Touched


class _Still:
    def mean_ug(self, t0_us, t1_us, out, j):
        out[j] = out[j + 1] = out[j + 2] = 0


def _touch_file(tmp_path, name):
    # 2 g on x for 10 ms, from 100 ms into the file
    p = tmp_path / name
    p.write_text("t_ms,x,y,z\n0,0,0,0\n99.9,0,0,0\n100,2,0,0\n110,2,0,0\n110.1,0,0,0\n200,0,0,0\n")
    return str(p)


def _felt(t, t_us):
    out = [0, 0, 0]
    t.mean_ug(t_us, t_us + 2500, out, 0)
    return out[0]


def test_two_touches_announced_before_either_is_felt_are_both_felt(tmp_path):
    now = [5_000_000]
    model = SimpleNamespace(clock=SimpleNamespace(now_us=lambda: now[0]), t0_us=0,
                            device=SimpleNamespace(note=lambda *a: None))
    t = Touched(_Still(), model)
    ns = time.time_ns()
    # the farm announces each touch LEAD (here 500 ms) ahead; the second 300 ms after the first
    assert t.inject(_touch_file(tmp_path, "0.csv"), ns + 500_000_000, 200_000)
    assert t.inject(_touch_file(tmp_path, "1.csv"), ns + 800_000_000, 200_000)
    base = now[0]
    first = [_felt(t, base + us) for us in range(500_000, 800_000, 2500)]
    second = [_felt(t, base + us) for us in range(800_000, 1_100_000, 2500)]
    assert max(first) > 1_500_000 and max(second) > 1_500_000, (max(first), max(second))  # ug
    assert _felt(t, base + 1_200_000) == 0 and t._touches == []  # both over and closed


def test_an_unreadable_touch_file_is_refused_and_the_pending_one_kept(tmp_path):
    notes = []
    model = SimpleNamespace(clock=SimpleNamespace(now_us=lambda: 0), t0_us=0,
                            device=SimpleNamespace(note=lambda *a: notes.append(a)))
    t = Touched(_Still(), model)
    ns = time.time_ns()
    assert t.inject(_touch_file(tmp_path, "0.csv"), ns + 500_000_000, 200_000)
    assert not t.inject(str(tmp_path / "missing.csv"), ns + 600_000_000, 200_000)
    assert notes and "not replayed" in notes[0][1]
    assert max(_felt(t, us) for us in range(500_000, 800_000, 2500)) > 1_500_000

"""`cloudpin virtual-badge tap`'s touches (host_tools/vbadge/tap.py): two
badges tapped together feel one contact, as the simulator's pins do
(motionsrc.pair_draws), whatever their boards' sensors and rates."""
import numpy as np

from host_tools.boards import load_board
from host_tools.vbadge import tap

G = 9.80665


def _contact_dv(text, contact_ms, window_ms=6.0):
    # the velocity change (m/s, device frame) over the contact's first
    # window_ms: the half-sine impulse, before the holder's ringing grows
    rows = np.array([[float(x) for x in line.split(",")] for line in text.splitlines()[1:]])
    period_ms = rows[2, 0] - rows[1, 0]
    m = (rows[:, 0] >= contact_ms - period_ms / 2) & (rows[:, 0] <= contact_ms + window_ms)
    return rows[m, 1:].sum(axis=0) * period_ms / 1000.0 * G


def test_two_badges_tapped_together_feel_equal_and_opposite_impulses():
    # Newton's third law: one contact, one impulse, pushing each pin the other
    # way. Each badge lies on its back (gravity on z): the contact's vertical
    # parts are opposite, its strengths alike. Drawn each alone, they were not
    # (40 draws: 24 opposite, the median ratio 0.3).
    boards = [load_board("cloudpin_ref"), load_board("m5stickc_plus")]
    ratios = []
    for seed in range(40):
        (ta, ca, _), (tb, cb, _) = tap.touch_csvs(boards, np.random.default_rng(seed))
        za, zb = _contact_dv(ta, ca)[2], _contact_dv(tb, cb)[2]
        assert za * zb < 0, (seed, za, zb)
        ratios.append(-za / zb)
    # alike up to each holder's ringing and where each board's samples fall
    assert 0.9 < np.median(ratios) < 1.1 and 0.5 < min(ratios) and max(ratios) < 2.0, sorted(ratios)


def test_a_solo_tap_and_an_odd_one_out_feel_touches_of_their_own():
    board = load_board("cloudpin_ref")
    rng = np.random.default_rng(3)
    solo = tap.touch_csvs([board, board], rng, solo=True)
    three = tap.touch_csvs([board, board, board], rng)
    assert len(solo) == 2 and len(three) == 3
    # a knock on its own has no reach: its file is far shorter than a touch between two pins'
    assert max(t[2] for t in solo) < 0.5 * min(t[2] for t in three)
    assert len({t[0] for t in solo + three}) == 5  # each drawn anew

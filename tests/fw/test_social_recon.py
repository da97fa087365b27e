# Meet's reconciliation windows (cloudpin.social.recon.window): counted
# from each pin's own entry, so two pins whose clocks count the time since
# the tap up to 1.2% apart (each within 0.6%) (docs/clock.md), and read whole seconds, still
# share every window for at least RECON_WINDOW_MS.
from cloudpin.social import meet, recon


def _windows(rate, offset_s, until_s=3600):
    """A pin's windows in true seconds since the tap, its clock counting
    (1 + rate) seconds a second, `offset_s` ahead at the tap."""
    out = []
    e = 0
    while True:
        wait_ms, length_ms = recon.window(e)
        start = e + wait_ms / 1000
        if start > until_s:
            return out
        out.append(((start - offset_s) / (1 + rate), (start + length_ms / 1000 - offset_s) / (1 + rate)))
        e = int(start + length_ms / 1000) + 1


def test_two_pins_windows_meet_whatever_their_clocks_drift_within_the_range():
    exact = _windows(0, 0)
    assert 15 <= len(exact) <= 25, len(exact)  # an hour of an unsettled friendship
    assert exact[0][0] < 30 < exact[0][1]  # the first half a minute after the tap
    # each pin's sleep clock within +-6,000 ppm (+-5,000 and a wander of 1,000)
    for rate_a, rate_b in ((0.006, -0.006), (-0.006, 0.006), (0.006, 0.006), (0.0, -0.006)):
        for offset in (-1.98, 0.0, 1.98):  # whole seconds read at the entry and now, on both pins
            a, b = _windows(rate_a, 0), _windows(rate_b, offset)
            for i in range(min(len(a), len(b)) - 1):
                lo = max(a[i][0], b[i][0])
                hi = min(a[i][1], b[i][1])
                assert hi - lo >= meet.RECON_WINDOW_MS / 1000 - 0.01, (rate_a, rate_b, offset, i, a[i], b[i])


def test_a_window_late_or_early_is_still_served_and_a_clock_stepped_back_waits_for_the_first():
    wait, n = recon.window(0)
    assert wait == 28820 and n == 2000 + 2 * 1180  # opens 1.18 s early, closes 1.18 s late
    assert recon.window(30) == (0, 2000 + 1180)  # inside it: the rest of it
    assert recon.window(33)[0] == 60000 - 1360 - 33000  # 0.18 s left of it: the next (at 60 s, 1.36 s early)
    assert recon.window(-50) == recon.window(0)
    wait, n = recon.window(3000)  # an hour on: windows are tens of seconds wide
    assert wait > 0 and n > 30000


def test_the_pending_side_asks_in_every_window_its_answerer_opens_and_in_no_other():
    # The answering side (committed, or its record sent) keeps its entry
    # ANSWER_FOR_S on its clock; the pending side gives up at RECON_GIVE_UP_S
    # on its own: whatever the two clocks drift within the range, it opens
    # the windows its answerer opens and none after (nobody would answer).
    for rate_a, rate_b in ((0.006, -0.006), (-0.006, 0.006), (0.0, 0.0)):
        for offset in (-1.98, 0.0, 1.98):
            asks = _windows(rate_a, 0, meet.RECON_GIVE_UP_S)
            answers = _windows(rate_b, offset, meet.ANSWER_FOR_S)
            assert len(asks) == len(answers) == 11, (rate_a, rate_b, offset, asks[-1], answers[-1])
            assert min(asks[-1][1], answers[-1][1]) - max(asks[-1][0], answers[-1][0]) >= 1.99
    assert meet.RECON_GIVE_UP_S >= meet.ANSWER_FOR_S * 1.012 + 2  # its answerer cannot be left before

# Tap detector (firmware/cloudpin/taps.py) on synthetic signals built from the
# same physics as the tap bench's generator: a tap is a spike one or two
# samples wide after the sensor's low-pass; walking, a lanyard swing into the
# chest and a table knock are broader or ring.
import math
from array import array

from cloudpin.taps import TapDetector, isqrt

ODR = 400
PERIOD_MS = 2.5


def _still(n):
    # x, y, z interleaved mg (as a driver's FIFO buffer): gravity on z plus a
    # few mg of deterministic "tremor"
    sig = array("h", bytearray(6 * n))
    for i in range(n):
        sig[3 * i] = (i * 7) % 5 - 2
        sig[3 * i + 1] = (i * 3) % 7 - 3
        sig[3 * i + 2] = 1000 + (i * 5) % 3 - 1
    return sig


def _add(sig, k, axis, mg):
    if 0 <= k < len(sig) // 3:
        sig[3 * k + axis] += int(mg)


def _add_tap(sig, k, mg, axis=2, straddle=False):
    # band-limited impulse: one sample (or two, when the contact fell between
    # samples) plus the filter's small side lobes
    shape = ((-1, 0.62), (0, 0.62), (-2, -0.1), (1, -0.1)) if straddle else ((0, 1.0), (-1, 0.1), (1, 0.1))
    for off, f in shape:
        _add(sig, k + off, axis, mg * f)


def _half_sine(sig, k, mg, width_ms, axis=2):
    half = int(width_ms / PERIOD_MS / 2)
    for j in range(-half, half + 1):
        _add(sig, k + j, axis, mg * math.cos(math.pi * j / (2 * half + 1)))


def _walk(n, cadence_hz=1.8, heel_mg=1200):
    sig = _still(n)
    step = int(ODR / cadence_hz)
    for i in range(n):
        t = i / ODR
        _add(sig, i, 2, 500 * math.sin(2 * math.pi * cadence_hz * t))
        _add(sig, i, 0, 250 * math.sin(math.pi * cadence_hz * t))
    for k in range(step // 2, n - 40, step):
        _half_sine(sig, k, heel_mg, 30)  # heel strike reaching the chest
    return sig


def _run(det, sig, t0=0):
    # then 1.6 s of the last sample: a tap is reported once its company is known
    found = []
    n = len(sig) // 3
    for i in range(n + int(1.6 * ODR)):
        j = 3 * min(i, n - 1)
        if det.feed(sig[j], sig[j + 1], sig[j + 2], t0 + int(i * PERIOD_MS)):
            found.append((det.tap_ms, det.tap_mg))
    return found


def test_detects_an_impulse_at_its_peak_with_its_strength():
    sig = _still(800)
    _add_tap(sig, 400, 3000)
    found = _run(TapDetector(ODR), sig)
    assert len(found) == 1, found
    t, mg = found[0]
    assert t == int(400 * PERIOD_MS), t
    assert 2600 <= mg <= 3300, mg


# The rattle veto: by default it looks 2 s back and waits 200 ms (the same
# step's later knocks); it can wait 150 ms or look 1.5 s either side
_LOOKBACK = {"ahead_ms": 150}
_VETO = {"ahead_ms": 1500, "train_ms": 1500}
_OFF = {"train_ms": 0}


def test_detects_a_tap_between_two_samples_and_reports_late_not_never():
    sig = _still(1600)
    _add_tap(sig, 300, 2400, axis=0, straddle=True)
    for veto, delay_ms in ((_LOOKBACK, (150, 160)), (_VETO, (1500, 1510)), ({}, (200, 210)), (_OFF, (30, 40))):
        det = TapDetector(ODR, **veto)
        reported_at = []
        for i in range(1600):
            if det.feed(sig[3 * i], sig[3 * i + 1], sig[3 * i + 2], int(i * PERIOD_MS)):
                reported_at.append(i)
        assert len(reported_at) == 1
        assert abs(det.tap_ms - 299.5 * PERIOD_MS) <= PERIOD_MS, det.tap_ms
        # reported once its company is known (ahead_ms, 200 ms by default),
        # with the veto off after the ringing check; timed at its peak either way
        lo, hi = delay_ms
        assert lo <= reported_at[0] * PERIOD_MS - det.tap_ms <= hi, (veto, reported_at, det.tap_ms)


def test_a_strong_pulses_leading_lobe_above_the_threshold_is_not_the_tap():
    # the sensor's band-limited view of a hard contact: a lobe of 1.2 g, a
    # dip, then the pulse itself (5 g) 7.5 ms after the lobe (where the
    # lobe's ring check would see it as ringing); the tap is the pulse
    for lobe in (1200, 600):  # above and below the threshold alike
        sig = _still(1200)
        _add(sig, 597, 1, lobe)
        _add(sig, 598, 1, 50)
        _add_tap(sig, 600, 5000, axis=1)
        found = _run(TapDetector(ODR), sig)
        assert len(found) == 1 and found[0][0] == int(600 * PERIOD_MS), (lobe, found)
        assert found[0][1] > 4000, (lobe, found)


def test_two_taps_300_ms_apart_are_both_detected():
    sig = _still(1000)
    _add_tap(sig, 300, 2000)
    _add_tap(sig, 300 + int(300 / PERIOD_MS), 1800, axis=1)
    found = _run(TapDetector(ODR), sig)
    assert [t for t, _ in found] == [int(300 * PERIOD_MS), int(300 * PERIOD_MS) + 300], found


def test_walking_alone_is_not_a_tap_but_a_tap_while_walking_is():
    walk = _walk(ODR * 12)
    assert _run(TapDetector(ODR), walk) == []
    k = ODR * 6 + 37  # between heel strikes
    _add_tap(walk, k, 2500)
    found = _run(TapDetector(ODR), walk)
    assert [t for t, _ in found] == [int(k * PERIOD_MS)], found


def test_slow_lanyard_swing_and_chest_impacts_are_not_taps():
    n = ODR * 10
    sig = _still(n)
    for i in range(n):
        theta = 0.6 * math.sin(2 * math.pi * 0.8 * i / ODR)
        _add(sig, i, 0, 1000 * math.sin(theta))
        _add(sig, i, 2, 1000 * (math.cos(theta) - 1))
    for k in range(ODR // 2, n - 40, int(ODR / 0.8)):
        _half_sine(sig, k, 2500, 20, axis=0)  # the pin hits the chest: soft, 20 ms
    assert _run(TapDetector(ODR), sig) == []


def test_a_knock_on_the_table_rings_and_is_not_a_tap():
    sig = _still(800)
    w = 2 * math.pi * 150 / ODR
    for j in range(200):  # 150 Hz table mode, damping ratio 0.03
        _add(sig, 400 + j, 2, 1500 * math.exp(-0.03 * w * j) * math.sin(w * j + 1.2))
    assert _run(TapDetector(ODR), sig) == []


def _clip(sig, fs_mg):
    for i in range(len(sig)):
        sig[i] = fs_mg if sig[i] > fs_mg else -fs_mg if sig[i] < -fs_mg else sig[i]


def test_a_clipped_contact_is_judged_by_the_wider_width_but_a_clipped_knock_is_not():
    # at +-4 g a firm 8 ms contact behind fabric saturates: its flat top
    # makes its energy look wider than its contact was
    for width_ms, is_tap in ((8, True), (18, False)):
        sig = _still(ODR * 2)
        _half_sine(sig, 400, 9000, width_ms)
        _clip(sig, 4000)
        assert sig[3 * 400 + 2] == sig[3 * 401 + 2] == 4000  # clipped: a flat top
        found = _run(TapDetector(ODR), sig)
        assert len(found) == (1 if is_tap else 0), (width_ms, found)
        # without the clip-aware width (the plain 6 ms limit) the contact is lost too
        assert _run(TapDetector(ODR, sat_width_ms=6), sig) == []


def test_a_clipped_touch_is_allowed_more_ringing_but_a_ringing_knock_is_not():
    # a firm touch on a finger-held pin clips at +-4 g (two full-scale
    # samples, 3 g above gravity), and the finger rings at 70 Hz: about half
    # the clipped peak after 8 ms, well under the true one. The same 3 g peak
    # unclipped, ringing as much, is a knock on a table.
    w = 2 * math.pi * 70 / ODR
    for clip in (True, False):
        sig = _still(ODR * 2)
        if clip:
            _add_tap(sig, 400, 9000)
            _add(sig, 401, 2, 9000)
            _clip(sig, 4000)
            assert sig[3 * 400 + 2] == sig[3 * 401 + 2] == 4000
        else:
            _add_tap(sig, 400, 3000)
        for j in range(1, 80):
            _add(sig, 402 + j, 2, 1500 * math.exp(-0.05 * w * j) * math.sin(w * j))
        found = _run(TapDetector(ODR), sig)
        assert len(found) == (1 if clip else 0), (clip, found)
        if clip:  # the plain ring limit (45%) loses the touch
            assert _run(TapDetector(ODR, sat_ring_pct=45), sig) == []


def _firm_held_touch(hz, zeta, ring_mg, start=-0.2, recoil_mg=400):
    # a firm contact (9 g over 7.5 ms) clipped at +-4 g on a finger-held pin:
    # the finger rings at hz with damping ratio zeta from mid-contact
    # (tapmodel.py), and the hand's recoil pulls back over 50 ms
    sig = _still(ODR * 2)
    _half_sine(sig, 400, 9000, 7.5, axis=1)
    w = 2 * math.pi * hz / ODR
    for j in range(160):
        t = j - start
        _add(sig, 400 + j, 1, ring_mg * math.exp(-zeta * w * t) * math.sin(w * t))
        if j < 20:
            _add(sig, 400 + j, 1, -recoil_mg * (1 - math.cos(2 * math.pi * j / 20)) / 2)
    _clip(sig, 4000)
    return sig


def _at_the_touch(found):
    # one tap, at the clipped peak (its first full-scale sample, 997.5 ms)
    return len(found) == 1 and abs(found[0][0] - 1000) <= 5


def test_a_ringing_touch_that_turns_against_its_peak_is_not_long():
    # the ring swings from +1.3 g to -1.1 g between two samples: never under
    # a quarter of the clipped peak, so its lobes counted in the event's
    # width (and kept it open past max_event_ms)
    sig = _firm_held_touch(73, 0.1, 3000)
    assert _at_the_touch(_run(TapDetector(ODR, clip_mg=3920), sig))
    assert _run(TapDetector(ODR, clip_mg=3920, turn=False), sig) == []
    # one broad push (a swing into the chest, 20 ms, clipped) never turns: still not a tap
    sig = _still(ODR * 2)
    _half_sine(sig, 400, 9000, 20, axis=1)
    _clip(sig, 4000)
    assert _run(TapDetector(ODR, clip_mg=3920), sig) == []


def test_one_full_scale_reading_is_clipped_when_the_scale_is_known():
    # a peak clipped in one sample only: without the sensor's full scale the
    # detector cannot tell it was clipped, and its ringing fails the plain limit
    w = 2 * math.pi * 70 / ODR
    sig = _still(ODR * 2)
    _add_tap(sig, 400, 9000)
    _clip(sig, 4000)
    assert sig[3 * 399 + 2] < 4000 == sig[3 * 400 + 2] > sig[3 * 401 + 2]
    for j in range(1, 80):
        _add(sig, 401 + j, 2, 1700 * math.exp(-0.05 * w * j) * math.sin(w * j))
    assert _run(TapDetector(ODR), sig) == []
    assert [t for t, _ in _run(TapDetector(ODR, clip_mg=3920), sig)] == [1000]


def test_callback_and_count():
    seen = []
    det = TapDetector(500, on_tap=lambda t, mg: seen.append((t, mg)))
    sig = _still(1800)
    _add_tap(sig, 500, 3000)
    for i in range(1800):
        det.feed(sig[3 * i], sig[3 * i + 1], sig[3 * i + 2], 1000 + i * 2)
    assert det.taps == 1 and len(seen) == 1 and seen[0][0] == 2000, seen


def test_fifo_bursts_are_timed_back_from_the_read_time():
    sig = _still(1280)
    _add_tap(sig, 333, 2200)
    buf = array("h", [0] * 96)
    det = TapDetector(ODR)
    total = 0
    for start in range(0, 1280, 32):
        for i in range(96):
            buf[i] = sig[3 * start + i]
        total += det.feed_fifo(buf, 32, 50000 + int((start + 31) * PERIOD_MS))
    assert total == 1
    assert abs(det.tap_ms - (50000 + 333 * PERIOD_MS)) <= 1, det.tap_ms


def _train(n, period, mg, later=0.2):
    # keys against a pin in a bag: at every step a knock, and a weaker one
    # `later` s after it (the same step's second knock)
    sig = _still(n)
    for k in range(200, n - 100, period):
        _add_tap(sig, k, mg)
        _add_tap(sig, k + int(later * ODR), mg * 7 // 20, axis=1)
    return sig


def _double_touch(det):
    """[(sample index of the report, tap_ms)] for two touches 300 ms apart."""
    double = _still(ODR * 3)
    _add_tap(double, 400, 2500)
    _add_tap(double, 400 + int(0.3 * ODR), 2200, axis=1)
    reported = []
    for i in range(ODR * 3):
        if det.feed(double[3 * i], double[3 * i + 1], double[3 * i + 2], int(i * PERIOD_MS)):
            reported.append((i, det.tap_ms))
    return reported


def test_the_default_veto_waits_200_ms_for_the_same_steps_later_knocks():
    # the radio starts on the suspicion (bus.TAP_SUSPECT) and takes 250 ms,
    # so waiting a little less costs the handshake nothing
    bout = _still(ODR * 6)
    for k in range(200, ODR * 6 - 200, int(0.45 * ODR)):
        _add_tap(bout, k, 2000)
    assert len(_run(TapDetector(ODR, **_OFF), bout)) == 12
    # keys in a bag, one knock a step: the first three have too little
    # company before them, every later one is dropped
    found = _run(TapDetector(ODR), bout)
    assert len(found) == 3 and found[-1][0] < 200 * PERIOD_MS + 1000, found
    # a step's two knocks 130 ms apart (past the refractory time): each has
    # the other as company (the first only if the wait reaches the second)
    step = _still(ODR * 2)
    _add_tap(step, 400, 2000)
    _add_tap(step, 400 + int(0.13 * ODR), 2000, axis=1)
    assert [t for t, _ in _run(TapDetector(ODR, **_OFF), step)] == [1000, 1130]
    assert [t for t, _ in _run(TapDetector(ODR, ahead_ms=30), step)] == [1000]
    assert _run(TapDetector(ODR), step) == []
    # a double touch: both reported 200 ms after their peaks, at their peaks
    reported = _double_touch(TapDetector(ODR))
    assert [t for _, t in reported] == [1000, 1300], reported
    assert all(200 <= i * PERIOD_MS - t <= 205 for i, t in reported), reported


def test_the_look_back_veto_waits_only_for_the_same_step():
    # keys in a bag, one knock a step, 450 ms apart: the first three have too
    # little known company (1.5 s back), every later one is dropped
    bout = _still(ODR * 6)
    for k in range(200, ODR * 6 - 200, int(0.45 * ODR)):
        _add_tap(bout, k, 2000)
    found = _run(TapDetector(ODR, **_LOOKBACK), bout)
    assert len(found) == 3 and found[-1][0] < 200 * PERIOD_MS + 1000, found
    # a step's two knocks 60 ms apart: each has the other as company
    step = _still(ODR * 2)
    _add_tap(step, 400, 2000)
    _add_tap(step, 400 + int(0.06 * ODR), 800, axis=1)
    assert _run(TapDetector(ODR, **_LOOKBACK), step) == []
    # a double touch: both reported, 150 ms after their peaks, at their peaks
    reported = _double_touch(TapDetector(ODR, **_LOOKBACK))
    assert [t for _, t in reported] == [1000, 1300], reported
    assert all(150 <= i * PERIOD_MS - t <= 160 for i, t in reported), reported


def _suspicions(det, sig):
    """[(kind, t_ms, ms of the sample that told)]: "s" suspected, "c"
    cancelled, "t" tapped (the radio starts on "s": bus.TAP_SUSPECT)."""
    out = []
    now = [0]
    det.on_suspect = lambda t, on: out.append(("s" if on else "c", t, now[0]))
    n = len(sig) // 3
    for i in range(n + int(1.6 * ODR)):
        j = 3 * min(i, n - 1)
        now[0] = int(i * PERIOD_MS)
        if det.feed(sig[j], sig[j + 1], sig[j + 2], now[0]):
            out.append(("t", det.tap_ms, now[0]))
    # with the veto on every tap was suspected first, and every suspicion ended
    assert not det._train or det.suspects == det.taps + det.cancels, (det.suspects, det.taps, det.cancels)
    return out


def test_a_candidate_is_suspected_once_its_past_is_known_then_confirmed_or_cancelled():
    # a touch alone: suspected when the ring check is over (~30 ms after its
    # peak), confirmed ahead_ms (150) after its peak, both at the peak's time
    step = _still(ODR * 2)
    _add_tap(step, 400, 2000)
    ev = _suspicions(TapDetector(ODR, **_LOOKBACK), step)
    assert [e[:2] for e in ev] == [("s", 1000), ("t", 1000)], ev
    assert 30 <= ev[0][2] - 1000 <= 40 and 150 <= ev[1][2] - 1000 <= 155, ev
    # the same step's second knock 60 ms later: suspected, then cancelled
    _add_tap(step, 400 + int(0.06 * ODR), 800, axis=1)
    ev = _suspicions(TapDetector(ODR, **_LOOKBACK), step)
    assert [e[:2] for e in ev] == [("s", 1000), ("c", 1000)], ev
    assert 150 <= ev[1][2] - 1000 <= 155, ev
    # keys in a bag, one knock a step: once three steps are behind a knock it
    # is dropped unsuspected (no radio start for it)
    bout = _still(ODR * 6)
    for k in range(200, ODR * 6 - 200, int(0.45 * ODR)):
        _add_tap(bout, k, 2000)
    det = TapDetector(ODR, **_LOOKBACK)
    ev = _suspicions(det, bout)
    assert det.suspects == 3 and det.taps == 3 and det.cancels == 0, ev
    # with the veto off nothing waits: no suspicion
    det = TapDetector(ODR, **_OFF)
    assert [e[0] for e in _suspicions(det, step)] == ["t"] and det.suspects == 0


def test_rattle_veto_drops_knocks_that_come_in_trains_or_clusters():
    train = _train(ODR * 8, int(0.55 * ODR), 2000)  # 13 steps, 550 ms apart
    assert len(_run(TapDetector(ODR, **_OFF), train)) >= 10  # veto off: each strong knock passes
    # the first and last steps have company on one side only, and may pass
    assert len(_run(TapDetector(ODR, **_VETO), train)) <= 2
    # one step alone: a knock with the step's second knock 60 ms later
    # (35 % of it) is a cluster; the same knock alone is a touch
    step = _still(ODR * 2)
    _add_tap(step, 400, 2000)
    alone = _run(TapDetector(ODR, **_VETO), step)
    assert [t for t, _ in alone] == [1000], alone
    _add_tap(step, 400 + int(0.06 * ODR), 700, axis=1)
    assert _run(TapDetector(ODR, **_VETO), step) == []
    # a double touch is not a train: both reported, each at its peak
    reported = _double_touch(TapDetector(ODR, **_VETO))
    assert [t for _, t in reported] == [1000, 1000 + 300], reported
    assert abs((reported[1][0] - 400 - int(0.3 * ODR)) * PERIOD_MS - 1500) <= 5


def test_company_is_as_sharp_as_a_knock_so_a_heel_strike_next_to_a_touch_is_not():
    # a heel strike reaching the chest (1.5 g over 20 ms) 100 ms before a
    # 2 g touch, and instead a key's knock 20 % of the touch's height there
    heel = _still(ODR * 2)
    _half_sine(heel, 400 - 40, 1500, 20)
    _add_tap(heel, 400, 2000)
    knock = _still(ODR * 2)
    _add_tap(knock, 400 - 40, 400, axis=1)
    _add_tap(knock, 400, 2000)
    assert [t for t, _ in _run(TapDetector(ODR), heel)] == [1000]
    assert _run(TapDetector(ODR), knock) == []
    # company measured over +-5 ms as before sees the heel strike at the same
    # low bar, and vetoes the touch
    assert _run(TapDetector(ODR, imp_ms=5), heel) == []


def test_a_knock_20_ms_before_a_candidate_is_company():
    # the reach brings a touching pin in smoothly: nothing sharp lies 15-30
    # ms before a touch, where a step's earlier knock does
    sig = _still(ODR * 2)
    _add_tap(sig, 400 - 8, 800, axis=0)
    _add_tap(sig, 400, 2000)
    assert _run(TapDetector(ODR), sig) == []
    assert len(_run(TapDetector(ODR, pre_ms=30), sig)) == 1  # as far as the sixth session looked
    alone = _still(ODR * 2)
    _add_tap(alone, 400, 2000)
    assert [t for t, _ in _run(TapDetector(ODR), alone)] == [1000]


def test_a_weak_knock_before_a_strong_candidate_is_company():
    # a key's knock of 500 mg 50 ms before a 6 g knock: under 15% of it, but
    # nothing that sharp comes before a touch (pre_mg); a heel strike there
    # (1.5 g over 20 ms) is not that sharp
    sig = _still(ODR * 2)
    _add_tap(sig, 400 - 20, 500, axis=0)
    _add_tap(sig, 400, 6000)
    assert _run(TapDetector(ODR), sig) == []
    assert [t for t, _ in _run(TapDetector(ODR, pre_mg=0), sig)] == [1000]  # 15% of it alone, as before
    heel = _still(ODR * 2)
    _half_sine(heel, 400 - 40, 1500, 20)
    _add_tap(heel, 400, 6000)
    assert [t for t, _ in _run(TapDetector(ODR), heel)] == [1000]


def test_weak_knocks_make_a_train_too():
    # three steps of keys knocking at 500 mg (under the threshold: none is a
    # candidate), then a knock of 2 g at the next step
    sig = _still(ODR * 3)
    step = int(0.55 * ODR)
    for i in range(3):
        _add_tap(sig, 200 + i * step, 500, axis=i % 2)
    _add_tap(sig, 200 + 3 * step, 2000)
    assert _run(TapDetector(ODR), sig) == []
    # counted from the threshold only (as before), it passed
    assert len(_run(TapDetector(ODR, train_mg=800), sig)) == 1


def _held_touch():
    # a finger-held pin rings at 60 Hz (damping ratio 0.2) with 30 % of the
    # pulse, then the hand's recoil brings it to rest over 100 ms
    sig = _still(ODR * 2)
    _add_tap(sig, 400, 3000)
    w = 2 * math.pi * 60 / ODR
    for j in range(1, 120):
        _add(sig, 400 + 2 + j, 2, -900 * math.exp(-0.2 * w * j) * math.sin(w * j))
        _add(sig, 400 + 2 + j, 2, -300 * (1 - math.cos(2 * math.pi * j / 40)) / 2 if j < 40 else 0)
    return sig


def test_a_touch_with_the_holders_ringing_and_recoil_is_a_tap():
    found = _run(TapDetector(ODR, **_VETO), _held_touch())
    assert [t for t, _ in found] == [1000], found


def test_an_overrun_keeps_a_waiting_candidate_and_judges_it_on_what_follows():
    # an overrun inside the wait: the suspected touch (its radio starting) is
    # still judged, on the company seen after the gap
    for knock_after, taps in ((False, 1), (True, 0)):
        sig = _still(ODR)
        _add_tap(sig, 200, 3000)
        det = TapDetector(ODR)
        for i in range(220):  # 50 ms after the peak: suspected, waiting
            det.feed(sig[3 * i], sig[3 * i + 1], sig[3 * i + 2], int(i * PERIOD_MS))
        assert det.suspects == 1 and det.taps == 0
        det.reset()  # samples were lost
        rest = _still(ODR)
        if knock_after:  # the same step's next knock, 75 ms after it, after the gap
            _add_tap(rest, 10, 2000, axis=1)
        found = _run(det, rest, 1000)
        assert [t for t, _ in found] == [500] * taps and det.cancels == 1 - taps, found


def test_a_one_sample_knock_with_a_later_echo_is_dropped_but_a_touch_is_not():
    # a table or a bag: a hard knock one sample wide, and 50 ms after it an
    # impulse of 35% of it (the table still ringing, the same step's next
    # knock); the same step's company rules are set off here (near_pct,
    # pre_mg) so that the echo alone decides
    sig = _still(ODR * 2)
    _add_tap(sig, 400, 3000)
    _add_tap(sig, 420, 1050, axis=0)
    assert _run(TapDetector(ODR, echo_pct=30, near_pct=200, pre_mg=0), sig) == []
    assert [t for t, _ in _run(TapDetector(ODR, echo_pct=0, near_pct=200, pre_mg=0), sig)] == [1000]  # the rest passes it
    # a touch and its holder's ringing and recoil: its own ringing is not an echo
    assert [t for t, _ in _run(TapDetector(ODR, echo_pct=30), _held_touch())] == [1000]
    # a wider pulse (a finger or fabric between: 5 ms) is not judged by it
    sig = _still(ODR * 2)
    _half_sine(sig, 400, 3000, 5)
    _add_tap(sig, 420, 1050, axis=0)
    assert len(_run(TapDetector(ODR, echo_pct=30, near_pct=200, pre_mg=0), sig)) == 1


def _feed_still(det, n, t0):
    # n samples of the pin at rest, computed as fed (no buffer: a long gap fits the VM's heap)
    for i in range(n):
        det.feed((i * 7) % 5 - 2, (i * 3) % 7 - 3, 1000 + (i * 5) % 3 - 1, t0 + int(i * PERIOD_MS))


def test_a_rattling_bag_holds_a_context_that_drops_a_lone_knock_until_the_pin_is_out():
    # keys in a bag for five steps (0.5-2.7 s: the veto drops the last three
    # steps' knocks, at 1.6, 2.15 and 2.7 s), then every 3 s a lone knock
    # shaped like a touch: while two of the bag's vetoes are under ctx_ms
    # (10 s) old it is dropped; later (the pin taken out of the bag) the
    # same knock is a tap
    gap = ODR * 3 - ODR - int(1.6 * ODR)  # samples of rest after each knock's 2.6 s
    for ctx_ms, dropped in ((10000, 3), (0, 0)):
        det = TapDetector(ODR, ctx_ms=ctx_ms)
        bag = _train(ODR * 3, 220, 2000)
        _run(det, bag)
        det.reset()  # a FIFO overrun: the bag's rattle goes on through it
        t = int((ODR * 3 + int(1.6 * ODR)) * PERIOD_MS)  # 4.6 s
        found = []
        touch = _still(ODR)
        _add_tap(touch, 200, 3000)
        for _ in range(6):  # a knock at 5.1, 8.1, ... 20.1 s
            taps = det.taps
            _run(det, touch, t)  # 1 s, then 1.6 s of its last sample
            found.append(det.taps > taps)
            t += int((ODR + int(1.6 * ODR)) * PERIOD_MS)
            _feed_still(det, gap, t)
            t += int(gap * PERIOD_MS)
        # 5.1, 8.1 and 11.1 s are within 10 s of two vetoes (2.15 and 2.7 s);
        # from 14.1 s on every knock is a tap (once out, out: the knocks
        # it dropped did not keep it alive)
        assert found == [False] * dropped + [True] * (6 - dropped), (ctx_ms, found)
        assert det.contexts == dropped, (det.contexts, found)


def test_the_rattle_context_lasts_10_s_of_samples_fed_so_a_doze_does_not_end_it():
    # a dozing pin feeds the detector nothing (motion.py: still for 3 s, the
    # watermark off until the click or motion engine wakes it; the wake is an
    # overrun, reset()). Ages are counted in samples fed, not in t_ms: after
    # the bag's rattle, a doze of a minute, then a lone knock 2.4 s of samples
    # after the bag's last veto is still in its context; the same knock after
    # 10 s more of samples fed (the pin handled, awake) is a tap.
    for awake_s, dropped in ((0, True), (10, False)):
        det = TapDetector(ODR)
        _run(det, _train(ODR * 3, 220, 2000))  # 0-4.6 s of samples, vetoes at 1.6-2.7 s
        t = 65000  # a minute's doze later, by the clock
        _feed_still(det, awake_s * ODR, t)
        det.reset()  # the wake: an overrun
        touch = _still(ODR)
        _add_tap(touch, 200, 3000)
        taps = det.taps
        _run(det, touch, t + awake_s * 1000)
        assert (det.taps == taps) == dropped, (awake_s, det.taps, det.contexts)
        assert det.contexts == (1 if dropped else 0), (awake_s, det.contexts)


def test_touches_again_and_again_while_walking_build_no_context():
    # a wearer walking (heel strikes at every step) and tapping every 3 s,
    # a double touch among them: no touch is vetoed, so none builds a context
    det = TapDetector(ODR)
    walk = _walk(ODR * 3)
    k = ODR + 37
    _add_tap(walk, k, 2500)
    _add_tap(walk, k + int(0.3 * ODR), 2200, axis=1)
    t = 0
    for _ in range(6):
        _run(det, walk, t)
        t += int((ODR * 3 + int(1.6 * ODR)) * PERIOD_MS)
    assert det.taps == 12 and det.contexts == 0, (det.taps, det.contexts)


def test_isqrt():
    assert [isqrt(n) for n in (0, 1, 3, 4, 15, 16, 17, 999999, 1000000)] == [0, 1, 1, 2, 3, 4, 4, 999, 1000]


def _samples_with_taps(n):
    sig = _walk(n, heel_mg=900)
    for k in range(300, n - 100, 700):
        _add_tap(sig, k, 3000)
    return sig


def test_mp_feed_allocates_nothing():
    import gc

    n = 2000  # fed 5 times over: 10,000 samples (a 60 KB buffer would not fit the heap)
    buf = _samples_with_taps(n)
    det = TapDetector(ODR)
    feed = det.feed
    gc.collect()
    before = gc.mem_alloc()
    t = 0
    for _ in range(5):
        j = 0
        for i in range(n):
            feed(buf[j], buf[j + 1], buf[j + 2], t)
            j += 3
            t += 2
    after = gc.mem_alloc()
    assert det.taps >= 10, det.taps  # the tap path ran too
    assert after == before, after - before


def _heap_growth_feeding(det, buf, n):
    # bytes the heap grew by while n samples of buf were fed, one at a time
    import gc

    feed = det.feed
    gc.collect()
    before = gc.mem_alloc()
    j = 0
    for i in range(n):
        feed(buf[j], buf[j + 1], buf[j + 2], i * 5 // 2)
        j += 3
    return gc.mem_alloc() - before


def test_mp_rattle_veto_allocates_nothing():

    n = 2400  # the touch's 1.5 s wait ends inside
    buf = _train(1000, 220, 2000)  # rattle, then quiet, then a touch
    buf.extend(_still(n - 1000))
    _add_tap(buf, 1700, 3000, axis=1)
    # with a rattle context (1 s) shorter than the quiet before the touch
    det = TapDetector(ODR, ctx_ms=1000, **_VETO)
    grown = _heap_growth_feeding(det, buf, n)
    # five candidates: the four knocks vetoed (each with its steps' knocks,
    # the weaker ones too, within 1.5 s), the touch 1.9 s after the last
    # knock reported: both paths ran
    assert det.taps == 1 and det.tap_ms == 1700 * 5 // 2, (det.taps, det.tap_ms)
    assert det.suspects >= 1 and det.cancels < det.suspects, (det.suspects, det.cancels)
    assert grown == 0, grown
    # by default (10 s) the rattle context drops the touch instead
    det = TapDetector(ODR, **_VETO)
    grown = _heap_growth_feeding(det, buf, n)
    assert det.taps == 0 and det.contexts == 1, (det.taps, det.contexts)
    assert grown == 0, grown


def test_mp_feed_fifo_allocates_nothing():
    import gc

    n = 2048
    samples = _samples_with_taps(n)
    burst = array("h", [0] * 96)
    det = TapDetector(ODR)
    gc.collect()
    before = gc.mem_alloc()
    for start in range(0, n, 32):
        for i in range(96):
            burst[i] = samples[3 * start + i]
        det.feed_fifo(burst, 32, start * 5 // 2)
    after = gc.mem_alloc()
    assert det.taps >= 2, det.taps
    assert after == before, after - before

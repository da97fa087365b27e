# Tap detector: tells a deliberate pin-to-pin tap from walking, a lanyard
# swing into the chest and a knock on the table, and reports each tap's time
# (of its peak, in ms) and strength (mg) so the handshake can pair the two
# pins' reports. Pure logic: samples in, taps out; no hardware imports.
#
# Physics (sources in the tap bench, host_tools/bench/tapmodel.py; ranges,
# split and results in docs/taps.md):
# - Two pins touching is an impulse: a velocity change of 0.05-0.35 m/s over
#   a contact of 0.15-0.6 ms (hard plastic) to ~10 ms (a finger or fabric
#   between). The accelerometer reports it through its own anti-alias
#   low-pass, as a spike one to four output samples wide whose height grows
#   with the bandwidth: up to ~13 g at 400 Hz, a fraction of a g at 25-50 Hz
#   where it drowns in footfalls. So taps need a high output data
#   rate: LIS3DH 400 Hz (its click engine too: TIME_LIMIT counts 1/ODR, and
#   a 15 ms limit is 6 ticks there), MPU-6886 and MPU-6050 500 Hz (1 kHz
#   internal rate / (1 + SMPLRT_DIV=1), accelerometer low-pass 218 Hz with
#   MPU-6886 A_DLPF_CFG=1, 184 Hz with MPU-6050 DLPF_CFG=1). Measured on the
#   bench's held-out split at 400 Hz: recall 99.2%, 94% for 6-10 ms contacts.
# - Walking impacts reach the chest as 0.3-1.5 g bumps tens of ms wide with
#   their energy under ~20 Hz (heel strike ~5 g at the tibia, ~0.5 g at the
#   skull: Light, McLellan & Klenerman 1980); a pin swinging into the chest is
#   a soft collision of 15-40 ms; a knock on a table rings at the table's
#   modes for tens of ms. So a tap is: high-pass magnitude above a threshold,
#   narrow (energy width of a few ms, event over in <= 15 ms), quiet just
#   before, and no ringing just after. The same ideas as the LIS3DH click
#   engine (threshold, TIME_LIMIT, latency) and the ADXL345's (THRESH_TAP,
#   DUR, suppress), measured more carefully.
#
# Per sample: integers only, state in preallocated attributes, so feed()
# allocates nothing (proved by test_mp_feed_allocates_nothing).
import time
from array import array

from micropython import const

_CLIP = const(16383)  # mg; keeps the squared magnitude a small int on 32-bit ports
_IDLE = const(0)
_EVENT = const(1)  # above threshold: measuring the candidate
_CHECK = const(2)  # after the event: watching for ringing
_BUSY = const(3)  # a long excursion: wait for it to end
_WSHIFT = const(8)  # energy sum is kept in units of 256 mg^2
_HIST = const(8)  # activity history slots (the pre-event look-back)
_LOWWAIT = const(3)  # samples
_FLAT = const(1900)  # mg: a reading repeated at or above this is a clipped one (+-2 g is the smallest range)
_CMASK = const(0xFFFFFF)  # sample counter wraps here (11 h at 400 Hz): a small int, compared mod 2^24
_RAW = const(8)  # raw-sample history slots, a power of 2 (the impulse measure looks +-w samples around)
_LOG = const(48)  # impulses remembered: 3 s of a rattling bag holds ~15-30
_PEND = const(8)  # touch candidates waiting for their context
# which rule of the rattle veto dropped a candidate (TapDetector._rattle)
VETO_PRE = const(1)  # an impulse in the near_ms before it
VETO_AFTER = const(2)  # ... after it, rising out of its own
VETO_TRAIN = const(3)  # train_n impulses in the train_ms around it
VETO_CROWDED = const(4)  # more impulses than the log holds
VETO_ECHO = const(5)  # a one-sample candidate's later impulse (echo_pct)
VETO_CONTEXT = const(6)  # ctx_n candidates vetoed in the ctx_ms before it: a rattling bag (ctx_ms)
_VLOG = const(4)  # vetoes remembered for the rattle context (ctx_n at most this)


def _ms_to_samples(ms, odr_hz):
    n = (ms * odr_hz + 500) // 1000
    return n if n > 0 else 1


def isqrt(n):
    """Integer square root (floor) of a non-negative int, without floats."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


class TapDetector:
    """Software tap detector.

    feed(x, y, z, t_ms): one sample, acceleration in integer milli-g within
    +-32767 (as the drivers deliver it), t_ms its time in ms (any int clock, e.g.
    time.ticks_ms(); only stored, never subtracted). Returns True when a tap
    has just been confirmed, else None; the tap is then in `tap_ms` (time of
    its peak sample, `ahead_ms` before the call that reports it, or
    ~`latency_ms` with the rattle veto off) and `tap_mg` (peak high-pass
    magnitude, mg). `on_tap(t_ms, mg)` if given is called as well.

    odr_hz: the sensor's output data rate (>= 200 Hz, 400-500 recommended).
    threshold_mg: minimum peak of the high-passed magnitude.
    width_ms: maximum energy width (sum of squared magnitude / its peak).
    max_event_ms: longest time above max(threshold/2, peak/4) for a tap.
    latency_ms: window after the peak that must stay below ring_pct % of it
    (sat_ring_pct % when the sensor clipped the peak).
    turn: a clipped event that has turned against its peak is rung, not long (below).
    refractory_ms: dead time after a tap (a double tap 250 ms apart is two taps).
    near_ms, near_pct, pre_ms, pre_mg, train_ms, train_pct, train_n, train_mg,
    ahead_ms, imp_ms, echo_pct: the rattle veto (see __init__); train_ms=0
    turns it off. ctx_ms, ctx_n: the rattle context (see _context): with ctx_n
    candidates vetoed in the ctx_ms before one, it is dropped; ctx_ms=0 off.
    on_suspect(t_ms, on): with the veto on, called with on=True when a
    candidate passed every check that costs no wait (its shape and the company
    before it; ~latency_ms after its peak) and starts waiting ahead_ms for the
    company after it; then either the tap is reported (on_tap, same t_ms) or
    on_suspect(t_ms, False) cancels it. So a caller can start slow work (the
    radio) on the suspicion and spend the wait for free. Counted in
    `suspects` and `cancels`.
    """

    def __init__(self, odr_hz, threshold_mg=800, width_ms=6, max_event_ms=15, latency_ms=30,
                 ring_pct=45, quiet_pct=50, refractory_ms=120, near_ms=150, near_pct=15,
                 train_ms=2000, train_pct=20, train_n=3, ahead_ms=200, sat_width_ms=8, sat_ring_pct=60,
                 clip_mg=0, imp_ms=2, train_mg=300, pre_ms=15, pre_mg=400, echo_pct=30, turn=True, ctx_ms=10000,
                 ctx_n=2, on_tap=None, on_suspect=None):
        self.odr_hz = odr_hz
        self.on_tap = on_tap
        self.on_suspect = on_suspect
        self._thr2 = threshold_mg * threshold_mg
        self._lo2 = self._thr2
        self._off2 = self._lo2 >> 2  # an event ends below half the evidence level...
        # ...or a quarter of its peak (a strong tap's recoil is not its width)
        # width in quarter samples, compared against the energy sum; a tap is
        # at least a sample wide whatever the rate, hence the floor
        self._width_q = max(10, (width_ms * odr_hz * 4 + 500) // 1000)
        self._sat_q = max(10, (sat_width_ms * odr_hz * 4 + 500) // 1000)
        self._max_event = _ms_to_samples(max_event_ms, odr_hz)
        self._latency = _ms_to_samples(latency_ms, odr_hz)
        self._ring_start = _ms_to_samples(8, odr_hz)  # skip the pulse's own tail
        self._ring_pct2 = ring_pct * ring_pct
        # A clipped peak is lower than the pulse was, so its ringing looks
        # larger than it is: a held pin's ringing has up to 30-40% of the
        # touch's dv (tapmodel.py), which at a 60-200 Hz ring is g's.
        srp = ring_pct if sat_ring_pct is None else sat_ring_pct
        self._sat_ring_pct2 = srp * srp
        # A reading at or beyond clip_mg is a clipped one (the sensor's full
        # scale, less a margin, when the caller knows it): one is enough,
        # where an unknown scale needs the same reading twice.
        self._clip = clip_mg if clip_mg > 0 else 1 << 20
        self._quiet_pct2 = quiet_pct * quiet_pct
        # Turn: a contact is one push, so its pulse keeps one direction; a
        # holder's ringing swings back through it (tapmodel.py: 30-220 Hz,
        # up to 30-40% of dv, starting mid-contact). A firm touch clipped at
        # full scale, on a lightly damped finger, rings at more than a
        # quarter of its clipped peak (the true peak is higher: as for
        # sat_width_ms and sat_ring_pct), so its ring's lobes counted in the
        # event's width (`wide`) or kept it above its end level past
        # max_event_ms (`long`). In a clipped event, once a sample above
        # the end level points against the peak (negative dot product, and
        # smaller than the peak: a bigger one is a new pulse), the samples
        # after it are the ring's: they no longer count in the width, and at
        # max_event_ms the event is judged (its ring by the ring check)
        # instead of dropped as long. A swing into the chest, a chest knock
        # or a heel strike is one broad push (15-60 ms): it does not turn
        # before max_event_ms and stays long or wide. Unclipped events are
        # left as they were: there the turn found touches over a pocket's
        # busy walk but let as many of a bag's knocks through (three draws,
        # docs/taps.md "A ring turns").
        self._turn = turn
        self._refractory = _ms_to_samples(refractory_ms, odr_hz)
        # Rattle veto. A pin in a bag is knocked by keys or a phone at every
        # step of a walk: the hip bump throws the contents against it 0-3
        # times within ~120 ms, step after step (tapmodel.py, bag). Each knock
        # alone is a small touch; its company is not. A touch comes alone or
        # as a double touch, then the holder's smooth recoil and a damped
        # ringing that the ring check bounds. So every candidate waits
        # ahead_ms, and is dropped if another impulse of at least near_pct %
        # of its own (before it: or of pre_mg) came pre_ms-near_ms before or
        # latency_ms-near_ms after it (the same step's other knocks, all
        # within ~120 ms; closer ones the quiet and ring checks judge), or if train_n impulses of at least train_mg
        # and train_pct % of it came from near_ms to train_ms
        # before it or up to ahead_ms after it (the steps before it; a double
        # touch is one). The past costs no delay, the future does: the
        # handshake's touching-distance test needs the radio up soon after
        # the touch. So a candidate the past does not veto is suspected at
        # once (on_suspect: the radio starts, ~250 ms), and waits ahead_ms
        # (200 ms: the same step's later knocks, within ~120 ms; the verdict
        # is in before the radio is up, even a FIFO burst later) while the
        # radio starts; ahead_ms=latency_ms reads only the past,
        # ahead_ms=train_ms looks both ways (docs/taps.md). The tap keeps
        # the time of its peak either way. After the candidate only an
        # impulse above every one since it counts: its own ringing decays,
        # a knock rises out of it. Impulses: the second difference
        # over +-imp_ms on each axis (L1 norm: no square, no overflow), local
        # maxima 12 ms apart, logged from near_pct % of the threshold (or
        # train_mg if lower); those closer than latency_ms to the one counted
        # last are the same event.
        # The company is measured as sharp as the knocks it is made of: keys
        # or a phone are hard contacts (0.2-2 ms), a pulse one or two samples
        # wide at 400 Hz, whose second difference over +-1 sample (imp_ms=2)
        # is half to all of its height, while a heel strike reaching the
        # chest (0.3-1.5 g over 20-60 ms, Light et al. 1980) keeps at most 8%
        # of its height there (29% over +-5 ms). So the bars can be low (near_pct 15 %, the
        # train from 300 mg: weak knocks are knocks too) without a heel
        # strike next to a touch becoming its company.
        # The constants were chosen on the tuning split (docs/taps.md).
        self._train = _ms_to_samples(train_ms, odr_hz) if train_ms > 0 else 0
        # how long a candidate waits, and so how far after it the veto looks
        # (None: as far as before it, train_ms)
        self._ahead = self._train if ahead_ms is None or not self._train else _ms_to_samples(ahead_ms, odr_hz)
        self._near = _ms_to_samples(near_ms, odr_hz)
        self._near_lo = _ms_to_samples(latency_ms, odr_hz)  # closer: the ring and quiet checks judge it
        # before it, nothing sharp is a touch's own from pre_ms on: the reach
        # that brings the pin in is smooth (under ~5 Hz) to its end, and the
        # pulse's own lobes lie within +-own samples
        self._pre_lo = _ms_to_samples(pre_ms, odr_hz)
        # ...so there an impulse of pre_mg vetoes a strong candidate too (a
        # knock's 15% can be 1 g); a heel strike's is under ~120 mg
        self._pre_mg = pre_mg if pre_mg > 0 else 1 << 20
        self._near_pct = near_pct
        self._train_pct = train_pct
        self._train_n = train_n
        self._thr = threshold_mg
        self._train_mg = train_mg if train_mg > 0 else threshold_mg  # <= 0: the threshold
        self._imp_lo = min(threshold_mg * near_pct // 100, self._train_mg)
        self._w = min(3, _ms_to_samples(imp_ms, odr_hz))
        self._w2 = 2 * self._w
        self._own = self._w + 2  # the candidate's own impulse lies this close to its peak
        self._sep = _ms_to_samples(12, odr_hz)
        self._raw = array("h", [0] * (3 * _RAW))
        self._lt = array("i", [0] * _LOG)  # impulse: sample counter of its peak
        self._lm = array("i", [0] * _LOG)  # ... its size (L1, mg)
        self._pc = array("i", [0] * _PEND)  # candidate: sample counter of its peak
        self._pt = array("i", [0] * _PEND)  # ... its t_ms
        self._pm = array("i", [0] * _PEND)  # ... its strength (mg), negative when one sample wide (echo_pct)
        # Echo: a candidate one sample wide (energy width <= 1.16 samples: a
        # hard contact, under ~2.5 ms) is dropped if an impulse of echo_pct %
        # of its peak comes 12-200 ms after it (by its verdict): a table's
        # slow-dying 80-250 Hz modes, or the same step's later knock in a bag
        # (rising or not). A hard touch's holder damps it (finger pulp,
        # damping ratio 0.1-0.5) and its recoil is smooth. Found on the
        # tuning rows, kept after a held-out split it had never seen (split 2,
        # docs/taps.md: no touch lost, the bag's false taps -5%). 0: off.
        self._echo_pct = echo_pct
        # Rattle context (_context): the sample counters of the last _VLOG
        # candidates the veto dropped (oldest overwritten)
        self._ctx = _ms_to_samples(ctx_ms, odr_hz) if ctx_ms > 0 and ctx_n > 0 else 0
        self._ctx_n = ctx_n if ctx_n < _VLOG else _VLOG
        self._vt = array("i", [0] * _VLOG)
        self._nv = 0  # vetoes remembered (at most _VLOG)
        self._vi = 0  # slot the next one goes to
        self.contexts = 0  # candidates dropped by the rattle context
        # baseline EMA time constant ~5 ms (2^k samples; k = 0 at 200 Hz is a
        # plain first difference): fast enough to strip walking and pocket
        # motion under ~30 Hz, and frozen during an event so the event is
        # measured against the signal just before it
        k = 0
        while (1 << (k + 1)) * 1000 <= 5 * odr_hz:
            k += 1
        self._k = k
        # activity: a maximum of e that decays by 1/2^d a sample (d = 2 at
        # 400 Hz: it remembers the last ~10-20 ms)
        d = 0
        while (1 << (d + 1)) * 1000 <= 15 * odr_hz:
            d += 1
        self._decay = d if d > 0 else 1
        # activity is read this many samples before the event, so the tap's
        # own rising flank does not count as "not quiet"
        self._lag = min(_HIST - 1, _ms_to_samples(8, odr_hz))
        self._hist = array("i", [0] * _HIST)
        self.period_us = 1000000 // odr_hz
        self.tap_ms = 0
        self.tap_mg = 0
        self.taps = 0
        self.suspects = 0  # candidates that waited for their company (on_suspect True)
        self.cancels = 0  # ... and were vetoed by what came after them (on_suspect False)
        self._c = 0  # sample counter (mod 2^24)
        self._nlog = 0  # impulses logged (at most _LOG)
        self._li = _LOG - 1  # slot of the newest (the first goes to slot 0)
        self._np = 0  # candidates waiting (oldest at _pi)
        self._pi = 0
        self.reset()

    def reset(self):
        """Forget the signal (e.g. after a FIFO overrun); keeps the last tap,
        and the rattle veto's impulses and waiting candidates: a candidate
        already suspected (the radio starting for it) is judged on the
        company seen around the gap (the lost samples do not count, so its
        wait runs that much longer); and the vetoes the rattle context
        counts (a bag's rattle goes on through an overrun)."""
        self._bx = self._by = self._bz = 0  # baseline, mg << 4
        self._primed = False
        self._state = _IDLE
        self._act = 0
        self._hi = 0
        for i in range(_HIST):
            self._hist[i] = 0
        self._n = 0  # samples since the event started
        self._peak_e = 0
        self._end_e = 0
        self._peak_t = 0
        self._peak_n = 0
        self._pre = 0
        self._esum = 0
        self._flat = False
        self._ring = 0
        self._dead = 0
        self._lowwait = 0  # samples left to see whether a weak event leads a bigger one
        self._lowpre = 0
        self._peak_c = 0
        self._px = self._py = self._pz = 0  # the peak sample's high-pass vector
        self._turned = False

    def _rel(self, c, p):
        # c - p in samples, signed, for counters mod 2^24
        d = (c - p) & _CMASK
        return d - _CMASK - 1 if d > (_CMASK >> 1) else d

    def _rattle(self, p):
        """Non-zero when the candidate peaking at counter p keeps a rattle's
        company: which rule vetoed it (VETO_PRE, VETO_AFTER, VETO_TRAIN,
        VETO_CROWDED; the bench logs it), else 0."""
        lt, lm, n = self._lt, self._lm, self._nlog
        own = self._own
        pk = 0
        for j in range(n):
            d = self._rel(lt[j], p)
            if -own <= d <= own and lm[j] > pk:
                pk = lm[j]
        if pk < self._thr:
            pk = self._thr
        near_lim = pk * self._near_pct // 100
        pre_lim = near_lim if near_lim < self._pre_mg else self._pre_mg
        train_lim = pk * self._train_pct // 100
        if train_lim < self._train_mg:
            train_lim = self._train_mg
        near, near_lo, train = self._near, self._near_lo, self._train
        pre_lo = self._pre_lo
        count = 0
        last = -_CMASK  # the last impulse counted in the train
        oldest = 0
        after = 0  # the largest impulse since the candidate's own
        # oldest first: the slot after the newest, or slot 0 until the log is full
        i = (self._li + 1) % _LOG if n == _LOG else 0
        for _ in range(n):
            d = self._rel(lt[i], p)
            m = lm[i]
            i = (i + 1) % _LOG
            if d < oldest:
                oldest = d
            ad = d if d > 0 else -d
            if ad <= own:
                continue
            rise = True
            if d > 0:
                # after it, only an impulse above all since it is another
                # knock: the candidate's own ringing decays under its first
                rise = m > after
                if rise:
                    after = m
            if ad <= near:
                if d > 0:
                    if ad >= near_lo and m >= near_lim and rise:
                        return VETO_AFTER
                elif ad >= pre_lo and m >= pre_lim:
                    return VETO_PRE
            elif ad <= train and m >= train_lim and d - last > near_lo:
                # one event's lobes count once
                count += 1
                last = d
        if count >= self._train_n:
            return VETO_TRAIN
        # a full log that does not reach back to the window: crowded
        return VETO_CROWDED if n == _LOG and oldest > -train else 0

    def _echo(self, p, mg):
        """VETO_ECHO when an impulse of echo_pct % of mg came 12-200 ms after
        the candidate peaking at counter p, else 0."""
        if not self._echo_pct:
            return 0
        lim = (mg if mg > self._thr else self._thr) * self._echo_pct // 100
        lo = _ms_to_samples(12, self.odr_hz)
        hi = _ms_to_samples(200, self.odr_hz)  # a double touch's second comes 250 ms on
        lt, lm = self._lt, self._lm
        for j in range(self._nlog):
            if lm[j] >= lim and lo <= self._rel(lt[j], p) <= hi:
                return VETO_ECHO
        return 0

    def _judge(self, p, mg):
        """The rattle veto's verdict on the candidate peaking at counter p:
        which rule drops it (VETO_*), else 0. mg: its strength, negative when
        one sample wide (the echo rule then judges it too); 0 while the
        company after it is not yet known. A candidate the veto drops is
        remembered for the rattle context; one the context drops is not (so
        a wearer tapping again and again does not keep the context alive)."""
        why = self._rattle(p)
        if not why and mg < 0:
            why = self._echo(p, -mg)
        if why:
            self._vt[self._vi] = p
            self._vi = (self._vi + 1) % _VLOG
            if self._nv < _VLOG:
                self._nv += 1
            return why
        return self._context(p)

    def _context(self, p):
        """VETO_CONTEXT when ctx_n candidates the veto dropped peaked in the
        ctx_ms before the candidate peaking at counter p, else 0.

        Physics: a pin in a bag is knocked at every step for as long as the
        wearer walks (tapmodel.py, bag: 6-20 steps a bout, 0-3 knocks a step),
        so its knocks come with others the veto drops: on the tuning split
        ~350 an hour of the bag's, against 4-6 an hour among touches with
        the day's other transients (a table's echo, a touch with a knock near
        it), never two within a minute of a touch found there. A touch is a
        singular event on a pin in the hand or worn; a pin taken out of a bag
        to be touched is out of this state ctx_ms after the veto before last
        at the latest (10 s: stopping, opening the bag and finding the pin
        take about as long; ESTIMATE, docs/taps.md). The vetoes are rattle's
        own verdicts (knocks as sharp as keys, with company), not steps: a
        heel strike is not sharp enough to be company (see __init__), so a
        walk alone builds no context. Ages are counters mod 2^24 as the
        impulse log's are (a veto 11.6 h old could read as recent)."""
        if not self._ctx or self._nv < self._ctx_n:
            return 0
        vt, ctx = self._vt, self._ctx
        n = 0
        for j in range(self._nv):
            d = (p - vt[j]) & _CMASK
            if 0 < d <= ctx:
                n += 1
        if n < self._ctx_n:
            return 0
        self.contexts += 1
        return VETO_CONTEXT

    def _cancel(self, t_ms):
        self.cancels += 1
        if self.on_suspect is not None:
            self.on_suspect(t_ms, False)

    def feed(self, x, y, z, t_ms):
        # x, y, z are int16 range (what a driver's FIFO holds, in mg); only the
        # high-pass is clipped, inline because a call per axis costs more here
        if not self._primed:
            self._bx = x << 4
            self._by = y << 4
            self._bz = z << 4
            self._primed = True
            raw = self._raw
            for i in range(0, 3 * _RAW, 3):
                raw[i] = x
                raw[i + 1] = y
                raw[i + 2] = z
        hx = x - (self._bx >> 4)
        hy = y - (self._by >> 4)
        hz = z - (self._bz >> 4)
        if hx > _CLIP:
            hx = _CLIP
        elif hx < -_CLIP:
            hx = -_CLIP
        if hy > _CLIP:
            hy = _CLIP
        elif hy < -_CLIP:
            hy = -_CLIP
        if hz > _CLIP:
            hz = _CLIP
        elif hz < -_CLIP:
            hz = -_CLIP
        e = hx * hx + hy * hy + hz * hz
        state = self._state
        if state == _CHECK and self._lowwait and e > self._peak_e:
            # the candidate was the band-limited pulse's leading lobe (above
            # the threshold when the pulse is strong): measure the pulse
            state = _IDLE
        found = None
        if state == _EVENT:
            # baseline frozen: the event is measured against the signal before it
            self._n += 1
            if e > self._peak_e:
                self._peak_e = e
                self._peak_t = t_ms
                self._peak_n = self._n
                self._peak_c = self._c
                self._px = hx
                self._py = hy
                self._pz = hz
                self._turned = False
                if (e >> 4) > self._end_e:
                    self._end_e = e >> 4
            if not self._flat:
                # the sensor clipped: the same reading at full scale twice,
                # or one at the known full scale
                raw = self._raw
                j = 3 * ((self._c - 1) & (_RAW - 1))
                cl = self._clip
                if ((x == raw[j] and (x >= _FLAT or x <= -_FLAT)) or (y == raw[j + 1] and (y >= _FLAT or y <= -_FLAT))
                        or (z == raw[j + 2] and (z >= _FLAT or z <= -_FLAT))
                        or x >= cl or x <= -cl or y >= cl or y <= -cl or z >= cl or z <= -cl):
                    self._flat = True
            end = e < self._end_e
            if not end:
                if not self._turned:
                    # (the dot product stays a small int: 3 * 16383^2 < 2^30)
                    if (self._turn and self._flat and e < self._peak_e
                            and hx * self._px + hy * self._py + hz * self._pz < 0):
                        self._turned = True
                    else:
                        self._esum += e >> _WSHIFT
                if self._n > self._max_event:
                    if self._turned:
                        end = True
                    else:
                        self._state = _BUSY
            if end:
                pe = self._peak_e
                if (self._esum << 2) > (pe >> _WSHIFT) * (self._sat_q if self._flat else self._width_q):
                    self._state = _BUSY  # broad: a bump, not a knock
                elif pe < self._thr2:
                    # too weak for a tap: rattle, unless a bigger event follows
                    # at once (the band-limited pulse's own leading lobe)
                    self._lowwait = _LOWWAIT
                    self._lowpre = self._pre
                    self._state = _IDLE
                elif self._pre <= (pe // 10000) * self._quiet_pct2:
                    self._state = _CHECK
                    self._ring = 0
                    # a bigger peak at once would make this its leading lobe
                    self._lowwait = _LOWWAIT
                    self._lowpre = self._pre
                else:
                    self._state = _BUSY
        elif state == _CHECK:
            self._n += 1
            k = self._n - self._peak_n
            if k >= self._ring_start and e > self._ring:
                self._ring = e
            if k >= self._latency:
                pe = self._peak_e
                if self._ring <= (pe // 10000) * (self._sat_ring_pct2 if self._flat else self._ring_pct2):
                    self._dead = self._refractory - k
                    if self._train:
                        # The company before it is known now: a candidate
                        # vetoed by it is never suspected (the veto only
                        # grows with what comes after, so the verdict holds).
                        if not self._judge(self._peak_c, 0):
                            # wait for the company after it (a full queue
                            # drops the oldest: eight candidates in train_ms
                            # are rattle anyway)
                            i = (self._pi + self._np) % _PEND
                            if self._np == _PEND:
                                self._pi = (self._pi + 1) % _PEND
                                self._cancel(self._pt[i])
                            else:
                                self._np += 1
                            self._pc[i] = self._peak_c
                            self._pt[i] = self._peak_t
                            mg = isqrt(pe)
                            self._pm[i] = -mg if self._esum <= ((pe >> _WSHIFT) * 29) // 25 else mg
                            self.suspects += 1
                            if self.on_suspect is not None:
                                self.on_suspect(self._peak_t, True)
                    else:
                        self.tap_ms = self._peak_t
                        self.tap_mg = isqrt(pe)
                        self.taps += 1
                        found = True
                self._state = _IDLE
        elif state == _BUSY:
            if e < self._off2:
                self._state = _IDLE
        elif e >= self._lo2:
            if self._dead > 0:
                self._state = _BUSY
            else:
                self._state = _EVENT
                self._n = 0
                self._peak_e = e
                self._peak_t = t_ms
                self._peak_n = 0
                self._peak_c = self._c
                self._end_e = self._off2 if self._off2 > (e >> 4) else e >> 4
                if self._lowwait:
                    self._lowwait = 0
                    self._pre = self._lowpre
                else:
                    self._pre = self._hist[(self._hi - self._lag) % _HIST]
                self._esum = e >> _WSHIFT
                self._turned = False
                self._px = hx
                self._py = hy
                self._pz = hz
                cl = self._clip
                self._flat = x >= cl or x <= -cl or y >= cl or y <= -cl or z >= cl or z <= -cl
        if self._dead > 0:
            self._dead -= 1
        if self._lowwait:
            self._lowwait -= 1
        # raw history (the clip check reads the previous sample)
        c = self._c
        raw = self._raw
        j = 3 * (c & (_RAW - 1))
        raw[j] = x
        raw[j + 1] = y
        raw[j + 2] = z
        if self._train:  # the rattle veto's impulse log: nothing to pay for when it is off
            # second difference of the sample w before this one
            m = 3 * ((c - self._w) & (_RAW - 1))
            a = 3 * ((c - self._w2) & (_RAW - 1))
            d = 2 * raw[m] - raw[a] - x
            v = d if d > 0 else -d
            d = 2 * raw[m + 1] - raw[a + 1] - y
            v += d if d > 0 else -d
            d = 2 * raw[m + 2] - raw[a + 2] - z
            v += d if d > 0 else -d
            v >>= 1
            if v >= self._imp_lo:
                ct = (c - self._w) & _CMASK
                li = self._li
                if self._nlog and ((ct - self._lt[li]) & _CMASK) < self._sep:
                    if v > self._lm[li]:
                        self._lt[li] = ct
                        self._lm[li] = v
                else:
                    li = (li + 1) % _LOG
                    self._lt[li] = ct
                    self._lm[li] = v
                    self._li = li
                    if self._nlog < _LOG:
                        self._nlog += 1
            if self._np and ((c - self._pc[self._pi]) & _CMASK) >= self._ahead:
                i = self._pi
                self._pi = (i + 1) % _PEND
                self._np -= 1
                mg = self._pm[i]
                if not self._judge(self._pc[i], mg):
                    self.tap_ms = self._pt[i]
                    self.tap_mg = mg if mg > 0 else -mg
                    self.taps += 1
                    found = True
                else:
                    self._cancel(self._pt[i])
        self._c = (c + 1) & _CMASK
        if self._state != _EVENT:
            # tracking again while checking for ringing, so only fast
            # oscillation (a table's modes) counts there, not the slow recoil
            k = self._k
            self._bx += ((x << 4) - self._bx) >> k
            self._by += ((y << 4) - self._by) >> k
            self._bz += ((z << 4) - self._bz) >> k
        act = self._act
        act -= act >> self._decay
        act = e if e > act else act
        self._act = act
        hi = (self._hi + 1) % _HIST
        self._hist[hi] = act
        self._hi = hi
        if found and self.on_tap is not None:
            self.on_tap(self.tap_ms, self.tap_mg)
        return found

    def feed_fifo(self, buf, n, t_last_ms):
        """Feed a FIFO burst: `buf` holds n samples x, y, z interleaved (mg,
        e.g. the array("h") a driver's read_fifo() filled), the last one taken
        at t_last_ms (time.ticks_ms() when the burst was read); earlier
        samples are timed back from it at 1/odr_hz. Returns the number of taps
        confirmed in the burst (the last one in tap_ms/tap_mg; on_tap sees
        each)."""
        found = 0
        period = self.period_us
        j = 0
        for i in range(n):
            back = ((n - 1 - i) * period) // 1000
            if self.feed(buf[j], buf[j + 1], buf[j + 2], time.ticks_add(t_last_ms, -back)):
                found += 1
            j += 3
        return found

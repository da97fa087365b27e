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
#   bench's held-out split at 400 Hz: recall 97.8%, 88% for 6-10 ms contacts.
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
_FAR = const(0x3FFFFFFF)  # "long ago" for the since-counters (a small int on 32-bit ports)


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
    its peak sample, ~`latency_ms` (+ `post_ms` with the rattle veto) before
    the call that reports it) and
    `tap_mg` (peak high-pass magnitude, mg). `on_tap(t_ms, mg)` if given is
    called as well.

    odr_hz: the sensor's output data rate (>= 200 Hz, 400-500 recommended).
    threshold_mg: minimum peak of the high-passed magnitude.
    width_ms: maximum energy width (sum of squared magnitude / its peak).
    max_event_ms: longest time above max(threshold/2, peak/4) for a tap.
    latency_ms: window after the peak that must stay below ring_pct % of it.
    refractory_ms: dead time after a tap (a double tap 250 ms apart is two taps).
    lo_pct, iso_ms, post_ms: the rattle veto (off by default, see __init__).
    """

    def __init__(self, odr_hz, threshold_mg=800, width_ms=6, max_event_ms=15, latency_ms=30,
                 ring_pct=45, quiet_pct=50, refractory_ms=120, lo_pct=100, iso_ms=0, post_ms=0,
                 on_tap=None):
        self.odr_hz = odr_hz
        self.on_tap = on_tap
        self._thr2 = threshold_mg * threshold_mg
        lo = threshold_mg * lo_pct // 100
        self._lo2 = lo * lo
        self._off2 = self._lo2 >> 2  # an event ends below half the evidence level...
        # ...or a quarter of its peak (a strong tap's recoil is not its width)
        # width in quarter samples, compared against the energy sum; a tap is
        # at least a sample wide whatever the rate, hence the floor
        self._width_q = max(10, (width_ms * odr_hz * 4 + 500) // 1000)
        self._max_event = _ms_to_samples(max_event_ms, odr_hz)
        self._latency = _ms_to_samples(latency_ms, odr_hz)
        self._ring_start = _ms_to_samples(8, odr_hz)  # skip the pulse's own tail
        self._ring_pct2 = ring_pct * ring_pct
        self._quiet_pct2 = quiet_pct * quiet_pct
        self._refractory = _ms_to_samples(refractory_ms, odr_hz)
        # Rattle (off by default): keys or a phone knocking against a pin in
        # a bag make impulsive events in trains, most too weak or too crowded
        # to pass for a tap; a touch comes alone (or as a double touch). With
        # iso_ms/post_ms, a narrow event above lo_pct % of the threshold that
        # is no tap vetoes taps for iso_ms after it and cancels a tap found up
        # to post_ms before it (a tap is then reported post_ms after its
        # peak). Measured on the tuning split (docs/taps.md): lo_pct=60,
        # iso_ms=1000, post_ms=600 cut false taps from modelled bag rattle
        # 2.7x but lose 1% of touches, so the defaults keep recall.
        self._iso = _ms_to_samples(iso_ms, odr_hz) if iso_ms > 0 else 0
        self._post = _ms_to_samples(post_ms, odr_hz) if post_ms > 0 else 0
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
        self.reset()

    def reset(self):
        """Forget the signal (e.g. after a FIFO overrun); keeps the last tap."""
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
        self._ring = 0
        self._dead = 0
        self._since_odd = _FAR  # samples since an impulsive event that was no tap
        self._since_imp = _FAR  # ... since the last impulsive event of any kind
        self._since_imp2 = _FAR  # ... since the one before it
        self._lowwait = 0  # samples left to see whether a weak event leads a bigger one
        self._lowpre = 0
        self._pend = 0  # samples until the pending tap is reported (0: none)
        self._pend_t = 0
        self._pend_mg = 0

    def _odd(self):
        # an impulsive event that is no tap: rattle, and so is a tap just before it
        self._since_odd = 0
        self._since_imp2 = self._since_imp
        self._since_imp = 0
        self._pend = 0

    def _report(self):
        self.tap_ms = self._pend_t
        self.tap_mg = self._pend_mg
        self.taps += 1
        self._pend = 0

    def feed(self, x, y, z, t_ms):
        # x, y, z are int16 range (what a driver's FIFO holds, in mg); only the
        # high-pass is clipped, inline because a call per axis costs more here
        if not self._primed:
            self._bx = x << 4
            self._by = y << 4
            self._bz = z << 4
            self._primed = True
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
        found = None
        if state == _EVENT:
            # baseline frozen: the event is measured against the signal before it
            self._n += 1
            if e > self._peak_e:
                self._peak_e = e
                self._peak_t = t_ms
                self._peak_n = self._n
                if (e >> 4) > self._end_e:
                    self._end_e = e >> 4
            if e >= self._end_e:
                self._esum += e >> _WSHIFT
                if self._n > self._max_event:
                    self._state = _BUSY
            else:
                pe = self._peak_e
                if (self._esum << 2) > (pe >> _WSHIFT) * self._width_q:
                    self._state = _BUSY  # broad: a bump, not a knock
                elif pe < self._thr2:
                    # too weak for a tap: rattle, unless a bigger event follows
                    # at once (the band-limited pulse's own leading lobe)
                    self._lowwait = _LOWWAIT
                    self._lowpre = self._pre
                    self._state = _IDLE
                elif (self._pre <= (pe // 10000) * self._quiet_pct2
                        and self._since_odd >= self._iso and self._since_imp2 >= self._iso):
                    self._state = _CHECK
                    self._ring = 0
                else:
                    self._odd()
                    self._state = _BUSY
        elif state == _CHECK:
            self._n += 1
            k = self._n - self._peak_n
            if k >= self._ring_start and e > self._ring:
                self._ring = e
            if k >= self._latency:
                pe = self._peak_e
                if self._ring <= (pe // 10000) * self._ring_pct2:
                    if self._pend:  # a double touch: the first is a tap now
                        self._report()
                        found = True
                    self._pend = self._post - k if self._post > k else 1
                    self._pend_t = self._peak_t
                    self._pend_mg = isqrt(pe)
                    self._dead = self._refractory - k
                    self._since_imp2 = self._since_imp
                    self._since_imp = k
                else:
                    self._odd()
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
                self._end_e = self._off2 if self._off2 > (e >> 4) else e >> 4
                if self._lowwait:
                    self._lowwait = 0
                    self._pre = self._lowpre
                else:
                    self._pre = self._hist[(self._hi - self._lag) % _HIST]
                self._esum = e >> _WSHIFT
        if self._dead > 0:
            self._dead -= 1
        if self._lowwait:
            self._lowwait -= 1
            if not self._lowwait:
                self._odd()
        if self._since_odd < _FAR:
            self._since_odd += 1
        if self._since_imp < _FAR:
            self._since_imp += 1
        if self._since_imp2 < _FAR:
            self._since_imp2 += 1
        if self._pend:
            if self._pend > 1 or found:
                self._pend -= 1 if self._pend > 1 else 0
            else:
                self._report()
                found = True
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

    def locate(self, buf, n, t_last_ms):
        """Time-stamp, measure and confirm a hardware click (LIS3DH click
        engine) from the FIFO samples around it. Each sample is measured
        against the mean of the samples ~8 ms either side (the burst's end
        sample where it runs out), which keeps a contact of up to ~10 ms at
        its full height and sinks walking and swings; the click is the sample
        that stands out most. Returns True and sets tap_ms/tap_mg when it
        stands out by the threshold and the signal was quiet (below
        quiet_pct % of it) from 16 to 8 ms before it, as far as the burst
        reaches back; else None. Stateless, a few operations a sample, no
        allocation."""
        w = self._lag  # ~8 ms in samples
        last = n - 1
        best = 0
        best_i = -1
        for i in range(1, last):
            a = i - w if i >= w else 0
            b = i + w if i + w <= last else last
            j, ja, jb = 3 * i, 3 * a, 3 * b
            dx = (2 * buf[j] - buf[ja] - buf[jb]) >> 1
            dy = (2 * buf[j + 1] - buf[ja + 1] - buf[jb + 1]) >> 1
            dz = (2 * buf[j + 2] - buf[ja + 2] - buf[jb + 2]) >> 1
            e = dx * dx + dy * dy + dz * dz
            if e > best:
                best = e
                best_i = i
        if best_i < 0 or best < self._thr2:
            return None
        # quiet before: the same measure, on samples 2w..w before the click
        lim = (best // 10000) * self._quiet_pct2
        for i in range(best_i - 2 * w, best_i - w):
            if i < 1:
                continue
            a = i - w if i >= w else 0
            j, ja, jb = 3 * i, 3 * a, 3 * (i + w)
            dx = (2 * buf[j] - buf[ja] - buf[jb]) >> 1
            dy = (2 * buf[j + 1] - buf[ja + 1] - buf[jb + 1]) >> 1
            dz = (2 * buf[j + 2] - buf[ja + 2] - buf[jb + 2]) >> 1
            if dx * dx + dy * dy + dz * dz > lim:
                return None
        self.tap_ms = time.ticks_add(t_last_ms, -(((n - 1 - best_i) * self.period_us) // 1000))
        self.tap_mg = isqrt(best)
        return True

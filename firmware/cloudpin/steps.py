"""Step counter: pure integer logic, fed one accelerometer sample at a time.

Input is acceleration in milli-g (mg) on three axes, at the sensor's output
rate `odr_hz` (12.5..100 Hz). `feed_fifo` takes a FIFO burst of little-endian
int16 triples and converts them with `mg = raw * mul >> shift`.

How it counts (why each stage is there):
1. Samples are block-averaged to an internal rate of about 25 Hz (a boxcar
   low-pass; steps live below 5 Hz) so every ODR runs the same logic and the
   per-sample cost is three additions.
2. The magnitude of the averaged vector makes the count independent of how the
   pin hangs or rotates; a one-pole low-pass (tau ~1 s) estimates gravity and is
   subtracted, a 120 ms moving average smooths the rest.
3. Walking is recognised by its periodicity: every 0.5 s the normalised
   autocorrelation of the last 4 s is searched for peaks at lags of
   0.35..2 s. The best peak says how periodic the signal is; the period is the
   *shortest* lag that repeats within 0.1 of the best (its multiples, 2 or 3
   steps, repeat as well, and picking the highest would count them as one).
   Whether that period is one step or a stride (left + right) is decided by
   physics, not by which repeats better: longer than 0.95 s it is a stride
   (a step would be < 63/min); shorter, it is a stride only if the two steps
   show as a repeat at half the period, i.e. r(P/2) exceeds r(3P/4) by 0.4
   (one bump per period puts the deepest trough at P/2). 0.95 s is the
   log-middle of 60/P and 120/P around a typical 90 steps/min. Limitation:
   a walker above 126 steps/min whose two steps look exactly alike *and* show
   no sub-repeat would be counted at half; a 68/min stroll read as strides
   (the old rule) was counted at double, and strolls occur in the data.
   Steps are only credited once the best peak stays above 0.5 with a
   consistent stride or period (within 10%; either, so a reading that flips
   between step and stride, or between a period and its double, does not
   restart the count) for 6 evaluations (3 s) and the signal is stronger
   than 45 mg rms: arm movements, desk work and vehicle vibration are rarely
   that periodic for that long. The seconds that led up to the decision
   (window plus one period) are credited at once.
4. While walking, steps are integrated at two per stride (a phase accumulator)
   and the stride is re-estimated every 0.5 s (parabolic interpolation between
   lags). Walking ends when periodicity drops below 0.4; for 10 s after that it
   may resume on a single good evaluation (a pause at a door, not a new walk).
   A whole stride of stillness (|signal| < 50 mg) ends a walk at once, and
   neither that stride nor stillness before a walk is credited.

All state is preallocated; the hot path allocates nothing under MicroPython.
The autocorrelation kernel, most of the work, has a viper version (`fast`).
"""
import array
import sys

import micropython
from micropython import const

_RATE_HZ = const(25)  # internal processing rate after block averaging
_TAU_G_MS = const(1000)  # gravity estimate time constant
_SMOOTH_MS = const(120)  # moving-average length
_WIN_MS = const(4000)  # autocorrelation window
_HOP_MS = const(500)  # evaluation interval
_STEP_MIN_MS = const(350)  # shortest period searched: 171 steps/min
_STEP_MAX_MS = const(950)  # a period longer than this is a stride (60/min)
_STRIDE_MAX_MS = const(2000)  # longest period searched: 60 steps/min
_STILL_MS = const(750)  # this long below _QUIET_MG counts as standing still
_NEAR_BEST = const(102)  # fundamental: first peak within 0.1 of the best (Q10)
_HALF_MIN = const(410)  # r(P/2) - r(3P/4) above this: two steps per period P
_AC_IN = const(512)  # periodicity to start walking, Q10 (0.5)
_AC_OUT = const(410)  # periodicity to keep walking, Q10 (0.4)
_RMS_MIN_MG = const(45)  # quieter than this is not walking
_CONFIRM = const(6)  # consistent evaluations needed to start walking
_RELAX_MS = const(10000)  # after a walk, resume on one evaluation
_QUIET_MG = const(50)  # a whole stride below this: the walk has stopped
_CLIP_MG = const(2047)  # keeps window sums inside a 31-bit small int
_ONE_Q16 = const(65536)

_MP = sys.implementation.name == "micropython"


def _acf_py(ring, size, end, win, lo, hi, out):
    """Normalised autocorrelation of the last `win` samples of `ring` (newest
    at `end`) for lags lo..hi into out[lag] (Q10, 1024 = identical); returns
    the window energy."""
    e0 = 0
    i = end
    for _ in range(win):
        a = ring[i]
        e0 += a * a
        i -= 1
        if i < 0:
            i += size
    for lag in range(lo, hi + 1):
        c = 0
        e1 = 0
        i = end
        k = end - lag
        if k < 0:
            k += size
        for _ in range(win):
            b = ring[k]
            c += ring[i] * b
            e1 += b * b
            i -= 1
            if i < 0:
                i += size
            k -= 1
            if k < 0:
                k += size
        out[lag] = c // (((e0 + e1) >> 11) + 1)
    return e0


_acf_fast = _acf_py
if _MP:

    @micropython.viper
    def _acf_viper(ring, size: int, end: int, win: int, lo: int, hi: int, out) -> int:
        p = ptr16(ring)
        o = ptr32(out)
        e0 = 0
        i = end
        for _ in range(win):
            a = int(p[i])
            if a & 0x8000:
                a -= 0x10000
            e0 += a * a
            i -= 1
            if i < 0:
                i += size
        lag = lo
        while lag <= hi:
            c = 0
            e1 = 0
            i = end
            k = end - lag
            if k < 0:
                k += size
            for _ in range(win):
                a = int(p[i])
                if a & 0x8000:
                    a -= 0x10000
                b = int(p[k])
                if b & 0x8000:
                    b -= 0x10000
                c += a * b
                e1 += b * b
                i -= 1
                if i < 0:
                    i += size
                k -= 1
                if k < 0:
                    k += size
            o[lag] = c // (((e0 + e1) >> 11) + 1)
            lag += 1
        return e0

    _acf_fast = _acf_viper


class StepCounter:
    """Counts steps; `steps` is the running total, `walking` the current state."""

    def __init__(self, odr_hz, fast=True):
        if not 5 <= odr_hz <= 1000:  # tap rates (400-500 Hz) are averaged down
            raise ValueError("odr_hz out of range")
        dec = int(odr_hz / _RATE_HZ + 0.5)
        self._dec = dec if dec > 0 else 1
        rate = odr_hz / self._dec
        self.rate_hz = rate
        self._acf = _acf_fast if fast else _acf_py

        def n_of(ms):
            return int(rate * ms / 1000 + 0.5)

        gk = 1
        while (1 << (gk + 1)) <= rate * _TAU_G_MS / 1000 * 1.414:
            gk += 1
        self._gk = gk
        self._sw = max(1, n_of(_SMOOTH_MS))
        self._smooth = array.array("h", bytes(2 * self._sw))
        self._win = n_of(_WIN_MS)
        self._hop = max(1, n_of(_HOP_MS))
        self._lmin = max(3, int(rate * _STEP_MIN_MS / 1000))
        self._lstep = int(rate * _STEP_MAX_MS / 1000)
        self._lmax = int(rate * _STRIDE_MAX_MS / 1000 + 0.999)
        self._still = max(2, n_of(_STILL_MS))
        self._size = self._win + self._lmax + 3
        self._ring = array.array("h", bytes(2 * self._size))
        self._rr = array.array("i", bytes(4 * (self._lmax + 3)))
        self._relax = n_of(_RELAX_MS)
        self.steps = 0
        self.reset()

    def reset(self):
        """Forget the signal history (the total is kept)."""
        self._cnt = 0
        self._sx = 0
        self._sy = 0
        self._sz = 0
        self._mag = 0
        self._g = -1
        self._si = 0
        self._ssum = 0
        for i in range(self._sw):
            self._smooth[i] = 0
        self._ri = 0
        self._n = 0
        self._hopc = self._hop
        self.walking = False
        self._stride = 0  # Q8 samples
        self._inc = 0
        self._ph = 0
        self._ok = 0
        self._last = 0
        self._lastp = 0
        self._wend = -self._relax - 1
        self._quiet = 0  # consecutive quiet samples
        self._since = 0  # samples since the last quiet stride
        self._entry = self.steps  # total when the current walk was credited
        self.filtered = 0  # last smoothed dynamic magnitude, mg
        self.periodicity = 0  # last evaluation's best autocorrelation peak, Q10

    def period_ms(self):
        """Current step period in ms (0 when not walking)."""
        if not self.walking:
            return 0
        return int(self._stride * 500 // 256 / self.rate_hz)

    def feed(self, x, y, z):
        self._sx += x
        self._sy += y
        self._sz += z
        self._cnt += 1
        if self._cnt >= self._dec:
            self._tick()

    def feed_fifo(self, buf, n, mul=1, shift=0):
        """Feed `n` samples from `buf`: int16 little-endian x, y, z triples;
        mg = raw * mul >> shift (e.g. LIS3DH +-2 g high-res: mul 1, shift 4)."""
        o = 0
        for _ in range(n):
            x = buf[o] | (buf[o + 1] << 8)
            y = buf[o + 2] | (buf[o + 3] << 8)
            z = buf[o + 4] | (buf[o + 5] << 8)
            if x & 0x8000:
                x -= 0x10000
            if y & 0x8000:
                y -= 0x10000
            if z & 0x8000:
                z -= 0x10000
            self.feed((x * mul) >> shift, (y * mul) >> shift, (z * mul) >> shift)
            o += 6

    def _tick(self):
        d = self._dec
        x = self._sx // d
        y = self._sy // d
        z = self._sz // d
        self._sx = 0
        self._sy = 0
        self._sz = 0
        self._cnt = 0
        m = self._isqrt(x * x + y * y + z * z)
        gk = self._gk
        if self._g < 0:
            self._g = m << gk
        self._g += m - (self._g >> gk)
        hp = m - (self._g >> gk)
        if hp > _CLIP_MG:
            hp = _CLIP_MG
        elif hp < -_CLIP_MG:
            hp = -_CLIP_MG
        si = self._si
        self._ssum += hp - self._smooth[si]
        self._smooth[si] = hp
        si += 1
        self._si = si if si < self._sw else 0
        s = self._ssum // self._sw
        self.filtered = s
        ri = self._ri
        self._ring[ri] = s
        ri += 1
        self._ri = ri if ri < self._size else 0
        self._n += 1
        if -_QUIET_MG < s < _QUIET_MG:
            self._quiet += 1
            if self._quiet >= self._still:
                self._since = 0
        else:
            self._quiet = 0
        self._since += 1
        if self.walking:
            self._ph += self._inc
            if self._ph >= _ONE_Q16:
                self._ph -= _ONE_Q16
                self.steps += 1
            if self._quiet << 8 >= self._stride:
                # Still for a whole stride: stopped. Take back what the
                # phase accumulator credited for that still stride (2 steps).
                back = self.steps - self._entry
                self.steps -= 2 if back >= 2 else back
                self.walking = False
                self._wend = self._n
                self._ok = 0
        self._hopc -= 1
        if self._hopc <= 0:
            self._hopc = self._hop
            if self._n >= self._size:
                self._evaluate()

    def _isqrt(self, v):
        # Newton's method seeded with the previous magnitude: 1-2 rounds.
        r = self._mag
        if r <= 0:
            r = 1024
        for _ in range(8):
            q = (r + v // r) >> 1
            if q == r or q == r + 1:
                break
            r = q
        if r <= 0:
            r = 1
        self._mag = r
        return r

    def _evaluate(self):
        rr = self._rr
        end = self._ri - 1
        if end < 0:
            end += self._size
        lo = self._lmin
        hi = self._lmax
        e0 = self._acf(self._ring, self._size, end, self._win, lo - 1, hi + 1, rr)
        best = -1
        for lag in range(lo, hi + 1):
            v = rr[lag]
            if v > best and v >= rr[lag - 1] and v > rr[lag + 1]:
                best = v
        self.periodicity = best
        # The fundamental period is the shortest lag that repeats about as
        # well as the best one: its multiples (2, 3 steps) repeat too.
        bl = 0
        floor = best - _NEAR_BEST
        for lag in range(lo, hi + 1):
            v = rr[lag]
            if v >= floor and v >= rr[lag - 1] and v > rr[lag + 1]:
                bl = lag
                break
        n = self._n
        relaxed = self.walking or n - self._wend <= self._relax
        th = _AC_OUT if relaxed else _AC_IN
        if bl == 0 or best < th or e0 < _RMS_MIN_MG * _RMS_MIN_MG * self._win:
            if self.walking:
                self._wend = n
            self.walking = False
            self._ok = 0
            return
        # One step or a whole stride? Too slow for a step, or left and right
        # steps visible as a repeat at half the period (a peak there, where
        # a period with one bump per cycle has its deepest trough): a stride.
        steps2 = bl > self._lstep
        h = bl >> 1
        if not steps2 and h >= lo:
            steps2 = rr[h] - rr[h + (h >> 1)] >= _HALF_MIN
        a = rr[bl - 1]
        b = rr[bl]
        c = rr[bl + 1]
        den = a - 2 * b + c
        off = (128 * (a - c)) // den if den < 0 else 0
        if off > 128:
            off = 128
        elif off < -128:
            off = -128
        per = (bl << 8) + off
        stride = per if steps2 else per << 1
        self._stride = stride
        self._inc = (1 << 25) // stride
        if self.walking:
            return
        # Consistent: the same stride, or the same period (a step/stride
        # reading that flips near 0.95 s does not restart the count).
        if self._ok and (abs(stride - self._last) * 10 <= stride or abs(per - self._lastp) * 10 <= per):
            self._ok += 1
        else:
            self._ok = 1
        self._last = stride
        self._lastp = per
        if self._ok < (1 if relaxed else _CONFIRM):
            return
        if self._since < self._still:
            return  # still now: periodicity from the past only
        self.walking = True
        # The first evaluation's evidence spans its window plus one period.
        span = self._win + bl + (self._ok - 1) * self._hop
        if relaxed and span > n - self._wend:
            span = n - self._wend
        if span > self._since:
            span = self._since
        self.steps += (span << 9) // stride
        self._entry = self.steps

# Acceleration sources for sensor models: what the pin feels, as a continuous
# signal of time since the source started.
#
# A model asks for mean_ug(t0_us, t1_us, out, j): the average over one output
# period, written to out[j], out[j + 1], out[j + 2] as integer micro-g. That
# box filter is the anti-alias low-pass of the sensor's digital chain when the
# output rate is below the recording's rate, and plain interpolation when it
# is above. Everything is integer and written in place: in the VM a float or
# a tuple is a heap object, and a model runs this at the sensor's rate
# (400 Hz) in the firmware's heap, where the chip itself would allocate nothing.
# mean(t0_ms, t1_ms) -> (x, y, z) in g is kept for other callers.
#
# Recording replays a `t_ms,x,y,z` CSV (shared/data/steps/README.md): linear
# between samples, held before the first and after the last (or looped). The
# file is parsed forward from a fixed buffer, two rows in memory, so multi-MB
# recordings cost nothing in the 100 KB VM; going back in time reopens it.
# Built with a device (a virtual badge's accelerometer), a file that cannot be
# read, at the start or at any later row, never raises into the sensor model:
# the source holds still (its last good sample, or 1 g on z) and a "warn" note
# on the device says why, as a sensor keeps answering whatever its wearer does.
from micropython import const

_CHUNK = const(256)  # bytes read at a time
_SCALE = (3, 6, 6, 6)  # decimal digits kept per column: t in us, x/y/z in ug
_MAX_FRAC = const(12)  # fraction digits beyond these cannot matter at ug


def _div_round(a, b):
    """a / b rounded half away from zero (b > 0), in integers."""
    if a >= 0:
        return (2 * a + b) // (2 * b)
    return -((-2 * a + b) // (2 * b))


class Recording:
    def __init__(self, path, loop=False, device=None):
        self.path = path
        self.loop = loop
        self.device = device
        self.failed = None  # why the file stopped being replayed (with a device)
        self._f = None
        self._buf = bytearray(_CHUNK)
        self._p0 = [0, 0, 0, 0]  # t_us, x, y, z (ug) of the row at or before now
        self._p1 = [0, 0, 0, 0]  # the row after it, if _has1
        self._line = 1  # of the file, for messages
        try:
            self._rewind()
        except (OSError, ValueError) as e:
            self._fail(e, False)

    def _fail(self, e, keep):
        """Stop replaying: hold the last good sample (keep) or a pin lying
        still, and say why on the device; without one, raise."""
        self.close()
        if self.device is None:
            raise e
        self.failed = "%s" % (e,)
        self.loop = False
        self._has1 = False
        if not keep:
            self._p0[0] = self._start = self._offset = 0
            self._p0[1] = self._p0[2] = 0
            self._p0[3] = 1000000
        self.device.note("warn", "recording %s unreadable (%s): the accelerometer holds %s from now on" % (
            self.path, self.failed, "its last sample" if keep else "still, 1 g on z"))

    # --- reading rows -------------------------------------------------------------
    def _open(self):
        self.close()
        self._f = open(self.path, "rb")
        line = self._f.readline(64)  # bounded: a binary file may have no newline
        if line[:3] == b"\xef\xbb\xbf":  # a spreadsheet's UTF-8 BOM, as the benches allow
            line = line[3:]
        try:
            head = line.decode().replace(" ", "").strip()
        except ValueError:  # not UTF-8 (UnicodeError)
            head = None
        if head is None or not head.startswith("t_ms,x,y,z"):
            raise ValueError("%s: expected a 't_ms,x,y,z' header, got %r" % (self.path, line[:16]))
        self._pos = 0
        self._end = 0
        self._line = 2

    def _rewind(self):
        self._offset = 0
        self._start = 0
        self._open()
        self._last_dt = 0
        self._has1 = False
        if not self._row(self._p0):
            raise ValueError("%s: no samples" % self.path)
        self._start = self._p0[0]
        self._has1 = self._next(self._p1)

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None

    def _byte(self):
        """Next byte of the file, -1 at its end."""
        if self._pos == self._end:
            self._end = self._f.readinto(self._buf) or 0
            self._pos = 0
            if not self._end:
                return -1
        b = self._buf[self._pos]
        self._pos += 1
        return b

    def _row(self, dst):
        """Parse the next row with at least 4 numbers into dst (t_us + offset,
        x, y, z in ug); False at the end of the file. Digits are accumulated
        as integers: no float, no string per row."""
        field = acc = frac = exp = 0
        neg = dot = eneg = ine = digits = False
        while True:
            b = self._byte()
            if 48 <= b <= 57:  # digit
                digits = True
                if ine:
                    exp = exp * 10 + b - 48
                elif not dot:
                    acc = acc * 10 + b - 48
                elif frac < _MAX_FRAC:
                    acc = acc * 10 + b - 48
                    frac += 1
            elif b == 46:  # .
                dot = True
            elif b == 45:  # -
                if ine:
                    eneg = True
                else:
                    neg = True
            elif b == 101 or b == 69:  # e E
                ine = True
            elif b == 44 or b == 10 or b == -1:  # , newline, end of file
                if digits:
                    if field < 4:
                        p = _SCALE[field] - frac + (-exp if eneg else exp)
                        v = acc * 10 ** p if p >= 0 else _div_round(acc, 10 ** -p)
                        dst[field] = -v if neg else v
                    field += 1
                elif b == 44 or field:
                    if field < 4:
                        raise ValueError("%s:%d: empty number in a row" % (self.path, self._line))
                    field += 1
                if b != 44:
                    self._line += 1
                    if field >= 4:
                        dst[0] += self._offset
                        return True
                    if b == -1:
                        return False
                    field = 0  # a short or empty line: skipped
                acc = frac = exp = 0
                neg = dot = eneg = ine = digits = False
            elif b != 43 and b != 32 and b != 13 and b != 9:  # + space CR tab
                raise ValueError("%s:%d: not a number in a row (byte 0x%02x)" % (self.path, self._line, b))

    def _next(self, dst):
        ok = self._row(dst)
        if not ok and self.loop:
            # Start again one sample interval after the last sample.
            self._open()
            self._offset = self._p0[0] + (self._last_dt or 1000) - self._start
            ok = self._row(dst)
        if ok:
            self._last_dt = dst[0] - self._p0[0]
        return ok

    def _seek(self, t):
        # The move apart: a frame with a try is taken from the heap at every
        # call (py/objfun.c VM_MAX_STATE_ON_STACK), this check's is not.
        if self.failed is None and (t < self._p0[0] or self._has1 and self._p1[0] <= t):
            self._move(t)

    def _move(self, t):
        rewound = False
        try:
            if t < self._p0[0] and (self._offset or self._p0[0] != self._start):
                rewound = True
                self._rewind()
            while self._has1 and self._p1[0] <= t:
                self._p0, self._p1 = self._p1, self._p0
                self._has1 = self._next(self._p1)
        except (OSError, ValueError) as e:
            self._fail(e, not rewound)  # a failed rewind may have left _p0 half read

    # --- values ---------------------------------------------------------------------
    def _value(self, t, i):
        p0 = self._p0
        if not self._has1 or t <= p0[0]:
            return p0[i]
        p1 = self._p1
        return p0[i] + (p1[i] - p0[i]) * (t - p0[0]) // (p1[0] - p0[0])

    def at_ug(self, t_us, out, j):
        self._seek(t_us)
        out[j] = self._value(t_us, 1)
        out[j + 1] = self._value(t_us, 2)
        out[j + 2] = self._value(t_us, 3)

    def mean_ug(self, t0_us, t1_us, out, j):
        """Average acceleration over [t0_us, t1_us] into out[j:j + 3] (ug):
        the trapezoids of the piecewise-linear signal, summed exactly."""
        if t1_us <= t0_us:
            self.at_ug(t1_us, out, j)
            return
        sx = sy = sz = 0
        t = t0_us
        while t < t1_us:
            self._seek(t)
            p0 = self._p0
            end = t1_us
            if t < p0[0] or not self._has1:  # held before the first / after the last row
                if t < p0[0] < t1_us:
                    end = p0[0]
                dt = 2 * (end - t)
                sx += p0[1] * dt
                sy += p0[2] * dt
                sz += p0[3] * dt
            else:
                p1 = self._p1
                if p1[0] < t1_us:
                    end = p1[0]
                dt = end - t
                span = p1[0] - p0[0]
                a = t - p0[0]
                b = end - p0[0]
                d = p1[1] - p0[1]
                sx += (2 * p0[1] + d * a // span + d * b // span) * dt
                d = p1[2] - p0[2]
                sy += (2 * p0[2] + d * a // span + d * b // span) * dt
                d = p1[3] - p0[3]
                sz += (2 * p0[3] + d * a // span + d * b // span) * dt
            t = end
        n = 2 * (t1_us - t0_us)
        out[j] = _div_round(sx, n)
        out[j + 1] = _div_round(sy, n)
        out[j + 2] = _div_round(sz, n)

    def at(self, t_ms):
        g = [0, 0, 0]
        self.at_ug(int(round(t_ms * 1000)), g, 0)
        return (g[0] / 1e6, g[1] / 1e6, g[2] / 1e6)

    def mean(self, t0_ms, t1_ms):
        """Average acceleration (x, y, z) in g over [t0_ms, t1_ms]."""
        g = [0, 0, 0]
        self.mean_ug(int(round(t0_ms * 1000)), int(round(t1_ms * 1000)), g, 0)
        return (g[0] / 1e6, g[1] / 1e6, g[2] / 1e6)


class Rest:
    """A pin lying still: constant gravity plus a little white noise
    (deterministic, about `noise_g` rms per axis)."""

    def __init__(self, g=(0.0, 0.0, 1.0), noise_g=0.002, seed=0x2545F491):
        from cpsim.rng import Rng

        self.g = g
        self._g = [int(round(v * 1000000)) for v in g]
        # The sum of two uniform 32-bit draws, scaled to noise_g rms in ug.
        self._k = int(round(noise_g * 1.2247 * 1000000))
        self._rng = Rng(seed)

    def _noise(self):
        r = self._rng
        return ((r.next() + r.next() - 4294967296) * self._k) >> 31

    def at_ug(self, t_us, out, j):
        g = self._g
        out[j] = g[0] + self._noise()
        out[j + 1] = g[1] + self._noise()
        out[j + 2] = g[2] + self._noise()

    def mean_ug(self, t0_us, t1_us, out, j):
        self.at_ug(t1_us, out, j)

    def at(self, t_ms):
        g = [0, 0, 0]
        self.at_ug(0, g, 0)
        return (g[0] / 1e6, g[1] / 1e6, g[2] / 1e6)

    def mean(self, t0_ms, t1_ms):
        return self.at(t1_ms)


def check(path):
    """Parse every row of a recording as replay does and return how many
    there are: ValueError or OSError, naming the file and line, for whatever
    would stop the replay. The host runs it before a badge starts."""
    r = Recording(path)
    try:
        n = 1
        while r._has1:
            r._p0, r._p1 = r._p1, r._p0
            r._has1 = r._next(r._p1)
            n += 1
        return n
    finally:
        r.close()

# Acceleration sources for sensor models: what the pin feels, in g, as a
# continuous signal of time (ms since the source started).
#
# Recording replays a `t_ms,x,y,z` CSV (shared/data/steps/README.md): linear
# between samples, held before the first and after the last (or looped). A
# model asks for mean(t0, t1), the average over one output period: that box
# filter is the anti-alias low-pass of the sensor's digital chain when the
# output rate is below the recording's rate, and plain interpolation when it
# is above. The file is read forward one line at a time (two samples in
# memory), so multi-MB recordings cost nothing in the 100 KB VM; going back
# in time reopens the file.


class Recording:
    def __init__(self, path, loop=False):
        self.path = path
        self.loop = loop
        self._f = None
        self._rewind()

    def _rewind(self):
        self.close()
        self._f = open(self.path)
        head = self._f.readline().replace(" ", "").strip()
        if not head.startswith("t_ms,x,y,z"):
            raise ValueError("%s: expected a 't_ms,x,y,z' header, got %r" % (self.path, head))
        self._offset = 0.0
        self._last_dt = 0.0
        self._p0 = self._line()
        if self._p0 is None:
            raise ValueError("%s: no samples" % self.path)
        self._start = self._p0[0]
        self._p1 = self._next()

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None

    def _line(self):
        while True:
            line = self._f.readline()
            if not line:
                return None
            parts = line.split(",")
            if len(parts) >= 4:
                return (float(parts[0]) + self._offset, float(parts[1]), float(parts[2]), float(parts[3]))

    def _next(self):
        p = self._line()
        if p is None and self.loop and self._p0 is not None:
            # Start again one sample interval after the last sample.
            last = self._p0[0]
            self._f.close()
            self._f = open(self.path)
            self._f.readline()
            self._offset = last + (self._last_dt or 1.0) - self._start
            p = self._line()
        if p is not None and self._p0 is not None:
            self._last_dt = p[0] - self._p0[0]
        return p

    def _seek(self, t):
        if t < self._p0[0] and (self._offset or self._p0[0] != self._start):
            self._rewind()
        while self._p1 is not None and self._p1[0] <= t:
            self._p0 = self._p1
            self._p1 = self._next()

    def _value(self, t, i):
        p0, p1 = self._p0, self._p1
        if p1 is None or t <= p0[0]:
            return p0[i]
        span = p1[0] - p0[0]
        if span <= 0:
            return p1[i]
        return p0[i] + (p1[i] - p0[i]) * (t - p0[0]) / span

    def at(self, t_ms):
        self._seek(t_ms)
        return (self._value(t_ms, 1), self._value(t_ms, 2), self._value(t_ms, 3))

    def mean(self, t0_ms, t1_ms):
        """Average acceleration (x, y, z) over [t0_ms, t1_ms]."""
        if t1_ms <= t0_ms:
            return self.at(t1_ms)
        sx = sy = sz = 0.0
        t = t0_ms
        while t < t1_ms:
            self._seek(t)
            p0, p1 = self._p0, self._p1
            if t < p0[0]:
                end = p0[0] if p0[0] < t1_ms else t1_ms
            elif p1 is None:
                end = t1_ms
            else:
                end = p1[0] if p1[0] < t1_ms else t1_ms
            dt = end - t
            sx += (self._value(t, 1) + self._value(end, 1)) * dt
            sy += (self._value(t, 2) + self._value(end, 2)) * dt
            sz += (self._value(t, 3) + self._value(end, 3)) * dt
            t = end
        k = 0.5 / (t1_ms - t0_ms)
        return (sx * k, sy * k, sz * k)


class Rest:
    """A pin lying still: constant gravity plus a little white noise
    (deterministic, about `noise_g` rms per axis)."""

    def __init__(self, g=(0.0, 0.0, 1.0), noise_g=0.002, seed=0x2545F491):
        from cpsim.rng import Rng

        self.g = g
        self._k = noise_g * 1.2247 / 2147483648.0  # sum of 2 uniforms -> rms noise_g
        self._rng = Rng(seed)

    def _rand(self):
        return self._rng.next() - 2147483648

    def _noise(self):
        return (self._rand() + self._rand()) * self._k

    def at(self, t_ms):
        g = self.g
        return (g[0] + self._noise(), g[1] + self._noise(), g[2] + self._noise())

    def mean(self, t0_ms, t1_ms):
        return self.at(t1_ms)

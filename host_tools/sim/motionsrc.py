"""What one simulated pin's accelerometer feels: walking recordings while it
walks, a pin lying still otherwise, and modelled touches added on top.

A sensor model (cpsim.lis3dh, mpu6050, mpu6886) asks its source for
mean_ug(t0_us, t1_us, out, j): the mean over one output period ending at t1.
Times are simulated time (the models are attached at t = 0).

Touches come from host_tools.bench.tapmodel (the tap bench's model: contact
pulse, holder ringing, recoil, reach and withdrawal, lanyard sway), drawn
from a generator seeded by the scenario's seed and the tap, synthesised at
the rate the board's sensor runs at and added to the base signal sample by
sample (the value of the modelled sample nearest t1, as the tap bench feeds
its 400 Hz recordings to the detector). Each touch's direction is drawn
against gravity (tapmodel.draw_vertical: two pins meet across it) and laid
in the pin's own frame when the touch starts, from the slow mean of what
the pin felt until then (its walk's low-pass, or its rest: 1 g on z).
"""
import bisect
import math

import numpy as np

from host_tools.bench import tapmodel


class Segments:
    """A base signal switching source by time: [(start_us, source, shift_us)].
    A source is asked for its own time (simulated time + shift), so a walker
    starts its recording part-way through, and recordings replay looped."""

    def __init__(self, parts):
        self.starts = [p[0] for p in parts]
        self.parts = parts
        self._i = 0

    def mean_ug(self, t0_us, t1_us, out, j):
        i = self._i
        parts = self.parts
        # Time moves forward: a pointer, with bisect only when it jumps back.
        if t1_us < parts[i][0]:
            i = max(0, bisect.bisect_right(self.starts, t1_us) - 1)
        while i + 1 < len(parts) and parts[i + 1][0] <= t1_us:
            i += 1
        self._i = i
        src, shift = parts[i][1], parts[i][2]
        src.mean_ug(t0_us + shift, t1_us + shift, out, j)


class Held:
    """A pin held still the way a recording left it: the source's mean over
    [t0_us, t1_us] (its orientation; read when first needed), plus `rest`'s
    noise around 1 g on z."""

    def __init__(self, source, t0_us, t1_us, rest):
        self.source = source
        self.span = (t0_us, t1_us)
        self.rest = rest
        self._v = None

    def mean_ug(self, t0_us, t1_us, out, j):
        v = self._v
        if v is None:
            v = self._v = [0, 0, 0]
            self.source.mean_ug(self.span[0], self.span[1], v, 0)
            v[2] -= 1000000  # the rest source brings its own 1 g on z
        self.rest.mean_ug(t0_us, t1_us, out, j)
        out[j] += v[0]
        out[j + 1] += v[1]
        out[j + 2] += v[2]


class Touches:
    """`base` plus modelled impulses: [(centre_us, period_us, first_offset,
    rows)], rows (n, 3) int ug, or a LazyTouch whose rows are made when the
    event starts, against the gravity the pin feels then (a slow mean of
    `base`, ~1.3 s: the walk's low-pass, or the pin's rest)."""

    GRAVITY_SHIFT = 9  # the mean's time constant in samples, 2^9 (1.3 s at 400 Hz)

    def __init__(self, base, events):
        self.base = base
        self.events = [list(e) for e in sorted(events, key=lambda e: e[0] + e[2] * e[1])]  # by start
        self._first = 0  # events ending before now are skipped for good
        self._lazy = sum(1 for e in self.events if isinstance(e[3], LazyTouch))
        self._g = None

    def add(self, event):
        """One more event that starts after every sample read so far (a
        touch the wearers make when their pin asks them to tap again,
        host_tools/sim/wearers.py). The gravity mean resumes from where it
        stopped (the last touch's start) until the event starts."""
        key = lambda e: e[0] + e[2] * e[1]  # noqa: E731
        e = list(event)
        i = len(self.events)
        while i > self._first and key(self.events[i - 1]) > key(e):
            i -= 1
        self.events.insert(i, e)
        self._lazy += isinstance(e[3], LazyTouch)

    def mean_ug(self, t0_us, t1_us, out, j):
        self.base.mean_ug(t0_us, t1_us, out, j)
        if self._lazy:
            g = self._g
            if g is None:
                g = self._g = [out[j], out[j + 1], out[j + 2]]
            k = self.GRAVITY_SHIFT
            g[0] += (out[j] - g[0]) >> k
            g[1] += (out[j + 1] - g[1]) >> k
            g[2] += (out[j + 2] - g[2]) >> k
        ev = self.events
        i = self._first
        while i < len(ev):
            e = ev[i]
            c, period, k0, rows = e
            k = (t1_us - c + period // 2) // period - k0  # nearest modelled sample
            if k < 0:
                break  # in order of start: later ones have not started
            if isinstance(rows, LazyTouch):
                rows = e[3] = rows.rows(self._g)
                self._lazy -= 1
            if k >= len(rows):
                if i == self._first:
                    self._first += 1
                i += 1
                continue
            r = rows[k]
            out[j] += r[0]
            out[j + 1] += r[1]
            out[j + 2] += r[2]
            i += 1


class LazyTouch:
    """One modelled touch's scalar waveforms (tapmodel.touch_parts), turned
    into device-frame rows for the gravity the pin feels when it starts
    (tapmodel.orient: the touch's direction was drawn against gravity)."""

    def __init__(self, p, parts):
        self.p = p
        self.parts = parts
        self.lo = min(int(o[0]) for o, _, _ in parts)
        self.n = max(int(o[-1]) for o, _, _ in parts) - self.lo + 1

    def rows(self, gravity):
        p = tapmodel.orient(self.p, gravity)
        acc = np.zeros((self.n, 3))
        for offs, w, key in self.parts:
            acc[offs - self.lo] += w[:, None] * p[key][None, :]
        return np.rint(acc * 1e6).astype(np.int64).tolist()


def touch_parts(rate_hz, rng, solo=False, p=None):
    """One modelled touch, not yet turned against gravity: a LazyTouch, and
    the drawn parameters (drawn from rng, or `p` as drawn already: one pin of
    a pair, one_contact()). A solo tap (a knock on the pin, on a table or a
    chest) is the same impulse without the reach and withdrawal."""
    if p is None:
        p = tapmodel.draw_touch(rng)
    parts = tapmodel.touch_parts(rate_hz, p, 0.0)
    return LazyTouch(p, parts[:1] if solo else parts), p


def excitation(freq_hz, tau_s):
    """How much of a half-sine contact pulse of width tau_s reaches an
    oscillator at freq_hz, against an instant one of the same area: the
    pulse's Fourier magnitude there, |cos(pi f tau) / (1 - (2 f tau)^2)|
    (1 for a short pulse, pi/4 at f tau = 1/2, 0 at 3/2). A lightly damped
    oscillator's residual vibration after a pulse is the pulse's Fourier
    magnitude at its frequency (the undamped residual shock spectrum:
    Harris' Shock and Vibration Handbook, chapter 8)."""
    x = freq_hz * tau_s
    d = 1.0 - 4.0 * x * x
    if abs(d) < 1e-6:
        return math.pi / 4
    return abs(math.cos(math.pi * x) / d)


def one_contact(pa, pb):
    """Make two pins' drawn touches (tapmodel.draw_touch, each its own
    mount, holder and arm) the one contact they are, in place: two bodies
    that touch share the contact's instant (the caller's), its duration and
    its impulse (Newton's third law: equal and opposite), whoever holds them.
    - Duration: the longer of the two draws. Each mount's range is that of a
      contact between two pins mounted alike (tapmodel: hard on hard, finger
      pulp, fabric); between unlike ones the compliances add in series, so the
      softer interface governs (Hertz: t_c ~ E*^(-2/5), 1/E* = 1/E1 + 1/E2).
    - Impulse: one velocity change for both, a's draw: the pins weigh alike
      (10-30 g, tapmodel; the boards give no mass), so momentum conservation
      gives each dv = (1 + e) / 2 * v of the closing speed v.
    - Direction: one contact normal, pushing a one way and b the other: b's
      impulse has a's angle to gravity with the opposite sign (the azimuth
      stays each pin's: its turn about gravity is its own). A worn pin's face
      sets the normal (a hand brings its pin to it, tapmodel), else a's draw.
    - Ringing: each holder rings at its own frequency and damping, excited
      by this contact: its drawn share of dv scaled by what this contact
      excites at that frequency against what its own draw would have
      (excitation()): a finger-held pin at 200 Hz given a 9 ms fabric
      contact barely rings (a 30% ring on it is a combination no touch makes).
    Recoil, reach, withdrawal and a lanyard's sway stay each pin's own.
    Returns (pa, pb)."""
    tau = max(pa["tau"], pb["tau"])
    for p in (pa, pb):
        p["ring_frac"] *= excitation(p["ring_hz"], tau) / excitation(p["ring_hz"], p["tau"])
        p["tau"] = tau
    pb["dv"] = pa["dv"]
    worn = ("lanyard", "fabric")
    vertical = pb["vertical"] if pb["mount"] in worn and pa["mount"] not in worn else pa["vertical"]
    pa["vertical"], pb["vertical"] = vertical, -vertical
    for p in (pa, pb):
        tapmodel.orient(p, (0.0, 0.0, 1.0))  # the device-frame vectors follow the new angle
    return pa, pb


def pair_draws(rng_a, rng_b):
    """The two pins' parameters of one touch between them: each drawn from
    its own generator, then made one contact (one_contact())."""
    return one_contact(tapmodel.draw_touch(rng_a), tapmodel.draw_touch(rng_b))


def touch_rows(rate_hz, rng, solo=False, gravity=(0.0, 0.0, 1.0), p=None):
    """One modelled touch as (first_offset, rows of [x, y, z] ug) at rate_hz,
    offsets in samples from the contact, against `gravity` (device frame,
    any scale: a pin lying on its back by default); also the drawn
    parameters (drawn from rng, or `p`: one pin of a pair's, pair_draws())."""
    lazy, p = touch_parts(rate_hz, rng, solo, p)
    return lazy.lo, lazy.rows(gravity), p


def touch_event(t_ms, rate_hz, rng, solo=False, p=None):
    """A Touches event for a contact at t_ms (its rows made against the
    pin's gravity when it starts); also returns the drawn parameters
    (drawn from rng, or `p`: one pin of a pair's, pair_draws())."""
    lazy, p = touch_parts(rate_hz, rng, solo, p)
    period = int(round(1e6 / rate_hz))
    return (int(t_ms) * 1000, period, lazy.lo, lazy), p


class RestNoise:
    """A pin lying still, as cpsim.recording.Rest models it (1 g on z plus
    its white noise), for a crowd: the noise comes from one table drawn once
    from a Rest and shared by every pin, each reading it from its own offset.
    Drawing it per sample (six xorshift calls) was the largest single cost of
    a 400-pin hall. The table is NOISE_TABLE values long (the noise repeats
    every ~55 s at 400 Hz: far longer than any filter in the firmware)."""

    NOISE_TABLE = 65536

    def __init__(self, table, offset, g_ug=(0, 0, 1000000)):
        self.table = table
        self.i = (3 * offset) % len(table)
        self.g = g_ug

    @classmethod
    def table_for(cls, seed):
        from cpsim.recording import Rest

        r = Rest(seed=seed)
        return [r._noise() for _ in range(cls.NOISE_TABLE)]

    def mean_ug(self, t0_us, t1_us, out, j):
        t, i, g = self.table, self.i, self.g
        if i + 3 > len(t):
            i = 0
        out[j] = g[0] + t[i]
        out[j + 1] = g[1] + t[i + 1]
        out[j + 2] = g[2] + t[i + 2]
        self.i = i + 3


def _min_jerk(f):
    """Share of a minimum-jerk reach covered at f (0..1) of its time."""
    f = 0.0 if f < 0 else 1.0 if f > 1 else f
    return f * f * f * (10 - 15 * f + 6 * f * f)


def gap_m(p, t_s):
    """How far (m) one pin is from the contact point t_s after a touch whose
    drawn parameters are `p` (tapmodel.draw_touch): the reach in (reach_m
    over reach_s, ending gap_s before the contact), still until dwell_s
    after it, then the withdrawal (back_m over back_s), as the pin's
    accelerometer feels them."""
    end_in = -p["gap_s"]
    if t_s < end_in:
        return p["reach_m"] * (1 - _min_jerk(1 - (end_in - t_s) / p["reach_s"]))
    if t_s < p["dwell_s"]:
        return 0.0
    return p["back_m"] * _min_jerk((t_s - p["dwell_s"]) / p["back_s"])

"""Physical models of pin-to-pin touches and of the transients that are not
touches, as an accelerometer at `rate` Hz reports them. Used by tapgen.py to
lay modelled events over real recordings. Every range is derived or cited
below; where a number is our own assumption it says so.

Touch: two pins deliberately touched together
---------------------------------------------
* Strength. Each pin is a small body (10-30 g). The wearers close at
  0.1-0.7 m/s (a careful touch to a firm clink: our assumption; fingertips
  reach keys at a few tenths of a m/s in typing, e.g. Dennerlein, Mote &
  Rempel 1998, Exp Brain Res 121:1); with a coefficient of restitution of
  0.3-0.6 for plastics each pin's velocity changes by dv = (1 + e)/2 * v,
  drawn log-uniformly from DV_RANGE = 0.05-0.35 m/s.
* Contact duration. Hertz impact of two bodies (Johnson, Contact Mechanics,
  1985, section 11.4; Goldsmith, Impact, 1960): t_c = 2.87 (m*^2 / (R E*^2 v))^(1/5).
  Hard pins (polycarbonate/ABS, E* ~1.3 GPa), m* = 5-15 g, face radius
  R = 5-50 mm, v = 0.1-0.7 m/s: t_c = 0.15-0.6 ms. Finger pulp or a silicone
  case between the pins (E* 1-10 MPa): 1-10 ms. A pin behind a layer of
  fabric (E* ~1 MPa, the layer bottoming out on the pin): 3-10 ms; softer
  and longer is a lanyard swing into the chest (below), which no detector
  can tell from a touch. So TAU_MS, log-uniform: hand-held 0.15-3 ms,
  lanyard 0.3-5 ms, behind fabric 2-10 ms. The pulse is a half-sine of area
  dv; the sensor reports it through its anti-alias low-pass (LIS3DH:
  ODR/2; MPU-6886 218 Hz, A_DLPF_CFG=1; MPU-6050 184 Hz, DLPF_CFG=1): we
  synthesise it at 64x the output rate and decimate with resample.py's
  band-limited filter.
* Ringing. What holds the pin is a spring-damper: fingertip pulp stiffness
  1-20 N/mm under 0.5-4 N (Serina, Mote & Rempel 1997, J Biomech 30:1035),
  with the pin's 10-30 g that is f = sqrt(k/m)/2pi = 30-220 Hz, heavily damped
  (fingertip damping ratio ~0.1-0.5: Wiertlewski & Hayward 2012, J Biomech
  45:1869). Fabric or a lanyard clip is softer (0.1-2 N/mm: 15-60 Hz, and
  20-120 Hz for a clip). Up to 30-40% of dv goes into that oscillation (our
  assumption); it starts at the end of the contact.
* Recoil. The hand, lanyard or body then arrests the rebound: the opposite
  velocity change spread over 30-200 ms (a raised cosine), so the pin ends
  at rest.
* Approach and withdrawal. The arm brings the pin in and takes it away as
  minimum-jerk reaches (Flash & Hogan 1985, J Neurosci 5:1688): a hand-held
  pin 5-30 cm in 0.3-0.8 s, a worn pin (the wearer leans in) 2-15 cm in
  0.4-1.0 s; the reach ends 0-40 ms before the contact and the withdrawal
  starts 50-400 ms after it. Peak acceleration 5.77 D/T^2: up to ~2 g, all
  under ~5 Hz.
* Lanyard. A pin hanging on a 0.2-0.5 m cord swings as a pendulum at
  sqrt(g/L)/2pi = 0.7-1.1 Hz, 0.02-0.3 g at the pin (our assumption for the
  amplitude), before, during and after the touch.
* Direction against gravity (the pin's own frame is the recording's: a
  touch is laid in the direction drawn here against the gravity the
  recording holds at its time, tapgen.py; motionsrc.py does the same for
  the simulator's pins). A worn pin hangs or is clipped on the upper chest,
  its face vertical within the chest wall's slope and the wearer's lean:
  pins worn by two people meet face to face with the contact normal within
  WORN_ELEV_DEG = +-30 degrees of the horizontal (chest wall and lean
  together, our assumption from the posture of two people leaning in; a
  height difference between them moves the pins, not the faces, which
  meet flush). A hand-held pin is brought to the other's (worn: the same
  normal) or clinked with another held in front of the body, forearm
  roughly horizontal: within HAND_ELEV_DEG = +-45 degrees, and any
  direction for HAND_ANY_FRACTION = 10% (tapped from above onto a pin held
  flat, edge-on: our assumption). Azimuth uniform.

Not touches (DISTRACTORS)
-------------------------
* heel: heel strike reaching the chest, a 0.3-1.5 g bump of 20-60 ms, then
  the body's rebound (heel-strike transient ~5 g at the tibia, ~0.5 g at the
  skull: Light, McLellan & Klenerman 1980, J Biomech 13:477).
* swing: a pin on a lanyard swinging into the chest: a soft collision
  (clothing, tissue) of 15-40 ms, dv 0.1-0.5 m/s.
* chest: a knock on the chest the pin is worn on (a pat, a hug, bumping into
  someone): the pin rides the torso's soft tissue: a 12-40 ms pulse of
  dv 0.1-0.6 m/s, then the tissue's wobble at 8-25 Hz, damping ratio 0.2-0.5
  (soft-tissue vibration after impacts, 10-50 Hz in the leg: Wakeling & Nigg
  2001, J Appl Physiol 90:412; the torso's larger masses ring lower).
* knock: a knock on the table the pin lies on: the table rings at its modes
  (80-250 Hz, damping ratio 0.02-0.1, 0.3-2 g at the pin).
* bag: a pin in a bag or pocket while walking: at each step (1.6-2.2 Hz,
  6-20 steps) the bag hits the hip (a 0.2-1 g bump of 30-80 ms) and keys or
  a phone knock against the pin 0-3 times within 120 ms (hard contacts,
  0.2-2 ms, dv 0.01-0.15 m/s). Each of those knocks is physically a small
  touch; only their company (a busy signal around them) tells them apart.
  Direction: the contents are thrown against the pin by the bag's own
  sharp accelerations, so a knock points as those do. Measured on the
  tuning split's real bag and pocket recordings (tapdirs.py: a phone at
  100 Hz, the sharpest 2% of second differences against the 1 s mean):
  BAG_VERTICAL_DECILES of |cos| of the angle to gravity, median 0.40
  (isotropic: 0.5); NOT mostly vertical, though a bag hangs and bounces
  with gravity. The bump on the hip is along the body's vertical.
* Directions of the rest: heel strikes along gravity (+-0.3 spread, the
  ground's reaction; a wrist's sharpest transients while walking have
  |cos| 0.79-0.94 at the median, tapdirs.py on the bangle walks), a swing
  into the chest and a knock on it across gravity as a worn pin's touch
  (WORN_ELEV_DEG), a knock on the table the pin lies on along gravity.
"""
import math

import numpy as np

from host_tools.bench import resample as rs

G = 9.80665
OVERSAMPLE = 64  # synthesis rate of the impulse, in output samples
DV_RANGE = (0.05, 0.35)  # m/s, per-pin velocity change (log-uniform)
# mount: (probability, contact ms, ring Hz, ring damping ratio, ring share of dv,
#         reach m, reach s)
MOUNTS = {
    "hand": (0.55, (0.15, 3.0), (30.0, 220.0), (0.1, 0.5), (0.0, 0.3), (0.05, 0.3), (0.3, 0.8)),
    "lanyard": (0.20, (0.3, 5.0), (20.0, 120.0), (0.1, 0.5), (0.0, 0.3), (0.02, 0.15), (0.4, 1.0)),
    "fabric": (0.25, (2.0, 10.0), (15.0, 60.0), (0.2, 0.6), (0.0, 0.4), (0.02, 0.15), (0.4, 1.0)),
}
RECOIL_RANGE = (0.03, 0.2)  # s, arrest of the rebound by hand, cord or body
REACH_GAP_S = (0.0, 0.04)  # reach ends this long before the contact
DWELL_S = (0.05, 0.4)  # withdrawal starts this long after it
SWAY_HZ = (0.7, 1.1)  # lanyard pendulum, L = 0.2-0.5 m
SWAY_G = (0.02, 0.3)
# direction against gravity (see the module's doc)
WORN_ELEV_DEG = 30.0  # worn pins: contact normal within this of the horizontal
HAND_ELEV_DEG = 45.0  # hand-held
HAND_ANY_FRACTION = 0.1  # hand-held touches in any direction
# |cos| of a bag's or pocket's knock to gravity: deciles (0, 10, ..., 100%),
# `python -m host_tools.bench.tapdirs /work/shared/data/steps/oxford-validation`
# (tuning split: user2 bag, user1 and user2 back pocket, user2 front pocket)
BAG_VERTICAL_DECILES = (0.00, 0.14, 0.21, 0.26, 0.34, 0.40, 0.45, 0.51, 0.64, 0.79, 0.99)
VERTICAL_SPREAD = 0.3  # heel strikes and table knocks: along gravity, this much across
# contact-duration bands the bench reports recall in (ms, [lo, hi))
TAU_BANDS_MS = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0), (6.0, 10.01))
FAST_WINDOW_S = 0.4  # the impulse, ringing and recoil: synthesised at 64x
SLOW_BEFORE_S = 1.2  # the reach and sway: evaluated at the output rate
SLOW_AFTER_S = 1.6


def band_of(tau_ms):
    for lo, hi in TAU_BANDS_MS:
        if lo <= tau_ms < hi:
            return "%g-%g ms" % (lo, round(hi))
    return "other"


def _loguniform(rng, lo, hi):
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def up_frame(gravity):
    """Unit vectors (up, e1, e2) in the device frame for a device-frame
    gravity estimate (any scale; its direction is "up" as an accelerometer
    at rest reads +1 g upwards); e1, e2 span the horizontal. A gravity
    near zero (free fall, or none known) is taken as +z."""
    g = np.asarray(gravity, dtype=float)
    n = np.linalg.norm(g)
    up = g / n if n > 1e-3 else np.array([0.0, 0.0, 1.0])
    ref = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(up, ref)
    e1 /= np.linalg.norm(e1)
    return up, e1, np.cross(up, e1)


def world_direction(gravity, vertical, azim):
    """Device-frame unit vector whose component along gravity is `vertical`
    (-1..1, the sine of its elevation) at azimuth `azim` (radians)."""
    up, e1, e2 = up_frame(gravity)
    h = math.sqrt(max(0.0, 1.0 - vertical * vertical))
    return vertical * up + h * (math.cos(azim) * e1 + math.sin(azim) * e2)


def _isotropic_vertical(rng):
    return rng.uniform(-1.0, 1.0)  # a uniform direction's cosine to any axis is uniform


def draw_vertical(rng, kind):
    """The sine of a drawn direction's elevation (its signed |cos| to gravity)
    for a touch of mount `kind` or a distractor kind (see the module's doc)."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if kind == "hand":
        if rng.random() < HAND_ANY_FRACTION:
            return _isotropic_vertical(rng)
        return math.sin(math.radians(rng.uniform(-HAND_ELEV_DEG, HAND_ELEV_DEG)))
    if kind in ("lanyard", "fabric", "swing", "chest"):
        return math.sin(math.radians(rng.uniform(-WORN_ELEV_DEG, WORN_ELEV_DEG)))
    if kind == "bag":
        return sign * float(np.interp(rng.random(), np.linspace(0, 1, len(BAG_VERTICAL_DECILES)),
                                      BAG_VERTICAL_DECILES))
    # heel, knock: along gravity, VERTICAL_SPREAD across
    v = np.array([0.0, 0.0, 1.0]) + VERTICAL_SPREAD * rng.normal(size=3)
    return sign * abs(v[2]) / np.linalg.norm(v)


def orient(p, gravity):
    """Set a drawn touch's device-frame vectors for a device-frame gravity:
    the contact direction, the reach's (the arm comes in at an angle) and a
    lanyard's sway (across the cord: horizontal, across the contact)."""
    d = world_direction(gravity, p["vertical"], p["azim"])
    p["direction"] = d
    r = d + 0.7 * p["side"]
    p["reach_dir"] = r / np.linalg.norm(r)
    up = up_frame(gravity)[0]
    across = np.cross(d, up)
    n = np.linalg.norm(across)
    p["across"] = across / n if n > 1e-6 else up_frame(gravity)[1]
    return p


def draw_touch(rng, gravity=(0.0, 0.0, 1.0)):
    """Parameters of one touch (dict), drawn from the ranges above, its
    vectors in the frame of a device reading `gravity` (orient())."""
    names = sorted(MOUNTS)
    u, acc, mount = rng.random(), 0.0, names[-1]
    for name in names:
        acc += MOUNTS[name][0]
        if u < acc:
            mount = name
            break
    _, tau_ms, ring_hz, zeta, ring_frac, reach_m, reach_s = MOUNTS[mount]
    p = {
        "mount": mount,
        "dv": _loguniform(rng, *DV_RANGE),
        "tau": _loguniform(rng, *tau_ms) / 1000.0,
        "recoil": rng.uniform(*RECOIL_RANGE),
        "ring_hz": rng.uniform(*ring_hz),
        "ring_zeta": rng.uniform(*zeta),
        "ring_frac": rng.uniform(*ring_frac),
        "reach_m": rng.uniform(*reach_m),
        "reach_s": rng.uniform(*reach_s),
        "gap_s": rng.uniform(*REACH_GAP_S),
        "dwell_s": rng.uniform(*DWELL_S),
        "back_m": rng.uniform(*reach_m),
        "back_s": rng.uniform(*reach_s),
        "sway_g": rng.uniform(*SWAY_G) if mount == "lanyard" else 0.0,
        "sway_hz": rng.uniform(*SWAY_HZ),
        "sway_phase": rng.uniform(0, 2 * math.pi),
    }
    # direction against gravity, and the arm's angle to it (orient() turns
    # them into the device's frame for a gravity)
    p["vertical"] = draw_vertical(rng, mount)
    p["azim"] = rng.uniform(0, 2 * math.pi)
    side = rng.normal(size=3)
    p["side"] = side / np.linalg.norm(side)
    return orient(p, gravity)


def decimate(accel, rate, frac_ms, window_s):
    """Sample a continuous acceleration (function of seconds from the event
    centre, returning m/s^2) the way the sensor does at `rate`: synthesise at
    OVERSAMPLE x the rate and decimate through the band-limited filter.

    Returns (offsets_samples, g): output samples at integer indices relative to
    the output sample nearest the event centre, which lies `frac_ms` after it."""
    hi = rate * OVERSAMPLE
    n = int(window_s * hi)
    t = (np.arange(n) - n // 2) / hi - frac_ms / 1000.0
    a = accel(t) / G
    k0 = (n // 2) // OVERSAMPLE
    n_out = (n - 1) // OVERSAMPLE + 1
    out = rs.resample_uniform(a, hi, rate, n_out, offset=(n // 2) - k0 * OVERSAMPLE)
    return np.arange(n_out) - k0, out


def half_sine(t, dv, tau):
    """A contact pulse: half-sine of width tau (s) with area dv (m/s)."""
    a = np.zeros_like(t)
    inside = np.abs(t) < tau / 2
    a[inside] = (math.pi * dv / (2 * tau)) * np.cos(math.pi * t[inside] / tau)
    return a


def raised_cosine(t, start, length, area):
    a = np.zeros_like(t)
    r = t - start
    inr = (r > 0) & (r < length)
    a[inr] = (area / length) * (1 - np.cos(2 * math.pi * r[inr] / length))
    return a


def damped_ring(t, start, v0, freq_hz, zeta):
    """Acceleration of a mass-spring-damper released at `start` with velocity v0."""
    w = 2 * math.pi * freq_hz
    wd = w * math.sqrt(max(1e-6, 1 - zeta * zeta))
    r = t - start
    a = np.zeros_like(t)
    on = r > 0
    rr = r[on]
    # x = v0/wd e^-zwt sin(wd t); a = x''
    env = np.exp(-zeta * w * rr) * v0 / wd
    a[on] = env * ((zeta * zeta * w * w - wd * wd) * np.sin(wd * rr) - 2 * zeta * w * wd * np.cos(wd * rr))
    return a


def min_jerk_accel(t, end, dist, dur):
    """Acceleration (m/s^2) of a minimum-jerk reach of `dist` m ending at `end`."""
    s = (t - (end - dur)) / dur
    a = np.zeros_like(t)
    on = (s > 0) & (s < 1)
    so = s[on]
    a[on] = dist / (dur * dur) * (60 * so - 180 * so * so + 120 * so ** 3)
    return a


def tap_waveform(rate, dv, tau, recoil, frac_ms, window_s=FAST_WINDOW_S, ring=None):
    """The fast part of a touch as the sensor reports it (g along the contact
    direction): the contact impulse, the holder's ringing (ring = (share of
    dv, Hz, damping ratio) or None) and the recoil that brings the pin to rest."""
    def accel(t):
        a = half_sine(t, dv, tau) - raised_cosine(t, tau / 2, recoil, dv)
        if ring is not None and ring[0] > 0:
            a = a + damped_ring(t, tau / 2, -ring[0] * dv, ring[1], ring[2])
        return a
    return decimate(accel, rate, frac_ms, window_s)


def slow_parts(rate, p, frac_ms):
    """The slow part of a touch as scalars, (offsets, reach g, sway g): the
    reach in and the withdrawal (along p["reach_dir"]) and a lanyard's sway
    (along p["across"]). Band-limited far below the output rate, so
    evaluated at the output samples directly."""
    k0 = int(SLOW_BEFORE_S * rate)
    offs = np.arange(-k0, int(SLOW_AFTER_S * rate) + 1)
    t = offs / rate - frac_ms / 1000.0
    reach = (min_jerk_accel(t, -p["gap_s"], p["reach_m"], p["reach_s"])
             - min_jerk_accel(t, p["dwell_s"] + p["back_s"], p["back_m"], p["back_s"])) / G
    sway = np.zeros_like(t)
    if p["sway_g"] > 0:
        # sway across the cord, faded in and out so the window has no edges
        fade = np.sin(math.pi * (offs - offs[0]) / (offs[-1] - offs[0]))
        sway = p["sway_g"] * fade * np.sin(2 * math.pi * p["sway_hz"] * t + p["sway_phase"])
    return offs, reach, sway


def slow_waveform(rate, p, frac_ms):
    """The slow part of a touch, (offsets, (n, 3) g) in the device's frame
    (orient())."""
    offs, reach, sway = slow_parts(rate, p, frac_ms)
    return offs, reach[:, None] * p["reach_dir"][None, :] + sway[:, None] * p["across"][None, :]


def touch_parts(rate, p, frac_ms):
    """[(offsets, g, key)]: the pieces of one touch as scalar waveforms, each
    along the device-frame unit vector p[key] (set by orient()): the contact
    (its impulse, ringing and recoil) first, then the reach and the sway."""
    offs, fast = tap_waveform(rate, p["dv"], p["tau"], p["recoil"], frac_ms,
                              ring=(p["ring_frac"], p["ring_hz"], p["ring_zeta"]))
    so, reach, sway = slow_parts(rate, p, frac_ms)
    return [(offs, fast, "direction"), (so, reach, "reach_dir"), (so, sway, "across")]


def touch_events(rate, p, frac_ms):
    """[(offsets, (n, 3) g)]: the pieces of one touch, to add to a recording."""
    return [(offs, w[:, None] * p[key][None, :]) for offs, w, key in touch_parts(rate, p, frac_ms)]


# --- not touches ---------------------------------------------------------------
def heel_strike_waveform(rate, amp_g, width_s, frac_ms, window_s=0.5):
    dv = amp_g * G * 2 * width_s / math.pi
    return decimate(lambda t: half_sine(t, dv, width_s) - raised_cosine(t, width_s / 2, 3 * width_s, dv),
                    rate, frac_ms, window_s)


def chest_swing_waveform(rate, dv, contact_s, frac_ms, window_s=0.5):
    return decimate(lambda t: half_sine(t, dv, contact_s), rate, frac_ms, window_s)


def chest_knock_waveform(rate, dv, contact_s, freq_hz, zeta, frac_ms, window_s=0.6):
    return decimate(lambda t: half_sine(t, dv, contact_s) + damped_ring(t, contact_s / 2, -0.7 * dv, freq_hz, zeta),
                    rate, frac_ms, window_s)


def knock_waveform(rate, amp_g, freq_hz, zeta, frac_ms, window_s=0.5):
    def accel(t):
        w = 2 * math.pi * freq_hz
        a = amp_g * G * np.exp(-zeta * w * t) * np.sin(w * np.sqrt(1 - zeta * zeta) * t)
        return np.where(t >= 0, a, 0.0)
    return decimate(accel, rate, frac_ms, window_s)


def bag_step_waveform(rate, bump_g, bump_s, knocks, frac_ms, window_s=0.6):
    """One step of a pin in a bag: the bag's bump on the hip plus `knocks`,
    a tuple of (delay s, dv m/s, contact s) of keys or a phone hitting the pin."""
    dv_bump = bump_g * G * 2 * bump_s / math.pi

    def accel(t):
        a = half_sine(t, dv_bump, bump_s) - raised_cosine(t, bump_s / 2, 2 * bump_s, dv_bump)
        for delay, dv, tau in knocks:
            a = a + half_sine(t - delay, dv, tau)
        return a
    return decimate(accel, rate, frac_ms, window_s)


def _draw_bag_step(rng):
    knocks = tuple((rng.uniform(0.0, 0.12), _loguniform(rng, 0.01, 0.15), _loguniform(rng, 0.2e-3, 2e-3))
                   for _ in range(int(rng.integers(0, 4))))
    return (rng.uniform(0.2, 1.0), rng.uniform(0.03, 0.08), knocks)


# kind: (draw one event's parameters, waveform, steps in a bout (lo, hi) or None,
#        step period s (lo, hi))
DISTRACTORS = {
    "heel": (lambda rng: (rng.uniform(0.3, 1.5), rng.uniform(0.02, 0.06)), heel_strike_waveform, (4, 17), (0.45, 0.65)),
    "swing": (lambda rng: (rng.uniform(0.1, 0.5), rng.uniform(0.015, 0.04)), chest_swing_waveform, None, None),
    "chest": (lambda rng: (rng.uniform(0.1, 0.6), rng.uniform(0.012, 0.04), rng.uniform(8, 25), rng.uniform(0.2, 0.5)),
              chest_knock_waveform, None, None),
    "knock": (lambda rng: (rng.uniform(0.3, 2.0), rng.uniform(80, 250), rng.uniform(0.02, 0.1)), knock_waveform,
              None, None),
    "bag": (_draw_bag_step, bag_step_waveform, (6, 21), (0.45, 0.62)),
}
# drawn afresh at every step of a bout (a bag's contents move each step)
PER_STEP = ("bag",)

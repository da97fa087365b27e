"""Make labelled tap recordings: real accelerometer recordings resampled to a
tap-capable output data rate, with physically modelled pin-to-pin taps added.

Usage: python -m host_tools.bench.tapgen SRC_DIR [SRC_DIR ...] OUT_DIR
           [--odr 400] [--seed 1] [--max-seconds 120] [--distractors PER_MIN]

Output (the `../shared/data/steps` format plus taps): one CSV `t_ms,x,y,z` (g)
per source recording (a random window of at most --max-seconds; its step
count is blanked when it is a window of a longer recording), labels.csv (the
source rows, sample_hz set to the new rate), taps.csv `file,t_ms` and, with
--distractors, distractors.csv `file,t_ms,kind`. Everything is drawn from one
seeded generator, so the same arguments make byte-identical files. Values are
not clipped: the bench clips them at the sensor's range.

Tap model (two pins deliberately touched together)
--------------------------------------------------
* Each pin is a small rigid body (10-30 g) held in a hand or hanging on a
  lanyard. The wearers bring the pins together at a closing speed of
  0.1-0.5 m/s; with a coefficient of restitution of ~0.5 for hard plastics
  each pin's velocity changes by dv = (1 + e) / 2 * v_closing, so dv is drawn
  log-uniformly from 0.05-0.35 m/s (a gentle touch to a firm clink). These
  are our assumptions, not measurements; the outcome matches what tap
  engines are tuned for (below).
* Hard plastic on hard plastic: the contact lasts about a millisecond, up to
  several when a finger, fabric or a soft case sits between the pins. The
  true acceleration is a half-sine of width tau drawn from 0.5-5 ms with area
  dv (peak pi*dv/(2*tau): up to tens of g for an instant). What the
  accelerometer reports is that impulse through its own anti-alias low-pass
  (LIS3DH: bandwidth ODR/2; MPU-6886: 218 Hz at a 1 kHz internal rate,
  ACCEL_CONFIG2 A_DLPF_CFG=1; MPU-6050: 184-260 Hz, CONFIG DLPF_CFG=1/0,
  register map RM-MPU-6000A rev 4.2): a pulse one or two output samples wide
  whose peak is set by dv and the bandwidth, about 1-13 g at 400 Hz. That fits
  the ADXL345 datasheet's tap starting points (rev. E, "Tap detection":
  THRESH_TAP above 3 g, time above threshold DUR up to 10 ms or more) and
  users' reports of light taps reading 12 g on a LIS3DH (ST community,
  "LIS3DH output register value less than the set threshold"). It is also why
  taps need a high ODR: at 25-50 Hz the same tap is a fraction of a g, as
  broad as a footfall (hardware-facts.md "Accelerometers"). We synthesise the
  impulse at 64x the output rate and decimate it with the same band-limited
  filter the recording goes through (resample.py), so the tap sees exactly
  the filtering the walking signal sees.
* The hand or lanyard then arrests the pin: the opposite velocity change
  spread over 60-200 ms (a raised cosine, 0.05-1.2 g), so the tap carries no
  net velocity. The direction is mostly the pin's face normal (the device z
  axis, as the face of a watch or phone in the source recordings): within 35
  degrees of +-z for 80% of taps, any direction for the rest (edge-on taps).
* Times: tap events are at least 1.5 s apart (plus an exponential gap, mean
  5 s) and 1 s away from the ends; 15% of events are double taps 250-500 ms
  apart. The label is the centre of the contact. A real sensor's causal
  filter delays every sample by about a period; both pins share that delay.

What the recordings cannot give: the sources are 12.5 Hz (watch) and 100 Hz
(phone) data. Resampling to 400 Hz interpolates them faithfully but cannot
recreate what they never held, so heel strikes, knocks and clothing rubs
above ~6 Hz (watch) or ~45 Hz (phone) are missing and a false-tap rate
measured on them is optimistic. --distractors adds modelled non-tap
transients (heel strikes, chest swings, table knocks, see DISTRACTORS) to
cover part of that gap; no recording with real high-rate walking impacts is
available here.
"""
import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from host_tools.bench import resample as rs

G = 9.80665
OVERSAMPLE = 64  # synthesis rate of the impulse, in output samples
DV_RANGE = (0.05, 0.35)  # m/s, per-pin velocity change (log-uniform)
TAU_RANGE = (0.5e-3, 5e-3)  # s, contact duration (uniform)
RECOIL_RANGE = (0.06, 0.2)  # s, arrest of the rebound by hand or lanyard
NORMAL_FRACTION = 0.8  # taps roughly along the face normal
NORMAL_CONE_DEG = 35.0
MIN_GAP_S = 1.5
MEAN_EXTRA_GAP_S = 5.0
DOUBLE_FRACTION = 0.15
DOUBLE_GAP_S = (0.25, 0.5)
EDGE_S = 1.0


def _decimate(accel, rate, frac_ms, window_s):
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


def _half_sine(t, dv, tau):
    """A contact pulse: half-sine of width tau (s) with area dv (m/s)."""
    a = np.zeros_like(t)
    inside = np.abs(t) < tau / 2
    a[inside] = (math.pi * dv / (2 * tau)) * np.cos(math.pi * t[inside] / tau)
    return a


def _raised_cosine(t, start, length, area):
    a = np.zeros_like(t)
    r = t - start
    inr = (r > 0) & (r < length)
    a[inr] = (area / length) * (1 - np.cos(2 * math.pi * r[inr] / length))
    return a


def tap_waveform(rate, dv, tau, recoil, frac_ms, window_s=0.4):
    """One tap as the sensor reports it (g along the tap direction): the
    contact impulse, then the hand or lanyard arresting the rebound."""
    return _decimate(lambda t: _half_sine(t, dv, tau) - _raised_cosine(t, tau / 2, recoil, dv),
                     rate, frac_ms, window_s)


# Things that are not taps, for the detector's tests and the stress set. Same
# physics, different numbers:
# - heel strike reaching the chest: a bump of 0.3-1.5 g lasting 20-60 ms
#   (heel-strike transient ~5 g at the tibia, ~0.5 g at the skull with hard
#   heels: Light, McLellan & Klenerman 1980, J Biomech 13:477), followed by
#   the body's rebound;
# - a pin on a lanyard swinging into the chest: a soft collision (clothing,
#   tissue) of 15-40 ms, dv 0.1-0.5 m/s, so up to a few g but broad;
# - a knock on the table the pin lies on: the table rings at its modes
#   (80-250 Hz here, damping ratio 0.02-0.1) with 0.3-2 g at the pin.
def heel_strike_waveform(rate, amp_g, width_s, frac_ms, window_s=0.5):
    dv = amp_g * G * 2 * width_s / math.pi
    return _decimate(lambda t: _half_sine(t, dv, width_s) - _raised_cosine(t, width_s / 2, 3 * width_s, dv),
                     rate, frac_ms, window_s)


def chest_swing_waveform(rate, dv, contact_s, frac_ms, window_s=0.5):
    return _decimate(lambda t: _half_sine(t, dv, contact_s), rate, frac_ms, window_s)


def knock_waveform(rate, amp_g, freq_hz, zeta, frac_ms, window_s=0.5):
    def accel(t):
        w = 2 * math.pi * freq_hz
        a = amp_g * G * np.exp(-zeta * w * t) * np.sin(w * np.sqrt(1 - zeta * zeta) * t)
        return np.where(t >= 0, a, 0.0)
    return _decimate(accel, rate, frac_ms, window_s)


DISTRACTORS = {
    # kind: (draw parameters from rng, make waveform)
    "heel": (lambda rng: (rng.uniform(0.3, 1.5), rng.uniform(0.02, 0.06)), heel_strike_waveform),
    "swing": (lambda rng: (rng.uniform(0.1, 0.5), rng.uniform(0.015, 0.04)), chest_swing_waveform),
    "knock": (lambda rng: (rng.uniform(0.3, 2.0), rng.uniform(80, 250), rng.uniform(0.02, 0.1)), knock_waveform),
}


def _direction(rng):
    if rng.random() < NORMAL_FRACTION:
        theta = math.radians(NORMAL_CONE_DEG) * math.sqrt(rng.random())
        phi = rng.uniform(0, 2 * math.pi)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), sign * math.cos(theta)])
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def tap_times(rng, duration_ms):
    """Contact times (ms from the window start) for one recording."""
    times = []
    t = EDGE_S * 1000 + rng.exponential(MEAN_EXTRA_GAP_S * 1000)
    while t < duration_ms - EDGE_S * 1000:
        times.append(t)
        if rng.random() < DOUBLE_FRACTION:
            t2 = t + rng.uniform(*DOUBLE_GAP_S) * 1000
            if t2 < duration_ms - EDGE_S * 1000:
                times.append(t2)
                t = t2
        t += (MIN_GAP_S + rng.exponential(MEAN_EXTRA_GAP_S)) * 1000
    return times


def add_taps(t_ms, xyz, rate, rng):
    """Add modelled taps to an evenly sampled recording in place.

    `xyz` is an (n, 3) array in g at `rate` Hz with sample times `t_ms`.
    Returns the list of (t_ms, peak_g, dv, tau_ms) of the taps added."""
    period = 1000.0 / rate
    added = []
    for tc in tap_times(rng, t_ms[-1] - t_ms[0]):
        dv = math.exp(rng.uniform(math.log(DV_RANGE[0]), math.log(DV_RANGE[1])))
        tau = rng.uniform(*TAU_RANGE)
        recoil = rng.uniform(*RECOIL_RANGE)
        direction = _direction(rng)
        k = int(round(tc / period))
        frac = tc - k * period
        offs, wave = tap_waveform(rate, dv, tau, recoil, frac)
        idx = offs + k
        ok = (idx >= 0) & (idx < len(xyz))
        xyz[idx[ok]] += wave[ok, None] * direction[None, :]
        added.append((t_ms[0] + tc, float(wave.max()), dv, tau * 1000))
    return added


def add_distractors(t_ms, xyz, rate, rng, per_minute, avoid_ms, keep_ms=300.0):
    """Add non-tap transients (DISTRACTORS) at random times, at least keep_ms
    from every time in `avoid_ms`. A heel event is a walking bout: 4-16 heel
    strikes 0.45-0.65 s apart. Returns [(t_ms, kind)]."""
    period = 1000.0 / rate
    duration = t_ms[-1] - t_ms[0]
    avoid = np.asarray(sorted(avoid_ms), dtype=float)
    added = []
    n_events = rng.poisson(per_minute * duration / 60000.0)
    kinds = sorted(DISTRACTORS)
    for _ in range(n_events):
        kind = kinds[int(rng.integers(len(kinds)))]
        draw, make = DISTRACTORS[kind]
        start = rng.uniform(EDGE_S * 1000, max(EDGE_S * 1000, duration - EDGE_S * 1000))
        times = [start]
        if kind == "heel":
            step = rng.uniform(450, 650)
            times = [start + i * step for i in range(int(rng.integers(4, 17)))]
        times = [tc for tc in times if tc < duration - EDGE_S * 1000]
        if len(avoid) and any(np.min(np.abs(avoid - tc)) < keep_ms for tc in times):
            continue
        direction = _direction(rng) if kind != "heel" else _unit(rng.normal(size=3) * 0.3 + np.array([0, 0, 1.0]))
        args = draw(rng)
        for tc in times:
            k = int(round(tc / period))
            offs, wave = make(rate, *args, tc - k * period)
            idx = offs + k
            ok = (idx >= 0) & (idx < len(xyz))
            xyz[idx[ok]] += wave[ok, None] * direction[None, :]
            added.append((t_ms[0] + tc, kind))
    return added


def _unit(v):
    return v / np.linalg.norm(v)


def _read_labels(src):
    path = Path(src) / "labels.csv"
    if not path.exists():
        return None, {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, {row["file"]: row for row in reader}


def recordings(src):
    """Recording CSVs in a set folder (everything but labels.csv/taps.csv)."""
    src = Path(src)
    if not src.is_dir():
        raise rs.RecordingError("%s: not a folder" % src)
    files = sorted(p for p in src.glob("*.csv") if p.name not in ("labels.csv", "taps.csv", "distractors.csv"))
    if not files:
        raise rs.RecordingError("%s: no recording CSV files" % src)
    return files


def write_recording(path, t_ms, xyz):
    with open(path, "w", newline="") as f:
        f.write("t_ms,x,y,z\n")
        np.savetxt(f, np.column_stack([t_ms, xyz]), fmt=["%.1f", "%.4f", "%.4f", "%.4f"], delimiter=",")


def generate(sources, out_dir, odr=400, seed=1, max_seconds=120.0, distractors_per_min=0.0, progress=None):
    """Build a tap set in out_dir from one or more source folders.

    Returns {"files": n, "taps": n, "seconds": total}. When two sources hold
    files of the same name, the later ones are prefixed with their folder name.
    With distractors_per_min > 0, non-tap transients (heel strikes, chest
    swings, table knocks) are added too and listed in distractors.csv
    `file,t_ms,kind`: anything detected near them is a false tap."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    label_rows, fieldnames, tap_rows, seen, distractor_rows = [], None, [], set(), []
    total_s = 0.0
    for src in sources:
        names, labels = _read_labels(src)
        fieldnames = fieldnames or names
        for path in recordings(src):
            name = path.name if path.name not in seen else "%s-%s" % (Path(src).name, path.name)
            seen.add(name)
            if progress:
                progress("tapgen: %s" % name)
            t, x, y, z = rs.load_resampled(path, odr)
            n_max = int(max_seconds * odr)
            start = int(rng.integers(0, len(t) - n_max + 1)) if len(t) > n_max else 0
            sl = slice(start, start + n_max)
            t_out = t[sl] - t[sl][0]
            xyz = np.column_stack([x[sl], y[sl], z[sl]])
            added = add_taps(t_out, xyz, odr, rng)
            for tc, *_ in added:
                tap_rows.append((name, tc))
            if distractors_per_min > 0:
                for tc, kind in add_distractors(t_out, xyz, odr, rng, distractors_per_min, [a[0] for a in added]):
                    distractor_rows.append((name, tc, kind))
            write_recording(out / name, t_out, xyz)
            total_s += len(t_out) / odr
            row = dict(labels.get(path.name, {}))
            row["file"] = name
            if row.get("steps") not in (None, "") and len(t) > n_max:
                # a window of a longer recording: its step count is unknown
                row["steps"] = ""
            if "sample_hz" in row or not labels:
                row["sample_hz"] = "%g" % odr
            label_rows.append(row)
    fieldnames = fieldnames or ["file", "sample_hz"]
    with (out / "labels.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        w.writeheader()
        for row in label_rows:
            w.writerow(row)
    with (out / "taps.csv").open("w", newline="") as f:
        f.write("file,t_ms\n")
        for name, tc in tap_rows:
            f.write("%s,%.1f\n" % (name, tc))
    if distractors_per_min > 0:
        with (out / "distractors.csv").open("w", newline="") as f:
            f.write("file,t_ms,kind\n")
            for name, tc, kind in distractor_rows:
                f.write("%s,%.1f,%s\n" % (name, tc, kind))
    return {"files": len(label_rows), "taps": len(tap_rows), "distractors": len(distractor_rows),
            "seconds": round(total_s, 1)}


def add_arguments(parser):
    parser.add_argument("sources", nargs="+", metavar="SRC_DIR", help="folders of recordings (CSV t_ms,x,y,z in g)")
    parser.add_argument("out", metavar="OUT_DIR", help="folder to write the tap set to (created)")
    parser.add_argument("--odr", type=float, default=400.0, help="output data rate in Hz (default 400)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="longest window taken from each recording (default 120)")
    parser.add_argument("--distractors", type=float, default=0.0, metavar="PER_MIN",
                        help="also add non-tap transients (heel strikes, chest swings, table knocks), per minute")


def run(args):
    try:
        summary = generate(args.sources, args.out, odr=args.odr, seed=args.seed, max_seconds=args.max_seconds,
                           distractors_per_min=args.distractors, progress=lambda m: print(m, file=sys.stderr))
    except rs.RecordingError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print("wrote %(files)d recordings, %(taps)d taps, %(distractors)d distractors, %(seconds).0f s" % summary,
          file=sys.stderr)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m host_tools.bench.tapgen", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

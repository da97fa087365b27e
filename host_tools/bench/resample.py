"""Load labelled accelerometer recordings and resample them to a sensor's
output data rate (ODR), the way the sensor itself would have sampled them.

Recordings (../shared/data/steps format) are CSV `t_ms,x,y,z` in g at their
own, slightly uneven rate (phones and watches timestamp samples with jitter,
repeat timestamps and drop samples). Resampling is done in two steps:

1. Regularise: cubic Hermite interpolation (slopes from the three-point
   derivative of the uneven samples) onto an even grid at the recording's own
   mean rate. This only moves samples by their jitter (usually none, now and
   then a period where a sample was dropped or delayed); cubic rather than
   linear because linear interpolation between samples 1/7 of a walking
   cycle apart is off by several percent of the swing.
2. Band-limited rate change: every output sample is a Kaiser-windowed sinc
   interpolation of the even input (fractional-delay FIR), with the cut-off at
   `CUTOFF` x the lower of the two Nyquist frequencies. Going down this is the
   anti-alias low-pass a MEMS accelerometer's digital filter applies before
   decimating (the LIS3DH's bandwidth is ODR/2); going up it is ideal
   band-limited interpolation, never sample picking or holding. Each output's
   weights are normalised to sum to 1 so the gravity (DC) component is kept
   exactly whatever the fractional position.

Upsampling cannot invent content the recording never had: a 12.5 Hz watch
recording resampled to 400 Hz holds nothing above ~6 Hz.
"""
import csv
from pathlib import Path

import numpy as np

CUTOFF = 0.45  # fraction of the lower sample rate: pass-band up to 0.9 x Nyquist
ZERO_CROSSINGS = 8  # sinc lobes on each side of the kernel centre
KAISER_BETA = 8.0  # ~-80 dB side lobes
PHASES = 4096  # tabulated fractional positions per input sample
_BLOCK = 1 << 21  # taps x outputs per vectorised block (bounds memory to ~50 MB)


_MAX_MEDIAN_G = 4.0
# Sample rates a worn accelerometer is plausibly recorded at (phones and
# watches 5-500 Hz, MEMS parts up to ~5 kHz): a median spacing outside this
# means t_ms is in another unit, which would silently distort every count.
_MIN_RATE_HZ = 1.0
_MAX_RATE_HZ = 5000.0


class RecordingError(ValueError):
    """A recording file is missing, empty or not `t_ms,x,y,z`."""


def load_csv(path):
    """Read a recording; returns float64 arrays (t_ms, x, y, z), x/y/z in g.

    Rows with repeated or decreasing timestamps are dropped (they carry no
    timing information and would break interpolation)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a spreadsheet's BOM is not part of `t_ms`
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise RecordingError("%s: empty file" % path)
            names = [h.strip() for h in header]
            if names[:4] != ["t_ms", "x", "y", "z"]:
                raise RecordingError("%s: header must start t_ms,x,y,z, got %s" % (path, ",".join(names)))
            rows = []
            for lineno, row in enumerate(reader, 2):
                if not row or not "".join(row).strip():
                    continue
                try:
                    rows.append((float(row[0]), float(row[1]), float(row[2]), float(row[3])))
                except (ValueError, IndexError):
                    raise RecordingError("%s:%d: expected 4 numbers, got %r" % (path, lineno, row)) from None
    except OSError as e:
        raise RecordingError("%s: %s" % (path, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise RecordingError(not_utf8(path)) from None
    if len(rows) < 2:
        raise RecordingError("%s: needs at least 2 samples, has %d" % (path, len(rows)))
    data = np.asarray(rows, dtype=np.float64)
    keep = np.concatenate(([True], data[1:, 0] > np.maximum.accumulate(data[:, 0])[:-1]))
    data = data[keep]
    if not np.all(np.isfinite(data)):
        raise RecordingError("%s: non-finite values" % path)
    if len(data) < 2:
        raise RecordingError("%s: timestamps never increase" % path)
    _check_time_unit(path, data[:, 0])
    # Worn sensors read about 1 g on average; far more means other units,
    # which would be counted as violent motion rather than refused.
    g = float(np.median(np.sqrt((data[:, 1:] ** 2).sum(axis=1))))
    if g > _MAX_MEDIAN_G:
        unit = "m/s^2" if 5 < g < 20 else "mg" if 500 < g < 2000 else "not g"
        raise RecordingError("%s: x,y,z must be in g; these look like %s (median |a| %.4g)" % (path, unit, g))
    return data[:, 0], data[:, 1], data[:, 2], data[:, 3]


def not_utf8(path):
    """The one-line message for a CSV that is not UTF-8 text, naming its first
    bad line (a decoder's offset counts from its read buffer, not the file)."""
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return "%s:%d: not UTF-8 text (byte 0x%02x); save the CSV as UTF-8" % (path, lineno, line[e.start])
    return "%s: not UTF-8 text; save the CSV as UTF-8" % path


def _check_time_unit(path, t_ms):
    """Refuse timestamps whose spacing says they are not milliseconds."""
    spacing = float(np.median(np.diff(t_ms)))
    rate = 1000.0 / spacing
    if _MIN_RATE_HZ <= rate <= _MAX_RATE_HZ:
        return
    unit = "seconds" if rate > _MAX_RATE_HZ else "microseconds" if rate * 1000 >= _MIN_RATE_HZ else "not ms"
    raise RecordingError("%s: t_ms must be milliseconds; a median sample spacing of %.4g would mean %.4g Hz, "
                         "so these look like %s" % (path, spacing, rate, unit))


def source_rate(t_ms):
    """Mean sample rate (Hz) of a recording's timestamps."""
    t_ms = np.asarray(t_ms, dtype=np.float64)
    return (len(t_ms) - 1) * 1000.0 / (t_ms[-1] - t_ms[0])


def _slopes(t, v):
    """Second-order derivative estimate at uneven sample times."""
    d = np.empty_like(v)
    h0 = t[1:-1] - t[:-2]
    h1 = t[2:] - t[1:-1]
    d[1:-1] = (h1 * h1 * (v[1:-1] - v[:-2]) + h0 * h0 * (v[2:] - v[1:-1])) / (h0 * h1 * (h0 + h1))
    d[0] = (v[1] - v[0]) / (t[1] - t[0])
    d[-1] = (v[-1] - v[-2]) / (t[-1] - t[-2])
    return d


def hermite(t_new, t, v):
    """Cubic Hermite interpolation of samples (t, v) at times t_new (inside
    [t[0], t[-1]], clamped otherwise)."""
    t = np.asarray(t, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if len(t) < 3:
        return np.interp(t_new, t, v)
    d = _slopes(t, v)
    t_new = np.clip(np.asarray(t_new, dtype=np.float64), t[0], t[-1])
    i = np.clip(np.searchsorted(t, t_new, side="right") - 1, 0, len(t) - 2)
    h = t[i + 1] - t[i]
    s = (t_new - t[i]) / h
    s2 = s * s
    s3 = s2 * s
    return ((2 * s3 - 3 * s2 + 1) * v[i] + (s3 - 2 * s2 + s) * h * d[i]
            + (-2 * s3 + 3 * s2) * v[i + 1] + (s3 - s2) * h * d[i + 1])


def _kernel(offsets, fc, half_width):
    """Windowed-sinc weights at `offsets` (in input samples) for cut-off `fc`
    (cycles per input sample)."""
    r = np.clip(offsets / half_width, -1.0, 1.0)
    window = np.i0(KAISER_BETA * np.sqrt(1.0 - r * r)) / np.i0(KAISER_BETA)
    return 2.0 * fc * np.sinc(2.0 * fc * offsets) * window


def resample_uniform(signal, rate_in, rate_out, n_out, offset=0.0):
    """Band-limited resampling of an evenly sampled signal (1-D, or 2-D with
    one column per channel).

    Output sample i is at input position offset + i * rate_in / rate_out.
    Fractional positions are rounded to 1/PHASES of an input period (a timing
    error below 0.02% of it) so the kernel is computed once per phase used. Edges are
    extended by repeating the end samples (gravity stays put)."""
    signal = np.asarray(signal, dtype=np.float64)
    flat = signal.ndim == 1
    if flat:
        signal = signal[:, None]
    n_in = len(signal)
    step = rate_in / rate_out
    fc = CUTOFF * min(1.0, rate_out / rate_in)  # cycles per input sample
    half_width = ZERO_CROSSINGS / (2.0 * fc)  # in input samples
    taps = np.arange(-int(np.ceil(half_width)) + 1, int(np.ceil(half_width)) + 1)
    rows = {}  # phase -> normalised kernel, only for the phases this call needs
    out = np.empty((n_out, signal.shape[1]), dtype=np.float64)
    chunk = max(256, _BLOCK // len(taps))
    for start in range(0, n_out, chunk):
        pos = offset + np.arange(start, min(n_out, start + chunk)) * step
        ticks = np.round(pos * PHASES).astype(np.int64)
        base, phase = np.divmod(ticks, PHASES)
        idx = np.clip(base[:, None] + taps[None, :], 0, n_in - 1)
        used, inverse = np.unique(phase, return_inverse=True)
        missing = [p for p in used.tolist() if p not in rows]
        if missing:
            k = _kernel(np.asarray(missing)[:, None] / PHASES - taps[None, :], fc, half_width)
            for p, row in zip(missing, k / k.sum(axis=1, keepdims=True)):
                rows[p] = row
        weights = np.stack([rows[p] for p in used.tolist()])[inverse.reshape(-1)]
        for c in range(signal.shape[1]):
            out[start:start + len(pos), c] = np.einsum("ij,ij->i", signal[idx, c], weights)
    return out[:, 0] if flat else out


def resample(t_ms, x, y, z, odr_hz):
    """Resample a recording to `odr_hz`; returns (t_ms, x, y, z) arrays.

    Output times are t_ms[0] + i * 1000 / odr_hz, up to the last input time."""
    t_ms = np.asarray(t_ms, dtype=np.float64)
    if odr_hz <= 0:
        raise ValueError("odr_hz must be positive, got %r" % (odr_hz,))
    if len(t_ms) < 2 or not np.all(np.diff(t_ms) > 0):
        raise ValueError("timestamps must be strictly increasing (use load_csv)")
    rate_in = source_rate(t_ms)
    n_even = len(t_ms)
    t_even = t_ms[0] + np.arange(n_even) * (1000.0 / rate_in)
    span = t_ms[-1] - t_ms[0]
    n_out = int(np.floor(span * odr_hz / 1000.0 + 1e-9)) + 1
    t_out = t_ms[0] + np.arange(n_out) * (1000.0 / odr_hz)
    even = np.stack([hermite(t_even, t_ms, a) for a in (x, y, z)], axis=1)
    if abs(rate_in - odr_hz) < 1e-9 * odr_hz:
        out = even[:n_out]  # already at the rate: filtering again would only soften it
    else:
        out = resample_uniform(even, rate_in, odr_hz, n_out)
    return (t_out, out[:, 0], out[:, 1], out[:, 2])


def load_resampled(path, odr_hz):
    """load_csv + resample."""
    return resample(*load_csv(path), odr_hz)


def to_mg_int16(x, y, z):
    """Interleaved int16 milli-g samples (x0, y0, z0, x1, ...), clipped to
    +-32 g, as the firmware receives them from a driver."""
    mg = np.round(np.stack([x, y, z], axis=1) * 1000.0)
    return np.clip(mg, -32768, 32767).astype("<i2").reshape(-1)

"""Cost benchmark: microseconds per sample of the motion pipeline under the
MicroPython unix port, as a ratio against a baseline loop that only reads the
sample (measured in the same VM run, so host speed cancels out), heap bytes
allocated per sample (must be 0), and the plain-Python kernel against the
viper one. The pipeline is the step counter plus, when firmware/cloudpin/taps.py
exists, the tap detector (`TapDetector(odr_hz).feed(x, y, z, t_ms)`).
"""
import json
import os
import subprocess
import tempfile

from host_tools import FIRMWARE_DIR
from host_tools.bench.steps import MP_HEAP, BenchError, board_odr, micropython_binary

SAMPLES = 20000

# Runs in the VM: a synthetic 1.8 Hz walk (walking state, so every stage is
# exercised) precomputed into an int16 array; each variant runs the same loop.
_SCRIPT = r"""
import array, gc, math, time
from cloudpin.steps import StepCounter
try:
    from cloudpin.taps import TapDetector
except ImportError:
    TapDetector = None
ODR = %(odr)r
N = %(n)d
zs = array.array("h", [1000 + int(300 * math.sin(2 * math.pi * 1.8 * i / ODR) + 90 * math.sin(math.pi * 1.8 * i / ODR)) for i in range(500)])

def baseline(n):
    s = 0
    for i in range(n):
        z = zs[i %% 500]
        s += z
    return s

def steps_only(n, sc):
    feed = sc.feed
    for i in range(n):
        feed(7, -3, zs[i %% 500])
    return sc.steps

def pipeline(n, sc, td):
    feed = sc.feed
    tfeed = td.feed
    dt = 1000 / ODR
    for i in range(n):
        z = zs[i %% 500]
        feed(7, -3, z)
        tfeed(7, -3, z, int(i * dt))
    return sc.steps

def timed(fn):
    # Heap per sample = growth of a 2N run over an N run, so the fixed cost
    # of the call and the timer reads cancels out.
    fn(N)  # warm-up: fills buffers, reaches the walking state
    gc.collect()
    m0 = gc.mem_alloc()
    t0 = time.ticks_us()
    fn(N)
    t1 = time.ticks_us()
    gc.collect()
    m1 = gc.mem_alloc()
    fn(2 * N)
    m2 = gc.mem_alloc()
    return time.ticks_diff(t1, t0) / N, ((m2 - m1) - (m1 - m0)) / N

out = {}
out["baseline"] = timed(baseline)
fast = StepCounter(ODR, True)
plain = StepCounter(ODR, False)
out["steps_viper"] = timed(lambda n: steps_only(n, fast))
out["steps_plain"] = timed(lambda n: steps_only(n, plain))
if TapDetector is not None:
    both = (StepCounter(ODR), TapDetector(ODR))
    out["pipeline"] = timed(lambda n: pipeline(n, both[0], both[1]))
for k, (us, heap) in out.items():
    print("COST %%s %%.4f %%.4f" %% (k, us, heap))
"""


def measure(odr=None, samples=SAMPLES):
    odr = float(odr or board_odr())
    with tempfile.TemporaryDirectory(prefix="cloudpin-cost-") as tmp:
        script = os.path.join(tmp, "cost.py")
        with open(script, "w") as f:
            f.write(_SCRIPT % {"odr": odr, "n": samples})
        proc = subprocess.run([micropython_binary(), "-X", "heapsize=" + MP_HEAP, script], cwd=tmp,
                              env=dict(os.environ, MICROPYPATH=str(FIRMWARE_DIR)), capture_output=True, text=True, timeout=600)
    rows = {}
    for line in proc.stdout.splitlines():
        if line.startswith("COST "):
            _, name, us, heap = line.split()
            rows[name] = (float(us), float(heap))
    if proc.returncode != 0 or "baseline" not in rows:
        raise BenchError("cost run failed in the MicroPython VM:\n" + proc.stderr[-2000:])
    base = rows["baseline"][0]
    result = {
        "odr_hz": odr,
        "samples": samples,
        "runtime": "MicroPython unix port (host CPU; compare ratios, not microseconds, with an ESP32)",
        "baseline_us_per_sample": round(base, 3),
        "steps_us_per_sample": round(rows["steps_viper"][0], 3),
        "steps_ratio_to_baseline": round(rows["steps_viper"][0] / base, 2),
        "steps_heap_bytes_per_sample": round(rows["steps_viper"][1], 2),
        "steps_plain_us_per_sample": round(rows["steps_plain"][0], 3),
        "steps_plain_ratio_to_baseline": round(rows["steps_plain"][0] / base, 2),
        "steps_plain_heap_bytes_per_sample": round(rows["steps_plain"][1], 2),
        "viper_speedup": round(rows["steps_plain"][0] / rows["steps_viper"][0], 2),
        "tap_detector": "pipeline" in rows,
    }
    if "pipeline" in rows:
        result["pipeline_us_per_sample"] = round(rows["pipeline"][0], 3)
        result["pipeline_ratio_to_baseline"] = round(rows["pipeline"][0] / base, 2)
        result["pipeline_heap_bytes_per_sample"] = round(rows["pipeline"][1], 2)
    return result


def add_arguments(parser):
    parser.add_argument("--odr", type=float, default=None, help="sample rate, Hz (default: the board's accel.odr)")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="samples per timed run (%(default)s)")


def run(args):
    import sys

    try:
        result = measure(args.odr, args.samples)
    except BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0

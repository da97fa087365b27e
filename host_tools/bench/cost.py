"""Cost benchmark: microseconds per sample of the motion pipeline under the
MicroPython unix port, as a ratio against a baseline loop that only reads the
sample (measured in the same VM run, so host speed cancels out), heap bytes
allocated per sample (must be 0), and the plain-Python kernel against the
viper one. The pipeline is the app's own per-burst code (cloudpin.motion.MotionPipeline:
step counter plus software tap detector over 32-sample FIFO bursts) at the
rate the app runs the sensor (the board's accel.tap_odr).
"""
import os
import subprocess
import tempfile

from host_tools import FIRMWARE_DIR
from host_tools.bench import emit
from host_tools.bench.steps import DEFAULT_BOARD, MP_HEAP, BenchError, micropython_binary
from host_tools.boards import load_board

SAMPLES = 20000

# Runs in the VM: a synthetic 1.8 Hz walk (walking state, so every stage is
# exercised) precomputed into an int16 array; each variant runs the same loop.
_SCRIPT = r"""
import array, gc, math, time
from cloudpin.steps import StepCounter
from cloudpin.motion import MotionPipeline
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

BURST = 32
bursts = []
for b in range(500 // BURST):
    a = array.array("h", bytes(6 * BURST))
    for i in range(BURST):
        a[3 * i], a[3 * i + 1], a[3 * i + 2] = 7, -3, zs[b * BURST + i]
    bursts.append(a)
PERIOD_MS = BURST * 1000 // ODR

def pipeline(n, mp):
    # The app's per-burst code on FIFO bursts (software tap detector on).
    process = mp.process
    nb = len(bursts)
    for k in range(n // BURST):
        process(bursts[k %% nb], BURST, k * PERIOD_MS)
    return mp.steps.steps

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
mp = MotionPipeline(ODR)
out["pipeline"] = timed(lambda n: pipeline(n, mp))

def taps_only(n, det):
    feed = det.feed
    for i in range(n):
        feed(7, -3, zs[i %% 500], i)
    return det.taps

from cloudpin.taps import TapDetector
plain_taps = TapDetector(ODR)
out["taps"] = timed(lambda n: taps_only(n, plain_taps))
for k, (us, heap) in out.items():
    print("COST %%s %%.4f %%.4f" %% (k, us, heap))
"""


def measure(odr=None, samples=SAMPLES):
    if not odr:
        accel = load_board(DEFAULT_BOARD)["accel"]
        odr = accel.get("tap_odr") or accel["odr"]
    odr = int(odr) if float(odr).is_integer() else float(odr)
    with tempfile.TemporaryDirectory(prefix="cloudpin-cost-") as tmp:
        script = os.path.join(tmp, "cost.py")
        with open(script, "w") as f:
            f.write(_SCRIPT % {"odr": odr, "n": samples})
        proc = subprocess.run([micropython_binary(), "-X", "heapsize=" + MP_HEAP, script], cwd=tmp,
                              env=dict(os.environ, MICROPYPATH=str(FIRMWARE_DIR) + ":.frozen"), capture_output=True, text=True, timeout=600)
    rows = {}
    for line in proc.stdout.splitlines():
        if line.startswith("COST "):
            _, name, us, heap = line.split()
            rows[name] = (float(us), float(heap))
    if proc.returncode != 0 or "baseline" not in rows:
        raise BenchError("cost run failed in the MicroPython VM:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
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
        "tap_detector": True,
    }
    if "pipeline" in rows:
        result["pipeline_us_per_sample"] = round(rows["pipeline"][0], 3)
        result["pipeline_ratio_to_baseline"] = round(rows["pipeline"][0] / base, 2)
        result["pipeline_heap_bytes_per_sample"] = round(rows["pipeline"][1], 2)
    for name in ("taps",):  # the tap detector alone
        if name in rows:
            result[name + "_us_per_sample"] = round(rows[name][0], 3)
            result[name + "_heap_bytes_per_sample"] = round(rows[name][1], 2)
    return result


def add_arguments(parser):
    parser.add_argument("--odr", type=float, default=None, help="sample rate, Hz (default: the board's accel.tap_odr, the rate the app runs the sensor at)")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="samples per timed run (%(default)s)")


def run(args):
    import sys

    try:
        result = measure(args.odr, args.samples)
    except BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    emit(result)
    return 0

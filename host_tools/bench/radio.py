"""Radio benchmark: a hall of pins advertising every 100 ms on the emulated
air (host_tools/emulator/cpsim/radio.py, docs/radio.md), run on simulated time.

Every pin sits at a random place in a 40 x 30 m hall, worn facing a random
way, and advertises 31 bytes every 100 ms from a random phase. Every pin also
scans at a low duty (a 30 ms window every 300 ms, what a battery pin can
afford) and a few observers scan all the time. It reports:
  - cost: simulated seconds per wall second for each crowd size;
  - ALOHA: the share of the advertising events of senders an observer hears
    well (mean RSSI >= -90 dBm) that it decodes, against the unslotted-ALOHA
    band exp(-2G)..exp(-G) for the offered load G of the senders it can hear
    at all (>= -97 dBm): within 0.8 x exp(-2G) (fading: a body-blocked link
    fades Rayleigh, 7 dB down 18% of the time) and 1.05 x exp(-G); it must
    fall as pins are added;
  - what each pin's radio did (cpsim.accounting counters, summed).

  cloudpin bench radio [--pins 30,100,400] [--seconds 10] [--seed 1]
"""
import json
import math
import sys
import time

from host_tools import firmware_on_path

HALL = (40.0, 30.0)
ADV_ITVL_US = 100000
SCAN = (300000, 30000)  # every pin: 30 ms of every 300 ms
OBSERVERS = 4
DATA_LEN = 31


def add_arguments(p):
    p.add_argument("--pins", default="30,100,400", help="crowd sizes, comma-separated (%(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per crowd (%(default)s)")
    p.add_argument("--seed", type=int, default=1)


class _Count:
    def __init__(self):
        self.by_addr = {}

    def __call__(self, event, data):
        if event == 5:
            a = bytes(data[1])
            self.by_addr[a] = self.by_addr.get(a, 0) + 1


def hall(n, seconds, seed=1, progress=None):
    """Run n pins (plus OBSERVERS full-time scanners) for `seconds`; returns a dict."""
    firmware_on_path(compat=True)
    from cpsim.world import World
    from cpsim.blelog import ble_of
    from cpsim.rng import Rng
    from cpsim import radio as R

    rng = Rng(seed * 7919 + n)

    def uniform():
        return rng.next() / 4294967296.0

    w = World()
    w.radio.reseed(seed)
    pins, observers, counts = [], [], []
    for i in range(n + OBSERVERS):
        dev = w.device("p%03d" % i)
        w.radio.set_position(dev, uniform() * HALL[0], uniform() * HALL[1], uniform() * 360)
        ble = ble_of(dev)
        c = _Count()
        ble.irq(c)
        ble.active(True)
        (observers if i >= n else pins).append(ble)
        counts.append(c)
    for b in observers:
        b.gap_scan(0, 100000, 100000)
    for b in pins:
        b.gap_advertise(ADV_ITVL_US, bytes(DATA_LEN))
        b.gap_scan(0, *SCAN)
        w.advance(ADV_ITVL_US / 1000 / n)  # pins switched on one by one: random phases
    w.advance(200)
    base = {}
    for d in w.devices:
        base[d] = dict(d.acct.counts)
    for c in counts:
        c.by_addr = {}
    t0 = time.perf_counter()
    step = max(1.0, seconds / 10)
    done = 0.0
    while done < seconds:
        dt = min(step, seconds - done)
        w.advance(dt * 1000)
        done += dt
        if progress:
            progress("radio: %d pins, %.0f/%.0f simulated s" % (n, done, seconds))
    wall = time.perf_counter() - t0
    # the ALOHA check, per observer
    shares, loads = [], []
    sent = {}
    for b in pins:
        d = b._dev
        sent[b.config("mac")[1]] = (d.acct.counts.get("radio.tx_packets", 0) - base[d].get("radio.tx_packets", 0)) // 3
    for b, c in zip(observers, counts[n:]):
        good = heard = audible = 0
        for p in pins:
            r = w.radio.rssi(p._dev, b._dev)
            if r >= w.radio.sensitivity:
                audible += 1
            if r >= -90:
                mac = p.config("mac")[1]
                good += sent[mac]
                heard += c.by_addr.get(mac, 0)
        if good:
            shares.append(heard / good)
        loads.append(audible)
    g, lo, hi = R.aloha(sum(loads) / len(loads), ADV_ITVL_US, DATA_LEN)
    totals = {}
    for d in w.devices:
        for k, v in d.acct.counts.items():
            totals[k] = totals.get(k, 0) + v - base[d].get(k, 0)
    return {
        "pins": n, "observers": OBSERVERS, "sim_s": seconds, "wall_s": round(wall, 2),
        "sim_s_per_wall_s": round(seconds / wall, 3) if wall else None,
        "aloha": {"audible_senders": round(sum(loads) / len(loads), 1), "G_per_channel": round(g, 3),
                  "exp_minus_2G": round(lo, 3), "exp_minus_G": round(hi, 3),
                  "share_heard": round(sum(shares) / len(shares), 3) if shares else None},
        "counts": totals,
    }


def bench_radio(sizes=(30, 100, 400), seconds=10.0, seed=1, progress=None):
    runs = [hall(n, seconds, seed, progress) for n in sizes]
    shares = [r["aloha"]["share_heard"] for r in runs]
    return {
        "model": "docs/radio.md", "hall_m": list(HALL), "adv_interval_ms": ADV_ITVL_US // 1000,
        "pin_scan_ms": [SCAN[0] // 1000, SCAN[1] // 1000], "runs": runs,
        "share_falls_with_crowd": all(a is not None and b is not None and b < a for a, b in zip(shares, shares[1:])),
        "share_within_aloha_band": all(
            r["aloha"]["share_heard"] is not None
            and 0.8 * r["aloha"]["exp_minus_2G"] <= r["aloha"]["share_heard"] <= 1.05 * r["aloha"]["exp_minus_G"]
            for r in runs),
    }


def run(args):
    try:
        sizes = tuple(int(x) for x in args.pins.split(",") if x.strip())
    except ValueError:
        print("error: --pins: comma-separated integers expected, got %r" % args.pins, file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 2 or args.seconds <= 0:
        print("error: need --pins >= 2 and --seconds > 0", file=sys.stderr)
        return 2
    result = bench_radio(sizes, args.seconds, args.seed, lambda m: print(m, file=sys.stderr))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    sys.exit(run(ap.parse_args()))

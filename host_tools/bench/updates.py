"""Friend-update benchmark: a hall of pins running the firmware's update
service (cloudpin.social.updates on cloudpin.ble) on the emulated air, for
one window, on simulated time (docs/ble.md, "Friend updates").

Every pin has exactly one friend, so every pin opens the window (a pin
without friends opens none) and the hall's air is as full as it gets: all
pins advertise every 100 ms and scan half the time during the same 2 s.
Half the pairs stand 0.5-3 m apart, facing random ways; the other pairs are
anywhere in the 40 x 30 m hall. It reports, per crowd size:
  - near / far: the share of (pin, friend) directions whose update was
    stored in that window (a near friend missed is what docs/ble.md
    estimates at ~2%);
  - what one window cost a pin: radio on (start-up included), air TX and
    RX (cpsim.accounting), reports of the friend's frame heard;
  - cost: simulated seconds per wall second.

  cloudpin bench updates [--pins 30,100,300] [--seed 1]
"""
import json
import math
import os
import sys
import tempfile
import time

HALL = (40.0, 30.0)
START_UTC = 1796000100 - 1  # one second before a window (a multiple of 300 s)
RTC_EPOCH_UNIX = 946684800  # the emulated ESP32's RTC counts from 2000
EVENT_KEY = bytes(range(16))


def add_arguments(p):
    p.add_argument("--pins", default="30,100,300", help="crowd sizes, comma-separated, even (%(default)s)")
    p.add_argument("--seed", type=int, default=1)


def hall(n, seed=1, progress=None):
    """One update window for n pins (n // 2 friend pairs); returns a dict."""
    from host_tools import firmware_on_path

    firmware_on_path(compat=True)
    import machine
    from cloudpin.ble.radio import RadioOwner
    from cloudpin.log import Logger
    from cloudpin.social import advert
    from cloudpin.social.friends import Friends
    from cloudpin.social.updates import WINDOW_MS, UpdatesService, utc_ms
    from cpsim import world as world_mod
    from cpsim.blelog import ble_of
    from cpsim.rng import Rng

    rng = Rng(seed * 7919 + n)

    def uniform():
        return rng.next() / 4294967296.0

    world_mod.reset()
    w = world_mod.World()
    w.radio.reseed(seed)
    flash = tempfile.TemporaryDirectory(prefix="cloudpin-bench-updates-")
    pins = []
    try:
        for i in range(n):
            dev = w.device("p%03d" % i)
            dev.rtc_offset_us = (START_UTC - RTC_EPOCH_UNIX) * 1000000
            if i % 2 and (i // 2) % 2 == 0:  # a near pair: the friend 0.5-3 m from its partner
                x0, y0, _ = pins[i - 1]["pos"]
                d, a = 0.5 + 2.5 * uniform(), uniform() * 2 * math.pi
                pos = (min(max(x0 + d * math.cos(a), 0.0), HALL[0]), min(max(y0 + d * math.sin(a), 0.0), HALL[1]),
                       uniform() * 360)
            else:
                pos = (uniform() * HALL[0], uniform() * HALL[1], uniform() * 360)
            w.radio.set_position(dev, *pos)
            owner = RadioOwner(ble_of(dev), Logger("radio", sink=lambda line: None))
            rtc = machine.RTC()
            fk, tk = advert.derive_keys(bytes((i >> 8, i & 0xFF)) * 8, EVENT_KEY)
            store = Friends(os.path.join(flash.name, "p%03d" % i))
            store.open()
            svc = UpdatesService(owner, store, fk, tk, Logger("updates", sink=lambda line: None), None,
                                 lambda rtc=rtc: utc_ms(rtc), lambda t, i=i: (1000 + i, i % 7))
            pins.append({"dev": dev, "pos": pos, "fk": fk, "store": store, "svc": svc})
        for i in range(0, n - 1, 2):
            a, b = pins[i], pins[i + 1]
            a["store"].add(b["fk"], {"name": "b"}, START_UTC)
            b["store"].add(a["fk"], {"name": "a"}, START_UTC)
        for p in pins:
            w.start(p["dev"], p["svc"].run())
        t0 = time.perf_counter()
        w.run_for(1000 + 250 + pins[0]["svc"].window_ms + 500)
        wall = time.perf_counter() - t0
    finally:
        w.close()
        world_mod.reset()
    got = {"near": [0, 0], "far": [0, 0]}
    for i in range(0, n - 1, 2):
        kind = "near" if (i // 2) % 2 == 0 else "far"
        for me, friend in ((pins[i], pins[i + 1]), (pins[i + 1], pins[i])):
            latest = me["store"].latest(0)
            got[kind][1] += 1
            if latest is not None and latest[0] == 1000 + pins.index(friend):
                got[kind][0] += 1
    flash.cleanup()
    acct = [p["dev"].acct.snapshot() for p in pins]

    def mean_ms(key):
        return round(sum(a["time_us"].get(key, 0) for a in acct) / len(acct) / 1000.0, 1)

    out = {
        "pins": n,
        "near_stored_share": round(got["near"][0] / float(max(1, got["near"][1])), 3),
        "far_stored_share": round(got["far"][0] / float(max(1, got["far"][1])), 3),
        "directions": {"near": got["near"][1], "far": got["far"][1]},
        "per_window_ms": {"radio_on": mean_ms("radio.idle"), "air_tx": mean_ms("air.tx"), "air_rx": mean_ms("air.rx")},
        "friend_frames_heard_mean": round(sum(p["svc"].heard for p in pins) / float(n), 1),
        "windows": sum(p["svc"].windows for p in pins),
        "sim_s_per_wall_s": round((1000 + 250 + WINDOW_MS + 500) / 1000.0 / wall, 3) if wall > 0 else None,
    }
    if progress:
        progress("updates: %d pins: near %.1f%%, far %.1f%% stored; radio on %.0f ms a window; %.2f sim s per wall s" % (
            n, 100 * out["near_stored_share"], 100 * out["far_stored_share"], out["per_window_ms"]["radio_on"],
            out["sim_s_per_wall_s"] or 0))
    return out


def bench_updates(sizes=(30, 100, 300), seed=1, progress=None):
    return {"updates": [hall(n, seed, progress) for n in sizes]}


def run(args):
    try:
        sizes = [int(x) for x in args.pins.split(",") if x.strip()]
    except ValueError:
        print("cloudpin bench updates: --pins: comma-separated whole numbers", file=sys.stderr)
        return 2
    if not sizes or any(n < 2 or n % 2 for n in sizes):
        print("cloudpin bench updates: --pins: even numbers of at least 2 (pins come in friend pairs)", file=sys.stderr)
        return 2
    res = bench_updates(sizes, args.seed, lambda m: print(m, file=sys.stderr))
    print(json.dumps(res, indent=1))
    return 0

"""Generated halls: N pins scattered in a room, some walking between random
waypoints, a few touches and knocks among those standing. The shipped
scenarios (scenarios/hall-*.json, press-room-30.json) were made by this, and
`cloudpin bench sim` times halls of 30, 100 and 400 pins with it. A rush
(`rush`) is a hall whose PAIRS pairs, standing face to face, all touch
within one second from AT_S (scenarios/hall-300-rush.json).

    python -m host_tools.sim.hall NAME PINS WIDTH DEPTH SECONDS WALKERS TAPS SOLO SEED > scenarios/NAME.json
    python -m host_tools.sim.hall rush NAME PINS WIDTH DEPTH SECONDS WALKERS PAIRS AT_S SEED > scenarios/NAME.json
"""
import json
import random
import sys

# One pin in nine an MPU6050 devkit, the rest reference pins (no display:
# framebuf does not exist under CPython, docs/sim.md).
BOARDS = ("cloudpin_ref",) * 8 + ("devkitc_mpu6050",)


def stroll(r, p, width, depth, seconds, start_s, legs_s, reach_m, margin_m, end_s):
    """Give pin p (its x, y the start) a walk: from a random moment in the
    first start_s, legs of legs_s seconds each to a point up to reach_m away
    on each axis, kept margin_m inside the room, until end_s before the end."""
    x, y = p["x"], p["y"]
    t = round(r.uniform(0, start_s), 1)
    pts = [[t, x, y]]
    while t < seconds - end_s:
        t = round(t + r.uniform(*legs_s), 1)
        x = round(min(width - margin_m, max(margin_m, x + r.uniform(-reach_m, reach_m))), 2)
        y = round(min(depth - margin_m, max(margin_m, y + r.uniform(-reach_m, reach_m))), 2)
        pts.append([min(t, seconds), x, y])
    p["walk"] = pts
    p["x"], p["y"] = pts[0][1], pts[0][2]


def hall(name, n, width, depth, seconds, walkers, taps, solo, seed):
    """A scenario dict (valid for scenario.validate)."""
    r = random.Random(seed)
    pins = []
    for i in range(n):
        x, y = round(r.uniform(0.5, width - 0.5), 2), round(r.uniform(0.5, depth - 0.5), 2)
        p = {"id": "p%03d" % (i + 1), "x": x, "y": y, "board": BOARDS[i % len(BOARDS)],
             "facing_deg": r.choice([0, 90, 180, 270])}
        if i < walkers:
            # strolls of 8-15 s to a point up to 8 m away, then the next
            stroll(r, p, width, depth, seconds, start_s=5, legs_s=(8, 15), reach_m=8, margin_m=0.5, end_s=5)
        pins.append(p)
    still = [p["id"] for p in pins if "walk" not in p]
    last = max(1, seconds - 3)
    tap_list = [{"t_ms": int(r.uniform(min(5, last / 2), last) * 1000), "a": a, "b": b}
                for a, b in (r.sample(still, 2) for _ in range(taps))] if len(still) >= 2 else []
    solos = [{"t_ms": int(r.uniform(min(5, last / 2), last) * 1000), "pin": r.choice(still)}
             for _ in range(solo)] if still else []
    return {"name": name, "seed": seed, "duration_s": seconds, "room": {"width_m": width, "depth_m": depth},
            "pins": pins, "taps": sorted(tap_list, key=lambda t: t["t_ms"]),
            "solo_taps": sorted(solos, key=lambda t: t["t_ms"])}


PAIR_GAP_M = 0.6  # two people who just touched pins stand about this far apart


def pair_up(sc, gap_m=PAIR_GAP_M):
    """Tapping pairs stand together: pin b of every touch (if it does not
    walk and touches only a) moves gap_m from pin a, the two facing each
    other. Returns sc."""
    pins = {p["id"]: p for p in sc["pins"]}
    partners = {}
    for t in sc["taps"]:
        for x, y in ((t["a"], t["b"]), (t["b"], t["a"])):
            partners.setdefault(x, set()).add(y)
    w = sc["room"]["width_m"]
    for t in sc["taps"]:
        a, b = pins[t["a"]], pins[t["b"]]
        if "walk" in b or len(partners[b["id"]]) > 1:
            continue
        right = a["x"] + gap_m <= w - 0.1
        b["x"] = round(a["x"] + (gap_m if right else -gap_m), 2)
        b["y"] = a["y"]
        a["facing_deg"], b["facing_deg"] = (0, 180) if right else (180, 0)
    return sc


def rush(name, n, width, depth, seconds, walkers, pairs, at_s, seed):
    """A hall of n pins where `pairs` pairs of standing pins, face to face,
    all touch within the second from at_s."""
    sc = hall(name, n, width, depth, seconds, walkers, 0, 0, seed)
    r = random.Random(seed + 1)
    still = [p["id"] for p in sc["pins"] if "walk" not in p]
    chosen = r.sample(still, 2 * pairs)
    sc["taps"] = sorted(({"t_ms": int(at_s * 1000) + r.randrange(1000), "a": chosen[2 * i], "b": chosen[2 * i + 1]}
                         for i in range(pairs)), key=lambda t: t["t_ms"])
    return pair_up(sc)


def dumps(sc):
    """JSON with one pin per line (diffable, still readable)."""
    parts = []
    for k, v in sc.items():
        if k == "pins":
            parts.append(' "pins": [\n  ' + ",\n  ".join(json.dumps(p) for p in v) + "\n ]")
        else:
            parts.append(' "%s": %s' % (k, json.dumps(v)))
    return "{\n" + ",\n".join(parts) + "\n}\n"


if __name__ == "__main__":
    a = sys.argv[1:]
    make = hall
    if a[:1] == ["rush"]:
        make, a = rush, a[1:]
    if len(a) != 9:
        sys.exit("\n".join(line.strip() for line in __doc__.strip().splitlines()[-2:]))
    sys.stdout.write(dumps(make(a[0], *[json.loads(x) for x in a[1:]])))

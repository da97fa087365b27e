"""Generated halls: N pins scattered in a room, some walking between random
waypoints, a few touches and knocks among those standing. The shipped
scenarios (scenarios/hall-*.json, press-room-30.json) were made by this, and
`cloudpin bench sim` times halls of 30, 100 and 400 pins with it.

    python -m host_tools.sim.hall NAME PINS WIDTH DEPTH SECONDS WALKERS TAPS SOLO SEED > scenarios/NAME.json
"""
import json
import random
import sys

# One pin in nine an MPU6050 devkit, the rest reference pins (no display:
# framebuf does not exist under CPython, docs/sim.md).
BOARDS = ("cloudpin_ref",) * 8 + ("devkitc_mpu6050",)


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
            t = round(r.uniform(0, 5), 1)
            pts = [[t, x, y]]
            while t < seconds - 5:
                t = round(t + r.uniform(8, 15), 1)
                x = round(min(width - 0.5, max(0.5, x + r.uniform(-8, 8))), 2)
                y = round(min(depth - 0.5, max(0.5, y + r.uniform(-8, 8))), 2)
                pts.append([min(t, seconds), x, y])
            p["walk"] = pts
            p["x"], p["y"] = pts[0][1], pts[0][2]
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
    if len(a) != 9:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    sys.stdout.write(dumps(hall(a[0], *[json.loads(x) for x in a[1:]])))

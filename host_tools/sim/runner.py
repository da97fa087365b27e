"""Run a scenario: every pin's real firmware app (cloudpin.app.App on the
hardware its board file describes, fitted by cpsim.boardfit) in this
process, on one simulated clock (cpsim.world), in a hall whose radio
positions follow the scenario.

The run goes in slices of simulated time (STEP_MS, plus the edges of every
touch): between slices walkers' radio positions move along their waypoints
(facing where they go) and a touching pair's distance follows the reach
in and withdrawal its pins' accelerometers feel (the tap model's draws),
TOUCH_M at contact, for TOUCH_HOLD_MS after it. What each pin did comes from the
firmware itself: its step counter, its log's `tap t_ms=` lines, and its
device's accounting (cpu and radio state times, packet counters).
"""
import gc
import json
import math
import os
import random
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from host_tools import BOARDS_DIR, REPO
from host_tools.sim import attackers, motionsrc, provision, social
from host_tools.sim.scenario import ScenarioError

DEFAULT_BOARD = "cloudpin_ref"
SHIPPED_WALKS = REPO / "host_tools" / "data"
STEP_MS = 250  # how often walkers' radio positions are moved
TOUCH_M = 0.02  # two pins touching: a couple of centimetres apart
TOUCH_HOLD_MS = 5000  # after a touch the two wearers stay face to face this long
TOUCH_STEP_MS = 50  # the pair's distance is updated this often during the reach and withdrawal
TOUCH_MOVE_MS = (-1200, 1600)  # ...which lie within this span of the contact (tapmodel ranges)
HANDSHAKE_MS = 3000  # a touch's handshake is over this long after it (p95 1.5 s, tap again within ~2.5 s)
MATCH_MS = (-100, 150)  # a detected tap this close to an injected one is that tap
HOLD_US = 1000000  # a standing walker's orientation: the recording's mean over 1 s
MAX_SHIFT_S = 30.0  # walkers start their recording up to this far in (not in step)
_SKIP_CSV = ("labels.csv", "taps.csv", "distractors.csv")


class SimError(ValueError):
    pass


# --- inputs ----------------------------------------------------------------------
def walk_recordings(folders):
    """Walking recordings (sorted paths) in the shipped data folder and `folders`:
    every `t_ms,x,y,z` CSV directly in a folder (or a CSV named itself), less
    those labels.csv says are not walks (kind other than walk, or 0 steps)."""
    found = []
    for f in [SHIPPED_WALKS] + [Path(x) for x in folders]:
        if f.is_file():
            found.append(f)
            continue
        if not f.is_dir():
            raise SimError("recordings %s: not a folder or a CSV file" % f)
        not_walks = _not_walks(f / "labels.csv")
        found += [p for p in sorted(f.glob("*.csv")) if p.name not in _SKIP_CSV and p.name not in not_walks]
    return sorted(set(str(p.resolve()) for p in found))


def _not_walks(labels):
    import csv

    if not labels.exists():
        return set()
    out = set()
    with open(labels, newline="") as fh:
        for row in csv.DictReader(fh):
            kind = (row.get("kind") or "").strip()
            steps = (row.get("steps") or "").strip()
            if (kind and kind != "walk") or (not kind and steps in ("0", "0.0")):
                out.add(row.get("file", ""))
    return out


def _boards(pins, warn):
    from host_tools.boards import BoardError, load_board

    boards = {}
    for p in pins:
        name = p["board"]
        if name in boards:
            continue
        if not (BOARDS_DIR / (name + ".json")).exists():
            warn("warning: board %r is not in boards/; pins using it run the reference pin (%s)" % (name, DEFAULT_BOARD))
            name = DEFAULT_BOARD
        try:
            boards[p["board"]] = (name, load_board(name))
        except BoardError as e:
            raise SimError("board %s: %s" % (name, e)) from None
    return boards


def _check_recordings(paths):
    from cpsim.recording import check

    for p in paths:
        try:
            check(p)
        except (OSError, ValueError) as e:
            raise SimError("recording %s: %s" % (p, e)) from None


# --- positions -------------------------------------------------------------------
def position(pin, t_s):
    """(x, y, heading_deg or None) of a pin at t_s: linear between waypoints,
    facing the way it walks; still before the first and after the last."""
    walk = pin["walk"]
    if not walk:
        return pin["x"], pin["y"], pin["facing_deg"]
    if t_s <= walk[0][0]:
        return walk[0][1], walk[0][2], pin["facing_deg"]
    for (t0, x0, y0), (t1, x1, y1) in zip(walk, walk[1:]):
        if t_s <= t1:
            f = (t_s - t0) / (t1 - t0)
            heading = math.degrees(math.atan2(y1 - y0, x1 - x0)) if (x1, y1) != (x0, y0) else pin["facing_deg"]
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0), heading
    return walk[-1][1], walk[-1][2], pin["facing_deg"]


def moving_spans(pin):
    """[(start_s, end_s)] in which a pin walks (waypoint segments that move it)."""
    spans = []
    for (t0, x0, y0), (t1, x1, y1) in zip(pin["walk"], pin["walk"][1:]):
        if (x0, y0) == (x1, y1):
            continue
        if spans and spans[-1][1] == t0:
            spans[-1] = (spans[-1][0], t1)
        else:
            spans.append((t0, t1))
    return spans


# --- building the pins -----------------------------------------------------------
_T_MS = re.compile(r"\bt_ms=(-?\d+)")


def _rng(sc, *parts):
    # A touch's generator: the scenario's seed and name, then what the touch
    # is (stream, index, side). Without the name, tap k at seed s was the
    # same touch in every scenario: a sweep over scenarios at seeds 1-10
    # counted one hard draw six or seven times (docs/sim.md, the seed set).
    name = zlib.crc32(sc["name"].encode("utf-8", "surrogatepass"))
    return np.random.default_rng([sc["seed"] & 0xFFFFFFFF, name] + list(parts))


def _slow_clock(sc, spec):
    """The pin's RTC slow clock in sleep (cpsim.slowclock): its own
    clock_ppm, else drawn from the scenario's clock ranges by the seed and
    the pin's id (so adding a pin changes no other pin's clock)."""
    from cpsim import slowclock

    if spec["clock_ppm"] is not None:
        return slowclock.SlowClock(spec["clock_ppm"])
    c = sc["clock"]
    rng_ppm = slowclock.RANGE_PPM if c["range_ppm"] is None else c["range_ppm"]
    wander = slowclock.WANDER_PPM if c["wander_ppm"] is None else c["wander_ppm"]
    if not rng_ppm and not wander:
        return None
    return slowclock.draw(random.Random("%d/clock/%s" % (sc["seed"], spec["id"])), rng_ppm, wander)


def _source(pin, idx, sc, rate, pool, noise, touches):
    """The pin's accelerometer source and the recording it walks to (or None);
    its touches are those drawn in touches[(tap index, side)] (touch_draws())."""
    from cpsim.recording import Recording

    rest = motionsrc.RestNoise(noise, idx * 7919)
    spans = moving_spans(pin)
    rec_path = None
    if spans:
        pick = random.Random("%d:%s" % (sc["seed"], pin["id"]))
        if pin["recording"]:  # the pin's own recording, from its start
            rec_path, shift = pin["recording"], -int(spans[0][0] * 1e6)
        else:
            rec_path = pool[pick.randrange(len(pool))]
            shift = int(pick.uniform(0, MAX_SHIFT_S) * 1e6)
        walking = Recording(rec_path, loop=True)
        # Standing between walks, the wearer holds the pin as the recording
        # left it (its orientation at that instant, plus rest noise), so
        # stopping and starting are not a jump to 1 g on z (a false tap).
        first = int(spans[0][0] * 1e6) + shift
        parts = [(0, motionsrc.Held(walking, first, first + HOLD_US, rest), 0)] if spans[0][0] > 0 else []
        for s, e in spans:
            parts.append((int(s * 1e6), walking, shift))
            end = int(e * 1e6) + shift
            parts.append((int(e * 1e6), motionsrc.Held(walking, end - HOLD_US, end,
                                                       motionsrc.RestNoise(noise, idx * 7919 + int(e))), 0))
        base = motionsrc.Segments(parts)
    else:
        base = rest
    events = []
    for k, t in enumerate(sc["taps"]):
        for side, key in enumerate(("a", "b")):
            if t[key] == pin["id"]:
                events.append(motionsrc.touch_event(t["t_ms"], rate, None, p=touches[(k, side)])[0])
    for k, t in enumerate(sc["solo_taps"]):
        if t["pin"] == pin["id"]:
            events.append(motionsrc.touch_event(t["t_ms"], rate, _rng(sc, 2, k), solo=True)[0])
    return (motionsrc.Touches(base, events) if events else base), rec_path


def touch_draws(sc, stream, indices):
    """{(tap index, side): drawn parameters} of the touches between two pins
    numbered `indices`: each pin's from its own generator (the scenario's
    seed and name, stream, k, side), the two made one contact
    (motionsrc.pair_draws: one instant, duration and impulse, equal and
    opposite; each pin's holder and arm)."""
    out = {}
    for k in indices:
        out[(k, 0)], out[(k, 1)] = motionsrc.pair_draws(_rng(sc, stream, k, 0), _rng(sc, stream, k, 1))
    return out


class Pin:
    """One simulated pin: its scenario entry, device, app and what its log said."""

    def __init__(self, spec, board_name, dev):
        self.spec = spec
        self.board_name = board_name
        self.dev = dev
        self.app_box = [None]
        self.taps = []  # t_ms of `tap` log lines
        self.notes = []  # warnings and errors the firmware logged
        self.social = social.PinLog()  # its meet, updates and designs lines
        self.recording = None
        self.source = None  # its accelerometer's source (motionsrc), and the rate touches are made at
        self.rate = None

    def sink(self, line):
        # "L t_ms name msg": keep taps, meet and greet, warnings and errors.
        if self.dev.clock_err_us:
            line = self._true_time(line)
        if " tap t_ms=" in line:
            self.taps.append(int(line.split(" tap t_ms=", 1)[1].split()[0]))
        elif self.social.feed(line):
            pass  # a "tap again" warning is the handshake working, not a fault
        elif line[:1] in ("W", "E"):
            self.notes.append(line)


    def _true_time(self, line):
        # The firmware stamps its lines (and tap, friend and unlock t_ms=
        # fields) with its own ticks, which its sleep clock moved off the
        # simulator's (cpsim.slowclock): the analysis wants simulated time.
        err = self.dev.clock_err_us // 1000
        head = line.split(" ", 2)
        if len(head) == 3 and head[1].lstrip("-").isdigit():
            line = "%s %d %s" % (head[0], self.dev.world.clock.now_ms(), head[2])
        return _T_MS.sub(lambda m: "t_ms=%d" % (int(m.group(1)) - err), line)


async def _firmware(pin, board):
    # What main.py does on a pin, with the pin's device bound by World.start.
    from cloudpin import board as board_layer
    from cloudpin.app import App
    from cloudpin.log import Logger

    log = Logger("app", sink=pin.sink)
    hw = board_layer.build(board, log.child("board"), wdt_timeout_ms=0)
    app = pin.app_box[0] = App(hw, log, sleep=pin.spec.get("sleep", True))
    await app.main()


def _pack(path):
    """The compiled event pack every pin gets (None: the scenario's "pack" is null)."""
    if path is None:
        return None
    from host_tools.designs import PackError, compile_pack, pack_error_line

    try:
        return compile_pack(path)
    except PackError as e:
        raise SimError("pack: %s" % pack_error_line(e, path)) from None


def build(sc, recordings=(), warn=None):
    """The world of a validated scenario: (world, [Pin]). Nothing runs yet."""
    from host_tools import firmware_on_path
    from host_tools.boards import boardspec

    warn = warn or (lambda m: print(m, file=sys.stderr))
    firmware_on_path(compat=True)  # the firmware's `import cryptolib` too
    from cpsim import boardfit, slowclock
    from cpsim import world as world_mod

    boards = _boards(sc["pins"], warn)
    keys = provision.Keys(sc["seed"], [p["id"] for p in sc["pins"]], sc["event"]["utc_offset_min"])
    pack = _pack(sc["pack"])
    pool = []
    if any(moving_spans(p) and not p["recording"] for p in sc["pins"]):
        pool = walk_recordings(list(sc["recordings"]) + list(recordings))
        if not pool:
            raise SimError("no walking recordings found for the walkers")
    _check_recordings(sorted(set(pool) | {p["recording"] for p in sc["pins"] if p["recording"]}))
    world_mod.reset()
    w = world_mod.World()
    w.radio.reseed(sc["seed"])  # the hall's shadowing, fading and back-off follow the seed
    # Each pin's flash is a folder of its own, current while the pin runs
    # (cpsim.world: Device.flash_dir); simulate() removes them at the end.
    w.sim_cwd = os.getcwd()
    w.sim_flash = tempfile.TemporaryDirectory(prefix="cloudpin-sim-")
    w.sim_keys = keys
    # (tap index, side) -> the touch's drawn parameters (tapmodel.draw_touch), both pins one contact
    w.sim_touches = touch_draws(sc, 1, range(len(sc["taps"])))
    pins = []
    try:
        noise = motionsrc.RestNoise.table_for(sc["seed"] * 2654435761 + 1)
        start_utc = sc["event"]["start_utc"]
        for idx, spec in enumerate(sc["pins"]):
            name, board = boards[spec["board"]]
            dev = w.device(spec["id"])
            dev.flash_dir = os.path.join(w.sim_flash.name, "pin%d" % idx)
            os.mkdir(dev.flash_dir)
            if start_utc is not None:  # the RTC reads the event's time at t = 0
                dev.rtc_offset_us = (start_utc - provision.RTC_EPOCH_UNIX) * 1000000
            slowclock.set_clock(dev, _slow_clock(sc, spec))
            provision.provision(w, dev, spec["id"], keys, spec["card"], pack,
                                None if start_utc is None else start_utc * 1000)
            pin = Pin(spec, name, dev)
            pin.rate = float(boardspec.motion_rate(board["accel"]))
            source, pin.recording = _source(spec, idx, sc, pin.rate, pool, noise, w.sim_touches)
            pin.source = source
            boardfit.fit(dev, board, source=source)
            x, y, facing = position(spec, 0.0)
            w.radio.set_position(dev, x, y, facing)
            w.start(dev, _firmware(pin, board))
            pins.append(pin)
        w.sim_attackers = attackers.place(w, sc["attackers"], sc["seed"])
    except BaseException:
        close_flash(w)
        raise
    world_mod.leave_flash(w.sim_cwd)  # the caller's folder until the pins run
    return w, pins


def close_flash(w):
    """Back to the caller's folder and remove the pins' flash folders (after
    a World from build() is done with)."""
    from cpsim import world as world_mod

    world_mod.leave_flash(w.sim_cwd)
    w.sim_flash.cleanup()


# --- running ---------------------------------------------------------------------
def _touch_edges(t_ms):
    lo, hi = t_ms + TOUCH_MOVE_MS[0], t_ms + TOUCH_MOVE_MS[1]
    return set(e for e in range(lo, hi + 1, TOUCH_STEP_MS) if e >= 0) | {t_ms + TOUCH_HOLD_MS}


def _edges(sc):
    end = int(round(sc["duration_s"] * 1000))
    # walkers move, and wearers who answer "tap again" read their pins, every STEP_MS
    steady = sc.get("wearers") or any(len(p["walk"]) > 1 for p in sc["pins"])
    edges = set(range(0, end, STEP_MS)) if steady else {0}
    for t in sc["taps"]:
        edges |= _touch_edges(t["t_ms"])
    edges.add(end)
    return sorted(e for e in edges if e <= end)


def _place(w, pins, by_id, sc, t_ms):
    t_s = t_ms / 1000.0
    touches = getattr(w, "sim_touch_list", None) or sc["taps"]  # with the wearers' re-touches
    radio = w.radio
    for pin in pins:
        if len(pin.spec["walk"]) > 1:
            x, y, facing = position(pin.spec, t_s)
            radio.set_position(pin.dev, x, y, facing)
    # a pair that touches again while the last touch holds them: the latest
    # touch whose reach has started sets their distance
    pairs = {}
    for k, t in enumerate(touches):
        pair = (t["a"], t["b"]) if t["a"] < t["b"] else (t["b"], t["a"])
        d = touch_distance(w.sim_touches[(k, 0)], w.sim_touches[(k, 1)], t_ms - t["t_ms"])
        if d is not None or pair not in pairs:
            pairs[pair] = d
    for (a, b), d in pairs.items():
        radio.set_distance(by_id[a].dev, by_id[b].dev, d)


def _touch_again(w, sc, by_id, t_ms, a, b):
    """The pair (a, b) touches again at t_ms (wearers answering "tap again"):
    new draws of the tap model in both pins' accelerometers and their distance."""
    touches = w.sim_touch_list
    k = len(touches)
    w.sim_touches.update(touch_draws(sc, 3, [k]))
    for side, pid in enumerate((a, b)):
        pin = by_id[pid]
        pin.source.add(motionsrc.touch_event(t_ms, pin.rate, None, p=w.sim_touches[(k, side)])[0])
    touches.append({"t_ms": t_ms, "a": a, "b": b})


def touch_distance(pa, pb, dt_ms):
    """Metres between two touching pins dt_ms after their contact, from the
    reach and withdrawal their accelerometers feel (pa, pb: the touch's
    drawn parameters); None (the scenario's positions) before the reaches
    start and TOUCH_HOLD_MS after the contact."""
    dt = dt_ms / 1000.0
    start = -max(pa["gap_s"] + pa["reach_s"], pb["gap_s"] + pb["reach_s"])
    if dt < start or dt_ms >= TOUCH_HOLD_MS:
        return None
    return TOUCH_M + motionsrc.gap_m(pa, dt) + motionsrc.gap_m(pb, dt)


def simulate(sc, recordings=(), progress=None, warn=None, trace=False):
    """Run a validated scenario; returns the result dict (docs/sim.md).
    trace: add `tap_trace`, why each intended tap did or did not become a
    friendship (host_tools/sim/trace.py)."""
    t_build = time.perf_counter()
    end_ms = sc["duration_s"] * 1000
    for t in sc["taps"]:
        if t["t_ms"] > end_ms - HANDSHAKE_MS:
            (warn or (lambda m: print(m, file=sys.stderr)))(
                "warning: the touch of %s and %s at %.3f s is less than %d s before the run's end: its handshake may "
                "be cut (missed, or half-committed with the other pin holding it pending)" % (
                    t["a"], t["b"], t["t_ms"] / 1000.0, HANDSHAKE_MS // 1000))
    w, pins = build(sc, recordings, warn)
    by_id = {p.spec["id"]: p for p in pins}
    tracer = None
    if trace:
        from host_tools.sim.trace import Tracer

        tracer = Tracer().install()
    edges = _edges(sc)
    w.sim_touch_list = list(sc["taps"])  # and the wearers' re-touches as they come
    wearers = None
    if sc.get("wearers"):
        from host_tools.sim.wearers import Wearers

        wearers = Wearers(sc["wearers"], sc["taps"], {p.spec["id"]: p.social for p in pins}, w.sim_keys, edges[-1])
    t0 = time.perf_counter()
    last = t0
    collect = gc.collect
    gc.collect = _no_collect
    try:
        i = 0
        while i + 1 < len(edges):
            a, b = edges[i], edges[i + 1]
            i += 1
            _place(w, pins, by_id, sc, a)
            w.run_until(b)
            if wearers is not None:
                new = wearers.after(b)
                for t, pa, pb in new:
                    _touch_again(w, sc, by_id, t, pa, pb)
                if new:
                    later = set(edges[i:]).union(*(_touch_edges(t) for t, _, _ in new))
                    edges = edges[:i] + sorted(e for e in later if b <= e <= edges[-1])
            now = time.perf_counter()
            if progress and (now - last >= 2.0 or b == edges[-1]):
                last = now
                progress("sim: %.1f / %.1f s simulated, %.2f sim s per wall s" % (
                    b / 1000.0, sc["duration_s"], b / 1000.0 / max(1e-9, now - t0)))
        wall = time.perf_counter() - t0
        result = _result(sc, w, pins, wall, t0 - t_build, None if wearers is None else wearers.retaps)
        if wearers is not None:
            result["metrics"]["social"]["retaps_past_end"] = wearers.past_end
        if tracer is not None:
            result["tap_trace"] = tracer.explain(sc["taps"], lambda pid: result["pins"][pid].get("friends") or [],
                                                 result["missed_taps"])
            _trace_touches(result["tap_trace"], w, by_id)
        return result
    finally:
        gc.collect = collect
        if tracer is not None:
            tracer.remove()
        for p in pins:
            src = getattr(p.dev, "i2c_models", {})
            for models in src.values():
                for m in models.values():
                    _close(getattr(m, "source", None))
        close(w)


def _trace_touches(entries, w, by_id):
    # What the simulator made of each traced touch: the pins' mounts, the
    # one contact's duration and strength, and how far apart the two pins
    # were (radio distance) when each one's radio came up: a partner heard
    # at 55 dB may be a pair already withdrawn, not one placed wrong.
    for k, e in enumerate(entries):
        pa, pb = w.sim_touches[(k, 0)], w.sim_touches[(k, 1)]
        e["touch"] = {"mounts": [pa["mount"], pb["mount"]], "tau_ms": round(pa["tau"] * 1000, 2),
                      "dv_m_s": round(pa["dv"], 3)}
        for p in e["pins"].values():
            up = p.get("radio_up_ms")
            if up is not None:
                d = touch_distance(pa, pb, up - e["t_ms"])
                if d is None:
                    (xa, ya, _), (xb, yb, _) = (position(by_id[i].spec, up / 1000.0) for i in (e["a"], e["b"]))
                    d = math.hypot(xb - xa, yb - ya)
                p["partner_m"] = round(d, 3)


def _no_collect(*generation):
    # The firmware's gc.collect() compacts the chip's heap before it measures
    # or allocates (boot, designs, status lines). Under CPython it would walk
    # every object of every pin in the process: a few pins' boots in a 400-pin
    # hall cost ~60 ms each, and 3 a pin was most of the hall's CPU. CPython
    # frees the pins' garbage by reference counting and its own collector.
    return None


def close(w):
    """Drop a World from build(): its pins' tasks, the caller's folder back,
    the pins' flash folders removed."""
    _quiet_close(w)
    close_flash(w)


def _quiet_close(w):
    # The apps run forever: their tasks are left pending on purpose when the
    # world is dropped, which asyncio would report one by one at exit.
    import asyncio

    from cpsim import world as world_mod

    loop = getattr(w._runner, "loop", None)
    tasks = []
    if isinstance(loop, asyncio.AbstractEventLoop):
        tasks = list(asyncio.all_tasks(loop))
        for task in tasks:
            task._log_destroy_pending = False
    world_mod.reset()
    # ... and their coroutines are closed here, not whenever the garbage
    # collector finds them: closing one runs firmware code (a service's
    # handlers, `finally` blocks that await), which then raised "no running
    # event loop" inside whatever the next run was doing (once an ast.parse,
    # left with a broken recursion count: SystemError).
    for task in tasks:
        coro = task.get_coro()
        for _ in range(8):  # a coroutine that awaits in a `finally` takes another close
            try:
                coro.close()
            except BaseException:
                pass
            if getattr(coro, "cr_frame", None) is None:
                break


def _close(src):
    base = getattr(src, "base", src)
    for part in getattr(base, "parts", ()):
        if hasattr(part[1], "close"):
            part[1].close()


def match_taps(injected, detected):
    """(matched injected times, false detections): each detection matches at
    most one injected tap within MATCH_MS of it."""
    left = sorted(detected)
    matched = []
    for t in sorted(injected):
        for i, d in enumerate(left):
            if MATCH_MS[0] <= d - t <= MATCH_MS[1]:
                matched.append(t)
                del left[i]
                break
    return matched, left


def _friend_store(w, pin):
    """{slot: fk8} of the pin's friend store (app.friends, the one store
    every service shares, or app.meet.friends), read in its flash folder;
    None if its app has none (not provisioned, or no radio)."""
    app = pin.app_box[0]
    friends = getattr(app, "friends", None) or getattr(getattr(app, "meet", None), "friends", None)
    if friends is None:
        return None
    w.use(pin.dev)
    return social.store_keys(friends)


def _result(sc, w, pins, wall, build_s, retaps=None):
    expected = {p.spec["id"]: [] for p in pins}
    for t in sc["taps"] + (retaps or []):
        expected[t["a"]].append(t["t_ms"])
        expected[t["b"]].append(t["t_ms"])
    for t in sc["solo_taps"]:
        expected[t["pin"]].append(t["t_ms"])
    out = {}
    start = sc["event"]["start_utc"]
    rtc0 = 0 if start is None else (start - provision.RTC_EPOCH_UNIX) * 1000000  # a true RTC's offset
    radio_counts, time_us = {}, {}
    n_exp = n_match = n_false = n_det = 0
    for p in pins:
        app = p.app_box[0]
        acct = p.dev.acct.snapshot()
        for k, v in acct["counts"].items():
            radio_counts[k] = radio_counts.get(k, 0) + v
        for k, v in acct["time_us"].items():
            time_us[k] = time_us.get(k, 0) + v
        exp = sorted(expected[p.spec["id"]])
        matched, false = match_taps(exp, p.taps)
        n_exp += len(exp)
        n_match += len(matched)
        n_false += len(false)
        n_det += len(p.taps)
        motion = app.motion if app is not None else None
        out[p.spec["id"]] = {
            "board": p.board_name,
            "steps": motion.steps.steps if motion is not None and motion.steps is not None else None,
            "taps": p.taps,
            "taps_injected": exp,
            "taps_missed": [t for t in exp if t not in matched],
            "walk_recording": Path(p.recording).name if p.recording else None,
            "faults": list(app.hw.faults) if app is not None else ["not started"],
            "notes": p.notes,
            "time_us": acct["time_us"],
            "counts": acct["counts"],
            # its sleep clock (cpsim.slowclock) and how far the pin's clock is off at the end
            "clock": {"ppm": round(p.dev.slow_clock.ppm, 1) if p.dev.slow_clock else 0.0,
                      "err_ms": round(p.dev.clock_err_us / 1000.0, 3),
                      "rtc_err_ms": round((getattr(p.dev, "rtc_offset_us", 0) + p.dev.clock_err_us - rtc0) / 1000.0, 3)},
        }
    stores = {p.spec["id"]: _friend_store(w, p) for p in pins}
    friendships, half, per_pin, social_m, missed = social.analyse(
        sc["taps"], {p.spec["id"]: p.social for p in pins}, stores, w.sim_keys, retaps)
    for pid, extra in per_pin.items():
        out[pid].update(extra)
    sim_s = w.clock.now_ms() / 1000.0
    air = {k: v for k, v in sorted(time_us.items()) if k.startswith("air.")}
    social_m["air_time_us"] = air
    social_m["attackers"] = {a.spec["id"]: a.report() for a in w.sim_attackers}
    metrics = {
        "sim_s": sim_s,
        "wall_s": round(wall, 3),
        "pins": len(pins),
        "walkers": sum(1 for p in pins if moving_spans(p.spec)),
        "taps": {"injected": n_exp, "detected": n_det, "matched": n_match, "false": n_false,
                 "recall": round(n_match / n_exp, 4) if n_exp else None},
        "radio": {k: v for k, v in sorted(radio_counts.items()) if k.startswith("radio")},
        "radio_time_us": {k: v for k, v in sorted(time_us.items()) if k.startswith("radio")},
        "cpu_time_us": {k: v for k, v in sorted(time_us.items()) if k.startswith("cpu")},
        "social": social_m,
    }
    result = {"name": sc["name"], "seed": sc["seed"], "friendships": friendships, "half_committed": half,
              "missed_taps": missed, "pins": out, "metrics": metrics}
    if retaps is not None:
        result["retaps"] = retaps
    return result


def summary(result):
    """A few lines for a human (stderr)."""
    m = result["metrics"]
    pins = result["pins"].values()
    steps = [p["steps"] for p in pins if p["steps"] is not None]
    t = m["taps"]
    cpu = m["cpu_time_us"]
    busy = cpu.get("cpu.active", 0) / max(1, sum(cpu.values()))
    lines = [
        "sim %s: %d pins (%d walking), %.1f s simulated in %.1f s wall (%.2f sim s per wall s)" % (
            result["name"], m["pins"], m["walkers"], m["sim_s"], m["wall_s"], m["sim_s"] / max(1e-9, m["wall_s"])),
        "  steps: %d in all, most %d on one pin; taps: %d of %d injected found (recall %s), %d false" % (
            sum(steps), max(steps or [0]), t["matched"], t["injected"],
            "-" if t["recall"] is None else "%.0f%%" % (100 * t["recall"]), t["false"]),
        "  modelled CPU active %.1f%%; radio packets: %s" % (
            100 * busy, ", ".join("%s=%d" % (k[6:], v) for k, v in m["radio"].items()) or "none"),
    ]
    s = m.get("social")
    if s is not None:
        ms = lambda v: "-" if v is None else "%.2f s" % (v / 1000.0)  # noqa: E731
        lines.append("  meet and greet: made %d of %d intended taps, missed %d, wrong %d, half-committed %d; "
                     "\"tap again\" %d; tap to friendship median %s, p95 %s" % (
                         s["made"], s["intended_taps"], s["missed"], s["wrong"], s["half_committed"],
                         s["tap_again"], ms(s["tap_to_friendship_ms"]["median"]), ms(s["tap_to_friendship_ms"]["p95"])))
        if "retaps" in s:
            share = lambda v: "-" if v is None else "%.1f%%" % (100 * v)  # noqa: E731
            lines.append("  wearers answering \"tap again\": %d re-touches; made %d of %d at the first touch (%s), "
                         "%d more after a prompt (%s with prompts; first touch to friendship p95 %s)" % (
                             s["retaps"], s["made"], s["intended_taps"], share(s["made_share"]), s["made_after_prompt"],
                             share(s["made_with_prompts_share"]), ms(s["tap_to_friendship_after_prompt_ms"]["p95"])))
            if s.get("retaps_past_end"):
                lines.append("  %d prompts came too near the run's end for a re-touch (lengthen duration_s)" %
                             s["retaps_past_end"])
    if "tap_trace" in result:
        causes = {}
        for t in result["tap_trace"]:
            causes[t["cause"]] = causes.get(t["cause"], 0) + 1
        lines.append("  tap trace: " + ", ".join("%s %d" % kv for kv in sorted(causes.items())))
    faulty = [k for k, p in result["pins"].items() if p["faults"] or p["notes"]]
    if faulty:
        lines.append("  pins with faults or warnings: %s" % ", ".join(faulty[:10]) + (" ..." if len(faulty) > 10 else ""))
    return "\n".join(lines)


def run_file(path, recordings=(), progress=None, warn=None):
    """Load, validate and run a scenario file (the Python API of `cloudpin sim`)."""
    from host_tools.sim.scenario import load

    return simulate(load(path), recordings, progress, warn)


def dumps(result):
    return json.dumps(result, indent=1, sort_keys=False)


__all__ = ["simulate", "run_file", "build", "summary", "SimError", "ScenarioError", "walk_recordings", "position"]

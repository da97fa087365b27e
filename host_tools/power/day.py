"""A day scenario: what a wearer's day holds (hours worn, steps, taps,
syncs). The radio windows' costs are measured on the real firmware
(probe.py: one short run per board with a pin for each kind of window),
their counts follow the day and the firmware's own timing. The CPU's duty is measured by running
a short segment through the crowd simulator (host_tools.sim) with the real
firmware, per board one walker and one pin lying still, each twice: with the
firmware's power policy (light sleep, dozing sensor) and without it (the
naive always-awake policy, `"sleep": false`), in the same run. The day is
then accounted in bulk from those per-second fractions (docs/power.md)."""
import json
from pathlib import Path

from host_tools import boards as boardfiles
from host_tools import sim
from host_tools.power import model, probe
from host_tools.power.batteries import LOW_PCT, battery, cell, curve_mv, hours_to

# Both walkers of a board replay this recording (the shipped minute of a
# neck-pouch walk), so the two policies count steps on the same signal.
WALK_RECORDING = str(Path(__file__).resolve().parent.parent / "data" / "walk_neckpouch_60s.csv")

DAY_KEYS = {"worn_h": (0, 24), "steps": (0, 1e6), "taps": (0, 1e5), "new_friends": (0, 1e5),
            "phone_syncs": (0, 1e4), "friends_nearby_fraction": (0, 1)}
# Optional, 0 when absent: what the tap detector's suspicions cost
# (docs/taps.md). false_taps: tap windows for a touch that was not (keys in
# a bag), which end alone; cancelled_starts: radio starts on a suspicion
# (bus.TAP_SUSPECT) the detector then cancelled (meet.py turns the radio off);
# unsettled: friendships left half-committed (a link cut between the two
# commits, the pair apart at once), each priced as its reconciliation windows.
EXTRA_DAY_KEYS = {"false_taps": (0, 1e6), "cancelled_starts": (0, 1e6), "unsettled": (0, 1e4)}
# Optional plan keys, with their defaults: model.EXTRA_PLAN_KEYS.
EXTRA_PLAN_KEYS = model.EXTRA_PLAN_KEYS
# What the firmware does not decide: the naive policy's advertising, the
# phone's connection (the phone picks its interval) and how long a sync
# keeps it. Every radio window the firmware opens is measured instead
# (host_tools/power/probe.py), and so are the display's, the LED's and the
# flash's use (the emulator's accounting: switched()).
PLAN_KEYS = ("adv_interval_ms", "adv_len", "conn_interval_ms", "phone_sync_s")
TOP = ("name", "seed", "segment_s", "day", "plan", "notes")


class DayError(ValueError):
    """A day scenario that cannot be used; the message names the field."""


def _num(v, where, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise DayError("%s: expected a number in %g..%g, got %r" % (where, lo, hi, v))
    return float(v)


def validate(data):
    if not isinstance(data, dict) or "day" not in data:
        raise DayError("not a day scenario: needs a 'day' object (docs/power.md)")
    for k in data:
        if k not in TOP:
            raise DayError("%s: unknown field" % k)
    day = {k: _num(data["day"].get(k), "day." + k, *r) for k, r in DAY_KEYS.items()}
    day.update({k: _num(data["day"].get(k, 0), "day." + k, *r) for k, r in EXTRA_DAY_KEYS.items()})
    for k in data["day"]:
        if k not in DAY_KEYS and k not in EXTRA_DAY_KEYS:
            raise DayError("day.%s: unknown field" % k)
    plan = data.get("plan") or {}
    for k in plan:
        if k not in PLAN_KEYS and k not in EXTRA_PLAN_KEYS:
            raise DayError("plan.%s: unknown field" % k)
    extra = {k: _num(plan.get(k, v), "plan." + k, 0, 60) for k, v in EXTRA_PLAN_KEYS.items()}
    plan = {k: _num(plan.get(k), "plan." + k, 0, 1e6) for k in PLAN_KEYS}
    plan.update(extra)
    for k in ("adv_interval_ms", "conn_interval_ms"):
        if plan[k] <= 0:
            raise DayError("plan.%s: must be positive" % k)
    seg = _num(data.get("segment_s", 30), "segment_s", 5, 600)
    return {"name": data.get("name", "day"), "seed": int(data.get("seed", 1)), "segment_s": seg,
            "day": day, "plan": plan}


def load(path):
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise DayError("%s: cannot read (%s)" % (path, e.strerror))
    except ValueError as e:
        raise DayError("%s: not JSON (%s)" % (path, e))
    try:
        return validate(data)
    except DayError as e:
        raise DayError("%s: %s" % (path, e))


NAIVE = ":naive"  # pin id suffix of the always-awake twin


def segment(dayspec, board_names):
    """The sim scenario: per board a walker crossing the room for the whole
    segment and a pin lying still, and their always-awake twins (same walk,
    same recording: the seed picks it by position in the pool, not by id)."""
    dur = dayspec["segment_s"]
    pins = []
    for i, b in enumerate(board_names):
        y = 2.0 + 8.0 * i
        for j, (suffix, sleep) in enumerate((("", True), (NAIVE, False))):
            yy = y + 4.0 * j
            rec = WALK_RECORDING
            pins.append({"id": "walk@" + b + suffix, "x": 1.0, "y": yy, "board": b, "facing_deg": 0,
                         "walk": [[0, 1.0, yy], [dur, 1.0 + 1.2 * dur, yy]], "recording": rec,
                         "sleep": sleep})
            pins.append({"id": "still@" + b + suffix, "x": 1.0, "y": yy + 2.0, "board": b, "sleep": sleep})
    width = 2.0 + 1.2 * dur + 1.0
    return sim.validate({"name": dayspec["name"] + "-segment", "seed": dayspec["seed"], "duration_s": dur,
                         "room": {"width_m": width, "depth_m": 8.0 * len(board_names) + 2.0}, "pins": pins})


def fractions(pin):
    t = pin["time_us"]
    total = sum(v for k, v in t.items() if k.startswith("cpu.")) or 1
    return {k: v / total for k, v in t.items() if k.startswith("cpu.")}


# Walking cadence if the segment's firmware counted no steps: measured on
# the Oxford step-counter validation walks (../shared/data/steps/
# oxford-validation, CC BY 4.0: 12 recordings of continuous walking, their
# labelled steps over each one's length): 1.65-1.82 steps/s, median 1.69.
# (Was ESTIMATE 1.8.) The simulated walkers of a segment step at 1.72.
FALLBACK_CADENCE = 1.69


def _share(pin, key):
    """Seconds of `key` ("group.state") per simulated second of the segment."""
    t = pin["time_us"]
    total = sum(v for k, v in t.items() if k.startswith("cpu.")) or 1
    return t.get(key, 0) / total


def switched(walker, still, seg_s, walking_s, radio, fw, day):
    """The day's seconds of each part the firmware switches, and its flash
    writes, from what the emulator accounted: ({"display.awake",
    "backlight.on", "led.on"}: s, {"writes", "bytes"}).

    The screen's (display, backlight): the spells the wearer's events and
    the boot light (the probe's: `radio`'s "display_s", "backlight_s"), and
    what the segment's pins kept lit beyond their boot's spell as a share of
    the walking and still seconds (0 with the screen policy,
    cloudpin.display; all day without it); the
    LED's lit time in the radio windows (probe: a tap's flash, a phone
    window's) and once the segment's still pin's (the boot colour: one boot
    a day, not a share of it); writes: the windows' (probe: a tap's friend
    and pending records, a clock sync), the segment's (after its boot: the
    host's provisioning is not counted) as a rate over the day, and the
    steps' (designs/service.py Daily: the day's document and the total saved
    every SAVE_STEPS steps; their few dozen bytes are inside the block each
    write session is priced as programming)."""
    still_s = model.DAY_S - walking_s
    on = {}
    for k, probed in (("display.awake", "display_s"), ("backlight.on", "backlight_s")):
        boot = next((w[probed] for w in radio["windows"] if w["window"].startswith("boot")), 0.0)

        def steady(pin):  # the segment's lit seconds beyond the boot's spell, a share of its seconds
            return max(0.0, pin["time_us"].get(k, 0) / 1e6 - boot) / seg_s

        on[k] = radio[probed] + steady(walker) * walking_s + steady(still) * still_s
    on["led.on"] = radio["led_s"] + still["time_us"].get("led.on", 0) / 1e6

    def rate(k):
        return (walker["counts"].get(k, 0) * walking_s + still["counts"].get(k, 0) * still_s) / seg_s

    return on, {"writes": radio["flash_writes"] + rate("flash.writes") + 2 * day["steps"] / fw["save_steps"],
                "bytes": radio["flash_bytes"] + rate("flash.bytes")}


def evaluate(dayspec, result, spec, windows, fw):
    """One board's report from the segment's result, its board spec and its
    radio windows as the probe measured them (probe.measure, probe.firmware_timing)."""
    name = spec["name"]
    walker, still = result["pins"]["walk@" + name], result["pins"]["still@" + name]
    walker_n, still_n = result["pins"]["walk@" + name + NAIVE], result["pins"]["still@" + name + NAIVE]
    seg = dayspec["segment_s"]
    day, plan = dayspec["day"], dayspec["plan"]
    steps = walker.get("steps") or 0
    cadence = steps / seg if steps else FALLBACK_CADENCE
    walking_s = min(day["steps"] / cadence, day["worn_h"] * 3600.0)
    cpu = model.cpu_day({"walking": fractions(walker), "still": fractions(still)},
                        walking_s, model.DAY_S - walking_s)
    radio = model.radio_windows(windows, fw, plan, day)
    on_s, flash = switched(walker, still, seg, walking_s, radio, fw, day)
    loads = model.board_loads(spec, on_s)
    loads.update(model.flash_states(flash["writes"], flash["bytes"]))
    avg, states = model.average(model.apply_radio(cpu, radio, probe.start_s()), radio, loads)
    # The naive policy: the same day on the always-awake twins' measured CPU
    # (every sample read, never in light sleep) with the radio always on.
    cpu_n = model.cpu_day({"walking": fractions(walker_n), "still": fractions(still_n)},
                          walking_s, model.DAY_S - walking_s)
    naive_avg, _ = model.average(model.never_sleep(cpu_n), model.naive_radio(plan), loads)  # (same parts, same writes)
    mah, source = battery(name)
    hours = model.life(avg, mah)
    what, curve = cell(spec)
    # what the pin's ADC reads after the day, on its cell's curve (cloudpin.battery)
    left = None if not mah else round(max(0.0, 100.0 - 100.0 * avg * 24 / mah), 1)
    return {"board": name, "battery_mah": mah, "battery_source": source,
            "avg_current_ma": round(avg, 3), "mah_per_day": round(avg * 24, 1),
            "battery_life_h": None if hours is None else round(hours, 1),
            # when the pin starts warning (cloudpin.battery: LOW_PCT on the shared curve)
            "low_battery_after_h": None if hours is None else round(hours_to(LOW_PCT, avg, mah), 1),
            "naive_avg_current_ma": round(naive_avg, 3), "naive_ratio": round(naive_avg / avg, 2),
            "battery_cell": None if not mah else what,
            "after_day": None if left is None else {"pct_left": left, "cell_mv": curve_mv(int(left), curve)},
            "measured": {"segment_s": seg, "walker_steps": steps, "cadence_steps_s": round(cadence, 3),
                         "cadence_assumed": not steps, "walking_s_per_day": round(walking_s),
                         "walker_steps_naive": walker_n.get("steps") or 0,
                         "cpu_walking": fractions(walker), "cpu_still": fractions(still),
                         "cpu_walking_naive": fractions(walker_n), "cpu_still_naive": fractions(still_n)},
            "switched_on_s": {k: round(v, 1) for k, v in on_s.items()},
            "flash_writes": {k: round(v, 1) for k, v in flash.items()},
            "radio_windows": radio["windows"],
            "window_costs": windows,
            "unsettled_friendship": {"windows": fw["recon"]["windows"], "radio_s": round(fw["recon"]["on_s"], 1),
                                     "asks": fw["recon"]["asks"], "answers": fw["recon"]["answers"]},
            "states": states}


def run(dayspec, board_names=None, progress=None, warn=None):
    """Simulate the segment for each board (one sim run per board: the
    boards' pins do not share a hall); a list of reports."""
    specs = [boardfiles.load_board(b) for b in (board_names or boardfiles.board_names())]
    out = []
    cancel_ms = int(round(dayspec["plan"]["cancel_after_s"] * 1000))
    for s in specs:
        result = sim.simulate(segment(dayspec, [s["name"]]), progress=progress, warn=warn)
        try:
            windows = probe.measure(s["name"], dayspec["seed"], cancel_ms, progress=progress, warn=warn)
        except ValueError as e:
            raise DayError(str(e))
        out.append(evaluate(dayspec, result, s, windows, probe.firmware_timing()))
    return out

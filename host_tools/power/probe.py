"""What each kind of radio window costs, measured on the real firmware in
the crowd simulator (docs/power.md, "Radio windows, measured").

One short run per board puts every kind of window the firmware opens on
pins of their own, far apart (nobody hears anyone but the tapping pair):

  a, b   tap together at TAP_MS (a friendship: the tap window with its
         GATT exchange, then the clock's window for the new friend), and
         stay together: their periodic update window at UPDATE_MS hears a
         friend (`friends near`);
  d, e   tap together too and stay together through the clock's window
         (their clocks agree), then part (FAR_M): their update window
         hears nobody (`nobody near`);
  c      a tap nobody else makes (the detector confirms it, the window ends
         alone: a false tap);
  f      a suspicion the detector cancels CANCEL_AFTER_MS later (the app's
         bus.TAP_SUSPECT path, as the motion service drives it);
  g      the phone window opened as a button would (no phone comes);
  r      a friendship left pending at boot (pending.json): its first
         reconciliation window;
  h      a friend at boot it never meets, its last agreement with a
         friend two hours old (clock.json): a pin alone past
         clocksync.LOST_MS, its update window on an empty air (`alone, in
         step with nobody`: updates.QUIET_MS).

The emulator's accounting gives each pin's radio powered time
(`radio.idle`), air time (`air.tx`, `air.rx`) and radio starts; the run is
stepped in SLICE_MS slices and cut into radio sessions (powered from off to
off), each labelled by the pin and by who held the radio (the radio owner's
`users`). The session's figures are exact (the accounting's totals, read
while the radio is off); its edges are known to a slice.
"""
import os

from host_tools import sim
from host_tools.sim import runner

SLICE_MS = 20
# After the screen's spell from boot (cloudpin.display.LIT_MS 10 s): the
# screen a tap lights is then the tap's own (screen_figures()).
TAP_MS = 12000
SOLO_MS = 12000
SUSPECT_MS = 15000
PHONE_MS = 2000
PART_MS = 25000  # d and e part (their clock's window after the tap is over)
UPDATE_MS = 40000  # the event's start is put so that a 5-minute window opens here
FAR_M = 400.0  # between pins that must not hear each other (the hall's radio: out of range)

# a session's figures (_figures), averaged per kind by measure()
FIGURES = ("on_s", "tx_s", "rx_s", "starts", "led_s", "flash_writes", "flash_bytes")
KINDS = ("tap (a friend made)", "clock window after a new friend", "update (friends near)",
         "update (nobody near)", "update (alone, in step with nobody)", "false tap (ends alone)",
         "cancelled radio start", "phone window", "reconciliation window", "boot (once a day)")
# The screen's lit time (cpsim st7789 accounting: the controller awake, the
# backlight's supply on) is not cut by radio session: a screen lit by a tap
# stays lit past its window (cloudpin.display). Each pin's total over the
# run, less the quiet pin h's (lit only by its boot: no event of the
# wearer's reaches it), is what its events lit; h's is the boot's.
SCREEN = (("display_s", "display.awake"), ("backlight_s", "backlight.on"))


def _firmware():
    # the firmware's modules as the simulator imports them (cpsim's MicroPython layer)
    from host_tools import firmware_on_path

    firmware_on_path(compat=True)


def period_s():
    """The friend-update period (social/updates.py PERIOD_S)."""
    _firmware()
    from cloudpin.social import updates

    return updates.PERIOD_S


def start_s():
    """Radio-on time of one ble.active(True) in the emulator (cpsim.blegap
    START_US: an ESTIMATE of NimBLE's host start). The emulator holds the
    pin's tasks that long and accounts its CPU as it was; the model charges
    it as CPU active (docs/power.md)."""
    _firmware()
    from cpsim import blegap

    return blegap.START_US / 1e6


def recon_schedule(give_up_s):
    """(windows, seconds of windows) one unsettled entry opens until
    give_up_s after it (social/recon.py's schedule, entry made at 0)."""
    _firmware()
    from cloudpin.social import recon

    n, total, e = 0, 0.0, 0
    while True:
        wait_ms, length_ms = recon.window(e)
        start = e + wait_ms / 1000.0
        if start > give_up_s:
            return n, total
        n += 1
        total += length_ms / 1000.0
        e = int(start + length_ms / 1000.0) + 1


def firmware_timing():
    """The firmware's own timing the day's windows follow: the update period,
    the clock's search windows while alone (clocksync.py), and the
    reconciliation windows of an unsettled friendship on each side
    (meet.py's give-up and answer times, recon.py's schedule)."""
    _firmware()
    from cloudpin import display
    from cloudpin.designs import service
    from cloudpin.phone import role
    from cloudpin.social import clocksync, meet

    ask = recon_schedule(meet.RECON_GIVE_UP_S)
    answer = recon_schedule(meet.ANSWER_FOR_S)
    return {"period_s": period_s(), "lost_s": clocksync.LOST_MS / 1000.0, "search_every": clocksync.SEARCH_EVERY,
            "search_margin_s": 2 * clocksync.MAX_WIDEN_MS / 1000.0,
            "phone": {"window_s": float(role.WINDOW_S), "linger_s": float(role.LINGER_S)},
            "save_steps": service.SAVE_STEPS,  # steps between two saves of the day's count (flash writes)
            "screen_lit_s": display.LIT_MS / 1000.0,  # an event lights the screen this long (the phone's connection)
            # the pin's own share: it asks (pending) or answers; the same windows now
            "recon": {"windows": max(ask[0], answer[0]), "on_s": max(ask[1], answer[1]) + max(ask[0], answer[0]) * start_s(),
                      "asks": {"windows": ask[0], "s": round(ask[1], 1)},
                      "answers": {"windows": answer[0], "s": round(answer[1], 1)}}}


def scenario(board, seed=1):
    """The probe's sim scenario for `board` (the injected suspicion, phone
    window and pending friendship are added by sessions())."""
    p = period_s()
    start = 1800000000 - 1800000000 % p + p - UPDATE_MS // 1000  # a window UPDATE_MS into the run
    pos = {"a": 10.0, "b": 10.6, "c": 10.0 + 2 * FAR_M, "d": 10.0 + FAR_M, "e": 10.6 + FAR_M,
           "f": 10.0 + 3 * FAR_M, "g": 10.0 + 4 * FAR_M, "r": 10.0 + 5 * FAR_M, "h": 10.0 + 6 * FAR_M}
    pins = [{"id": k, "x": x, "y": 5.0, "board": board, "facing_deg": 180 if k in "be" else 0}
            for k, x in pos.items()]
    end = max(UPDATE_MS + 5000, PHONE_MS + 65000) / 1000.0  # the phone window lasts 60 s
    return sim.validate({
        "name": "power-probe-" + board, "seed": seed, "duration_s": end,
        "room": {"width_m": 20.0 + 6 * FAR_M, "depth_m": 10.0},
        "event": {"utc_offset_min": 0, "start_utc": start},
        "clock": {"range_ppm": 0, "wander_ppm": 0},  # the windows' cost, not the clocks' drift (docs/clock.md)
        "pins": pins,
        "taps": [{"t_ms": TAP_MS, "a": "a", "b": "b"}, {"t_ms": TAP_MS, "a": "d", "b": "e"}],
        "solo_taps": [{"t_ms": SOLO_MS, "pin": "c"}]})


def _pending_at_boot(pin, start_utc):
    """Pin `pin` boots holding a friendship pending (its peer was never met again)."""
    _firmware()
    from cloudpin.social import pending

    store = pending.Pending(path=os.path.join(pin.dev.flash_dir, pending.PATH))
    store.wipe()
    store.put(pending.PENDING, start_utc, bytes(range(16)),
              {"name": "Zoe", "organisation": "", "role": "", "handles": []})


def _friend_at_boot(pin, start_utc):
    """Pin `pin` boots with a friend it never meets, its clock last in step
    with a friend two hours before (lost: clocksync.LOST_MS)."""
    _firmware()
    from cloudpin.social import clocksync
    from cloudpin.social.friends import PATH, Friends
    from cloudpin.store import Store

    store = Friends(path=os.path.join(pin.dev.flash_dir, PATH))
    store.open()
    store.add(bytes(range(100, 116)), {"name": "Yan", "organisation": "", "role": "", "handles": []}, start_utc)
    Store(os.path.join(pin.dev.flash_dir, clocksync.PATH), clocksync._check).save(
        {"rate": 0, "t": (start_utc - 7200) * 1000, "n": 3})


def _at(w, pin, t_ms, act):
    """Run act(app) as a task of the pin at simulated t_ms."""
    import asyncio

    async def later():
        await asyncio.sleep_ms(t_ms - w.clock.now_ms())
        act(pin.app_box[0])
    w.start(pin.dev, later())


def _suspect(w, pin, t_ms, cancel_after_ms):
    import asyncio
    import time

    async def later():
        await asyncio.sleep_ms(t_ms - w.clock.now_ms())
        app = pin.app_box[0]
        t = time.ticks_ms()
        app._on_suspect(t, True)  # what the motion service calls on a suspicion ...
        await asyncio.sleep_ms(cancel_after_ms)
        app._on_suspect(t, False)  # ... and on its cancel
    w.start(pin.dev, later())


def _label(pid, users, t_ms):
    if pid in "cfgr":  # (a cancelled start may hold the radio between two slices)
        return {"c": "false tap (ends alone)", "f": "cancelled radio start", "g": "phone window",
                "r": "reconciliation window"}[pid]
    if pid == "h":
        return "update (alone, in step with nobody)" if "updates" in users and t_ms >= UPDATE_MS - 10000 else None
    if "meet" in users:
        return "tap (a friend made)"
    if "updates" in users:
        if t_ms >= UPDATE_MS - 10000:
            return "update (friends near)" if pid in "ab" else "update (nobody near)"
        return "clock window after a new friend"
    return None


def _figures(before, after):
    d = lambda k: (after["time_us"].get(k, 0) - before["time_us"].get(k, 0)) / 1e6  # noqa: E731
    n = lambda k: after["counts"].get(k, 0) - before["counts"].get(k, 0)  # noqa: E731
    return {"on_s": d("radio.idle"), "tx_s": d("air.tx"), "rx_s": d("air.rx"), "starts": n("radio.starts"),
            # what else the window does: the LED lit, files written (cpsim.flashwrites)
            "led_s": d("led.on"), "flash_writes": n("flash.writes"), "flash_bytes": n("flash.bytes")}


def sessions(board, seed=1, cancel_after_ms=170, progress=None, warn=None, lit=None):
    """Every radio session of the probe run: [{"pin", "kind", "t_ms",
    "on_s", "tx_s", "rx_s", "starts"}] in the order they ended. lit: a dict
    given to be filled with each pin's screen seconds over the run
    ({pin: {"display_s", "backlight_s"}}, SCREEN)."""
    sc = scenario(board, seed)
    w, pins = runner.build(sc, warn=warn)
    by_id = {p.spec["id"]: p for p in pins}
    out = []
    try:
        _pending_at_boot(by_id["r"], sc["event"]["start_utc"])
        _friend_at_boot(by_id["h"], sc["event"]["start_utc"])
        _suspect(w, by_id["f"], SUSPECT_MS, cancel_after_ms)
        _at(w, by_id["g"], PHONE_MS, lambda app: app.phone.open())
        open_ = {}  # pin id -> [snapshot before it went on, users seen, t_ms]
        last = {p.spec["id"]: p.dev.acct.snapshot() for p in pins}
        end = int(sc["duration_s"] * 1000)
        for t in range(0, end, SLICE_MS):
            runner._place(w, pins, by_id, sc, t)
            if t >= PART_MS:
                w.radio.set_distance(by_id["d"].dev, by_id["e"].dev, FAR_M)
            w.run_until(t + SLICE_MS)
            for p in pins:
                pid = p.spec["id"]
                on = p.dev.acct.get_state("radio") not in (None, "off")
                app = p.app_box[0]
                users = list(app.radio.users) if app is not None and app.radio is not None else []
                snap = p.dev.acct.snapshot()
                s = open_.get(pid)
                if on and s is None:
                    open_[pid] = s = [last[pid], set(), t]
                if s is not None:
                    s[1].update(users)
                    if not on:
                        kind = _label(pid, s[1], s[2])
                        rec = {"pin": pid, "kind": kind, "t_ms": s[2]}
                        rec.update(_figures(s[0], snap))
                        out.append(rec)
                        del open_[pid]
                last[pid] = snap
            if progress and t % 10000 == 0 and t:
                progress("power probe %s: %d / %d s simulated" % (board, t // 1000, end // 1000))
        if lit is not None:
            for p in pins:
                pid = p.spec["id"]
                lit[pid] = {k: last[pid]["time_us"].get(key, 0) / 1e6 for k, key in SCREEN}
                lit[pid]["lit_at_end"] = p.dev.acct.get_state("backlight") == "on" \
                    or p.dev.acct.get_state("display") == "awake"
    finally:
        runner.close(w)
    return out


def measure(board, seed=1, cancel_after_ms=170, progress=None, warn=None):
    """{kind: {"on_s", "tx_s", "rx_s", "starts", "n"}}: each kind of window's
    mean over the probe's sessions of that kind. A kind the run did not show
    raises ValueError (the firmware no longer opens it as the probe expects)."""
    got = {}
    lit = {}
    for s in sessions(board, seed, cancel_after_ms, progress, warn, lit):
        if s["kind"] is None:
            continue
        g = got.setdefault(s["kind"], dict({k: 0.0 for k in FIGURES}, n=0))
        for k in FIGURES:
            g[k] += s[k]
        g["n"] += 1
    got["boot (once a day)"] = dict({k: 0.0 for k in FIGURES}, n=1)  # no radio: the screen's spell
    screen_figures(got, lit)
    missing = [k for k in KINDS if k not in got]
    if missing:
        raise ValueError("power probe on %s: no %s window in the run" % (board, ", ".join(missing)))
    for g in got.values():
        for k in FIGURES + tuple(k for k, _ in SCREEN):
            g[k] = round(g[k] / g["n"], 4)
    return got


def screen_figures(got, lit):
    """Each kind's screen seconds ("display_s", "backlight_s": SCREEN) into
    `got` from the pins' totals `lit` (sessions()): the boot's is the quiet
    pin h's; a tap that makes a friend lights it for pins a and b (the tap,
    then the friend: their mean, less h's); a false tap for c; the others
    light nothing of the wearer's (an update window, a suspicion; the phone
    window g opens no phone connects to: the connection's own light is the
    model's, cloudpin.display.LIT_MS a sync). A screen still lit at the
    end of the run on the quiet pin has no policy to measure spells of:
    all 0 here, and the segment's share is the day's (day.switched)."""
    base = lit.get("h", {})
    policed = not base.get("lit_at_end", True)
    for kind, g in got.items():
        for k, _ in SCREEN:
            b = base.get(k, 0.0)
            if kind == "boot (once a day)":
                v = b
            elif kind == "tap (a friend made)":
                v = (lit["a"][k] + lit["b"][k]) / 2 - b
            elif kind == "false tap (ends alone)":
                v = lit["c"][k] - b
            else:
                v = 0.0
            g[k] = max(0.0, v) * g["n"] if policed else 0.0  # (a total: measure() divides by n)


__all__ = ["measure", "sessions", "scenario", "KINDS", "period_s"]

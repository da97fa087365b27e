"""The energy model: state times over one day -> average current, mAh a day,
battery life. Pure arithmetic; `day.py` supplies the times (docs/power.md).

Every state's time is seconds over the whole day (24 h). The CPU states are
exclusive; air time (TX/RX) is counted on top of the CPU: the datasheet's RF
figures are whole-chip currents, so air time costs (figure - cpu.idle) more
than the idle CPU it overlaps."""
import sys

from host_tools import EMULATOR_DIR
from host_tools.power import currents as C



def _radio():
    """The emulated radio's packet timings (cpsim/radio.py, docs/radio.md),
    imported on first use: cpsim must be imported after the simulator has
    installed its MicroPython compatibility layer."""
    if str(EMULATOR_DIR) not in sys.path:
        sys.path.insert(0, str(EMULATOR_DIR))
    from cpsim import radio

    return radio

DAY_S = 24 * 3600.0
ADV_CHANNELS = 3
# Plan keys a day file may leave out, with their defaults: when a
# suspicion's cancel arrives, from the start of the radio it started (the
# detector suspects ~30 ms after the peak and decides at its ahead_ms, 200
# ms: ~0.17 s, inside the 0.25 s start; docs/taps.md): the probe cancels its
# suspicion this long after it.
# phone_find_s: a phone sync's beacon before the phone connects (the wearer
# double-taps, then presses "connect": ESTIMATE, the old plan's 5 s).
EXTRA_PLAN_KEYS = {"cancel_after_s": 0.17, "phone_find_s": 5.0}


def adv_air(window_s, interval_ms, adv_len):
    """(tx_s, rx_s) of advertising for window_s: each event sends a PDU on
    each of 3 channels and listens T_IFS + a SCAN_REQ after each."""
    r = _radio()
    events = window_s * 1000.0 / interval_ms
    tx = events * ADV_CHANNELS * r.air_us(adv_len) / 1e6
    rx = events * ADV_CHANNELS * (r.T_IFS + r.SCAN_REQ_US) / 1e6
    return tx, rx


def conn_air(window_s, interval_ms):
    """(tx_s, rx_s) of a connection kept open window_s: one empty packet each
    way per connection event (the cpsim radio's CONN_EVENT_US budget)."""
    r = _radio()
    events = window_s * 1000.0 / interval_ms
    return events * r.air_us(0) / 1e6, events * (r.CONN_EVENT_US - r.air_us(0)) / 1e6


# What a window does besides its radio, per window as the probe measured it:
# the LED's lit seconds, file write sessions and bytes, the screen's lit
# seconds (controller awake, backlight on: probe.screen_figures) (cpsim
# accounting).
WINDOW_EXTRAS = ("led_s", "flash_writes", "flash_bytes", "display_s", "backlight_s")


def scaled(w, on_s):
    """Window figures `w` ({"on_s", "tx_s", "rx_s", "starts"}) stretched to
    on_s of radio at the same duty (one start; its LED and writes as they were)."""
    f = on_s / w["on_s"] if w["on_s"] else 0.0
    out = {"on_s": on_s, "tx_s": w["tx_s"] * f, "rx_s": w["rx_s"] * f, "starts": w["starts"]}
    out.update({k: w.get(k, 0.0) for k in WINDOW_EXTRAS})
    return out


def radio_windows(measured, fw, plan, day):
    """The radio's day: every kind of window the firmware opens, each
    priced as the probe measured it on the real firmware (`measured`:
    probe.measure's {kind: {"on_s", "tx_s", "rx_s", "starts"}}), times how
    often the day opens it. `fw`: the firmware's own timing
    (probe.firmware_timing: update period, the clock's search windows, the
    reconciliation schedule). Returns {"on_s", "tx_s", "rx_s", "starts",
    "windows": [...]} (docs/power.md)."""
    worn_s = day["worn_h"] * 3600.0
    windows = []

    def add(name, count, per, extra=None):
        tx, rx, on = per["tx_s"], per["rx_s"], per["on_s"]
        if extra is not None:  # air on top of the window (a phone's connection, a wider scan)
            on, tx, rx = on + extra[0], tx + extra[1], rx + extra[2]
        w = {"window": name, "count": count, "on_s": count * on, "tx_s": count * tx,
             "rx_s": count * rx, "starts": count * per["starts"]}
        for k in WINDOW_EXTRAS:  # the LED and the files the window writes (probe.FIGURES)
            w[k] = count * per.get(k, 0.0)
        windows.append(w)

    add("tap (a friend made: window and exchange)", day["taps"], measured["tap (a friend made)"])
    add("clock window after a new friend", day["new_friends"], measured["clock window after a new friend"])
    # Update windows run on the UTC clock all day (social/updates.py): the pin
    # cannot tell worn from lying on a table. Friends are near only while worn.
    # Worn without a friend near, strangers' windows keep the air busy: the
    # whole window, as with friends near. On the table (not worn) nobody is
    # near: for LOST_MS the pin is still in step with its friends and scans
    # its whole window; after it, on an empty air, it stops scanning after
    # updates.QUIET_MS (both measured).
    n_upd = DAY_S / fw["period_s"]
    n_worn = worn_s / fw["period_s"]
    n_near = n_worn * day["friends_nearby_fraction"]
    n_step = min(n_upd - n_worn, fw["lost_s"] / fw["period_s"])
    add("friend update (friends near)", n_near, measured["update (friends near)"])
    add("friend update (worn, no friend near: a busy air)", n_worn - n_near, measured["update (friends near)"])
    add("friend update (nobody near, in step: the first LOST_MS)", n_step, measured["update (nobody near)"])
    add("friend update (nobody near, lost: an empty air)", n_upd - n_worn - n_step,
        measured["update (alone, in step with nobody)"])
    # A pin that heard no friend for LOST_MS (the night, not worn) widens one
    # window in SEARCH_EVERY by the whole margin on each side (clocksync.py):
    # scanning only, so all of it is RX.
    lost_s = max(0.0, DAY_S - worn_s - fw["lost_s"])
    m = fw["search_margin_s"]
    add("clock search margin (alone)", lost_s / fw["period_s"] / fw["search_every"],
        {"on_s": 0.0, "tx_s": 0.0, "rx_s": 0.0, "starts": 0}, (m, 0.0, m))
    # A phone sync: the window a double tap opens, its beacon (measured)
    # until the phone connects (the plan's phone_find_s) and for the
    # firmware's LINGER_S after the session (never past the window's end),
    # the phone's connection in between (the radio on, its air on top: the
    # phone chooses the interval and how long: the plan's).
    ph = fw["phone"]
    find, sync = plan.get("phone_find_s", EXTRA_PLAN_KEYS["phone_find_s"]), plan["phone_sync_s"]
    linger = min(ph["linger_s"], max(0.0, ph["window_s"] - find - sync))
    per = scaled(measured["phone window"], find + linger)
    for k in ("display_s", "backlight_s"):  # the phone connecting lights the screen (cloudpin.display)
        per[k] += fw.get("screen_lit_s", 0.0) if measured["boot (once a day)"].get(k) else 0.0
    add("phone sync (window and connection)", day["phone_syncs"], per, (sync,) + conn_air(sync, plan["conn_interval_ms"]))
    add("false tap (ends alone)", day.get("false_taps", 0.0), measured["false tap (ends alone)"])
    add("cancelled radio start", day.get("cancelled_starts", 0.0), measured["cancelled radio start"])
    # A friendship left half-committed: each pin's share (both have the same
    # windows: the asking and the answering side).
    r = fw["recon"]
    per = scaled(measured["reconciliation window"], r["on_s"])
    per["starts"] = r["windows"]
    add("reconciliation (an unsettled friendship)", day.get("unsettled", 0.0), per)
    add("boot (the screen's spell; once a day)", 1.0, measured["boot (once a day)"])
    total = dict({k: 0.0 for k in ("on_s", "tx_s", "rx_s", "starts") + WINDOW_EXTRAS}, windows=windows)
    for w in windows:
        for k in ("on_s", "tx_s", "rx_s", "starts") + WINDOW_EXTRAS:
            total[k] += w[k]
    return total


def naive_radio(plan):
    """The always-on policy: advertising at the plan's interval and scanning
    continuously all day."""
    tx, rx = adv_air(DAY_S, plan["adv_interval_ms"], plan["adv_len"])
    return {"on_s": DAY_S, "tx_s": tx, "rx_s": DAY_S, "starts": 0}


def cpu_day(fractions, walking_s, still_s):
    """CPU state seconds over a day from the measured fractions per second of
    walking and of lying still ({"walking": {state: frac}, "still": {...}})."""
    out = {}
    for kind, secs in (("walking", walking_s), ("still", still_s)):
        for state, f in fractions[kind].items():
            out[state] = out.get(state, 0.0) + f * secs
    return out


def apply_radio(cpu, radio, start_active_s):
    """The radio's windows keep the CPU out of light sleep (MicroPython's
    lightsleep stops BLE, #6396): move that time to idle; each ble.active(True)
    costs start_active_s of CPU work."""
    cpu = dict(cpu)
    moved = min(cpu.get("cpu.lightsleep", 0.0), radio["on_s"])
    cpu["cpu.lightsleep"] = cpu.get("cpu.lightsleep", 0.0) - moved
    cpu["cpu.idle"] = cpu.get("cpu.idle", 0.0) + moved
    work = min(cpu.get("cpu.idle", 0.0), radio["starts"] * start_active_s)
    cpu["cpu.idle"] -= work
    cpu["cpu.active"] = cpu.get("cpu.active", 0.0) + work
    return cpu


def never_sleep(cpu):
    cpu = dict(cpu)
    cpu["cpu.idle"] = cpu.get("cpu.idle", 0.0) + cpu.pop("cpu.lightsleep", 0.0)
    return cpu


def board_loads(spec, on_s):
    """{state: (seconds, mA)} of the board's own parts over a day. on_s: the
    seconds a day the firmware keeps each switched part on, as the emulator
    accounted them ({"display.awake", "backlight.on", "led.on"}: day.py)."""
    loads = {}
    accel = spec.get("accel")
    if accel:
        # the firmware runs the sensor at its tap rate all day (measured in cpsim: 400-500 Hz)
        odr = accel.get("tap_odr") or accel.get("odr")
        loads["sensor.%s@%dHz" % (accel["type"], odr)] = (DAY_S, C.accel_ma(accel["type"], odr))
    if spec.get("display"):
        awake = min(on_s.get("display.awake", 0.0), DAY_S)
        loads["display.awake"] = (awake, C.DISPLAY_AWAKE)
        loads["display.asleep"] = (DAY_S - awake, C.DISPLAY_SLEEP)
        loads["backlight.on"] = (min(on_s.get("backlight.on", 0.0), DAY_S), C.BACKLIGHT_ON)
    if spec.get("led"):
        loads["led.on"] = (min(on_s.get("led.on", 0.0), DAY_S), C.led_ma(spec.get("name")))
    power = spec.get("power") or {}
    if power.get("type") == "axp192":
        loads["pmu.axp192"] = (DAY_S, C.AXP192_QUIESCENT)
    elif spec.get("battery") is None:
        loads["regulator.ams1117"] = (DAY_S, C.AMS1117_QUIESCENT)
    else:
        loads["regulator.ldo"] = (DAY_S, C.LDO_QUIESCENT)
    return loads


def flash_states(writes, nbytes):
    """{state: (seconds, mA)} of `writes` file write sessions of `nbytes` in
    all on littlefs over the NOR flash, priced pessimistically: each session
    erases one 4 KB sector (littlefs copies a file's partly written last
    block to a fresh one, and commits its metadata) and programs the block
    it copies plus its own bytes, in 256-byte pages. The CPU spins through
    it (no cache, no sleep): active instead of light sleep, on top."""
    pages = writes * (C.FLASH_SECTOR // C.FLASH_PAGE) + nbytes / C.FLASH_PAGE
    over = C.ESP32["cpu.active"] - C.ESP32["cpu.lightsleep"]
    return {"flash.erase": (writes * C.FLASH_T_SECTOR_S, C.FLASH_ERASE + over),
            "flash.program": (pages * C.FLASH_T_PAGE_S, C.FLASH_PROGRAM + over)}


def average(cpu, radio, loads):
    """(average mA over the day, states {name: {"s", "ma", "avg_ma"}})."""
    states = {}

    def put(name, secs, ma):
        states[name] = {"s": round(secs, 3), "ma": ma, "avg_ma": secs * ma / DAY_S}

    for k, secs in sorted(cpu.items()):
        put(k, secs, C.ESP32[k])
    # the stack up between its events: radio-on time off the air (on air the
    # datasheet's whole-chip RF figures already hold it; a radio scanning
    # all the time is never idle)
    put("radio.off_air", max(0.0, radio["on_s"] - radio["tx_s"] - radio["rx_s"]), C.ESP32["radio.idle"])
    put("air.tx", radio["tx_s"], C.ESP32["air.tx"] - C.ESP32["cpu.idle"])
    put("air.rx", radio["rx_s"], C.ESP32["air.rx"] - C.ESP32["cpu.idle"])
    for k, (secs, ma) in sorted(loads.items()):
        put(k, secs, ma)
    return sum(s["avg_ma"] for s in states.values()), states


def life(avg_ma, battery_mah):
    return None if not battery_mah or avg_ma <= 0 else battery_mah / avg_ma

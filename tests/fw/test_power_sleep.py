# Light sleep and the dozing sensor (cloudpin.power, cloudpin.motion;
# docs/power.md), on simulated time: the pin sleeps when idle, still counts
# the steps and finds the taps it did awake, wakes for a tap, never sleeps
# while the radio is on or the phone connected, and its watchdog holds.
import gc

from cloudpin import board as board_layer
from cloudpin import bus as topics
from cloudpin.app import App
from cloudpin.log import Logger
from cloudpin.motion import clear_box, span_since
from cloudpin.power import SleepPolicy, nearest
from cpsim.lis3dh import LIS3DH
from cpsim.recording import Recording, Rest
from cpsim.world import World

_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
}


def _walk_csv(name, still_s, walk_s, cadence_hz=1.8):
    # Lying still, then a chest-worn walk: vertical bounce at the step rate
    # with a heel strike on each step (no math module needed: a triangle).
    with open(name, "w") as f:
        f.write("t_ms,x,y,z\n")
        for i in range(int((still_s + walk_s) * 100)):
            t = i * 10
            z = 1.0
            if t >= still_s * 1000:
                ph = ((t - still_s * 1000) * cadence_hz / 1000.0) % 1.0
                z += 0.6 * (1 - 4 * abs(ph - 0.5)) + (0.4 if ph < 0.05 else 0.0)
            f.write("%d,0.01,0.02,%.4f\n" % (t, z))
    return name


class _Knock:
    """Lying still (1 g on z) with one 8 ms, 2.5 g knock at t_ms."""

    def __init__(self, t_ms):
        self.t_ms = t_ms

    def mean(self, t0_ms, t1_ms):
        a, b = self.t_ms, self.t_ms + 8
        over = (min(t1_ms, b) - max(t0_ms, a)) if t1_ms > a and t0_ms < b else 0
        span = t1_ms - t0_ms
        return (0.0, 0.0, 1.0 + (2.5 * over / span if span > 0 else 0.0))


def _pin(w, name, source, sleep, wdt_ms=0, ble=False):
    dev = w.device(name)
    dev.attach_i2c(0, LIS3DH(source, int1=34, int2=39))
    lines, box = [], [None]

    async def firmware():
        log = Logger("app", sink=lines.append)
        hw = board_layer.build(_BOARD, log.child("board"), wdt_timeout_ms=wdt_ms, with_ble=ble)
        app = box[0] = App(hw, log, status_every_ms=5000, sleep=sleep)
        await app.main()

    w.start(dev, firmware())
    return dev, lines, box


def _times(dev):
    t = dev.acct.snapshot()["time_us"]
    return t.get("cpu.active", 0), t.get("cpu.idle", 0), t.get("cpu.lightsleep", 0)


def test_policy_sleeps_to_the_nearest_deadline_within_bounds():
    p = SleepPolicy(min_ms=20, max_ms=1000)
    assert p.sleep_ms(None) == 1000 and p.sleep_ms(5000) == 1000
    assert p.sleep_ms(300) == 300 and p.sleep_ms(20) == 20
    assert p.sleep_ms(19) == 0 and p.sleep_ms(0) == 0  # not worth waking up for
    assert nearest([], 100) is None
    assert nearest([400, 250, 900], 100) == 150
    assert nearest([50], 100) == 0  # already due


def test_policy_never_sleeps_with_the_radio_on_or_the_phone_connected():
    p = SleepPolicy()
    p.radio_on = True
    assert p.sleep_ms(None) == 0 and p.sleep_ms(500) == 0
    p.radio_on = False
    p.phone_on = True
    assert p.sleep_ms(500) == 0
    p.phone_on = False
    assert p.sleep_ms(500) == 500


def test_a_still_pin_dozes_and_sleeps_most_of_the_time():
    w = World()
    a, _, ba = _pin(w, "sleeps", Rest(), True)
    b, _, bb = _pin(w, "awake", Rest(), False)
    w.run_for(20000)
    act, idle, slept = _times(a)
    assert act + idle + slept == 20000000, (act, idle, slept)
    assert slept > 0.95 * 20000000 and act < 0.04 * 20000000, (act, idle, slept)
    assert ba[0].motion.dozes == 1 and ba[0].motion.dozing and ba[0].power.sleeps > 20
    act_b, idle_b, slept_b = _times(b)
    assert slept_b == 0 and not bb[0].motion.dozing and bb[0].power is None
    # awake, the pin reads every sample: several times the dozing pin's work
    assert act_b > 3 * act, (act_b, act)


def test_steps_are_counted_as_awake_with_sleep_on_the_same_recording():
    w = World()
    walk = _walk_csv("power_walk.csv", 0, 20)
    late = _walk_csv("power_late_walk.csv", 8, 12)
    pins = [_pin(w, n, Recording(f), s) for n, f, s in (
        ("walk_sleep", walk, True), ("walk_awake", walk, False),
        ("late_sleep", late, True), ("late_awake", late, False))]
    w.run_for(18000)
    ws, wa, ls, la = [p[2][0].motion.steps.steps for p in pins]
    assert wa >= 15 and ls >= 10, (ws, wa, ls, la)
    # walking from the start: never still, so never dozing: the same count
    assert ws == wa and pins[0][2][0].motion.dozes == 0, (ws, wa)
    # still for 8 s first: dozing, the walk is seen at the next peek (1 s at most)
    assert pins[2][2][0].motion.dozes == 1 and not pins[2][2][0].motion.dozing
    assert la - 2 <= ls <= la, (ls, la)


def walk_from_a_doze(pin, csv_name):
    """Still 8.05 s (dozing from 3 s), then walking, on two pins of `pin`'s
    board (pin(w, name, source, sleep) -> (dev, log lines, [app])): the one
    that sleeps must wake within 25 ms of the first jolt and count every
    step the always-awake one counts."""
    w = World()
    late = _walk_csv(csv_name, 8.05, 10)
    _, _, s_box = pin(w, "sleeps", Recording(late), True)
    _, _, a_box = pin(w, "awake", Recording(late), False)
    # the recording leaves rest at 8040 ms (linear towards the 8050 sample)
    w.run_for(8035)
    assert s_box[0].motion.dozing and s_box[0].motion.dozes == 1
    w.run_for(8065 - 8035)
    assert not s_box[0].motion.dozing  # awake within 25 ms of the first jolt
    w.run_for(18000 - 8065)
    assert s_box[0].motion.dozes == 1 and s_box[0].power.pin_wakes >= 1
    ls, la = s_box[0].motion.steps.steps, a_box[0].motion.steps.steps
    assert la >= 14 and ls == la, (ls, la)


def knock_in_a_doze(pin, sample_ms):
    """A knock at 9 s on a pin dozing since 3 s is found as the awake pin
    finds it: as strong, stamped within a sample; and it dozes again."""
    w = World()
    a, la, ba = pin(w, "sleeps", _Knock(9000), True)
    b, lb, bb = pin(w, "awake", _Knock(9000), False)
    w.run_for(8900)
    assert ba[0].motion.dozing  # still since 0: dozing by now
    slept = _times(a)[2]
    w.run_for(12000)
    taps_a = [[int(v) for v in ln.split("t_ms=")[1].split(" mg=")] for ln in la if " tap t_ms=" in ln]
    taps_b = [[int(v) for v in ln.split("t_ms=")[1].split(" mg=")] for ln in lb if " tap t_ms=" in ln]
    assert len(taps_b) == 1 and 9000 <= taps_b[0][0] <= 9030, taps_b
    # the same touch, equally strong; its stamp is the drain's clock timed back
    # at 1/ODR, so pins whose drains fall differently differ by < 1 sample
    assert len(taps_a) == 1 and taps_a[0][1] == taps_b[0][1], (taps_a, taps_b)
    assert abs(taps_a[0][0] - taps_b[0][0]) <= sample_ms, (taps_a, taps_b)
    # the chip's engine woke it, and after 3 s still again it dozes again
    assert ba[0].motion.dozes == 2 and ba[0].power.pin_wakes >= 1
    assert _times(a)[2] - slept > 0.9 * 3100000


def test_a_walk_starting_in_a_doze_wakes_the_pin_at_its_first_step_and_counts_every_step():
    # The motion engine (IA1 on INT1) ends the doze at the first jolt; the
    # old 1-s FIFO peek saw this walk at 9 s and lost its first 2 steps.
    walk_from_a_doze(_pin, "power_walk_805.csv")


def test_a_knock_wakes_a_dozing_pin_and_is_found_as_awake():
    knock_in_a_doze(_pin, 2)  # 2.5 ms samples at 400 Hz


def test_no_light_sleep_while_the_radio_is_on_or_the_phone_connected():
    w = World()
    dev, _, box = _pin(w, "p", Rest(), True)
    marks = []

    async def radio_owner():
        # what the BLE owner does: publish on the app's bus from its own task
        import asyncio

        app = box[0]
        for topic, on, at in ((topics.RADIO, True, 5000), (topics.RADIO, False, 8000),
                              (topics.PHONE, True, 11000), (topics.PHONE, False, 14000)):
            await asyncio.sleep_ms(at - w.clock.now_ms())
            app.bus.publish(topic, on)
            marks.append(app.power.sleeps)

    w.run_for(10)
    w.start(dev, radio_owner())
    w.run_for(17000)
    assert len(marks) == 4, marks
    assert marks[1] == marks[0], marks  # radio on 5..8 s: not one light sleep
    assert marks[3] == marks[2], marks  # phone connected 11..14 s: none either
    assert marks[2] - marks[1] >= 3, marks  # off again in between: asleep, 1 s at a time
    assert box[0].power.sleeps - marks[3] >= 3
    act, idle, slept = _times(dev)
    assert idle > 5500000, (act, idle, slept)  # the 6 s awake: waiting at the idle current


def test_the_watchdog_holds_across_light_sleeps():
    w = World()
    dev, lines, box = _pin(w, "p", Rest(), True, wdt_ms=2500)
    w.run_for(30000)
    assert dev.resets == [] and box[0].power.sleeps > 25, (dev.resets, box[0].power.sleeps)


def test_mp_span_since_allocates_nothing_and_spans_every_burst_since_cleared():
    from array import array

    buf = array("h", [0] * 96)
    for i in range(96):
        buf[i] = (i * 37) % 200 - 100
    later = array("h", buf[48:])
    box = array("h", bytes(12))
    clear_box(box)
    span_since(buf, 32, box)
    clear_box(box)
    gc.collect()
    before = gc.mem_alloc()
    s = span_since(buf, 16, box)
    s2 = span_since(later, 16, box)
    assert gc.mem_alloc() == before
    axes = [[buf[3 * i + k] for i in range(32)] for k in range(3)]
    want = max(max(a) - min(a) for a in axes)
    first = max(max(a[:16]) - min(a[:16]) for a in axes)
    assert s == first and s2 == want, (s, s2, first, want)


def test_lightsleep_with_ble_up_drops_its_connection():
    # micropython #6396: the controller's clock stops, the link loses its timing
    import machine
    from cpsim.blelog import IrqLog, ble_of

    w = World()
    da, db = w.device("a"), w.device("b")
    a, b = ble_of(da), ble_of(db)
    la, lb = IrqLog(a), IrqLog(b)
    a.active(True)
    b.active(True)
    a.gap_advertise(100000, b"\x02\x01\x06")
    b.gap_connect(*a.config("mac"))
    w.advance(200)
    assert lb.of(7) and la.of(1) and not lb.of(8)
    b.gap_scan(0, 100000, 30000)
    w.use(db)
    machine.lightsleep(100)
    assert lb.of(8), lb.of(8)  # its own disconnect
    assert b.active() and b._scanning  # the stack stays up; scanning goes on (cpsim/bleirq.py)
    assert not la.of(2)  # the peer has not noticed yet
    w.advance(3000)  # its supervision timeout (2.56 s)
    assert len(la.of(2)) == 1, la.of(2)


def test_no_light_sleep_while_the_stack_is_active_even_unannounced():
    # the radio owner yields between ble.active(True) and publishing bus.RADIO
    w = World()
    dev, _, box = _pin(w, "p", Rest(), True, ble=True)
    marks = []

    async def radio_owner():
        import asyncio

        import bluetooth

        ble = bluetooth.BLE()
        await asyncio.sleep_ms(4000 - w.clock.now_ms())
        ble.active(True)  # and never tells the bus
        marks.append(box[0].power.sleeps)
        await asyncio.sleep_ms(3000)
        marks.append(box[0].power.sleeps)
        ble.active(False)

    w.run_for(10)
    w.start(dev, radio_owner())
    w.run_for(10000)
    assert len(marks) == 2 and marks[1] == marks[0], marks
    assert box[0].power.sleeps - marks[1] >= 2  # off again: asleep again

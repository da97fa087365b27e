# Firmware apps on simulated time (World.start / run_for, cpsim.timebase):
# several pins in one process, each with its own tasks, interrupts, timers,
# light sleep and CPU accounting, and no manual drain() anywhere.
import math

from cloudpin import board as board_layer
from cloudpin.app import App
from cloudpin.log import Logger
from cpsim.lis3dh import LIS3DH
from cpsim.recording import Recording, Rest
from cpsim.world import World

_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
}


def _walk_csv(name, cadence_hz, seconds):
    # What a chest-worn pin feels walking: vertical bounce at the step rate.
    with open(name, "w") as f:
        f.write("t_ms,x,y,z\n")
        for i in range(seconds * 100):
            t = i * 10
            ph = 2 * math.pi * cadence_hz * t / 1000.0
            z = 1.0 + 0.3 * math.sin(ph) + 0.05 * math.sin(ph / 2)
            f.write("%d,0.01,0.02,%.4f\n" % (t, z))
    return name


async def _firmware(lines, box):
    # What main.py does on a pin, with the pin's device bound by World.start.
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(_BOARD, log.child("board"), wdt_timeout_ms=0, with_ble=False)
    app = box[0] = App(hw, log, status_every_ms=5000)
    await app.main()


def _pin(w, name, source):
    dev = w.device(name)
    dev.attach_i2c(0, LIS3DH(source, int1=34, int2=39))
    lines, box = [], [None]
    w.start(dev, _firmware(lines, box))
    return dev, lines, box


def test_an_app_counts_steps_on_simulated_time():
    w = World()
    dev, lines, box = _pin(w, "a", Recording(_walk_csv("walk.csv", 2.0, 15), loop=True))
    w.run_for(12000)
    assert w.clock.now_ms() == 12000
    app = box[0]
    # 2 steps/s for 12 s, less the counter's start-up (it confirms a walk first)
    assert 16 <= app.motion.steps.steps <= 25, (app.motion.steps.steps, lines)
    assert any("motion rate=400Hz irq=yes click=hw" in ln for ln in lines), lines
    beats = [ln for ln in lines if " status " in ln]
    assert [ln.split()[1] for ln in beats] == ["0", "5000", "10000"], beats
    t = dev.acct.snapshot()["time_us"]
    # the app light-sleeps between wakes by default (cloudpin.power)
    assert t["cpu.active"] > 0 and t["cpu.lightsleep"] > 0, t
    assert t["cpu.active"] + t.get("cpu.idle", 0) + t["cpu.lightsleep"] == 12000000, t
    # 400 samples/s read and processed is most of the modelled CPU time
    assert 0.05 < t["cpu.active"] / 12000000 < 0.5, t


def test_two_pins_count_their_own_steps():
    w = World()
    a, la, ba = _pin(w, "a", Recording(_walk_csv("walk.csv", 2.0, 15), loop=True))
    b, lb, bb = _pin(w, "b", Rest())
    w.run_for(12000)
    assert ba[0].motion.steps.steps >= 16 and bb[0].motion.steps.steps == 0, (ba[0].motion.summary(), bb[0].motion.summary())
    # each app read its own chip: both drained 400 Hz FIFOs
    for dev in (a, b):
        chip = dev.i2c_models[0][0x18]
        assert chip.samples >= 400 * 11, chip.samples


def test_irqs_timers_and_lightsleep_stay_on_their_own_pin():
    import asyncio
    import machine
    from cpsim import gpio

    w = World()
    seen = {"a": [], "b": []}

    async def pin_a():
        p = machine.Pin(4, machine.Pin.IN)
        p.irq(lambda pin: seen["a"].append(("irq", machine.unique_id()[-1], w.clock.now_ms())), machine.Pin.IRQ_RISING)
        await asyncio.sleep_ms(100)
        machine.lightsleep(500)  # only pin a sleeps: b's timer and task go on
        seen["a"].append(("woke", machine.wake_reason(), w.clock.now_ms()))
        # lazily built after the sleep: still pin a's
        machine.Pin(5, machine.Pin.OUT).value(1)

    async def pin_b():
        t = machine.Timer(0)
        t.init(period=100, mode=machine.Timer.PERIODIC, callback=lambda t: seen["b"].append(("timer", machine.unique_id()[-1], w.clock.now_ms())))
        while True:
            await asyncio.sleep_ms(250)
            seen["b"].append(("task", machine.unique_id()[-1], w.clock.now_ms()))

    a = w.device("a")
    b = w.device("b")
    w.start(a, pin_a())
    w.start(b, pin_b())
    w.clock.call_at(300000, lambda: gpio.drive(a, 4, 1))  # an edge while a sleeps
    w.run_for(1000)
    ua, ub = a.uid[-1], b.uid[-1]
    assert seen["a"] == [("irq", ua, 600), ("woke", machine.TIMER_WAKE, 600)], seen["a"]
    timers = [e for e in seen["b"] if e[0] == "timer"]
    tasks = [e for e in seen["b"] if e[0] == "task"]
    assert timers == [("timer", ub, 100 * i) for i in range(1, 11)], timers
    assert tasks == [("task", ub, 250), ("task", ub, 500), ("task", ub, 750), ("task", ub, 1000)], tasks
    assert gpio.level(a, 5) == 1 and 5 not in b.pins
    assert a.acct.snapshot()["time_us"].get("cpu.lightsleep") == 500000
    assert "cpu.lightsleep" not in b.acct.snapshot()["time_us"]


def test_code_of_no_pin_cannot_reach_a_pins_hardware_during_a_run():
    # No "current device" left over from whichever pin ran last: a scheduled
    # callback that belongs to no pin is refused instead of reaching one.
    import machine

    w = World()
    a = w.device("a")
    errors = []

    def stray():
        try:
            machine.Pin(4, machine.Pin.IN)
        except RuntimeError as e:
            errors.append(str(e))

    async def fw():
        machine.Pin(5, machine.Pin.OUT)

    w.start(a, fw())
    w.clock.call_at(5000, stray)
    w.run_for(10)
    assert len(errors) == 1 and "no pin bound" in errors[0], errors
    assert 5 in a.pins and 4 not in a.pins


def test_a_wake_source_ends_lightsleep_early():
    import asyncio
    import esp32
    import machine
    from cpsim import gpio

    w = World()
    out = []

    async def fw():
        esp32.wake_on_ext0(machine.Pin(33, machine.Pin.IN), esp32.WAKEUP_ANY_HIGH)
        await asyncio.sleep_ms(10)
        machine.lightsleep(10000)
        out.append((machine.wake_reason(), w.clock.now_ms()))

    a = w.device("a")
    w.start(a, fw())
    w.clock.call_at(1234000, lambda: gpio.drive(a, 33, 1))
    w.run_for(3000)
    assert out == [(machine.EXT0_WAKE, 1234)], out


def test_a_blocking_sleep_blocks_only_its_pin():
    import asyncio
    import time

    w = World()
    order = []

    async def slow():
        await asyncio.sleep_ms(10)
        time.sleep_ms(300)  # blocks this pin's tasks only
        order.append(("a", time.ticks_ms()))

    async def other():
        for _ in range(3):
            await asyncio.sleep_ms(100)
            order.append(("b", time.ticks_ms()))

    w.start(w.device("a"), slow())
    w.start(w.device("b"), other())
    w.run_for(500)
    assert order == [("b", 100), ("b", 200), ("b", 300), ("a", 310)], order


def test_a_blocking_sleep_while_other_pins_are_due_at_the_same_instant():
    # The blocked pin's sleep runs the loop from inside its callback; the
    # other pins' callbacks due at that instant run there, not twice, and the
    # outer pass does not trip over the queue they left (it raised IndexError).
    import asyncio
    import time

    w = World()
    order = []

    async def slow():
        await asyncio.sleep_ms(10)
        time.sleep_ms(5)
        order.append(("a", time.ticks_ms()))

    async def due(name):
        await asyncio.sleep_ms(10)
        order.append((name, time.ticks_ms()))

    w.start(w.device("a"), slow())
    w.start(w.device("b"), due("b"))
    w.start(w.device("c"), due("c"))
    w.run_for(50)
    assert sorted(order) == [("a", 15), ("b", 10), ("c", 10)], order


def test_the_same_run_twice_is_identical():
    # Deterministic: the same pins and inputs give the same log lines.
    runs = []
    for _ in range(2):
        w = World()
        dev, lines, box = _pin(w, "a", Recording(_walk_csv("walk.csv", 1.8, 8), loop=True))
        w.run_for(6000)
        # (mem_free in the heartbeat is the process's heap, not the simulation)
        lines = [" ".join(p for p in ln.split() if not p.startswith("mem_free=")) for ln in lines]
        runs.append((lines, dev.acct.snapshot()))
    assert len(runs[0][0]) > 3 and runs[0] == runs[1], runs

# The M5StickC Plus's dozing sensor (cloudpin.motion, docs/power.md "The
# dozing sensor"): its MPU-6886 has no click engine, and its wake-on-motion
# engine (each sample against the one before, cpsim/mpu6886.py) ends the
# doze for a step as for a touch, on the one INT pin the watermark uses
# awake. On simulated time, the whole app on the board's accelerometer
# wiring; the same checks as the reference pin's (test_power_sleep.py).
from cloudpin import board as board_layer
from cloudpin.app import App
from cloudpin.log import Logger
from cpsim.mpu6886 import MPU6886
from cpsim.recording import Rest
from cpsim.world import World
from test_power_sleep import _times, knock_in_a_doze, walk_from_a_doze

INT = 35  # M5StickC Plus: the MPU-6886's INT on G35
_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "mpu6886", "address": 104, "int1": INT, "odr": 50, "range_g": 4, "tap_odr": 500},
}


def _pin(w, name, source, sleep):
    dev = w.device(name)
    dev.attach_i2c(0, MPU6886(source=source, int_pin=INT))
    lines, box = [], [None]

    async def firmware():
        log = Logger("app", sink=lines.append)
        hw = board_layer.build(_BOARD, log.child("board"), with_ble=False)
        app = box[0] = App(hw, log, status_every_ms=5000, sleep=sleep)
        await app.main()

    w.start(dev, firmware())
    return dev, lines, box


def test_a_still_m5_dozes_with_the_engine_on_int_and_sleeps_most_of_the_time():
    w = World()
    a, _, ba = _pin(w, "sleeps", Rest(), True)
    b, _, bb = _pin(w, "awake", Rest(), False)
    w.run_for(20000)
    m = ba[0].motion
    assert m.dozes == 1 and m.dozing and ba[0].power.sleeps > 15, (m.dozes, m.dozing, ba[0].power.sleeps)
    # dozing, INT is the engine's alone: no watermark, no overflow alarm
    chip = a.i2c_models[0][0x68]
    assert chip.wom_armed() and chip.watermark_bytes() == 0 and chip.regs[0x38] == 0xE0
    act, idle, slept = _times(a)
    act_b = _times(b)[0]
    assert slept > 0.9 * 20000000 and act_b > 3 * act, (act, idle, slept, act_b)
    assert not bb[0].motion.dozing and bb[0].motion.dozes == 0


def test_a_walk_starting_in_a_doze_wakes_the_m5_at_its_first_step_and_counts_every_step():
    walk_from_a_doze(_pin, "m5_walk_805.csv")


def test_a_knock_wakes_a_dozing_m5_and_is_found_as_awake():
    knock_in_a_doze(_pin, 2)  # 2 ms samples at 500 Hz


def test_a_button_press_in_a_doze_wakes_the_m5_and_lights_its_screen_at_once():
    # A dozing pin sleeps up to 1 s at a time (power.py); the button (G37,
    # active low) is an ext0 wake source beside the accelerometer's ext1.
    from test_screen import _m5, _press

    world, dev, parts, app, lines = _m5()
    glass = parts["display"]
    _press(world, dev, 14000, 14100)
    world.start(dev, app.main(run_ms=16000))
    world.run_until(13990)
    assert app.motion.dozing and not glass.lit(), lines  # dark since 10 s, dozing since ~3 s
    wakes = app.power.pin_wakes
    world.run_until(14020)
    assert glass.lit() and app.power.pin_wakes > wakes, lines  # within 20 ms, not at the next 1 s wake

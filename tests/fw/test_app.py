# The app as main.py starts it, on emulated parts: boot line, heartbeat with
# the badge id (what `cloudpin logs` labels ports by), services supervised.
# The app runs on simulated time (cpsim.world), as main.py runs it but with
# the loop's end given: its heartbeats fall at exact times on a busy machine.
from cloudpin import board as board_layer
from cloudpin import identity
from cloudpin.app import App
from cloudpin.log import Logger
from cpsim.lis3dh import LIS3DH
from cpsim.world import World

_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
}


def _app(lines, badge_id=None, accel=True):
    dev = World().device("p")
    if accel:
        dev.attach_i2c(0, LIS3DH(int1=34, int2=39))
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(_BOARD, log.child("board"), wdt_timeout_ms=0, with_ble=False)
    if badge_id is not None:
        identity.set_badge_id(hw.nvs, badge_id)
    return App(hw, log, status_every_ms=100)


def _run(app, run_ms):
    # What App.run does, on the simulated clock of the app's pin: main(run_ms)
    # ends at run_ms; the world runs on past it to show that it did.
    from cpsim import world as world_mod

    dev = world_mod.current()
    done = []

    async def main():
        await app.main(run_ms=run_ms)
        done.append(dev.world.clock.now_ms())

    dev.world.start(dev, main())
    dev.world.run_for(run_ms + 1000)
    assert done == [run_ms], done


def test_boot_line_and_heartbeat_name_the_badge():
    lines = []
    _run(_app(lines, bytes((0, 0, 0xC1, 0x0D, 0, 0, 0, 0x2A))), 250)
    boot = [ln for ln in lines if " app cloudpin " in ln]
    assert len(boot) == 1 and "badge=0000c10d0000002a" in boot[0] and "faults=none" in boot[0], lines
    beats = [ln for ln in lines if " status " in ln]
    # one every 100 ms: at 0, 100 and 200
    assert [ln.split()[1] for ln in beats] == ["0", "100", "200"], beats
    assert all("badge=0000c10d0000002a" in ln and "steps=0" in ln for ln in beats), beats


def test_unprovisioned_badge_and_missing_sensor_still_run():
    lines = []
    _run(_app(lines, accel=False), 250)
    assert any("badge=none" in ln and "faults=accel" in ln for ln in lines), lines
    assert any("no accelerometer" in ln for ln in lines), lines
    assert any(" status " in ln for ln in lines), lines  # the heartbeat goes on


def test_the_app_runs_at_the_rate_the_chip_really_runs():
    # tap_odr 500 on an LIS3DH: the chip runs the nearest rate it has (400 Hz,
    # not 1344), and the motion service counts time in that rate's samples.
    dev = World().device("p")
    chip = dev.attach_i2c(0, LIS3DH(int1=34, int2=39))
    board = dict(_BOARD)
    board["accel"] = dict(_BOARD["accel"], tap_odr=500)
    lines = []
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(board, log.child("board"), wdt_timeout_ms=0, with_ble=False)
    app = App(hw, log, status_every_ms=100)
    assert hw.accel_rate == 400 and app.motion.rate == 400 and chip._odr_hz == 400
    assert app.motion.steps.rate_hz * app.motion.steps._dec == 400
    assert hw.accel_int2 is not None and not hw.faults


def test_an_impossible_rate_is_a_board_fault_not_a_crash():
    # 1344 Hz is an LIS3DH rate but above what the step counter takes: it
    # raised inside App.__init__, outside the supervisor, before.
    dev = World().device("p")
    dev.attach_i2c(0, LIS3DH(int1=34, int2=39))
    board = dict(_BOARD)
    board["accel"] = dict(_BOARD["accel"], tap_odr=1344)
    lines = []
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(board, log.child("board"), wdt_timeout_ms=0, with_ble=False)
    assert hw.faults == ["accel"] and hw.accel is None and hw.accel_rate is None
    assert any("1344" in ln and "5..1000" in ln for ln in lines), lines
    _run(App(hw, log, status_every_ms=100), 250)
    assert any("faults=accel" in ln for ln in lines), lines
    assert any(" status " in ln and "motion=off" in ln for ln in lines), lines


def test_ctrl_c_leaves_a_board_timer_feeding_the_watchdog():
    # An ESP32 watchdog cannot be stopped: after Ctrl-C the board layer's
    # timer keeps the REPL session alive, and only it does.
    world = World()
    dev = world.device("p")
    dev.attach_i2c(0, LIS3DH(int1=34, int2=39))
    lines = []
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(_BOARD, log.child("board"), wdt_timeout_ms=2000, with_ble=False)
    app = App(hw, log)

    async def interrupted(run_ms=0):
        raise KeyboardInterrupt

    app.main = interrupted
    try:
        app.run()
    except KeyboardInterrupt:
        pass
    else:
        assert False, "Ctrl-C swallowed"
    assert any("REPL ready" in ln for ln in lines), lines
    world.advance(10000)
    assert dev.resets == [], dev.resets
    app.wdt_timer.deinit()
    world.advance(3000)
    assert len(dev.resets) == 1 and dev.resets[0][1] == 3, dev.resets  # WDT_RESET once nothing feeds it


def test_a_detected_tap_is_published_on_the_app_bus():
    from cloudpin import bus as topics

    lines = []
    app = _app(lines)
    got = []
    app.bus.subscribe(topics.TAP, lambda t, mg: got.append((t, mg)))
    app.motion._tap(1234, 950)  # what the pipeline calls when its detector fires
    assert got == [(1234, 950)]
    assert any("tap t_ms=1234 mg=950" in ln for ln in lines), lines


def test_the_wearer_sees_tap_again_on_the_led():
    # issue 9: the pin that cannot be sure whom it touched signals "tap
    # again" on its LED rather than guess
    from cloudpin import bus as topics
    from cpsim import world as world_mod

    board = dict(_BOARD, led={"type": "rgb", "pins": [25, 26, 27], "active_low": True})
    dev = World().device("p")
    dev.attach_i2c(0, LIS3DH(int1=34, int2=39))
    hw = board_layer.build(board, Logger("app", sink=[].append).child("board"), wdt_timeout_ms=0, with_ble=False)
    app = App(hw, Logger("app", sink=[].append), status_every_ms=100000)
    seen = []
    led_set = hw.led.set

    def record(colour):
        seen.append((world_mod.current().world.clock.now_ms(), colour))
        led_set(colour)

    hw.led.set = record

    async def main():
        await app._sleep_ms(3000)  # the boot colour is over
        seen.clear()
        app.bus.publish(topics.TAP_AGAIN, "crowded")
        await app._sleep_ms(2000)
        app.bus.publish(topics.FRIEND, 0, 5000)
        await app._sleep_ms(2000)

    dev.world.start(dev, app.main(run_ms=8000))
    dev.world.start(dev, main())
    dev.world.run_for(8000)
    t0 = seen[0][0]
    assert [(t - t0, c) for t, c in seen] == [(0, "yellow"), (150, "off"), (300, "yellow"), (450, "off"),
                                              (600, "yellow"), (750, "off")], seen

# The screen's power policy (firmware/cloudpin/display.py) on the M5StickC
# Plus's emulated parts (cpsim.boardfit: the ST7789 and the AXP192 whose LDO2
# feeds its backlight) and simulated time, the whole app running its status
# screen: lit from boot for LIT_MS, then dark (the controller asleep, the
# backlight's LDO off); lit again by the wearer's events and the button, not
# by the others; the emulator's accounting (display.awake, backlight.on:
# what the power model prices) follows.
import json
import sys

from cloudpin import board as board_layer
from cloudpin import boardspec
from cloudpin import bus as topics
from cloudpin.app import App
from cloudpin.display import LIT_MS
from cloudpin.log import Logger
from cpsim import boardfit, gpio
from cpsim.world import World

_MP = sys.implementation.name == "micropython"
BUTTON = 37  # boards/m5stickc_plus.json button.pin (active low)


def _m5():
    with open(__file__.rsplit("/", 3)[0] + "/boards/m5stickc_plus.json") as f:
        board = boardspec.validate(json.load(f))
    world = World()
    dev = world.device("p")
    parts = boardfit.fit(dev, board, display_path="lcd.bin" if _MP else None)
    gpio.drive(dev, BUTTON, 1)  # released (the board's pull-up)
    lines = []
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(board, log.child("board"), wdt_timeout_ms=0, with_ble=False)
    return world, dev, parts, App(hw, log), lines


def _press(world, dev, t_ms, until_ms):
    """The wearer holds the button from t_ms to until_ms: the world's doing,
    on its clock, not a task of the pin's (those wait while it sleeps)."""
    world.clock.call_at(t_ms * 1000, lambda: gpio.drive(dev, BUTTON, 0))
    world.clock.call_at(until_ms * 1000, lambda: gpio.drive(dev, BUTTON, 1))


def _at(world, dev, t_ms, act):
    import asyncio

    async def later():
        await asyncio.sleep_ms(t_ms - world.clock.now_ms())
        act()
    world.start(dev, later())


def test_the_screen_is_lit_when_the_wearer_looks_and_dark_otherwise():
    world, dev, parts, app, lines = _m5()
    glass, axp = parts["display"], parts["power"]
    assert app.hw.faults == [] and app.hw.display is not None and app.designs is None, lines
    pub = app.bus.publish
    _at(world, dev, 15000, lambda: (pub(topics.PHONE, False), pub(topics.BATTERY, 60, False)))
    _at(world, dev, 20000, lambda: pub(topics.TAP, 20000, 900))
    # the cell runs down: the status line's reading at 40 s is low (the app warns), the one at 50 s too
    _at(world, dev, 35000, lambda: setattr(axp, "battery_mv", 3300))
    _press(world, dev, 55000, 55100)  # the wearer presses the button (a dozing M5 wakes at once: ext0)
    world.start(dev, app.main(run_ms=58000))
    seen = {}
    for t in (5000, 11500, 16000, 20500, 29500, 31500, 39500, 40500, 49500, 51500, 54500, 55500, 57500):
        world.run_until(t)
        # lit: the controller awake and the backlight's LDO2 on; dark: both off
        seen[t] = (glass.lit(), not glass.asleep, axp.backlight)
    lit, dark = (True, True, True), (False, False, False)
    assert seen == {5000: lit, 11500: dark, 16000: dark, 20500: lit, 29500: lit, 31500: dark, 39500: dark,
                    40500: lit, 49500: lit, 51500: dark, 54500: dark, 55500: lit, 57500: lit}, seen
    assert any("battery low" in ln for ln in lines), lines
    # what the power model reads: four lit spells, the last one 2.5 s old at the snapshot (57.5 s)
    t = dev.acct.snapshot()["time_us"]
    for key in ("display.awake", "backlight.on"):
        assert 3 * LIT_MS + 2400 <= t[key] / 1000 <= 3 * LIT_MS + 2500 + 3 * 1100, (key, t)
    assert t["display.asleep"] > 15000000 and t["backlight.off"] > 15000000, t


def test_mp_the_status_screen_is_drawn_again_when_a_tap_lights_it():
    world, dev, parts, app, lines = _m5()
    glass = parts["display"]
    _at(world, dev, 20000, lambda: app.bus.publish(topics.TAP, 20000, 900))
    world.start(dev, app.main(run_ms=25000))
    world.run_until(19000)
    assert not glass.lit()
    before = glass.pixels
    world.run_until(20500)
    assert glass.lit() and glass.pixels > before  # redrawn at once, not at the next 10 s


def test_mp_lighting_and_darkening_allocate_nothing():
    # The wake comes in a bus handler at a tap, where the M5's heap is at its
    # least (docs/heap.md): it must not allocate. (The AXP192's backlight
    # writes go through Registers' buffers; here the pads are driven as the
    # chip's GPIO matrix would be, the emulator's Python unplugged, as in
    # test_board_fit's status screen test.)
    import gc
    import time

    from cloudpin.display import Screen
    from test_board_fit import _Pad, _boards, _fit

    world, dev, parts, hw, lines = _fit(_boards()[2])
    lcd = hw.display.lcd
    for name in ("cs", "dc"):
        setattr(lcd, name, _Pad(dev, getattr(lcd, name)))
    dev.spi_models = {}
    screen = Screen(lcd)
    past = time.ticks_add(time.ticks_ms(), -1)
    screen.wake(5, 900)
    screen.dim()
    gc.collect()
    before = gc.mem_alloc()
    n = darkened = 0
    while n < 20:
        screen.lit_until = past
        darkened += screen.dim() < 0  # its time is up: dark (SLPIN)
        screen.wake(60, False)  # a battery reading: nothing
        screen.wake(5, 900)  # a tap: lit (SLPOUT)
        n += 1
    assert gc.mem_alloc() - before == 0, gc.mem_alloc() - before
    assert darkened == 20 and screen.lit_until is not None

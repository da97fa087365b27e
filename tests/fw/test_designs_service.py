# The designs on a pin (firmware/cloudpin/designs/service.py) on emulated
# parts and simulated time: an unlock plays the design's LED colours, the
# button (a falling edge on its GPIO) picks the next unlocked design, and on
# a board with a display the card reaches the ST7789's glass.
import os

from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.designs import engine, pack
from cloudpin.designs.service import DesignService
from cloudpin.led import Led
from cloudpin.log import Logger
from cpsim import gpio
from cpsim.world import World

_DOC = {"format": 1, "event": "Test", "sports": [
    {"id": "walk", "name": "Walk", "short": "Walk", "task": {"kind": "steps_day", "n": 100}, "led": ["red", "blue"],
     "design": [["rect", 0, 0, 128, 128, "red", 1]]},
    {"id": "tap", "name": "Tap", "short": "Tap", "task": {"kind": "tap_days", "n": 1}, "led": ["green"],
     "design": [["rect", 0, 0, 128, 128, "green", 1]]}]}


def _fresh():
    for name in os.listdir("."):
        if name.startswith("designs.json") or name.startswith(".display"):
            os.remove(name)


class Colours:
    """An Led that remembers every colour it was set to."""

    def __init__(self, led):
        self.led = led
        self.seen = []
        self.colour = led.colour

    def set(self, c):
        self.led.set(c)
        self.colour = c
        self.seen.append(c)


def _engine(bus):
    e = engine.Designs(pack.Pack(_DOC), Logger("designs", sink=lambda s: None))
    e.load(100)
    e.subscribe(bus)
    return e


def test_an_unlock_plays_its_colours_and_the_button_picks_the_next_design():
    import machine

    _fresh()
    world = World()
    dev = world.device("p")
    bus = Bus()
    e = _engine(bus)
    led = Colours(Led([machine.Pin(p, machine.Pin.OUT) for p in (25, 26, 27)]))
    gpio.drive(dev, 37, 1)
    button = machine.Pin(37, machine.Pin.IN)
    svc = DesignService(e, bus, led=led, button=button, active_low=True, every_ms=60000)
    world.start(dev, svc.run())
    world.run_for(100)
    bus.publish(topics.STEPS, 100, 100)
    world.run_for(3000)
    assert e.selected == 0 and led.seen == ["red", "blue", "off", "red", "blue", "off", "off"], led.seen
    bus.publish(topics.TAP, 5, 900)
    world.run_for(3000)
    assert e.selected == 1
    led.seen = []
    gpio.drive(dev, 37, 0)  # pressed
    world.run_for(50)
    gpio.drive(dev, 37, 1)
    world.run_for(3000)
    assert e.selected == 0 and e.picked and led.seen[:3] == ["red", "blue", "off"], led.seen
    # a bounce within 250 ms counts once
    for _ in range(3):
        gpio.drive(dev, 37, 0)
        world.run_for(10)
        gpio.drive(dev, 37, 1)
        world.run_for(10)
    world.run_for(3000)
    assert e.selected == 1


class _Counter:
    steps = 0


def test_walked_steps_reach_the_engine_and_the_phones_pick_redraws():
    from cloudpin.designs.stepfeed import StepFeed
    from cloudpin.social.daily import Daily

    _fresh()
    for name in os.listdir("."):
        if name.startswith("daily.json") or name.startswith("steps.json"):
            os.remove(name)
    world = World()
    dev = world.device("p")
    bus = Bus()
    e = _engine(bus)
    counter = _Counter()
    feed = StepFeed(bus, counter, Daily(0), lambda: 1780272000 + 3600)
    feed.load()
    svc = DesignService(e, bus, every_ms=30000, feed=feed)
    drawn = []
    svc.draw = lambda: drawn.append(e.selected)
    world.start(dev, svc.run())
    world.run_for(100)
    assert drawn == [-1] and e.steps_today == 0
    counter.steps = 99
    world.run_for(5000)  # one feed tick
    assert e.steps_today == 99 and not e.got[0] and drawn == [-1]  # no redraw for steps alone
    counter.steps = 100
    world.run_for(5000)
    assert e.got[0] and e.selected == 0 and drawn[-1] == 0
    assert not svc.select(1) and e.selected == 0  # locked: nothing changes
    bus.publish(topics.TAP, 5, 900)  # unlocks "tap"
    world.run_for(100)
    n = len(drawn)
    assert svc.select(0) and svc.selected == 0 and e.picked
    assert svc.unlocked() == e.unlocked() == [(0, "walk"), (1, "tap")]
    world.run_for(100)
    assert len(drawn) == n + 1 and drawn[-1] == 0  # the phone's pick shows at once
    world.run_for(30000)
    assert len(drawn) >= n + 2  # and the progress bars every 30 s


def _glass():
    """A fresh world's pin with the M5StickC Plus's ST7789 wiring: (world,
    dev, the glass's model, the firmware's driver on it)."""
    import machine
    from cloudpin.st7789 import ST7789
    from cpsim.machine_spi import attach_spi
    from cpsim.st7789 import ST7789 as Glass

    _fresh()
    world = World()
    dev = world.device("p")
    glass = attach_spi(dev, 1, Glass(cs=5, dc=23, sck=13, mosi=15, rst=18, path=".display.st7789"))
    out = machine.Pin.OUT
    lcd = ST7789(machine.SPI(1, 20000000, sck=machine.Pin(13), mosi=machine.Pin(15)), machine.Pin(5, out, value=1),
                 machine.Pin(23, out, value=0), machine.Pin(18, out, value=1))
    return world, dev, glass, lcd


def test_mp_the_card_reaches_the_glass():
    from cpsim.st7789 import read_file

    world, dev, glass, lcd = _glass()
    bus = Bus()
    e = _engine(bus)
    svc = DesignService(e, bus, lcd=lcd)

    async def boot():
        lcd.init()
        svc.draw()

    world.start(dev, boot())
    world.run_for(1000)
    assert glass is not None

    def pixel(x, y):
        frame = read_file(".display.st7789")
        o = (y * 135 + x) * 2
        return frame[o] << 8 | frame[o + 1]

    grey = {0x0000, 0x39E8, 0x94B2}  # black, dark, grey: the locked form
    assert pixel(67, 60) in grey or pixel(67, 60) == 0xFFFF
    bus.publish(topics.STEPS, 100, 100)  # unlocks walk: red
    svc.draw()
    assert pixel(67, 60) == 0xE0E5, hex(pixel(67, 60))  # (230, 30, 40) in RGB565
    assert svc.draws == 2


def _boot(board):
    """An App on a fresh emulated pin of `board` (no radio); its log lines."""
    from cloudpin import board as board_layer
    from cloudpin.app import App
    from cpsim.lis3dh import LIS3DH

    dev = World().device("p")
    dev.attach_i2c(0, LIS3DH(int1=34, int2=39))
    lines = []
    log = Logger("app", sink=lines.append)
    hw = board_layer.build(board, log.child("board"), wdt_timeout_ms=0, with_ble=False)
    return App(hw, log, status_every_ms=100), lines


def test_the_app_runs_designs_with_a_pack_and_without_one_as_before():
    board = {"name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
             "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
             "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4},
             "led": {"type": "rgb", "pins": [25, 26, 27]}, "button": {"pin": 0, "active_low": True}}
    _fresh()
    for content in (None, b"CPK1 torn", pack.Pack(_DOC).to_bytes()):
        if content is not None:
            with open("pack.bin", "wb") as f:
                f.write(content)
        app, lines = _boot(board)
        errors = [ln for ln in lines if ln.startswith("E ")]
        if content is None:
            assert app.designs is None and errors == [], lines
        elif content == b"CPK1 torn":
            assert app.designs is None and len(errors) == 1 and "designs off: pack file" in errors[0], lines
        else:
            assert isinstance(app.designs, DesignService) and app.designs in app.services and errors == [], lines
            app.bus.publish(topics.STEPS, 100, 100)
            assert app.designs.engine.selected == 0
            assert any(" designs unlocked sport=walk t_ms=" in ln for ln in lines), lines
    # A pin whose heap cannot hold the designs boots without them and says why
    real = engine.Designs

    def no_heap(*args, **kw):
        raise MemoryError("memory allocation failed, allocating 1280 bytes")

    import sys

    # the out-of-heap path drops the designs modules; put them back after (other tests hold them)
    saved = {}
    for k in list(sys.modules):
        if k.startswith("cloudpin.designs") or k == "cloudpin.social.daily":
            saved[k] = sys.modules[k]
    engine.Designs = no_heap
    try:
        app, lines = _boot(board)
    finally:
        engine.Designs = real
        dropped = [k for k in saved if k not in sys.modules]
        for k in sorted(saved):
            sys.modules[k] = saved[k]
            parent, _, leaf = k.rpartition(".")
            setattr(sys.modules[parent], leaf, saved[k])
    errors = [ln for ln in lines if ln.startswith("E ")]
    assert app.designs is None and len(errors) == 1 and "designs off: out of heap" in errors[0], lines
    assert "cloudpin.designs.pack" in dropped and "cloudpin.designs.engine" in dropped  # the heap given back
    assert getattr(app, "daily", None) is None and app.bus.publish(topics.STEPS, 100, 100) == 0  # nothing half-built
    os.remove("pack.bin")


def test_mp_a_press_on_a_dark_screen_lights_the_card_and_the_next_press_picks():
    # With the screen's policy (cloudpin.display.Screen): dark after LIT_MS,
    # the first press shows the card the wearer had, the next one (lit) picks.
    import machine
    from cloudpin.display import LIT_MS, Screen

    world, dev, glass, lcd = _glass()
    bus = Bus()
    e = _engine(bus)
    gpio.drive(dev, 37, 1)
    button = machine.Pin(37, machine.Pin.IN)

    async def boot():
        lcd.init()
        bus.publish(topics.STEPS, 100, 100)  # walk unlocked ...
        bus.publish(topics.TAP, 5, 900)  # ... and tap: two to pick from
        await svc.run()

    svc = DesignService(e, bus, button=button, active_low=True, every_ms=30000, screen=Screen(lcd))
    world.start(dev, boot())
    world.run_for(LIT_MS - 1000)
    assert glass.lit() and e.selected == 1
    world.run_for(7000)  # the unlocks lit it until ~LIT_MS after them; the service's loop darkens it
    assert not glass.lit() and glass.asleep
    draws = svc.draws

    def press():
        gpio.drive(dev, 37, 0)
        world.run_for(50)
        gpio.drive(dev, 37, 1)
        world.run_for(1000)

    press()
    assert glass.lit() and e.selected == 1 and svc.draws == draws + 1  # lit, the same design (its card brought up to date)
    press()
    assert glass.lit() and e.selected == 0
    world.run_for(LIT_MS + 500)
    assert not glass.lit()
    assert svc.select(1) and glass.lit()  # the phone's pick: the wearer looks for it on the pin
    world.run_for(1000)
    assert glass.lit() and svc.draws == draws + 3

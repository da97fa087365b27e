# A World is one simulated place in time: a clock, a shared radio, and the
# emulated hardware of every pin in it. A Device is one pin's hardware: what
# its `machine`, `bluetooth` and `esp32` objects talk to.
#
# Emulated modules find "their" device through current(): the device bound
# now. Whatever runs on behalf of a pin binds that pin for its duration: its
# firmware's tasks (world.start; cpsim.simloop under CPython, cpsim.mptasks in
# the VM), its pin IRQ and Timer callbacks (cpsim.gpio.run_handler) and its
# BLE events (cpsim.bleirq), so an object a task or handler builds lazily
# belongs to the right pin however many pins share the process. Code outside
# any pin (a test's top level) gets the device bound with world.use(device);
# for single-pin tests World.device() binds the world's first device there.
#
# The runner (start, run_for, run_until) runs the pins' firmware on the
# world's simulated clock: see cpsim/timebase.py for what time, asyncio and
# the blocking calls do there.
import os
import sys

from cpsim.clock import SimClock

_MP = sys.implementation.name == "micropython"
_state = {"world": None, "device": None, "cwd": None}


def _enter_flash(dev):
    # Pins of one process each keep their files in their own folder
    # (Device.flash_dir): the firmware's relative paths ("owner.json",
    # "friends.log": its cwd is / on the chip) land in the bound pin's.
    d = dev.flash_dir
    if d is not None and _state["cwd"] != d:
        os.chdir(d)
        _state["cwd"] = d


class Device:
    def __init__(self, world, name, uid=None):
        self.world = world
        self.name = name
        n = len(world.devices) + 1
        self.uid = uid if uid is not None else bytes((0x24, 0x0A, 0xC4, 0x00, n >> 8 & 0xFF, n & 0xFF))
        self.i2c_models = {}  # bus id -> {address: model}
        self.i2c_wiring = {}  # (scl, sda) pin numbers -> bus id (see wire_i2c)
        self.pins = {}  # pin number -> cpsim.gpio.PinState (what machine.Pin reads/drives)
        self.gpio_gen = 0  # counts changes of any pad's level (a light sleep's wake check, machine.py)
        # pin number -> microvolts at the pin: an int, or a callable(t_ms) -> int
        self.adc_values = {}
        self.nvs = {}  # namespace -> {key: int (i32) or bytes (blob)}
        self.nvs_file = None  # JSON file esp32.NVS.commit() persists to (virtual badge)
        self.romfs_file = None  # file behind esp32.Partition("romfs"), if it exists (virtual badge)
        self.flash_dir = None  # this pin's filesystem: a folder made current while it is bound
        self.reset_cause = 1  # machine.PWRON_RESET
        self.wake_reason = 0  # machine.wake_reason(): 0 = not woken from sleep
        self.resets = []  # [(t_ms, cause)] resets since the simulation started
        self.on_reset = None  # callable(cause) run when the device resets (machine.py)
        self.ble_obj = None  # bluetooth.BLE singleton of this device
        self.wdt = None
        self.timers = {}  # machine.Timer id -> Timer (hardware timers are singletons)
        self.irq_disabled = 0  # machine.disable_irq() depth; pin IRQs wait while > 0
        self.cpu_freq = 160000000  # ESP32_GENERIC boots at 160 MHz
        self.log = []  # emulator-side notes (e.g. WDT expiry): (t_ms, what, detail)
        from cpsim.accounting import Accounting

        self.acct = Accounting(world.clock)  # state times and counters (power model, sim)
        self.blocked = False  # in a blocking call: its tasks wait (cpsim.timebase)
        self.asleep = False  # in machine.lightsleep: its IRQ callbacks wait as well
        self.woken = False  # a wake source ended the light sleep early
        self.deferred = []  # (handler, arg, what) callbacks held while asleep
        self.cpu_src = None  # not None once the CPU model runs (cpsim.cpucost)
        self.cpu_samples = 0  # i2c_rx when the CPU model last charged
        self.i2c_rx = 0  # bytes the firmware read over I2C (cpsim.i2cbus)
        self.led_pins = {}  # GPIO -> active_low of the board's LED: "led" on/off accounting (cpsim.gpio)
        self.slow_clock = None  # cpsim.slowclock.SlowClock: its sleep-clock error (None: exact)
        self.clock_err_us = 0  # its clock (ticks, time, RTC) minus the world's, from sleeping on it

    def attach_i2c(self, bus, model):
        """Put a register-level device model on I2C bus `bus` at model.address."""
        self.i2c_models.setdefault(bus, {})[model.address] = model
        if hasattr(model, "attach"):
            model.attach(self)
        return model

    def wire_i2c(self, bus, scl, sda):
        """Say which GPIOs carry bus `bus`. Once any bus is wired, machine.I2C and
        SoftI2C find their models by the (scl, sda) pins they are built with, as
        on a real board; with no wiring, I2C(id) uses bus `id`, SoftI2C bus 0."""
        self.i2c_wiring[(scl, sda)] = bus

    def note(self, what, detail=None):
        self.log.append((self.world.clock.now_ms(), what, detail))

    def bind(self):
        """Make this device the one emulated constructors bind to; returns the
        device bound before, for unbind()."""
        prev = _state["device"]
        _state["device"] = self
        _state["world"] = self.world
        if self.flash_dir is not None:
            _enter_flash(self)
        return prev


class World:
    def __init__(self, clock=None):
        self.clock = clock if clock is not None else SimClock()
        if self.clock.simulated and _MP:
            from cpsim import mptasks  # the VM's asyncio follows simulated time

            mptasks.install()
        self.devices = []
        self._radio = None
        self._runner = None
        self.running = False  # inside run_until: no device bound at top level
        # sleeping pins whose pads changed level, for cpsim.simloop (a list once
        # one runs this world; None in the VM: nothing would empty it)
        self.gpio_stirred = None

    @property
    def radio(self):
        if self._radio is None:
            from cpsim.radio import Radio

            self._radio = Radio(self)
        return self._radio

    def device(self, name=None, uid=None):
        dev = Device(self, name or "pin%d" % (len(self.devices) + 1), uid)
        self.devices.append(dev)
        if _state["device"] is None or _state["world"] is not self:
            self.use(dev)
        return dev

    def use(self, device):
        """Make `device` the one that machine/bluetooth/esp32 constructors bind to."""
        _state["world"] = self
        _state["device"] = device
        if device.flash_dir is not None:
            _enter_flash(device)
        return device

    def advance(self, ms):
        self.clock.advance(ms)

    # --- running firmware on simulated time ---------------------------------
    def runner(self):
        if self._runner is None:
            from cpsim import timebase

            self._runner = timebase.runner(self)
        return self._runner

    def start(self, dev, coro):
        """Run coroutine `coro` as a task of pin `dev`: it and every task it
        creates run with `dev` bound. Starts when the world next runs."""
        return self.runner().start(dev, coro)

    def run_until(self, t_ms):
        """Run every pin's tasks and hardware on the simulated clock until
        t_ms (absolute simulated time)."""
        if not any(d.flash_dir is not None for d in self.devices):
            self.runner().run_until(t_ms)
            return
        home = os.getcwd()  # pins' flash folders are current only while they run
        try:
            self.runner().run_until(t_ms)
        finally:
            leave_flash(home)

    def run_for(self, ms):
        self.run_until(self.clock.now_ms() + ms)

    def close(self):
        """Drop every pin's tasks: the world will not run again."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None


def current():
    """The Device that emulated constructors bind to. A process that never built
    a World (the firmware booted in a virtual badge) gets the default device of
    cpsim.default_device, configured from CLOUDPIN_EMU_* environment variables."""
    dev = _state["device"]
    if dev is None:
        w = _state["world"]
        if w is not None and w.running:
            # Inside World.run_until every pin's code runs bound: this call
            # came from code of no pin (a scheduled callback of a test or a
            # model), which on its own would reach no pin's hardware.
            raise RuntimeError("no pin bound: bind the device (World.start, Device.bind) before using its hardware")
        from cpsim import default_device

        dev = default_device.build()
    return dev


def unbind(prev):
    """Bind back the device bind() returned (None: no device bound)."""
    _state["device"] = prev
    if prev is not None:
        _state["world"] = prev.world
        if prev.flash_dir is not None:
            _enter_flash(prev)


def leave_flash(cwd):
    """Back to the host's folder `cwd` after pins with a flash_dir ran."""
    os.chdir(cwd)
    _state["cwd"] = None


def active_world():
    """The world of the bound device (or the running world), None if none."""
    return _state["world"]


def reset():
    """Forget the current world (between tests)."""
    w = _state["world"]
    if w is not None:
        w.close()
    m = sys.modules.get("cpsim.mptasks")
    if m is not None:
        m.reset()  # the VM's one task queue: drop the last test's tasks
    _state["world"] = None
    _state["device"] = None
    _state["cwd"] = None

# A World is one simulated place in time: a clock, a shared radio, and the
# emulated hardware of every pin in it. A Device is one pin's hardware: what
# its `machine`, `bluetooth` and `esp32` objects talk to.
#
# Emulated modules find "their" device through current(); a test that builds
# many pins switches with world.use(device) or builds drivers directly from
# device objects, so no firmware code needs to know about the simulation.
from cpsim.clock import SimClock

_state = {"world": None, "device": None}


class Device:
    def __init__(self, world, name, uid=None):
        self.world = world
        self.name = name
        n = len(world.devices) + 1
        self.uid = uid if uid is not None else bytes((0x24, 0x0A, 0xC4, 0x00, n >> 8 & 0xFF, n & 0xFF))
        self.i2c_models = {}  # bus id -> {address: model}
        self.i2c_wiring = {}  # (scl, sda) pin numbers -> bus id (see wire_i2c)
        self.pins = {}  # pin number -> cpsim.gpio.PinState (what machine.Pin reads/drives)
        # pin number -> microvolts at the pin: an int, or a callable(t_ms) -> int
        self.adc_values = {}
        self.nvs = {}  # namespace -> {key: int (i32) or bytes (blob)}
        self.nvs_file = None  # JSON file esp32.NVS.commit() persists to (virtual badge)
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


class World:
    def __init__(self, clock=None):
        self.clock = clock if clock is not None else SimClock()
        self.devices = []
        self._radio = None

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
        return device

    def advance(self, ms):
        self.clock.advance(ms)


def current():
    """The Device that emulated constructors bind to. A process that never built
    a World (the firmware booted in a virtual badge) gets the default device of
    cpsim.default_device, configured from CLOUDPIN_EMU_* environment variables."""
    dev = _state["device"]
    if dev is None:
        from cpsim import default_device

        dev = default_device.build()
    return dev


def reset():
    """Forget the current world (between tests)."""
    _state["world"] = None
    _state["device"] = None

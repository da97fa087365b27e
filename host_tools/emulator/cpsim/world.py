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
        self.pins = {}  # pin number -> machine.Pin state (owned by machine.py)
        self.adc_values = {}  # pin number -> raw value provider (int or callable)
        self.nvs = {}  # namespace -> {key: value}
        self.reset_cause = 1  # machine.PWRON_RESET
        self.ble_obj = None  # bluetooth.BLE singleton of this device
        self.wdt = None
        self.log = []  # emulator-side notes (e.g. WDT expiry)

    def attach_i2c(self, bus, model):
        """Put a register-level device model on I2C bus `bus` at model.address."""
        self.i2c_models.setdefault(bus, {})[model.address] = model
        if hasattr(model, "attach"):
            model.attach(self)
        return model


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
    """The Device that emulated constructors bind to; a default one if none."""
    dev = _state["device"]
    if dev is None:
        dev = World().device("default")
    return dev


def reset():
    """Forget the current world (between tests)."""
    _state["world"] = None
    _state["device"] = None

# machine.Pin and machine.Signal of the emulated ESP32 port (see machine.py).
from cpsim import gpio
from cpsim.world import current

# GPIOs of the ESP32 (20, 24 and 28-31 do not exist); 34-39 are input only.
_NO_GPIO = (20, 24, 28, 29, 30, 31)
_FIRST_INPUT_ONLY = 34
_RTC_GPIO = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)


def _pin_num(p):
    if isinstance(p, Pin):
        return p._st.num
    if isinstance(p, int) and 0 <= p <= 39 and p not in _NO_GPIO:
        return p
    raise ValueError("invalid pin")


# --- Pin ----------------------------------------------------------------------


class _Level:
    # What Pin and Signal share on top of value().
    def __call__(self, *x):
        return self.value(*x)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class Pin(_Level):
    IN = gpio.MODE_IN
    OUT = gpio.MODE_OUT
    OPEN_DRAIN = gpio.MODE_OPEN_DRAIN
    PULL_UP = gpio.PULL_UP
    PULL_DOWN = gpio.PULL_DOWN
    IRQ_RISING = gpio.IRQ_RISING
    IRQ_FALLING = gpio.IRQ_FALLING
    WAKE_LOW = gpio.LEVEL_LOW
    WAKE_HIGH = gpio.LEVEL_HIGH
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __new__(cls, id, *args, **kw):
        # One object per pad, as on the port: Pin(5) is Pin(5).
        st = gpio.state(current(), _pin_num(id)) if not isinstance(id, Pin) else id._st
        if st.obj is None:
            st.obj = object.__new__(cls)
            st.obj._st = st
            st.obj._irq = _PinIRQ(st)
        return st.obj

    def __init__(self, id, *args, **kw):
        if args or kw:
            self.init(*args, **kw)

    def init(self, mode=None, pull=-1, *, value=None, drive=None, hold=None):
        st = self._st
        if value is not None:
            st.out = 1 if value else 0
        if drive is not None and st.num < _FIRST_INPUT_ONLY and 0 <= drive <= 3:
            st.drive = drive
        if mode is not None and mode != -1:
            if mode not in (Pin.IN, Pin.OUT, Pin.OPEN_DRAIN):
                raise ValueError("invalid pin mode")
            if st.num >= _FIRST_INPUT_ONLY and mode != Pin.IN:
                raise ValueError("pin can only be input")
            st.mode = mode
        if pull != -1:
            st.pull = pull or 0
        if hold is not None and st.num < _FIRST_INPUT_ONLY:
            st.hold = bool(hold)
        st.update()

    def value(self, *x):
        if not x:
            self._st.device.world.clock.poll()
            return self._st.level
        self._st.out = 1 if x[0] else 0
        self._st.update()


    def toggle(self):
        self.value(1 - self._st.out)

    def irq(self, *args, **kw):
        if args or kw:
            self._irq_config(*args, **kw)
        return self._irq

    def _irq_config(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, wake=None):
        st = self._st
        if trigger in (Pin.WAKE_LOW, Pin.WAKE_HIGH) and wake is not None:
            # The port arms ext0 deep-sleep wake-up instead of an IRQ handler.
            if not isinstance(wake, int) or wake < 2 or wake > 7:
                raise ValueError("bad wake value")
            if st.num not in _RTC_GPIO:
                raise ValueError("invalid pin for wake")
            st.device.ext0_wake = (st.num, 1 if trigger == Pin.WAKE_HIGH else 0, wake)
            return
        if handler is None:
            trigger = 0
        st.handler = handler
        st.trigger = trigger

    def __repr__(self):
        return "Pin(%d)" % self._st.num


class _PinIRQ:
    def __init__(self, st):
        self._st = st

    def __call__(self):
        if self._st.handler is not None:
            gpio.fire_irq(self._st)

    def trigger(self, *t):
        old = self._st.trigger
        if t:
            self._st.trigger = t[0]
        return old


class Signal(_Level):
    def __init__(self, pin, *args, invert=False, **kw):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, *args, **kw)
        self._invert = bool(invert)

    def value(self, *x):
        if not x:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if x[0] else 0) ^ self._invert)




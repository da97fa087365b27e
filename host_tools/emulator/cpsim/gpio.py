# GPIO pads of one Device. Firmware drives them through machine.Pin; device
# models (a sensor's INT line, a test's button) drive them with drive(). Every
# change of the level a pin reads runs its IRQ handler at that moment of sim
# time, which is when the edge happens.
import sys

from cpsim import cpucost
from cpsim import world as _world

# Values of the ESP32 port (ESP-IDF gpio_mode_t / gpio_int_type_t).
MODE_IN = 1
MODE_OUT = 3  # INPUT_OUTPUT: reading an output gives the pad level
MODE_OPEN_DRAIN = 7
PULL_DOWN = 1
PULL_UP = 2
IRQ_RISING = 1
IRQ_FALLING = 2
LEVEL_LOW = 4
LEVEL_HIGH = 5


class PinState:
    def __init__(self, device, num):
        self.device = device
        self.num = num
        self.mode = None  # None until firmware configures the pad
        self.pull = 0
        self.out = 0  # level firmware writes
        self.ext = None  # level an outside model drives, None when it lets go
        self.handler = None
        self.trigger = 0
        self.obj = None  # the machine.Pin object (a singleton per pad)
        self.hold = False
        self.drive = 2
        self.level = self.compute()

    def compute(self):
        if self.mode == MODE_OUT:
            return self.out
        if self.mode == MODE_OPEN_DRAIN and not self.out:
            return 0
        if self.ext is not None:
            return 1 if self.ext else 0
        if self.mode == MODE_OPEN_DRAIN:
            return 0 if self.pull & PULL_DOWN else 1  # released line: board pull-up
        return 1 if self.pull & PULL_UP else 0  # a floating input reads 0

    def update(self):
        """Recompute the level; on a change, run the IRQ handler if it matches."""
        new = self.compute()
        old = self.level
        if new == old:
            return
        self.level = new
        dev = self.device
        dev.gpio_gen += 1
        if dev.asleep:
            stirred = dev.world.gpio_stirred
            if stirred is not None:
                stirred.append(dev)  # its light sleep's wake check (cpsim.simloop)
        if self.num in self.device.led_pins:
            account_led(self.device)
        t = self.trigger
        if self.handler is None or not t:
            return
        if t == LEVEL_LOW or t == LEVEL_HIGH:
            fire = new == (1 if t == LEVEL_HIGH else 0)
        else:
            fire = (t & IRQ_RISING and new) or (t & IRQ_FALLING and not new)
        if fire:
            fire_irq(self)


def account_led(dev):
    """The board's LED is lit while any of its driven pins is at its active
    level: accounting group "led", "on" or "off" (the power model's LED time)."""
    lit = False
    for num, active_low in dev.led_pins.items():
        st = dev.pins.get(num)
        if st is not None and st.mode is not None and st.level == (0 if active_low else 1):
            lit = True
    dev.acct.state("led", "on" if lit else "off")


def fire_irq(st):
    dev = st.device
    if dev.irq_disabled:
        # machine.disable_irq(): the edge is remembered and handled on enable_irq()
        pend = getattr(dev, "_irq_pending", None)
        if pend is None:
            pend = dev._irq_pending = []
        if st not in pend:
            pend.append(st)
        return
    run_handler(dev, st.handler, st.obj, "pin_irq")


def flush_pending(dev):
    pend = getattr(dev, "_irq_pending", None)
    while pend:
        st = pend.pop(0)
        if st.handler is not None:
            run_handler(dev, st.handler, st.obj, "pin_irq")


def run_handler(dev, handler, arg, what):
    """Run a pin IRQ or Timer callback of `dev`, with `dev` bound (an object
    the handler builds belongs to its pin). While the pin is in lightsleep
    the callback waits for the wake-up, once per source (cpsim.timebase), and
    likewise while its ble.active(True) runs no MicroPython code
    (cpsim.blegap INIT_US)."""
    if dev.asleep or getattr(dev, "callbacks_held", False):
        for d in dev.deferred:
            if d[0] is handler and d[1] is arg:
                return
        dev.deferred.append((handler, arg, what))
        return
    prev = dev.bind()
    # On the board a scheduled callback that raises prints the traceback and
    # the VM carries on; do the same and keep a note for tests.
    try:
        handler(arg)
    except Exception as e:  # noqa: BLE001 - mirror the port's behaviour
        sys.print_exception(e) if hasattr(sys, "print_exception") else print(repr(e))
        dev.note(what + "_error", repr(e))
    finally:
        _world.unbind(prev)
    cpucost.irq(dev)


def run_deferred(dev):
    """The callbacks held while `dev` slept, now that it is awake."""
    while dev.deferred:
        h, arg, what = dev.deferred.pop(0)
        run_handler(dev, h, arg, what)


def state(device, num):
    st = device.pins.get(num)
    if st is None:
        st = device.pins[num] = PinState(device, num)
    return st


def drive(device, num, level):
    """Drive pad `num` of `device` from outside (1, 0, or None to release it)."""
    st = state(device, num)
    st.ext = None if level is None else (1 if level else 0)
    st.update()


def level(device, num):
    """The level pad `num` reads now."""
    return state(device, num).level

# The one owner of the pin's bluetooth.BLE() (the board layer builds it):
# registers the single IRQ handler and hands each event to the role that
# asked for it, and switches the stack on and off by reference count so the
# radio sleeps between windows (docs/ble.md: "off" is active(False)).
#
# IRQ handlers run on the NimBLE task between any two bytecodes of the main
# program; the data tuple's memoryviews die when the handler returns. So
# role handlers copy what they keep, stay short, and this module never lets
# an exception out (NimBLE's binding unregisters a handler that raises).
import asyncio
import gc

from micropython import const

from cloudpin import bus as topics

# IRQ event numbers (MicroPython's bluetooth docs; extmod/modbluetooth.h)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_MAX = const(32)
_ADDR_MODE_NRPA = const(3)  # a new non-resolvable private address each time it is set


class RadioError(Exception):
    """The stack could not be switched on (or its services registered)."""


class RadioOwner:
    def __init__(self, ble, log, bus=None):
        self.ble = ble
        self.log = log
        self.bus = bus
        self.on = False
        self.users = []  # names holding the radio, one entry per acquire
        self.starts = 0
        self.start_failures = 0
        self.irq_errors = 0  # exceptions a role's handler raised (kept in here)
        self.last_irq_error = None
        self._handlers = [None] * _IRQ_MAX  # event -> [handler(event, data)]
        self._services = []  # [(definition, on_handles)] in declaration order
        self._on_off = []  # callables(on) told when the stack goes on or off
        self._idle = []  # callables() -> True if that role is not using the air
        self._rotate_due = False
        self._roles = {}
        ble.irq(self._irq)

    # --- the roles: one of each, shared by every service that uses the radio
    def advertiser(self):
        return self._role("advertiser")

    def scanner(self):
        return self._role("scanner")

    def central(self):
        return self._role("central")

    def server(self):
        return self._role("server")

    def _role(self, name):
        r = self._roles.get(name)
        if r is None:
            if name == "advertiser":
                from cloudpin.ble.advertiser import Advertiser as cls
            elif name == "scanner":
                from cloudpin.ble.scanner import Scanner as cls
            elif name == "central":
                from cloudpin.ble.central import Central as cls
            else:
                from cloudpin.ble.server import Server as cls
            r = self._roles[name] = cls(self)
        return r

    def scanning(self):
        """True while a scan runs: the radio receiving, the pin's heaviest
        steady load (cloudpin.battery keeps its quiet level meanwhile; the
        scanner's own name: no new qstr)."""
        r = self._roles.get("scanner")
        return r is not None and r.scanning

    # --- for roles ----------------------------------------------------------
    def handle(self, event, handler):
        """Call handler(event, data) for IRQ `event` (in IRQ context; the
        handler's return value is the IRQ's answer)."""
        lst = self._handlers[event]
        if lst is None:
            lst = self._handlers[event] = []
        lst.append(handler)

    def declare(self, definition, on_handles):
        """A GATT service (uuid, ((uuid, flags), ...)) to register at every
        start; on_handles(handles tuple) is called after each registration.
        Declare before the first acquire."""
        self._services.append((definition, on_handles))

    def watch(self, on_off=None, idle=None):
        """on_off(on): told when the stack goes on or off. idle(): says
        whether that role holds the air (the address changes only when no
        role is advertising, scanning or connecting)."""
        if on_off is not None:
            self._on_off.append(on_off)
        if idle is not None:
            self._idle.append(idle)

    # --- switching ----------------------------------------------------------
    async def acquire(self, name):
        """Hold the radio for `name`; switches BLE on if it was off (blocks
        for the stack's start-up). Raises RadioError if it cannot start."""
        if not self.on:
            try:
                self._start()
            finally:
                # active(True) blocked this pin's CPU: let the scheduler see
                # the time it took before anything else goes on the air
                await asyncio.sleep_ms(0)
            self._announce(True)
        self.users.append(name)

    def release(self, name):
        """Give back one acquire of `name`; the last release switches BLE off."""
        if name not in self.users:
            self.log.warning("radio release by %s, which does not hold it" % name)
            return
        self.users.remove(name)
        if not self.users and self.on:
            self._stop()

    def _start(self):
        ble = self.ble
        gc.collect()  # what the stack allocates from our heap wants it whole (#14293)
        bus = self.bus
        if bus is not None:
            bus.publish(topics.RADIO_START, True)  # the FIFOs, emptied just before the block
        try:
            ble.active(True)
        except (OSError, MemoryError) as e:
            self.start_failures += 1
            self.log.error("radio start failed: %r" % (e,))
            raise RadioError("start: %r" % (e,))
        finally:
            if bus is not None:
                bus.publish(topics.RADIO_START, False)
        try:
            # The ESP32 has a public address and NimBLE uses it by default:
            # a stable identifier on the air. A fresh NRPA at every start.
            ble.config(addr_mode=_ADDR_MODE_NRPA)
            self._rotate_due = False
            if self._services:
                defs = tuple(d for d, _ in self._services)
                handles = ble.gatts_register_services(defs)
                for i in range(len(handles)):
                    self._services[i][1](handles[i])
        except (OSError, ValueError, MemoryError) as e:
            self.start_failures += 1
            self.log.error("radio set-up failed: %r" % (e,))
            self._off()
            raise RadioError("set-up: %r" % (e,))
        self.on = True
        self.starts += 1

    def _announce(self, on):
        for f in self._on_off:
            f(on)
        if self.bus is not None:
            self.bus.publish(topics.RADIO, on)

    def _off(self):
        try:
            self.ble.active(False)
        except OSError as e:
            self.log.error("radio stop: %r" % (e,))

    def _stop(self):
        self._off()  # links end (their disconnect IRQs come first), adv and scan stop
        self.on = False
        self._announce(False)

    # --- address rotation ---------------------------------------------------
    def new_address(self):
        """Take a new random address now if no role holds the air, else as
        soon as none does (HCI LE Set Random Address is disallowed while
        advertising, scanning or initiating). Call it when the RID rotates;
        every start takes a new one anyway."""
        self._rotate_due = True
        return self.rotate_if_idle()

    def rotate_if_idle(self):
        """Roles call this when they stop using the air. True if rotated."""
        if not self._rotate_due or not self.on:
            return False
        for idle in self._idle:
            if not idle():
                return False
        try:
            self.ble.config(addr_mode=_ADDR_MODE_NRPA)
        except OSError as e:
            self.log.error("radio address: %r" % (e,))
            return False
        self._rotate_due = False
        return True

    def address(self):
        """(addr_type, addr bytes) the pin advertises and connects from."""
        t, a = self.ble.config("mac")
        return t, bytes(a)

    # --- the one IRQ handler ------------------------------------------------
    def _irq(self, event, data):
        try:
            lst = self._handlers[event] if 0 <= event < _IRQ_MAX else None
            if lst is None:
                if event == _IRQ_GET_SECRET:
                    return None  # no key store: no bonding (fragile on ESP32)
                if event == _IRQ_SET_SECRET:
                    return False
                return None  # unknown or unused: ignored
            result = None
            for h in lst:
                r = h(event, data)
                if r is not None:
                    result = r
            return result
        except Exception as e:  # never out of the handler: NimBLE would drop it
            self.irq_errors += 1
            self.last_irq_error = e
            return None

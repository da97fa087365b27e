# Advertising role: what the pin broadcasts while the radio is on. One
# advertisement at a time (legacy advertising: one set); update() swaps the
# data in place, as the tap window does when it refreshes the tap age.
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)

# The advertiser is one role's at a time. A start at the holder's priority
# or above takes it over (the holder's advertisement ends there); one below
# is refused while the holder advertises. update() and stop() act only for
# the holder, so a role that lost the advertiser never ends another's.
TAP = const(2)  # meet and greet's tap window first (the default: meet and updates)
UPDATES = const(1)
PHONE = const(0)  # the phone window: only when nothing else advertises


class Advertiser:
    def __init__(self, owner):
        self.owner = owner
        self.advertising = False
        self.interval_us = 100000
        self.connectable = False
        self.updates = 0
        self.holder = TAP
        owner.handle(_IRQ_CENTRAL_CONNECT, self._irq)
        owner.watch(self._on_off, self._idle)

    def start(self, adv_data, interval_ms=100, connectable=False, prio=TAP):
        """Advertise `adv_data` (at most 31 bytes) every interval_ms (+0-10 ms
        advDelay); connectable for a GATT server a peer should reach. False
        (nothing done) while a role of higher priority advertises. Raises
        OSError as gap_advertise does (ENODEV if the radio is off)."""
        if self.advertising and prio < self.holder:
            return False
        self.interval_us = interval_ms * 1000
        self.connectable = connectable
        self.owner.ble.gap_advertise(self.interval_us, adv_data, connectable=connectable)
        self.advertising = True
        self.holder = prio
        return True

    def update(self, adv_data, prio=TAP):
        """New data with the same interval (one gap_advertise call); refused
        as start() is."""
        if self.advertising and prio < self.holder:
            return False
        self.owner.ble.gap_advertise(self.interval_us, adv_data, connectable=self.connectable)
        self.advertising = True
        self.holder = prio
        self.updates += 1
        return True

    def holds(self, prio):
        """Is a role of this priority advertising?"""
        return self.advertising and self.holder == prio

    def stop(self, prio=TAP):
        if self.advertising and self.holder == prio:
            self.advertising = False
            if self.owner.on:
                self.owner.ble.gap_advertise(None)
            self.owner.rotate_if_idle()

    def _irq(self, event, data):
        if self.connectable:  # NimBLE ends connectable advertising on a connection
            self.advertising = False

    def _on_off(self, on):
        if not on:
            self.advertising = False

    def _idle(self):
        return not self.advertising

# Advertising role: what the pin broadcasts while the radio is on. One
# advertisement at a time (legacy advertising: one set); update() swaps the
# data in place, as the tap window does when it refreshes the tap age.
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)


class Advertiser:
    def __init__(self, owner):
        self.owner = owner
        self.advertising = False
        self.interval_us = 100000
        self.connectable = False
        self.updates = 0
        owner.handle(_IRQ_CENTRAL_CONNECT, self._irq)
        owner.watch(self._on_off, self._idle)

    def start(self, adv_data, interval_ms=100, connectable=False):
        """Advertise `adv_data` (at most 31 bytes) every interval_ms (+0-10 ms
        advDelay); connectable for a GATT server a peer should reach. Raises
        OSError as gap_advertise does (ENODEV if the radio is off)."""
        self.interval_us = interval_ms * 1000
        self.connectable = connectable
        self.owner.ble.gap_advertise(self.interval_us, adv_data, connectable=connectable)
        self.advertising = True

    def update(self, adv_data):
        """New data with the same interval (one gap_advertise call)."""
        self.owner.ble.gap_advertise(self.interval_us, adv_data, connectable=self.connectable)
        self.advertising = True
        self.updates += 1

    def stop(self):
        if self.advertising:
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

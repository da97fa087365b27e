# Test helper: the BLE object of a Device, and a recorder of its IRQs. The
# emulator overwrites addr/data memoryviews and UUIDs once a handler returns
# (as the board does), so the recorder keeps copies: bytes and UUID(uuid).
import bluetooth


def ble_of(dev):
    """bluetooth.BLE() as Device `dev`'s firmware would get it."""
    dev.world.use(dev)
    return bluetooth.BLE()


class IrqLog:
    """Handler for ble.irq() that records (t_ms, event, data) and returns
    `reply` (e.g. an ATT error to deny _IRQ_GATTS_READ_REQUEST)."""

    def __init__(self, ble, reply=None):
        self.clock = ble._clock
        self.events = []
        self.reply = reply
        ble.irq(self)

    def __call__(self, event, data):
        out = []
        for x in data:
            if isinstance(x, memoryview):
                x = bytes(x)
            elif isinstance(x, bluetooth.UUID):
                x = bluetooth.UUID(x)
            out.append(x)
        self.events.append((self.clock.now_ms(), event, tuple(out)))
        return self.reply

    def of(self, event):
        """The data tuples of every `event` so far."""
        return [d for t, e, d in self.events if e == event]

    def times(self, event):
        return [t for t, e, d in self.events if e == event]

    def kinds(self):
        return [e for t, e, d in self.events]

    def clear(self):
        self.events = []

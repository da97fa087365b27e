# Scanning role. Each advertising report goes straight to the caller's
# handler, in IRQ context, with the memoryviews NimBLE lends for the
# duration of the call: the handler copies what it keeps (into buffers it
# made once) and returns quickly. Delivering a report allocates nothing
# here, so a crowd's reports cost no garbage. The end of a scan window
# (its duration over, or stop()) is an asyncio-side wait: done().
import asyncio
import errno

from micropython import const

_IRQ_SCAN_RESULT = const(5)
_IRQ_SCAN_DONE = const(6)


class Scanner:
    def __init__(self, owner):
        self.owner = owner
        self.scanning = False
        self.results = 0  # reports delivered since the last start
        self._handler = None
        self._done = asyncio.ThreadSafeFlag()
        owner.handle(_IRQ_SCAN_RESULT, self._on_result)
        owner.handle(_IRQ_SCAN_DONE, self._on_done)
        owner.watch(self._on_off, self._idle)

    def start(self, handler, duration_ms, interval_us=100000, window_us=100000, active=False):
        """Scan for duration_ms (0: until stop()), listening window_us of
        every interval_us; handler(addr_type, addr, adv_type, rssi, adv_data)
        is called in IRQ context for every report. Passive by default (no
        SCAN_REQ: a pin's advertisement is all in its 31 bytes). Raises
        OSError as gap_scan does (ENODEV if the radio is off), EALREADY if
        a scan (another role's) is running: it keeps its handler."""
        if self.scanning:  # another role's scan: its handler stays
            raise OSError(errno.EALREADY)
        self._handler = handler
        self.results = 0
        self._done.clear()
        try:
            self.owner.ble.gap_scan(duration_ms, interval_us, window_us, active)
        except OSError:
            self._handler = None
            raise
        self.scanning = True

    def stop(self):
        """End the scan now; done() returns once the stack confirms."""
        if self.scanning and self.owner.on:
            self.owner.ble.gap_scan(None)
        self._end()
        self.owner.rotate_if_idle()

    async def done(self, timeout_ms=None):
        """Wait until the scan ends; False on timeout. Returns at once if
        no scan is running."""
        if self.scanning:
            if timeout_ms is None:
                await self._done.wait()
            else:
                try:
                    await asyncio.wait_for_ms(self._done.wait(), timeout_ms)
                except asyncio.TimeoutError:
                    return False
        self.owner.rotate_if_idle()  # from the task: never call the stack from its IRQ
        return True

    def _end(self):
        self.scanning = False
        self._handler = None
        self._done.set()

    def _on_result(self, event, data):
        h = self._handler
        if h is not None:
            self.results += 1
            addr_type, addr, adv_type, rssi, adv_data = data
            h(addr_type, addr, adv_type, rssi, adv_data)

    def _on_done(self, event, data):
        self._end()

    def _on_off(self, on):
        if not on:
            self._end()

    def _idle(self):
        return not self.scanning

# Scanning role. Each advertising report goes straight to the caller's
# handler, in IRQ context, with the memoryviews NimBLE lends for the
# duration of the call: the handler copies what it keeps (into buffers it
# made once) and returns quickly. Delivering a report allocates nothing
# here, so a crowd's reports cost no garbage. The end of a scan window
# (its duration over, or stop()) is an asyncio-side wait: done().
#
# One scan at a time (the stack has one). A tap window cannot wait for a
# friend-update window to end (the pair's frames last a second): it takes
# the scanner over (start(take=True)); the running scan ends as if stopped,
# and `cuts` counts every timed scan that ended early (taken over, a
# gap_connect, the radio off) so its role knows its window was short.
import asyncio
import errno
import time

from micropython import const

_IRQ_SCAN_RESULT = const(5)
_IRQ_SCAN_DONE = const(6)
_CUT_SLACK_MS = const(20)  # a timed scan that ends sooner than this before its end was cut


class Scanner:
    def __init__(self, owner):
        self.owner = owner
        self.scanning = False
        self.results = 0  # reports delivered since the last start
        self.cuts = 0  # timed scans that ended before their duration
        self._until = None  # ticks_ms a timed scan ends at (None: untimed)
        self._handler = None
        self._done = asyncio.ThreadSafeFlag()
        owner.handle(_IRQ_SCAN_RESULT, self._on_result)
        owner.handle(_IRQ_SCAN_DONE, self._on_done)
        owner.watch(self._on_off, self._idle)

    def start(self, handler, duration_ms, interval_us=100000, window_us=100000, active=False, take=False):
        """Scan for duration_ms (0: until stop()), listening window_us of
        every interval_us; handler(addr_type, addr, adv_type, rssi, adv_data)
        is called in IRQ context for every report. Passive by default (no
        SCAN_REQ: a pin's advertisement is all in its 31 bytes). Raises
        OSError as gap_scan does (ENODEV if the radio is off), EALREADY if
        a scan (another role's) is running: it keeps its handler, unless
        `take`: then that scan ends (its done() returns, a cut) and ours
        starts."""
        if self.scanning:
            if not take:  # another role's scan: its handler stays
                raise OSError(errno.EALREADY)
            if self.owner.on:
                self.owner.ble.gap_scan(None)  # its _IRQ_SCAN_DONE ends it (a cut if timed)
            self._end()
            # its waiter has yet to see the flag set: not cleared here
        else:
            self._done.clear()
        self._handler = handler
        self.results = 0
        try:
            self.owner.ble.gap_scan(duration_ms, interval_us, window_us, active)
        except OSError:
            self._handler = None
            raise
        self.scanning = True
        self._until = time.ticks_add(time.ticks_ms(), duration_ms) if duration_ms else None

    def stop(self):
        """End the scan now; done() returns once the stack confirms."""
        self._until = None  # its own end, not a cut
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
        u = self._until
        if self.scanning and u is not None and time.ticks_diff(u, time.ticks_ms()) > _CUT_SLACK_MS:
            self.cuts += 1
        self._until = None
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

# Periodic health line: uptime, free heap, battery. Cheap, and it gives the
# desk's log reader and a developer a heartbeat to watch.
import asyncio
import gc
import time


class StatusService:
    name = "status"

    def __init__(self, hw, log, every_ms=10000, counters=None, sleep_ms=None, on_battery=None):
        self.hw = hw
        self.on_battery = on_battery  # on_battery(percent) after each reading (the app warns and publishes)
        self._sleep_ms = sleep_ms or asyncio.sleep_ms  # PowerService.sleep_ms: the sleeper knows
        self.log = log
        self.every_ms = every_ms
        self.counters = counters  # object with a summary() -> str, or None
        self._t0 = time.ticks_ms()

    def line(self):
        gc.collect()
        parts = "uptime_s=%d mem_free=%d" % (time.ticks_diff(time.ticks_ms(), self._t0) // 1000, gc.mem_free())
        if self.hw.battery is not None:
            pct = self.hw.battery.percent()
            parts += " battery_pct=%d" % pct
            if self.on_battery is not None:
                self.on_battery(pct)
        if self.counters is not None:
            parts += " " + self.counters.summary()
        return parts

    async def run(self):
        while True:
            self.log.info(self.line())
            await self._sleep_ms(self.every_ms)

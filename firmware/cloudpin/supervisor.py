# Runs the app's services on asyncio, restarts one that crashes (with
# back-off) without taking the others down, and feeds the watchdog only while
# the event loop itself is alive: a hang anywhere resets the pin.
import asyncio
import gc

_BACKOFF_MIN_MS = 100
_BACKOFF_MAX_MS = 30000


class Supervisor:
    def __init__(self, log, wdt=None, feed_ms=1000, sleep_ms=None):
        self.log = log
        # The wait between feeds: PowerService.sleep_ms, which the light
        # sleeper knows of, or plain asyncio.
        self._sleep_ms = sleep_ms or asyncio.sleep_ms
        self.wdt = wdt
        self.feed_ms = feed_ms
        self.restarts = {}  # service name -> crash count
        self._tasks = []

    async def _guard(self, service):
        name = service.name
        backoff = _BACKOFF_MIN_MS
        while True:
            try:
                await service.run()
                self.log.info("service %s finished" % name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # one service's bug must not stop the pin
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.log.exc(e, "service %s crashed (restart %d in %d ms)" % (name, self.restarts[name], backoff))
                gc.collect()
                await asyncio.sleep_ms(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_MS)

    async def _feed_watchdog(self):
        while True:
            if self.wdt is not None:
                self.wdt.feed()
            await self._sleep_ms(self.feed_ms)

    def start(self, services):
        """Create one guarded task per service, plus the watchdog feeder."""
        self._tasks.append(asyncio.create_task(self._feed_watchdog()))
        for s in services:
            self._tasks.append(asyncio.create_task(self._guard(s)))
        return self._tasks

    def stop(self):
        for t in self._tasks:
            t.cancel()
        self._tasks = []

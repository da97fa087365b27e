# A crashing service is restarted; the others and the watchdog keep going.
import asyncio

from cloudpin.log import Logger
from cloudpin.supervisor import Supervisor


class Ticker:
    name = "ticker"

    def __init__(self):
        self.ticks = 0

    async def run(self):
        while True:
            self.ticks += 1
            await asyncio.sleep_ms(5)


class Crasher:
    name = "crasher"

    def __init__(self, crashes):
        self.crashes = crashes
        self.runs = 0

    async def run(self):
        self.runs += 1
        await asyncio.sleep_ms(1)
        if self.runs <= self.crashes:
            raise RuntimeError("bug %d" % self.runs)
        while True:
            await asyncio.sleep_ms(50)


class FakeWDT:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


def _run(sup, services, ms):
    # On a pin's simulated clock (cpsim.timebase): the same schedule on any
    # host load, where wall time on a busy machine could starve the back-off.
    from cpsim.world import World

    World().device("pin")

    async def body():
        sup.start(services)
        await asyncio.sleep_ms(ms)
        sup.stop()
        await asyncio.sleep_ms(0)

    asyncio.run(body())


def test_crashing_service_restarts_others_keep_running():
    lines = []
    wdt = FakeWDT()
    sup = Supervisor(Logger("app", sink=lines.append), wdt, feed_ms=20)
    ticker, crasher = Ticker(), Crasher(crashes=2)
    _run(sup, [ticker, crasher], 600)
    assert crasher.runs == 3  # crashed twice, third run survives
    assert sup.restarts == {"crasher": 2}
    assert ticker.ticks > 20
    assert wdt.feeds >= 5
    crash_lines = [line for line in lines if line.startswith("E ") and "service crasher crashed" in line]
    assert len(crash_lines) == 2 and "RuntimeError" in crash_lines[0]
    assert any("bug 1" in line for line in lines)


def test_backoff_grows_between_restarts():
    lines = []
    sup = Supervisor(Logger("app", sink=lines.append), None)
    crasher = Crasher(crashes=100)
    _run(sup, [crasher], 350)
    # 100 + 200 ms of back-off fit in 350 ms; a fixed short delay would give many more.
    assert 2 <= crasher.runs <= 3, crasher.runs

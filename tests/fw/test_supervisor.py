# A crashing service is restarted; the others and the watchdog keep going.
# Runs on simulated time (cpsim.world): the counts are exact and a loaded
# machine cannot change them.
import asyncio

from cloudpin.log import Logger
from cloudpin.supervisor import Supervisor
from cpsim.world import World


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
    done = []

    async def body():
        sup.start(services)
        await asyncio.sleep_ms(ms)
        sup.stop()
        await asyncio.sleep_ms(0)
        done.append(w.clock.now_ms())

    w = World()
    w.start(w.device("p"), body())
    w.run_for(ms + 1000)
    assert done == [ms], done


def test_crashing_service_restarts_others_keep_running():
    lines = []
    wdt = FakeWDT()
    sup = Supervisor(Logger("app", sink=lines.append), wdt, feed_ms=20)
    ticker, crasher = Ticker(), Crasher(crashes=2)
    _run(sup, [ticker, crasher], 600)
    assert crasher.runs == 3  # crashed twice, third run survives
    assert sup.restarts == {"crasher": 2}
    # the ticker never stopped (a tick every 5 ms from 0 to 595) and the
    # watchdog was fed every 20 ms throughout (0 to 580)
    assert ticker.ticks == 120, ticker.ticks
    assert wdt.feeds == 30, wdt.feeds
    crash_lines = [line for line in lines if line.startswith("E ") and "service crasher crashed" in line]
    assert len(crash_lines) == 2 and "RuntimeError" in crash_lines[0]
    assert any("bug 1" in line for line in lines)


def test_backoff_grows_between_restarts():
    lines = []
    sup = Supervisor(Logger("app", sink=lines.append), None)
    crasher = Crasher(crashes=100)
    _run(sup, [crasher], 350)
    # Runs at 0, 101 and 302 ms: 100 + 200 ms of back-off fit in 350 ms, the
    # next 400 do not; a fixed short delay would give many more.
    assert crasher.runs == 3, crasher.runs

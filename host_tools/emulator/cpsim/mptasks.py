# The VM's frozen asyncio on a World's simulated clock (see cpsim/timebase.py).
# install() hooks three places of asyncio.core, as cpsim/default_device.py
# hooks the wait for the virtual badge's real time:
#   core.ticks                      the bound world's clock, in asyncio's
#                                   own tick space: the C TaskQueue stamps a
#                                   task queued "now" with the VM's real ms
#                                   ticks, so simulated ticks start 2^20 ms
#                                   (17 min) above the real ones at install
#                                   and such tasks are always due. Ties among
#                                   those can order by real time: the VM's
#                                   task order is not guaranteed repeatable,
#                                   CPython's (cpsim.simloop) is.
#   IOQueue.wait_io_event(dt)       instead of waiting, runs the clock's events
#                                   in order until a task can run or dt ends
#   core.create_task                a task created while a pin is bound runs
#                                   its coroutine through _Bound: that pin is
#                                   bound on every resume (the VM has no
#                                   contextvars), held while it is blocked
# Every hook does what the original does when no simulated world is bound.
from cpsim import cpucost, simtime, timebase  # noqa: F401 (simtime.real)
from cpsim import world as _world

_FOREVER = timebase._FOREVER
_END_PASSES = 16  # scheduler passes at a run's end before it returns (Runner._until)
# asyncio and asyncio.core, imported by install(): this module is resident
# (cpsim/resident.py) and must not load asyncio into a VM that never uses it.
asyncio = core = None
_hook = {"installed": False, "runner": None, "dirty": False}
_orig = {}


class Deadlock(RuntimeError):
    pass


class _Bound:
    # A task's coroutine with its pin: what core.Task runs (send/throw).
    def __init__(self, dev, coro):
        self.dev = dev
        self.coro = coro

    def send(self, v):
        dev = self.dev
        if dev.blocked:
            r = _hook["runner"]
            r._held.append(core.cur_task)  # parked until the pin is free
            return None
        prev = dev.bind()
        try:
            return self.coro.send(v)
        finally:
            _world.unbind(prev)
            cpucost.step(dev)

    def throw(self, e):
        prev = self.dev.bind()
        try:
            return self.coro.throw(e)
        finally:
            _world.unbind(prev)

    def close(self):
        return self.coro.close()


def _create_task(coro):
    dev = _world._state["device"]
    if dev is not None and dev.world.clock.simulated and not isinstance(coro, _Bound):
        coro = _Bound(dev, coro)
    return _orig["create_task"](coro)


def _ticks():
    c = timebase.sim_clock()
    if c is None:
        return _orig["ticks"]()
    return _hook["base"] + c._us // 1000


def _runnable():
    t = core._task_queue.peek()
    return t is not None and core.ticks_diff(t.ph_key, _ticks()) <= 0


class _WakerDone(Exception):
    # A blocking call's waker task ended in a call nested inside it: the
    # scheduler pass that ran it was not this call's, so its
    # run_until_complete would never see it. Raised to end that call.
    pass


def _wait_io_event(self, dt):
    clock = timebase.sim_clock()
    if clock is None:
        return _orig["wait"](self, dt)
    r = _hook["runner"]
    if r is not None and r._wakers:
        r.check_outer()
    limit = _FOREVER if dt < 0 else (clock._us // 1000 + dt) * 1000
    if limit < clock._us:
        limit = clock._us  # due now: the events at this very instant first
    if r is not None:
        for cap in r._limits:  # every blocking call's end (check_outer looks at them all)
            if cap < limit:
                limit = cap
    if self.map:
        _orig["wait"](self, 0)
    while not _runnable():
        if not clock.run_next(limit):
            if limit == _FOREVER:
                raise Deadlock("every task waits and no event is scheduled")
            if limit > clock._us:
                clock._us = limit
            if self.map:
                _orig["wait"](self, 0)
            return
        if self.map and _hook["dirty"]:
            _hook["dirty"] = False
            _orig["wait"](self, 0)  # an IRQ set a ThreadSafeFlag: queue its waiter
        if r is not None and r._limits:
            r.check_wake()
            return


def _flag_set(self):
    _orig["set"](self)
    _hook["dirty"] = True


def install():
    global asyncio, core
    if _hook["installed"]:
        return
    _hook["installed"] = True
    import asyncio
    from asyncio import core

    _orig["create_task"] = core.create_task
    _orig["wait"] = core.IOQueue.wait_io_event
    _orig["set"] = asyncio.ThreadSafeFlag.set
    _orig["ticks"] = core.ticks
    _hook["base"] = simtime.real.ticks_ms() + (1 << 20)
    core.ticks = _ticks
    core.create_task = _create_task
    asyncio.create_task = _create_task
    core.IOQueue.wait_io_event = _wait_io_event
    asyncio.ThreadSafeFlag.set = _flag_set


def running(world):
    r = _hook["runner"]
    if r is None or r.world is not world or core.cur_task is None:
        return None
    return r


class Runner:
    """World.start/run_until in the VM (one world runs at a time)."""

    def __init__(self, world):
        install()
        self.world = world
        self._limits = []  # innermost blocking call's end, in us
        self._wakers = []  # (task, woken) of the blocking calls in progress
        self._held = []  # tasks of blocked pins, queued again when freed
        self._deadline = _FOREVER
        self._gate = None  # asyncio.Event: a nested blocking call returned

    def start(self, dev, coro):
        cpucost.begin(dev)
        return _orig["create_task"](_Bound(dev, coro))

    def run_until(self, t_ms):
        prev = _world._state["device"]
        prev_world = _world._state["world"]
        _world._state["world"] = self.world
        _world._state["device"] = None
        _hook["runner"] = self
        self._deadline = t_ms * 1000
        self.world.running = True
        try:
            core.run_until_complete(_orig["create_task"](self._until(t_ms)))
        finally:
            self.world.running = False
            self._deadline = _FOREVER
            _world._state["device"] = prev
            _world._state["world"] = prev_world

    async def _until(self, t_ms):
        # Ends once everything due up to t_ms has run. A pin whose light
        # sleeper is due again at once (a sleep cut at the run's end, below)
        # is always runnable there: after _END_PASSES passes the run ends.
        clock = self.world.clock
        passes = 0
        while True:
            if clock.now_us() < t_ms * 1000:
                await core.sleep_ms(max(1, t_ms - clock.now_ms()))
            elif self._limits:
                await core.sleep_ms(0)  # inside a blocking call: it returns first
            elif _runnable() and passes < _END_PASSES:
                passes += 1
                await core.sleep_ms(0)
            else:
                return

    def block(self, dev, until_us, woken):
        # Nested, a blocking call cannot outlast the run (the run could not
        # return before it ends): it ends at the run's end at the latest.
        if until_us > self._deadline:
            until_us = self._deadline
        clock = self.world.clock
        if clock.now_us() >= until_us or woken():
            return
        cur = core.cur_task
        # The waker is made on the VM's heap, the firmware's share: when that
        # fails the firmware sees MemoryError (a chip's call allocates
        # nothing, but the share is the chip's), and nothing of this call may
        # stay behind: an end left in _limits capped every later wait at that
        # instant, and simulated time stood still (the VM spun in poll(0)).
        n = len(self._limits)
        waker = None
        dev.blocked = True
        try:
            self._limits.append(until_us)
            waker = _orig["create_task"](self._wait(until_us))
            self._wakers.append((waker, woken))
            core.run_until_complete(waker)
        except _WakerDone:
            pass
        finally:
            if len(self._wakers) > n:
                self._wakers.pop()
            elif waker is not None:
                core._task_queue.remove(waker)  # made, never waited for
            if len(self._limits) > n:
                self._limits.pop()
            dev.blocked = False
            self.release(dev)
            core.cur_task = cur
            dev.bind()
            # an outer blocking call whose time came while this one ran waits
            # for its turn (below): it can end now
            if self._gate is not None:
                self._gate.set()
                self._gate = None

    async def _wait(self, until_us):
        clock = self.world.clock
        await core.sleep_ms((until_us - clock.now_us() + 999) // 1000)
        # Blocking calls nest (a second pin blocks while the first one's
        # call runs the loop): the loop of the call that made this waker
        # returns only if the waker ends there, so while a deeper call is in
        # progress, wait for it to return first.
        while self._wakers and self._wakers[-1][0] is not core.cur_task:
            if self._gate is None:
                self._gate = asyncio.Event()
            await self._gate.wait()

    def check_outer(self):
        """End the innermost blocking call early (_WakerDone) when its waker
        ended in a nested pass, or when a call it is nested in is over and
        the innermost is a light sleep (woken given): the outer pin cannot
        go on before the inner one returns, so the inner wakes early (a
        spurious timer wake; its firmware sleeps again). A nested time.sleep
        is not cut: its pin waits the full time and the outer one with it."""
        ws = self._wakers
        last = len(ws) - 1
        if ws[last][0].done():
            raise _WakerDone()
        self.check_wake()  # (the innermost's own wake source)
        if ws[last][1] is timebase._never:
            return
        now = self.world.clock.now_us()
        for i in range(last):
            waker, woken = ws[i]
            if waker.done() or woken() or now >= self._limits[i]:
                raise _WakerDone()

    def check_wake(self):
        # A wake source ended the innermost blocking call early: its waker runs now.
        waker, woken = self._wakers[-1]
        if woken() or self.world.clock.now_us() >= self._limits[-1]:
            core._task_queue.remove(waker)
            core._task_queue.push(waker)

    def release(self, dev):
        # in place: it runs as a blocking call ends, also one the heap cut short
        held = self._held
        i = 0
        while i < len(held):
            t = held[i]
            if t.coro.dev is dev:
                core._task_queue.push(t)
                held.pop(i)
            else:
                i += 1

    def close(self):
        if _hook["runner"] is self:
            reset()


def reset():
    _hook["runner"] = None
    if core is not None:
        core.new_event_loop()

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
# A blocking call (Runner.block) runs the scheduler nested, and allocates
# only what asyncio's run_until_complete does as it starts (two tuples, 64 VM
# bytes): a chip's call allocates nothing. It has no task or coroutine of its
# own, and ends with no exception (whose traceback the VM allocates): when
# its time comes, wait_io_event gives the loop a queue of one task made once,
# which empties it, and run_until_complete returns as with nothing left to
# run (a task, a coroutine, a StopIteration and its traceback: 384 VM bytes a
# time.sleep_ms before).
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


class _Stopper:
    # The coroutine of the task that ends a blocking call's loop (Runner.over).
    def send(self, v):
        return None

    def throw(self, e):
        return None


class _NoIO:
    # asyncio's IOQueue as run_until_complete sees it while a blocking call's
    # loop ends: no stream waits, and nothing to poll.
    map = None

    def wait_io_event(self, dt):
        pass


def _wait_io_event(self, dt):
    clock = timebase.sim_clock()
    if clock is None:
        return _orig["wait"](self, dt)
    r = _hook["runner"]
    if r is not None and r._limits:
        if r._ending or r.check_over():
            return
    limit = _FOREVER if dt < 0 else (clock._us // 1000 + dt) * 1000
    if limit < clock._us:
        limit = clock._us  # due now: the events at this very instant first
    if r is not None:
        for cap in r._limits:  # every blocking call's end (check_over looks at them all)
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
            return  # (the call's end or wake source is checked as this is called again)


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
        self._limits = []  # the blocking calls in progress: their ends, in us,
        self._wakers = []  # ... and their wake checks (timebase._never: time.sleep)
        self._held = []  # tasks of blocked pins, queued again when freed
        self._deadline = _FOREVER
        # How a blocking call's loop ends (over()): asyncio's queues while
        # the empty ones and the stopping task stand in for them.
        self._ending = False
        self._tasks = self._io = None
        self._no_tasks = core.TaskQueue()
        self._no_io = _NoIO()
        self._stop = core.Task(_Stopper(), core.__dict__)

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
        # Nothing of this call may stay behind when the nested run raises (a
        # MemoryError from another pin's hardware): an end left in _limits
        # capped every later wait at that instant, and simulated time stood
        # still (the VM spun in poll(0)).
        n = len(self._limits)
        dev.blocked = True
        try:
            self._limits.append(until_us)
            self._wakers.append(woken)
            core.run_until_complete()  # until over() empties its queues
        finally:
            if self._ending:
                self._ending = False
                core._task_queue, core._io_queue = self._tasks, self._io
                self._tasks = self._io = None
            while len(self._limits) > n:  # (a slice would allocate)
                self._limits.pop()
            while len(self._wakers) > n:
                self._wakers.pop()
            dev.blocked = False
            self.release(dev)
            core.cur_task = cur
            dev.bind()

    def check_over(self):
        """End the innermost blocking call (over(); True) when its end came
        (and every task due before it ran: they would have on the chip) or
        its wake source fired; or when a call it is nested in is over and the
        innermost is a light sleep (woken given): the outer pin cannot go on
        before the inner one returns, so the inner wakes early (a spurious
        timer wake; its firmware sleeps again). A nested time.sleep is not
        cut: its pin waits the full time and the outer one with it."""
        ws = self._wakers
        last = len(ws) - 1
        end = self._limits[last]
        now = self.world.clock.now_us()
        if now >= end:
            t = core._task_queue.peek()
            if t is None or core.ticks_diff(t.ph_key, _hook["base"] + end // 1000) >= 0:
                return self.over()
        elif ws[last]():
            return self.over()
        if ws[last] is timebase._never:
            return False
        for i in range(last):
            if now >= self._limits[i] or ws[i]():
                return self.over()
        return False

    def over(self):
        # run_until_complete returns once its queue is empty and no stream
        # waits (a ThreadSafeFlag's waiter does): give it empty ones but for
        # one task whose step does nothing. Block() puts the real ones back.
        self._ending = True
        self._tasks, self._io = core._task_queue, core._io_queue
        core._task_queue, core._io_queue = self._no_tasks, self._no_io
        self._no_tasks.push(self._stop)
        return True

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

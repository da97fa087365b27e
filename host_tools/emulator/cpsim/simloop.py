# CPython's asyncio on a World's simulated clock (see cpsim/timebase.py).
#
# SimLoop is asyncio's own BaseEventLoop (tasks, futures, wait_for, gather,
# timers all unchanged) with two things replaced: time() reads the SimClock,
# and the "wait for I/O" step, instead of blocking, runs the clock's events in
# order and stops as soon as one of them made something runnable (an IRQ set
# a ThreadSafeFlag) or the next asyncio timer is due. A pin's tasks carry the
# pin in a context variable; before a callback runs, the loop binds its pin
# (cpsim.world), holds it back while the pin is blocked (lightsleep, a
# blocking sleep) and charges the pin's CPU model (cpsim.cpucost). A pin's
# timers move when its clock steps against the world's (shift).
#
# A blocking call suspends its pin's callback in a greenlet: the loop goes on
# and resumes that callback when the call ends, so any number of pins can be
# in light sleep at once and each wakes at its own time. (A blocking call made
# outside a pin's callback runs the loop nested inside it.) greenlet is
# required: a fallback that nested every call changed what pins saw (an outer
# sleeper could not wake before an inner one: taps lost, FIFOs overrun).
import asyncio
import contextvars
import inspect
from asyncio import base_events, events, tasks
from heapq import heappop, heappush

from cpsim import cpucost
from cpsim.timerheap import TimerHeap
from cpsim import world as _world

try:
    import greenlet as _greenlet
except ImportError:
    raise ImportError("the simulator needs the greenlet package: make install") from None

PIN = contextvars.ContextVar("cpsim_pin", default=None)


class _Due(list):
    # A timer's entry in SimLoop._scheduled (a cpsim.timerheap.TimerHeap):
    # [when], with its handle, its pin and its place in the heap. It is
    # compared by when alone, equal times not less, as asyncio compares its
    # TimerHandles, so the heap takes the very same shape as asyncio's.
    __slots__ = ("h", "dev", "pos")


class Deadlock(RuntimeError):
    """Every task waits and nothing is scheduled: no simulated time can help."""


class SimLoop(base_events.BaseEventLoop):
    def __init__(self, world):
        super().__init__()
        self.world = world
        self.clock = world.clock
        self._clock_resolution = 1e-7  # the clock counts whole microseconds
        self._held = {}  # pin -> its handles, in order, held while it is blocked
        self._due = {}  # pin -> {id: _Due} of its timers in _scheduled (shift)
        self._heap = TimerHeap()
        self._scheduled = self._heap.a
        self._limits = []  # innermost blocking call's end, in us
        self._outer = None  # device bound where the loop was entered
        self._deadline = None  # World.run_until's end, us (cpsim.timebase._FOREVER)
        # suspended blocking calls: seq -> [until_us, woken, greenlet, dev, task, seq], oldest first;
        # their ends in a heap of (until_us, seq); those ended but not yet resumed; each pin's
        # calls; the calls whose woken() may have changed its answer (its pads' levels moved)
        self._sleepers = {}
        self._ends = []
        self._ended = set()
        self._sleeping = {}
        self._stirred = set()
        self._seq = 0
        if world.gpio_stirred is None:
            world.gpio_stirred = []

    def time(self):
        return self.clock.now_us() / 1e6

    def _write_to_self(self):
        pass  # one thread: call_soon_threadsafe needs no wake-up

    def _process_events(self, event_list):
        pass

    def run_forever(self):
        # Callbacks of no pin run with the device bound where the loop began
        # (a single-pin test's asyncio.run, or none under World.run_until).
        self._outer = _world._state["device"]
        super().run_forever()

    def block(self, dev, until_us, woken):
        """Pin `dev` is inside a blocking call until until_us (or woken()):
        the loop goes on with every other pin while this one's callbacks wait."""
        if until_us >= 1 << 62:
            if self._deadline is None:
                return  # asyncio.run with no end: nothing bounds the wait
            until_us = self._deadline
        clock = self.clock
        if clock.now_us() >= until_us or woken():
            return
        g = _greenlet.getcurrent()
        if g.parent is not None and getattr(g, "cpsim_pin", None) is dev:
            self._suspend(dev, until_us, woken, g)
            return
        cur = tasks.current_task(self)
        if cur is not None:
            tasks._leave_task(self, cur)
        dev.blocked = True
        self._limits.append(until_us)
        try:
            while clock.now_us() < until_us and not woken():
                self._run_once()
        finally:
            self._limits.pop()
            dev.blocked = False
            self.release(dev)
            if cur is not None:
                tasks._enter_task(self, cur)
            dev.bind()

    def _suspend(self, dev, until_us, woken, g):
        # Park this callback: the loop switches back in when the call ends.
        cur = tasks.current_task(self)
        if cur is not None:
            tasks._leave_task(self, cur)
        dev.blocked = True
        self._seq += 1
        seq = self._seq
        entry = [until_us, woken, g, dev, cur, seq]
        self._sleepers[seq] = entry
        heappush(self._ends, (until_us, seq))
        mine = self._sleeping.get(dev)
        if mine is None:
            self._sleeping[dev] = [entry]
        else:
            mine.append(entry)
        gone = False
        try:
            g.parent.switch()
        except _greenlet.GreenletExit:
            # The loop is gone with this pin asleep (closed, or collected at
            # exit): end its task as cancelled, which asyncio keeps quiet.
            gone = True
            raise asyncio.CancelledError()
        finally:
            dev.blocked = False
            if seq in self._sleepers:
                self._unsleep(entry)
            self.release(dev)
            if cur is not None:
                tasks._enter_task(self, cur)
            if not gone:  # (its flash folder may be gone too: binding it raised past the cancel)
                dev.bind()

    def _unsleep(self, e):
        seq = e[5]
        del self._sleepers[seq]
        self._ended.discard(seq)
        self._stirred.discard(seq)
        mine = self._sleeping[e[3]]
        mine.remove(e)
        if not mine:
            del self._sleeping[e[3]]

    def _wake_sleepers(self):
        """Resume every suspended blocking call that has ended, in order:
        the oldest call whose end has come or whose woken() says so, then
        again from the oldest (the callback may have changed what the others
        wait on). A call's woken() is asked only when its pin's pads changed
        level since it last said no (World.gpio_stirred, filled by cpsim.gpio
        for sleeping pins): it reads nothing else, and asking every sleeper
        after every step of the loop was a 400-pin hall's biggest cost."""
        sl = self._sleepers
        ends, ended, stirred = self._ends, self._ended, self._stirred
        moved = self.world.gpio_stirred
        clock = self.clock
        while True:
            now = clock.now_us()
            while ends and ends[0][0] <= now:
                seq = heappop(ends)[1]
                if seq in sl:
                    ended.add(seq)
            if moved:
                for dev in moved:
                    for e in self._sleeping.get(dev, ()):
                        stirred.add(e[5])
                moved.clear()
            if not ended and not stirred:
                return
            pick = None
            for seq in sorted(ended | stirred) if stirred else sorted(ended):
                e = sl[seq]
                if now >= e[0] or e[1]():
                    pick = e
                    break
                stirred.discard(seq)  # asked: no
            if pick is None:
                return
            self._unsleep(pick)
            dev = pick[3]
            dev.bind()
            pick[2].switch()  # runs the rest of the callback (or to its next blocking call)
            _world.unbind(self._outer)
            cpucost.step(dev)

    def _run_pin(self, h, dev):
        g = _greenlet.greenlet(h._run)
        g.cpsim_pin = dev
        g.switch()

    def _advance(self, timeout):
        # The selector's wait, on simulated time: run clock events until
        # something is ready, the asyncio timeout ends or a blocking call's end.
        clock = self.clock
        limit = None if timeout is None else clock.now_us() + int(timeout * 1e6 + 0.5)
        if self._limits:
            cap = self._limits[-1]
            limit = cap if limit is None or cap < limit else limit
        ends, sl = self._ends, self._sleepers
        while ends and ends[0][1] not in sl:
            heappop(ends)  # resumed early (woken)
        if ends and (limit is None or ends[0][0] < limit):
            limit = ends[0][0]
        for seq in self._ended:
            if limit is None or sl[seq][0] < limit:
                limit = sl[seq][0]
        end = self._deadline
        if end is not None and clock._us < end and (limit is None or limit > end):
            limit = end  # World.run_until: stop there
        if limit is None:
            limit = 1 << 62
        ready = self._ready
        while not ready:
            if not clock.run_next(limit):
                if limit >= 1 << 62:
                    raise Deadlock("every task waits and no event is scheduled")
                if limit > clock._us:
                    clock._us = limit
                return
            if self._limits or self._sleepers:
                return  # a sleeping pin may have woken: let block() look

    def call_at(self, when, callback, *args, context=None):
        # BaseEventLoop.call_at, the heap holding _Due entries
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = events.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        k = _Due((when,))
        k.h = timer
        dev = k.dev = timer._context.get(PIN)
        self._heap.push(k)
        timer._scheduled = True
        if dev is not None:
            due = self._due.get(dev)
            if due is None:
                due = self._due[dev] = {}
            due[id(k)] = k
        return timer

    def _pop_due(self):
        k = self._heap.pop()
        k.h._scheduled = False
        if k.dev is not None:
            del self._due[k.dev][id(k)]
        return k.h

    def _run_once(self):
        sched = self._scheduled
        while sched and sched[0].h._cancelled:
            self._timer_cancelled_count -= 1
            self._pop_due()
        timeout = None
        if self._ready or (self._stopping and not self._limits):
            timeout = 0
        elif sched:
            timeout = max(0.0, sched[0][0] - self.time())
        if timeout == 0:
            self.clock.advance_us(0)  # events due now (an IRQ at this instant)
        else:
            self._advance(timeout)
        if self._sleepers:
            self._wake_sleepers()
        elif self.world.gpio_stirred:
            # nobody suspended to ask (a new sleeper asks woken() itself first):
            # a pin asleep in a nested block() must not grow the list for ever
            del self.world.gpio_stirred[:]
        end = self.time() + self._clock_resolution
        while sched and sched[0][0] < end:
            self._ready.append(self._pop_due())
        self._run_ready()
        end = self._deadline
        if (end is not None and not self._limits and not self._ready and self.clock._us >= end
                and not (sched and sched[0][0] < end / 1e6 + self._clock_resolution)):
            self._stopping = True  # everything due up to the run's end has run

    def _run_ready(self):
        ready = self._ready
        outer = self._outer
        for _ in range(len(ready)):
            if not ready:
                break  # a pin's blocking sleep ran the loop inside a callback and took the rest
            h = ready.popleft()
            if h._cancelled:
                continue
            dev = h._context.get(PIN) if h._context is not None else None
            if dev is None:
                _world.unbind(outer)
                h._run()
                continue
            if dev.blocked:
                held = self._held.get(dev)
                if held is None:
                    self._held[dev] = [h]
                else:
                    held.append(h)
                continue
            dev.bind()
            self._run_pin(h, dev)
            _world.unbind(outer)  # clock events between callbacks belong to no pin
            cpucost.step(dev)

    def shift(self, dev, us):
        """Pin `dev`'s clock gained `us` on the world's in a sleep (cpsim.
        slowclock): its timers, set on its own clock as on the chip, fall
        due that much sooner (later if negative)."""
        d = us / 1e6
        heap = self._heap
        due = self._due.get(dev)
        if due:
            for k in due.values():
                h = k.h
                h._when -= d
                k[0] = h._when
                heap.moved(k)
        # heapq.heapify of the whole heap, as ever (it reorders equal times
        # anywhere in it, and which of two timers due at once runs first is
        # behaviour), visiting only the places that can change
        heap.reheap()

    def release(self, dev):
        """A blocked pin is free again: its held callbacks run next, in order."""
        held = self._held.pop(dev, None)
        if held:
            self._ready.extend(held)


class Runner:
    """World.start/run_until under CPython."""

    def __init__(self, world):
        self.world = world
        self.loop = SimLoop(world)

    def start(self, dev, coro):
        ctx = contextvars.copy_context()
        ctx.run(PIN.set, dev)
        cpucost.begin(dev)
        return self.loop.create_task(coro, context=ctx)

    def run_until(self, t_ms):
        loop = self.loop
        if loop.is_running():
            raise RuntimeError("run_until() from inside the simulation")
        st = _world._state
        prev, prev_world = st["device"], st["world"]
        st["device"], st["world"] = None, self.world  # each pin's code binds its own
        self.world.running = True
        loop._deadline = t_ms * 1000
        try:
            if self.world.clock.now_us() < loop._deadline or loop._ready:
                loop.run_forever()
        finally:
            loop._deadline = None
            self.world.running = False
            st["device"], st["world"] = prev, prev_world

    def close(self):
        """Drop the world's tasks (pins that run forever are the rule here)."""
        loop = self.loop
        if loop.is_running():
            return
        for e in list(loop._sleepers.values()):
            e[2].throw(_greenlet.GreenletExit)  # pins asleep at the end: unwind them quietly
        loop._sleepers.clear()
        for t in asyncio.all_tasks(loop):
            t._log_destroy_pending = False
            t._log_traceback = False
            c = t.get_coro()
            if inspect.iscoroutine(c) and inspect.getcoroutinestate(c) == inspect.CORO_CREATED:
                # made but never run (wait_for's task for a flag's wait(), the
                # run ended first): closed, or Python warns at exit that it
                # was never awaited
                c.close()
        loop.close()


class _Policy(asyncio.DefaultEventLoopPolicy):
    # asyncio.run() from firmware (App.run) in a host run: a SimLoop when the
    # device bound is on a simulated clock, asyncio's own loop otherwise.
    def new_event_loop(self):
        w = _world._state["world"]
        if w is not None and getattr(w.clock, "simulated", False):
            return SimLoop(w)
        return super().new_event_loop()


def running(world):
    """The SimLoop running `world` now, if a callback of it is the caller."""
    loop = events._get_running_loop()
    return loop if isinstance(loop, SimLoop) and loop.world is world else None


def install():
    if not isinstance(asyncio.get_event_loop_policy(), _Policy):
        asyncio.set_event_loop_policy(_Policy())

# SimLoop keeps its timers in a cpsim.timerheap.TimerHeap of _Due entries,
# with each pin's timers indexed, instead of asyncio's heap of TimerHandles.
# Which of two timers due at the same instant runs first is set by the heap's
# shape, and a pin's clock step (SimLoop.shift) heapifies it all again (the
# TimerHeap visiting only what can change): the shape, and so the order in
# which pins run, must stay heapq's, step for step, or a simulation's JSON
# would change with the loop's speed.
import asyncio
import contextvars
import heapq
import random
from asyncio import events

from cpsim import simloop, world


def _ref_shift(ref, dev, us):
    # SimLoop.shift as it was written over asyncio's own heap of handles
    d = us / 1e6
    for h in ref:
        if h._context.get(simloop.PIN) is dev:
            h._when -= d
    heapq.heapify(ref)


def test_the_heap_keeps_asyncios_shape_through_pushes_pops_and_clock_steps():
    _compare_with_heapq(3000, 0.55, 0.8)


def test_a_heap_larger_than_heapqs_cache_friendly_size_keeps_its_shape_too():
    # _heapq.c heapifies more than 2,500 items in another order (the same heap)
    _compare_with_heapq(3600, 0.9, 0.93)


def _compare_with_heapq(steps, p_push, p_pop):
    w = world.World()
    pins = [w.device() for _ in range(5)]
    loop = simloop.SimLoop(w)
    ctxs = []
    for p in pins:
        c = contextvars.copy_context()
        c.run(simloop.PIN.set, p)
        ctxs.append(c)
    ctxs.append(contextvars.copy_context())  # a timer of no pin
    rnd = random.Random(5)
    ref, twin = [], {}  # asyncio's heap; id(our handle) -> (it, its twin there)
    ties = 0
    try:
        for step in range(steps):
            op = rnd.random()
            if op < p_push or not ref:
                # few distinct times: many timers of one pin and of several fall due together
                when = rnd.randrange(40) / 8
                c = rnd.choice(ctxs)
                h = loop.call_at(when, lambda: None, context=c)
                r = events.TimerHandle(when, lambda: None, (), loop, c)
                heapq.heappush(ref, r)
                twin[id(h)] = (h, r)
                ties += sum(1 for x in ref if x._when == when) > 1
            elif op < p_pop:
                h = loop._pop_due()
                assert twin.pop(id(h))[1] is heapq.heappop(ref)  # the same timer comes out first
            else:
                dev = rnd.choice(pins)
                us = rnd.choice((125000, -125000, 250000, 3))  # steps that keep times equal, and one that splits them
                loop.shift(dev, us)
                _ref_shift(ref, dev, us)
            if step % 7 == 0 or op >= p_pop:
                assert [twin[id(k.h)][1] for k in loop._scheduled] == ref, step
        assert [twin[id(k.h)][1] for k in loop._scheduled] == ref
        assert all(k[0] == k.h._when and loop._scheduled[k.pos] is k for k in loop._scheduled)
        assert ties > 1000  # the orders compared were those of equal times
        # the per-pin index holds exactly the pins' timers still in the heap
        due = sorted(id(k) for d in loop._due.values() for k in d.values())
        assert due == sorted(id(k) for k in loop._scheduled if k.dev is not None)
    finally:
        loop.close()
        world.reset()


def test_held_callbacks_of_a_blocked_pin_run_in_order_when_it_is_free():
    w = world.World()
    a, b = w.device(), w.device()
    loop = simloop.SimLoop(w)
    ran = []
    try:
        for i in range(6):
            dev = (a, b)[i % 2]
            c = contextvars.copy_context()
            c.run(simloop.PIN.set, dev)
            h = events.Handle(ran.append, (i,), loop, c)
            dev.blocked = True
            loop._ready.append(h)
        loop._run_ready()
        assert ran == [] and not loop._ready
        a.blocked = False
        loop.release(a)
        assert [h._args[0] for h in loop._ready] == [0, 2, 4]
        loop._ready.clear()
        b.blocked = False
        loop.release(b)
        loop.release(b)  # nothing left: no effect
        assert [h._args[0] for h in loop._ready] == [1, 3, 5]
    finally:
        loop.close()
        world.reset()
        asyncio.set_event_loop(None)

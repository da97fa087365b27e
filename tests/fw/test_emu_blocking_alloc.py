# A blocking call (machine.lightsleep, time.sleep_ms) allocates nothing on
# the chip: the CPU halts or spins in C. In the VM the emulator's call runs
# on the firmware's share of the heap, so whatever it allocates there is
# garbage the chip never makes: it moved the heap bench's least-free
# readings (1,152 VM bytes a light sleep, 384 a time.sleep_ms: a task, a
# coroutine and an exception to end it, a closure and lists, the power
# accounting's strings, an import statement). What is left is what
# asyncio's run_until_complete allocates as it starts, which the nested run
# needs (cpsim/mptasks.py): measured here, not assumed.
import asyncio
import gc

import machine
import time
from cpsim.world import World

CALLS = 20


def _per_call(blocking):
    """VM bytes allocated by each of CALLS calls of blocking() made by a
    pin's task in a running world (warmed up: the first calls make what is
    kept for all the later ones)."""
    w = World()
    d = w.device("p")
    got = []

    async def fw():
        for _ in range(3):
            blocking()
        await asyncio.sleep_ms(0)
        gc.collect()
        before = gc.mem_alloc()
        for _ in range(CALLS):
            blocking()
        got.append(gc.mem_alloc() - before)

    w.start(d, fw())
    w.run_for(CALLS * 20 + 1000)
    assert got, "the task did not finish"
    return got[0] / CALLS


def _loop_start():
    """VM bytes asyncio's run_until_complete allocates each time it starts
    (given queues with nothing to run, it returns at once)."""
    from asyncio import core

    tasks, io = core._task_queue, core._io_queue
    empty_tasks, empty_io = core.TaskQueue(), core.IOQueue()
    core._task_queue, core._io_queue = empty_tasks, empty_io
    try:
        core.run_until_complete()
        gc.collect()
        before = gc.mem_alloc()
        for _ in range(CALLS):
            core.run_until_complete()
        return (gc.mem_alloc() - before) / CALLS
    finally:
        core._task_queue, core._io_queue = tasks, io


def test_mp_a_light_sleep_allocates_nothing_but_the_loops_start():
    n = _per_call(lambda: machine.lightsleep(10))
    assert n == _loop_start() <= 64, (n, _loop_start())


def test_mp_time_sleep_ms_allocates_nothing_but_the_loops_start():
    n = _per_call(lambda: time.sleep_ms(10))
    assert n == _loop_start() <= 64, (n, _loop_start())

# A pin's blocking call (light sleep, time.sleep) on simulated time in the
# VM (cpsim/mptasks.py) when the heap runs out. The emulator's scheduler
# shares the VM's heap with the firmware (a virtual badge's share, the
# bench's one-pin share): a MemoryError there reaches the firmware, and the
# scheduler must come out of it whole. It once kept a failed call's end (every
# later wait was capped at that instant: simulated time stood still and the
# VM spun in poll() until the test's timeout), and a call's end allocated.
# (tests/fw/test_emu_blocking_alloc.py: what a call allocates.)
import gc

from cpsim.world import World


def test_mp_a_blocking_call_cut_short_by_memoryerror_leaves_nothing_behind():
    # The call allocates nothing of its own, but its nested run does: a
    # MemoryError from the hardware's events (another pin's) comes out of it.
    import asyncio
    import time
    from cpsim import mptasks

    w = World()
    out = []
    real = w.clock.run_next
    fail = [False]

    def run_next(limit):
        if fail[0]:  # the heap is full as the first event in the call runs
            fail[0] = False
            raise MemoryError("memory allocation failed")
        return real(limit)

    async def fw():
        await asyncio.sleep_ms(10)
        fail[0] = True
        try:
            time.sleep_ms(300)
        except MemoryError:
            out.append(("oom", time.ticks_ms()))
        r = mptasks._hook["runner"]
        left = (len(r._limits), len(r._wakers), r._ending)
        out.append(("left", left))
        if left != (0, 0, False):
            del r._limits[len(r._wakers):]  # so that a broken scheduler fails here instead of hanging
            return
        time.sleep_ms(300)
        out.append(("slept", time.ticks_ms()))

    async def other():
        for _ in range(3):
            await asyncio.sleep_ms(200)
            out.append(("b", time.ticks_ms()))

    w.clock.run_next = run_next
    w.start(w.device("a"), fw())
    w.start(w.device("b"), other())
    w.run_for(1000)
    assert out == [("oom", 10), ("left", (0, 0, False)), ("b", 200), ("slept", 310), ("b", 400), ("b", 600)], out
    assert w.clock.now_ms() == 1000


def test_mp_the_end_of_a_blocking_call_allocates_nothing():
    # Pins parked while another pin's call ran are queued again at its end:
    # the chip's own call allocates nothing there, and an allocation on a
    # full heap raised in the call's cleanup (the pin's task died).
    import asyncio
    import time
    from cpsim import mptasks

    w = World()
    seen = []

    async def fw():
        await asyncio.sleep_ms(10)
        time.sleep_ms(50)

    async def tick():
        while True:
            await asyncio.sleep_ms(7)

    a = w.device("a")
    for name in ("b", "c"):
        w.start(w.device(name), tick())
    w.start(a, fw())
    w.start(a, tick())  # held while its pin sleeps
    r = [None]
    real_release = mptasks.Runner.release

    def release(self, dev):
        r[0] = self
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        n = len(self._held)
        real_release(self, dev)
        seen.append((n, gc.mem_alloc() - before))
        gc.enable()

    mptasks.Runner.release = release
    try:
        w.run_for(100)
    finally:
        mptasks.Runner.release = real_release
    assert seen == [(1, 0)], seen
    assert r[0]._held == [], r[0]._held

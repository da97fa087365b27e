# Give CPython the MicroPython-only functions that firmware uses, so the same
# firmware source runs under both runtimes. A no-op under MicroPython.
import sys

_MASK = (1 << 30) - 1  # ticks wrap like a 30-bit small int on the board


class _ThreadSafeFlag:
    """MicroPython's asyncio.ThreadSafeFlag for CPython: set() from an
    emulated IRQ (same thread here), wait() clears it."""

    def __init__(self):
        self._set = False
        self._waiter = None

    def set(self):
        self._set = True
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def clear(self):
        self._set = False

    async def wait(self):
        import asyncio

        while not self._set:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._set = False


async def _wait_for_ms(aw, ms):
    # asyncio.wait_for_ms for CPython. With no loop running (a firmware
    # `finally` block run as the sim closes a dropped pin's coroutine) the
    # awaitable made for it (a flag's wait()) is closed, not left for
    # Python to warn at exit that it was never awaited.
    import asyncio
    import inspect

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if inspect.iscoroutine(aw):
            aw.close()
        raise
    return await asyncio.wait_for(aw, ms / 1000)


def install():
    if sys.implementation.name == "micropython":
        return
    import time
    import gc
    import builtins
    import asyncio

    if not hasattr(time, "ticks_ms"):
        # On the bound world's simulated clock in host runs, else real time
        # (cpsim.timebase).
        from cpsim import simloop, timebase

        t0 = time.monotonic_ns()

        def now_us():
            c = timebase.sim_clock()
            t = c.now_us() if c is not None else (time.monotonic_ns() - t0) // 1000
            return t + timebase.err_us()  # the pin's own clock (cpsim.slowclock)

        time.ticks_ms = lambda: (now_us() // 1000) & _MASK
        time.ticks_us = lambda: now_us() & _MASK
        time.ticks_cpu = time.ticks_us
        time.ticks_add = lambda t, d: (t + d) & _MASK

        def ticks_diff(a, b):
            d = (a - b) & _MASK
            return d - (_MASK + 1) if d > (_MASK >> 1) else d

        time.ticks_diff = ticks_diff

        def sleep_us(us):
            if not timebase.sleep_us(us):
                time.sleep(us / 1000000)

        time.sleep_ms = lambda ms: sleep_us(ms * 1000)
        time.sleep_us = sleep_us
        real_time = time.time

        def sim_time():  # the running pin's RTC on simulated time (cpsim.timebase)
            t = timebase.rtc_time()
            return real_time() if t is None else t

        time.time = sim_time
        simloop.install()
    if not hasattr(asyncio, "sleep_ms"):
        asyncio.sleep_ms = lambda ms: asyncio.sleep(ms / 1000)
    if not hasattr(asyncio, "wait_for_ms"):
        asyncio.wait_for_ms = _wait_for_ms
    if not hasattr(asyncio, "ThreadSafeFlag"):
        asyncio.ThreadSafeFlag = _ThreadSafeFlag
    if not hasattr(sys, "print_exception"):
        import traceback

        def print_exception(exc, file=sys.stdout):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=file)

        sys.print_exception = print_exception
    if not hasattr(gc, "mem_alloc"):
        # CPython has no GC heap counter; tests that measure allocation run
        # under MicroPython only (test_mp_* functions).
        gc.mem_alloc = lambda: 0
        gc.mem_free = lambda: 100 * 1024
        gc.threshold = lambda *a: None
    if "cryptolib" not in sys.modules:
        # The chip's AES (ECB/CBC only) for firmware run by CPython (tests, the
        # simulator, host tools). It lives with the host tools because it needs
        # the `cryptography` package; a cryptolib.py on the emulator's path
        # would shadow the VM's built-in one.
        try:
            from host_tools import hostcrypto
        except ImportError:  # the emulator alone, without the host tools
            pass
        else:
            hostcrypto.install()
    from cpsim import flashwrites

    flashwrites.install()  # a pin's file writes counted in its accounting (the power model)
    for name in ("ptr8", "ptr16", "ptr32", "uint"):
        # Viper type names: plain identity casts when the code runs as Python.
        if not hasattr(builtins, name):
            setattr(builtins, name, lambda x: x)

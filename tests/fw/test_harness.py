# The harness itself: both runtimes really are what they claim to be.
import sys


def test_runtime_has_micropython_time_api():
    import time

    t0 = time.ticks_ms()
    assert time.ticks_diff(time.ticks_add(t0, 5), t0) == 5


def test_mp_firmware_gets_an_esp32_sized_heap():
    # The VM's heap is the pin's 100 KB (in the VM's words: objects on the
    # 64-bit VM take twice the bytes) plus what the emulated C modules occupy;
    # with those loaded, what is left is what firmware gets on a pin.
    import gc
    from cpsim import resident

    resident.load_all(sim=True, every_board=True)  # what conftest's heap probe loads
    gc.collect()
    free = gc.mem_free()
    assert sys.implementation.name == "micropython"
    words = 2 if sys.maxsize > 2 ** 32 else 1
    assert 80 * 1024 * words <= free <= 104 * 1024 * words, free


def test_sim_clock_runs_events_in_order():
    from cpsim.clock import SimClock

    clock = SimClock()
    seen = []
    clock.call_later_ms(20, lambda: seen.append(("b", clock.now_ms())))
    clock.call_later_ms(10, lambda: seen.append(("a", clock.now_ms())))
    h = clock.call_later_ms(15, lambda: seen.append("cancelled"))
    clock.cancel(h)
    clock.advance(25)
    assert seen == [("a", 10), ("b", 20)], seen
    assert clock.now_ms() == 25

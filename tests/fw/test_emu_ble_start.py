# The emulated ble.active(True) and the pin's scheduled callbacks, as
# mp_bluetooth_init runs them (cpsim/blegap.py INIT_US): none while
# nimble_port_init() runs (each source's waits, then runs once), then each
# as it comes while the start waits for NimBLE's sync; the pin's tasks wait
# for the whole start.
import asyncio

from cpsim.blelog import ble_of
from cpsim.world import World


def _start_with_a_timer(init_us=None):
    import machine

    w = World()
    dev = w.device("p")
    if init_us is not None:
        dev.ble_init_us = init_us
    fired, back = [], []

    async def main():
        tim = machine.Timer(0)
        tim.init(period=10, mode=machine.Timer.PERIODIC, callback=lambda t: fired.append(w.clock.now_ms()))
        await asyncio.sleep_ms(35)
        ble_of(dev).active(True)  # the start: 250 ms of this pin's CPU
        await asyncio.sleep_ms(0)
        back.append(w.clock.now_ms())
        tim.deinit()

    w.start(dev, main())
    w.run_for(1000)
    return fired, back


def test_callbacks_wait_out_the_controller_init_then_run_during_the_sync_wait():
    fired, back = _start_with_a_timer()
    assert back == [285], back  # the task waited for the whole start
    # 40-80 ms fell in nimble_port_init (35-85 ms): one call at its end
    assert fired[:4] == [10, 20, 30, 85], fired
    assert fired[4:] == list(range(90, 290, 10)), fired


def test_an_init_as_long_as_the_start_holds_every_callback_to_its_end():
    fired, back = _start_with_a_timer(init_us=250000)
    assert back == [285] and fired == [10, 20, 30, 285], (fired, back)

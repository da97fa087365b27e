# The motion service across the radio's start (bus.RADIO_START): ble.active(True)
# holds the CPU 250 ms (emulator estimate) and the LIS3DH FIFO holds 80 ms at
# 400 Hz. With the hook the service empties the FIFO just before the start and
# its watermark callback drains during the start's sync wait (as MicroPython's
# mp_bluetooth_init runs scheduled callbacks there): no sample is lost, and a
# touch during the start is reported, at its time, once active() returned.
import asyncio

from cloudpin import board as board_layer
from cloudpin.bus import Bus
from cloudpin.ble.radio import RadioOwner
from cloudpin.log import Logger
from cloudpin.motion import MotionService
from cpsim.lis3dh import LIS3DH
from cpsim.world import World
from test_motion import _BOARD, Walk

_START_AT = 2000  # ms: the radio starts (a tap's handshake would)


def _pin(hook, tap_at=2150, init_us=None):
    w = World()
    dev = w.device("p")
    if init_us is not None:
        dev.ble_init_us = init_us
    dev.attach_i2c(0, LIS3DH(source=Walk(cadence=2.0, taps=(tap_at,)), int1=34, int2=39))
    lines, taps, box, sus = [], [], [], []

    async def firmware():
        log = Logger("app", sink=lines.append)
        hw = board_layer.build(_BOARD, log, wdt_timeout_ms=0, with_ble=True)
        bus = Bus(log)
        svc = MotionService(hw, log, on_tap=lambda t, mg: taps.append((t, w.clock.now_ms())),
                            ticks_ms=w.clock.now_ms, bus=bus if hook else None,
                            on_suspect=lambda t, on: sus.append((t, on, w.clock.now_ms())))
        radio = RadioOwner(hw.ble, log, bus)
        box.append(svc)
        asyncio.create_task(svc.run())
        await asyncio.sleep_ms(_START_AT)
        await radio.acquire("test")
        box.append(w.clock.now_ms())
        await asyncio.sleep_ms(1000)

    w.start(dev, firmware())
    w.run_for(3500)
    return box[0], box[1], taps, lines, sus


def test_without_the_hook_the_fifo_overruns_at_the_radio_start():
    svc, back, taps, lines, sus = _pin(hook=False)
    assert back == _START_AT + 250, back
    assert svc.overruns >= 1 and any("fifo overrun" in ln for ln in lines), lines[-5:]


def test_the_hook_drains_through_the_start_and_holds_the_tap_for_the_task():
    svc, back, taps, lines, sus = _pin(hook=True)
    assert back == _START_AT + 250, back
    assert svc.overruns == 0 and not any("fifo overrun" in ln for ln in lines), lines[-5:]
    # the touch at 2150 ms, inside the start: stamped at its time, reported after it
    assert len(taps) == 1 and abs(taps[0][0] - 2150) <= 10 and taps[0][1] >= back, taps
    # its suspicion (bus.TAP_SUSPECT), found inside the start too, before it
    assert len(sus) == 1 and sus[0][:2] == (taps[0][0], True) and back <= sus[0][2] <= taps[0][1], sus


def test_a_controller_init_longer_than_the_fifo_still_loses_samples_once():
    # 150 ms without callbacks (an RF calibration, say) outlasts the 80 ms
    # FIFO whatever the firmware does: one overrun, logged, and the detector
    # starts afresh after it (docs/taps.md)
    svc, back, taps, lines, sus = _pin(hook=True, tap_at=2600, init_us=150000)
    assert svc.overruns == 1, svc.overruns
    assert len(taps) == 1 and abs(taps[0][0] - 2600) <= 10, taps

# Heap the emulated bus and clock take per sample while the firmware reads
# its accelerometer the way it does on a pin: hardware built by the board
# layer (cloudpin.board.build) on the emulator's fitting of a board file
# (cpsim.boardfit.fit), the real emulated machine.I2C, the motion
# service's set-up, FIFO drained in bursts into preallocated buffers, a
# periodic machine.Timer feeding the WDT as the app does. On an ESP32 those
# machine.I2C calls are C and allocate nothing when handed a buffer; in the
# VM the emulator is Python in the firmware's heap, so whatever it allocates
# at 400 Hz fragments the app's heap. The models alone are measured in
# test_emu_accel_alloc.py; here everything between them and the driver is.
import gc
import json
import time
from array import array

import machine
from cpsim import boardfit
from cpsim.clock import WallClock
from cpsim.world import World


def _board(name):
    """boards/NAME.json of the repo this test file is in (the VM's cwd is a
    temporary folder, but module paths are absolute)."""
    root = __file__
    for _ in range(3):  # tests/fw/this_file.py
        root = root[: root.rfind("/")]
    with open(root + "/boards/" + name + ".json") as f:
        return json.load(f)


LIS3DH_BOARD = _board("cloudpin_ref")
MPU6886_BOARD = _board("m5stickc_plus")
MPU6050_BOARD = _board("devkitc_mpu6050")
WATERMARK = 24  # cloudpin.motion's FIFO interrupt level


class Pin:
    """One pin as the app sees it: Hardware from the board layer, the
    sensor set up as cloudpin.motion does, the WDT fed by a Timer as
    cloudpin.app does."""

    def __init__(self, spec=LIS3DH_BOARD, clock=None):
        from cloudpin import board, boardspec
        from cloudpin.log import Logger

        self.spec = spec
        cfg = spec["accel"]
        self.world = World(clock)
        dev = self.world.device()
        boardfit.fit(dev, spec)  # the virtual badge's fitting
        self.lines = []
        self.hw = board.build(boardspec.validate(spec), Logger("board", sink=self.lines.append), with_ble=False)
        assert self.hw.faults == [], (self.hw.faults, self.lines)
        self.chip = dev.i2c_models[spec["i2c"]["bus"]][cfg["address"]]
        drv = self.drv = self.hw.accel
        drv.set_odr(cfg["tap_odr"])
        drv.enable_fifo(WATERMARK)
        self.flag = [0]
        if drv.HAS_CLICK and cfg.get("int2") is not None:
            drv.enable_click(800, 15, 30, 0, pin=2)
            drv.attach_irq(machine.Pin(cfg["int2"], machine.Pin.IN), self._on_int)
        # Without a watermark interrupt (MPU6050) the app drains on every wake.
        self.every_wake = not drv.HAS_WATERMARK_IRQ
        drv.attach_irq(self.hw.accel_int, self._on_int)
        wdt = self.hw.wdt
        self.timer = machine.Timer(0)
        self.timer.init(period=1000, mode=machine.Timer.PERIODIC, callback=lambda t: wdt.feed())
        self.out = array("h", [0] * (3 * 32))

    def _on_int(self, pin):
        self.flag[0] = 1

    def warm_up(self):
        """Every burst size read once, then a second of the app, so that
        buffers made on first use exist before measuring."""
        for n in (1, 2, 4, 8, 16, 32):
            self.world.advance(n * 1000 // self.spec["accel"]["tap_odr"] + 1)
            self.drv.read_fifo(self.out)
        self.run(1000)

    def run(self, ms, step_ms=20):
        drv, flag, out = self.drv, self.flag, self.out
        for _ in range(ms // step_ms):
            self.world.advance(step_ms)
            if flag[0] or self.every_wake:
                flag[0] = 0
                drv.int1_source()
                while drv.read_fifo(out) == len(out) // 3:
                    pass
                drv.clear_interrupt()
            self.hw.wdt.feed()


def _growth(fn, *args):
    """Heap growth across fn(*args) with the collector off, so that garbage
    shows instead of being swept up mid-run (more than the heap holds ends
    in MemoryError, which fails the test too)."""
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        fn(*args)
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def _board_pin_growth(spec):
    """(heap growth, samples) over 10 s of the app on a pin of board `spec`."""
    pin = Pin(spec)
    pin.warm_up()
    s0, resets, overruns = pin.chip.samples, len(pin.world.devices[0].resets), pin.drv.overruns
    grown = _growth(pin.run, 10000)
    samples = pin.chip.samples - s0
    rate = spec["accel"]["tap_odr"]
    assert samples >= 10 * rate - 10, (spec["name"], samples)
    assert len(pin.world.devices[0].resets) == resets  # the timer kept the WDT fed
    assert pin.drv.overruns == overruns, spec["name"]  # every burst was read in time
    return grown, samples


def test_mp_lis3dh_board_pin_reading_fifo_bursts_allocates_nothing():
    grown, samples = _board_pin_growth(LIS3DH_BOARD)
    assert grown == 0, (grown, samples)


def test_mp_mpu_board_pins_reading_fifo_bursts_allocate_nothing():
    for spec in (MPU6886_BOARD, MPU6050_BOARD):
        grown, samples = _board_pin_growth(spec)
        assert grown == 0, (spec["name"], grown, samples)


def test_mp_board_pin_under_wall_clock_allocates_nothing():
    # The virtual badge's clock: real time, events run when hardware polls.
    pin = Pin(LIS3DH_BOARD, WallClock())
    pin.warm_up()
    # Samples follow real time. The chip model produces the samples due by
    # now when it is read, so read it before opening the real-time window and
    # after closing it: every sample due inside the window is then counted,
    # however long a loaded machine stalls this process between the calls.
    pin.drv.read_fifo(pin.out)
    s0 = pin.chip.samples
    t0 = time.ticks_ms()
    grown = _growth(pin.run, 1000)
    t1 = time.ticks_ms()
    pin.drv.read_fifo(pin.out)
    samples = pin.chip.samples - s0
    assert samples >= 400 * time.ticks_diff(t1, t0) // 1000 - 2, samples
    assert grown == 0, (grown, samples)

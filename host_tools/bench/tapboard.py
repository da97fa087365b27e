"""The reference board end to end on the tap bench's recordings: the emulated
LIS3DH (host_tools/emulator/cpsim/lis3dh.py: 10-bit FIFO, high-pass and click
engine, register level) feels a recording, and the app's own motion service
(firmware/cloudpin/motion.py: the sensor's configuration, FIFO bursts on the
watermark, the software detector on every burst) reports taps. Same
recordings, labels and scoring as the detector's own bench (taps.py, every
sample fed in the VM), so the two are compared touch for touch: what the
board adds is the chip (its resolution, its FIFO timing).

The recording's samples are already what the sensor outputs (tapgen models
the anti-alias filter), so the emulated chip is given each sample at its
output time rather than a mean over the period (which would filter twice).
Runs in-process under CPython with cpsim.compat, like the crowd bench: the
firmware is plain integer code, so it decides as it would in the VM.
"""

import numpy as np

from host_tools import firmware_on_path

DRAIN_MS = 50  # how often the loop lets the service drain (the watermark comes every 60 ms at 400 Hz)




class Samples:
    """An acceleration source for the emulated sensor: output sample k of an
    (n, 3) array in g is the value at k / rate s; held after the last."""

    def __init__(self, g, rate):
        # a flat list of ints: numpy scalars per sample would cost more than the chip
        self.ug = np.round(np.asarray(g, dtype=float) * 1e6).astype(np.int64).ravel().tolist()
        self.last = len(self.ug) // 3 - 1
        self.period_us = 1e6 / rate

    def mean_ug(self, t0_us, t1_us, out, j):
        k = int(t1_us / self.period_us + 0.5)
        k = 3 * (0 if k < 0 else self.last if k > self.last else k)
        ug = self.ug
        out[j] = ug[k]
        out[j + 1] = ug[k + 1]
        out[j + 2] = ug[k + 2]


def run_board(samples_g, rate, board, doze=False, stats=None):
    """Taps [(t_ms from the first sample, strength_mg)] the board's motion
    service reports for an (n, 3) recording in g at the board's tap rate.
    doze: run the service's own loop, which dozes on a still pin (the
    watermark off, the FIFO overflowing, the click engine to wake it:
    docs/power.md), instead of draining every DRAIN_MS. stats: a dict to
    receive the service's counters (dozes, clicks, overruns)."""
    firmware_on_path(compat=True)
    from cloudpin import board as board_layer
    from cloudpin.log import Logger
    from cloudpin.motion import MotionService
    from cpsim.boardfit import fit
    from cpsim.world import World

    world = World()
    dev = world.device("pin")
    fit(dev, board, source=Samples(samples_g, rate))
    lines = []
    log = Logger("motion", sink=lines.append)
    hw = board_layer.build(board, log, wdt_timeout_ms=0, with_ble=False)
    if hw.accel_rate != rate:
        raise ValueError("board %s runs its sensor at %s Hz, the recording is %s Hz" % (
            board["name"], hw.accel_rate, rate))
    taps = []
    svc = MotionService(hw, log, on_tap=lambda t, mg: taps.append((t, mg)), ticks_ms=world.clock.now_ms, doze=doze)
    end_ms = len(samples_g) * 1000.0 / rate
    if doze:
        world.start(dev, svc.run())
        world.run_until(int(end_ms))
    else:
        svc.setup()
        while world.clock.now_ms() < end_ms:
            world.advance(DRAIN_MS)
            svc.drain()
    world.close()
    if stats is not None:
        stats.update(dozes=svc.dozes, clicks=svc.clicks, overruns=svc.overruns, suspects=svc.taps.suspects,
                     cancels=svc.taps.cancels, contexts=svc.taps.contexts)
    # the sensor's sample k is taken at k / rate s after the source's t = 0
    return [(float(t), mg) for t, mg in taps]

# The device a process gets when it never built a World: the firmware booted
# in a virtual badge VM. Environment:
#   CLOUDPIN_EMU_BOARD      board JSON (boards/*.json): real time (WallClock),
#                           and its parts (cpsim/boardfit.py)
#   CLOUDPIN_EMU_RECORDING  t_ms,x,y,z CSV the accelerometer replays (looped);
#                           without it the pin lies still (1 g on z + noise)
#   CLOUDPIN_EMU_DISPLAY    file the board's display memory is kept in (the
#                           host turns it into a PNG: cpsim/st7789.read_file)
#   CLOUDPIN_NVS_FILE       JSON file esp32.NVS is loaded from and commits to
#   CLOUDPIN_ROMFS_FILE     file behind esp32.Partition("romfs"): the pin's
#                           firmware has a romfs partition while it exists
#   CLOUDPIN_RESET_CAUSE    machine.reset_cause() of this boot (the badge sets
#                           it when it restarts the VM after a reset)
#   CLOUDPIN_AIR            (with a board) Unix socket of the farm's air hub:
#                           the radio is shared with the other badges
#                           (cpsim/airclient.py), as station CLOUDPIN_AIR_NAME
#   CLOUDPIN_CHIP_FILE      file the RTC (and after a soft reset, the task
#                           watchdog) is kept in from one VM to the next
#                           (cpsim/chipstate.py); the host deletes it at power-on
#   CLOUDPIN_CHIP_KEPT      set when that file is there to read (not at a power-on)
#   CLOUDPIN_EMU_UID        machine.unique_id() as 12 hex digits (the badges of
#                           a farm differ, so do their Bluetooth addresses)
#   CLOUDPIN_EMU_CLOCK_PPM  (with a board) the badge's RTC slow-clock error in
#                           light sleep, ppm (0: exact); unset or "draw": one
#                           drawn from the unique id at power-on (slow_clock
#                           below, cpsim/slowclock.py: the machine.RTC a
#                           badge's firmware reads drifts as a pin's does; its
#                           ticks are the VM's own, exact)
# With a board file, asyncio's idle wait is capped at 10 ms so that pin IRQs
# and timers reach a sleeping app in time (see _poll_from_asyncio).
# A reset (machine.reset(), deepsleep(), soft_reset(), WDT expiry) of this
# device exits the process with status 64 + machine reset cause, so whoever
# runs the VM can boot it again.
import json
import os
import time

from cpsim.clock import WallClock
from cpsim.world import World


def _env(name):
    v = os.getenv(name)
    return v if v else None


def build(board_path=None, recording=None, nvs_file=None):
    board_path = board_path or _env("CLOUDPIN_EMU_BOARD")
    air = _env("CLOUDPIN_AIR") if board_path else None
    world = (_AirWorld if air else World)(WallClock() if board_path else None)
    uid = _env("CLOUDPIN_EMU_UID")
    dev = world.device("default", bytes.fromhex(uid) if uid else None)
    nvs_file = nvs_file or _env("CLOUDPIN_NVS_FILE")
    if nvs_file:
        import esp32

        dev.nvs_file = nvs_file
        dev.nvs = esp32.load(nvs_file)
    dev.romfs_file = _env("CLOUDPIN_ROMFS_FILE")
    cause = _env("CLOUDPIN_RESET_CAUSE")
    if cause:
        dev.reset_cause = int(cause)
    chip = _env("CLOUDPIN_CHIP_FILE")
    if chip:
        # the RTC and a soft reset's watchdog, to the VM after this one
        # (cpsim/chipstate.py)
        import sys

        dev.chip_file = chip  # read back at power-on (slow_clock)
        if hasattr(sys, "atexit"):  # the VM ends at the REPL (Ctrl-D: a soft reset)
            sys.atexit(_soft_exit)
    if board_path:
        with open(board_path) as f:
            board = json.load(f)
        from cpsim.boardfit import fit

        fit(dev, board, recording or _env("CLOUDPIN_EMU_RECORDING"), _env("CLOUDPIN_EMU_DISPLAY"))
        dev.on_reset = _exit
        _poll_from_asyncio(world.clock)
    return dev


def slow_clock(dev):
    """Draw a board's slow clock (cpsim.slowclock.for_badge), at power-on
    (cpsim.resident.power_on): in a virtual badge's VM that is before the
    ballast, so nothing of it lies in the firmware's share. Only a board's
    (real-time) device drifts: without a board the clock is exact. What was
    drawn is in the emulator's notes ("clock")."""
    chip = getattr(dev, "chip_file", None)
    if chip and _env("CLOUDPIN_CHIP_KEPT"):
        _restore_chip(dev, chip)  # the RTC and a soft reset's watchdog, from the VM before this one
    if dev.world.clock.simulated:
        return
    from cpsim import slowclock

    s = slowclock.for_badge(dev.uid, _env("CLOUDPIN_EMU_CLOCK_PPM"))
    slowclock.set_clock(dev, s)
    dev.rtc_offset_us = getattr(dev, "rtc_offset_us", 0)  # (the firmware's first RTC set adds nothing either)
    dev.note("clock", "slow clock %s" % (s if s else "exact"))


class _AirWorld(World):
    # the radio, on first use, is the farm's shared air
    @property
    def radio(self):
        if self._radio is None:
            from cpsim.airclient import AirRadio

            self._radio = AirRadio(self, _env("CLOUDPIN_AIR"), _env("CLOUDPIN_AIR_NAME") or "badge")
        return self._radio


def _poll_from_asyncio(clock, max_wait_ms=10):
    # On a board an interrupt wakes asyncio's idle wait at once. The VM has no
    # interrupts, but every line change of the emulated hardware is a clock
    # event: asyncio's wait ends when the next one is due (10 ms at most, for
    # what the clock does not plan) and runs what fell due, so a pin IRQ or
    # Timer reaches the firmware within a millisecond of its time, as the
    # chip's IRQ would (up to 10 ms late before: a watermark 20 ms from a
    # full FIFO lost half its margin). The models' bookkeeping put off while
    # the firmware ran (clock.soon) goes first.
    try:
        from asyncio import core
    except ImportError:  # CPython's asyncio: nothing to hook
        return
    q = core.IOQueue
    if getattr(q, "cpsim_clock", None) is not None:
        q.cpsim_clock[0] = clock  # hooked already: poll the newest device's clock
        return
    q.cpsim_clock = [clock]
    wait = q.wait_io_event

    def wait_io_event(self, dt):
        c = q.cpsim_clock[0]
        c.run_soon()
        if dt < 0 or dt > max_wait_ms:
            dt = max_wait_ms
        nxt = c.next_us()
        if nxt is not None:
            ms = (nxt - c.now_us() + 999) // 1000  # (now_us runs what is due: nxt may be past)
            if ms < dt:
                dt = ms if ms > 0 else 0
        wait(self, dt)
        c.poll()

    q.wait_io_event = wait_io_event


def _restore_chip(dev, path):
    # What the VM before this one left (cpsim/chipstate.save); nothing at a
    # power-on (no file). At the emulator's power-on (slow_clock), among what
    # it keeps: the RTC's offset is a long int in the VM, and no module stays
    # loaded for it, so nothing of it breaks up the firmware's share
    # (tests/test_virtual_badge.py).
    try:
        with open(path) as f:
            rtc, wdt_ms, left = [int(v) for v in f.read().split()]
    except (OSError, ValueError):
        return
    dev.rtc_offset_us = rtc + time.time_ns() // 1000 - dev.world.clock.now_us()  # RTC against the host's clock
    if wdt_ms > 0 and left > 0:
        from cpsim.machine_timer import carry_wdt

        carry_wdt(dev, wdt_ms, left)


def _save_chip(soft):
    from cpsim import chipstate
    from cpsim.world import current

    chipstate.save(current(), soft)


def _soft_exit():
    _save_chip(True)


def _exit(cause):
    _save_chip(cause == 5)  # 5: machine.SOFT_RESET; the watchdog runs on
    raise SystemExit(64 + cause)

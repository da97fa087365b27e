# What an ESP32 keeps through a reset, for a virtual badge, whose VM ends at
# every reset and starts again (cpsim/default_device.py, host_tools/vbadge):
#   - the RTC (the system time machine.RTC and time.time() read): every reset
#     but a power-on. ESP-IDF keeps the boot time in RTC registers and the
#     RTC timer counts on through a CPU reset (ESP-IDF, System Time); so the
#     clock the desk set survives the app's restarts, a watchdog reset, a
#     deep sleep, and is lost when the battery is.
#   - the task watchdog: a soft reset (machine.soft_reset(), Ctrl-D), which
#     on the ESP32 port stops the app's timers but not the watchdog
#     (cpsim.machine_timer.reset_device keep_wdt). A host tool that
#     soft-resets a badge whose app started one must feed it from then on.
# They go to a small file in the badge folder (Device.chip_file) as the VM
# ends (save), and come back when the next VM powers the device up
# (default_device._restore_chip). The host deletes the file at power-on
# (VirtualBadge.start). The RTC is kept against the host's own clock
# (time.time_ns), which runs on while no VM does.
import time


def _host_us():
    return time.time_ns() // 1000


def save(dev, soft):
    """Write what survives this reset (soft: a soft reset, whose watchdog
    runs on). Once per VM; never raises (the VM is ending)."""
    path = getattr(dev, "chip_file", None)
    if not path or getattr(dev, "chip_saved", False):
        return
    dev.chip_saved = True
    try:
        # room to write in, whatever the firmware left of the heap: a piece of
        # the virtual badge's ballast (host_tools/vbadge/boot_shim.py: its
        # list of pieces, or a tuple that starts with it)
        b = getattr(dev, "heap_ballast", None)
        if isinstance(b, tuple):
            b = b[0]
        if isinstance(b, list) and b:
            b[0] = None
            import gc

            gc.collect()
        now = dev.world.clock.now_us()
        rtc = now + getattr(dev, "rtc_offset_us", 0) + dev.clock_err_us  # what machine.RTC reads (µs since 2000)
        w = dev.wdt if soft else None
        left = 0
        if w is not None and w._ev is not None:
            left = (w._ev[0] - now) // 1000
        with open(path, "w") as f:
            f.write("%d %d %d\n" % (rtc - _host_us(), w._timeout_us // 1000 if left > 0 else 0, left))
    except Exception as e:  # the chip keeps it; the emulator may lose it, never the badge's exit
        try:
            dev.note("warn", "RTC and watchdog not kept through this reset: %r" % (e,))  # (on the host's stderr)
        except Exception:
            pass

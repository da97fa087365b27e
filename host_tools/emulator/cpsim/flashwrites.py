# What a pin writes to its flash, for the power model: under CPython a pin's
# filesystem is a host folder (cpsim.world: Device.flash_dir) that the
# firmware reaches with the builtin open(). install() wraps open() once so
# that a file a bound pin opens for writing counts, in that pin's
# accounting (cpsim.accounting), the bytes written ("flash.bytes") and, when
# it is closed having written any, one write session ("flash.writes"). The
# power model prices a session as littlefs on the ESP32's NOR flash costs it
# (host_tools/power: a sector erased and pages programmed, docs/power.md).
# Everything else (no pin bound, a pin without a folder, reading) gets the
# plain file, and so do files the host writes for a pin before its world
# runs (provisioning). The VM's open() is its own and is not counted.
import builtins
import sys

_WRITING = ("w", "a", "+", "x")


class _Counted:
    """A file of a pin, counting its writes; everything else is the file's."""

    def __init__(self, f, acct):
        self._f = f
        self._acct = acct
        self._bytes = 0

    def write(self, data):
        n = self._f.write(data)
        k = len(data) if n is None else n
        self._bytes += k
        self._acct.count("flash.bytes", k)
        return n

    def close(self):
        if self._bytes:
            self._acct.count("flash.writes")
            self._bytes = 0
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _bound_acct():
    from cpsim import world

    dev = world._state["device"]
    if dev is None or dev.flash_dir is None or not dev.world.running:
        return None  # (not running: the host provisioning the pin's files, not its firmware)
    return dev.acct


def install():
    """Wrap builtins.open (CPython; once): idempotent."""
    if sys.implementation.name == "micropython" or getattr(builtins.open, "cpsim_counted", False):
        return
    real = builtins.open

    def open(file, mode="r", *args, **kwargs):  # noqa: A001 - it is open()
        f = real(file, mode, *args, **kwargs)
        if any(c in mode for c in _WRITING):
            acct = _bound_acct()
            if acct is not None:
                return _Counted(f, acct)
        return f

    open.cpsim_counted = True
    open.cpsim_real = real
    builtins.open = open

"""The MicroPython unix-port binary as a badge's CPU: finding it, what it
says about itself, the heap it gets, and starting and ending one VM on a pty
of its own.

Kept apart from the badge so that the one place that knows how the VM is
launched (controlling terminal, tty mode, process group) is where the
reasons for each choice are written down.
"""
import os
import signal
import subprocess
import sys
import termios

from host_tools.emulator.cpsim.resident import RUNTIME_BYTES
from host_tools.fw.vm import micropython_binary, vm_heap  # noqa: F401 (micropython_binary: re-exported)


_machine_cache = {}


def vm_machine(exe):
    """The unix port's banner machine text (sys.implementation._machine)."""
    if exe not in _machine_cache:
        out = subprocess.run([exe, "-c", "import sys; print(sys.implementation._machine)"],
                             capture_output=True, timeout=30, check=True)
        _machine_cache[exe] = out.stdout.strip()
    return _machine_cache[exe]


# Room for what the probe does not load: the boot shim itself (its code and
# the badge's paths) and the air client's connection. An upper bound only:
# the shim's ballast gives the firmware exactly its share (boot_shim.py).
SHIM_MARGIN = 32 * 1024


def default_heap(exe, board=None, share_extra=0):
    """-X heapsize for a badge: the pin's heap in the VM's words, the
    emulator's resident size with this board (host_tools/fw/vm.py) and its
    run-time state (cpsim.resident.RUNTIME_BYTES), with a margin the boot
    shim's ballast takes back; share_extra bytes more for the firmware."""
    env = dict(os.environ)
    env.pop("CLOUDPIN_NVS_FILE", None)
    env.pop("CLOUDPIN_EMU_BOARD", None)
    if board is not None:
        env["CLOUDPIN_EMU_BOARD"] = str(board)
    env["CLOUDPIN_EMU_DISPLAY"] = "display.st7789"  # in a file, as the badge keeps it: not in the heap
    env["CLOUDPIN_CHIP_FILE"] = os.devnull  # what carries the RTC through a reset, measured too (cpsim/chipstate.py)
    # Every emulated module the firmware may load, and the board's models.
    heap = vm_heap(exe, "from cpsim import resident\nresident.power_on(air=True)\nimport machine\nmachine.Pin(0)", env)
    if not heap.isdigit():
        return heap  # CLOUDPIN_MP_HEAP: given by hand
    return str(int(heap) + RUNTIME_BYTES + SHIM_MARGIN + share_extra)


# Started as the VM's parent: takes the VM's pty as controlling terminal, so
# that the VM gets SIGHUP and ends when the badge's side closes (an unplug, or
# a host process that died), and becomes the VM.
_LAUNCH = ("import os, sys, fcntl, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
           "os.execv(sys.argv[1], sys.argv[1:])")


def _vm_tty_settings(fd):
    # The VM saves these as its "original" mode and restores them while code
    # runs: no echo, no line editing, no output translation (the proxy cooks
    # newlines as the ESP32's stdout does), and no signals: 0x03 is a byte
    # like any other, and the proxy alone turns Ctrl-C into SIGINT
    # (vm_interrupt.py). A tty-made SIGINT kills the VM whenever it is not
    # executing code (the unix port installs its SIGINT handler only
    # meanwhile, SIG_DFL otherwise) and may land anywhere in it.
    a = termios.tcgetattr(fd)
    a[0] = 0
    a[1] = 0
    a[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
    a[3] = 0
    cc = a[6]
    for i in range(len(cc)):
        cc[i] = 0
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


def spawn_vm(exe, heap, source, cwd, env):
    """Run `source` in a new VM, then its REPL, on a pty of its own:
    (Popen, non-blocking master fd of that pty)."""
    master, slave = os.openpty()
    _vm_tty_settings(slave)
    args = [sys.executable, "-c", _LAUNCH, exe, "-X", "heapsize=%s" % heap, "-i", "-c", source]
    try:
        vm = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                              env=env, start_new_session=True, close_fds=True)
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return vm, master


def kill_vm(vm, fd):
    """End a VM from spawn_vm at once, as a power cut would, and close its pty."""
    try:
        os.killpg(vm.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    vm.wait()
    close_quietly(fd)


def close_quietly(*fds):
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

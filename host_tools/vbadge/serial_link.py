"""The USB-serial side of a virtual badge: the pty the host opens, bytes
paced to the baud rate in both directions, and the one thread that relays
them between that pty and the VM's.

It exists so that the transport (pacing, back-pressure, a port that vanishes
on unplug) is apart from what the bytes mean (console.py) and from the VM's
life (badge.py). A board's UART sends 10 bits a byte; output sent while no
program reads the port is lost once the port's buffer is full, as on a UART.
"""
import errno
import os
import select
import sys
import time
import tty

from host_tools.vbadge.vm_interrupt import AS_INPUT, SENT
from host_tools.vbadge.vm_process import close_quietly

_BUFFER = 512  # bytes queued per direction before the proxy stops reading


class Pacer:
    """Token bucket at baud/10 bytes per second; bursts after idle are capped
    at 20 ms worth so a long transfer averages exactly the line rate."""

    def __init__(self, baud):
        self.rate = baud / 10.0
        self.cap = max(1.0, self.rate * 0.02)
        self.credit = 0.0
        self.t = time.monotonic()

    def take(self, want):
        now = time.monotonic()
        self.credit = min(self.cap, self.credit + (now - self.t) * self.rate)
        self.t = now
        n = min(want, int(self.credit))
        self.credit -= n
        return n

    def refund(self, n):
        self.credit += n

    def wait(self):
        return max(0.001, (1.0 - self.credit) / self.rate)


class SerialLink:
    """Mixin of VirtualBadge: the host's pty and the relay thread. Owns the
    paced queues _to_vm and _to_host; hands what it reads to the console
    (console.py) and a VM that ended to the badge (badge.py)."""

    def _reset_link(self):
        self._to_vm = bytearray()  # host bytes for the VM, paced
        self._to_host = bytearray()  # VM output for the host, paced
        self._vm_blocked = False
        self._in_pace = Pacer(self.baud)
        self._out_pace = Pacer(self.baud)

    def _open_port(self):
        self._wake_r, self._wake_w = os.pipe()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # what a USB-serial port looks like to the host
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self.port)
            os.replace(tmp, self.link)

    def _close_port(self):
        close_quietly(self._master, self._slave, self._wake_r, self._wake_w)
        self._master = self._slave = self._wake_r = self._wake_w = None
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        self.port = None

    def _loop(self):
        while not self._stopping:
            try:
                self._step()
            except Exception as e:  # keep the badge alive; report the bug
                sys.stderr.write("%s: proxy error %r\n" % (self.name, e))
                time.sleep(0.05)

    def _step(self):
        if self._to_vm and not self._vm_blocked and time.monotonic() >= self._retry_at:
            n = self._in_pace.take(len(self._to_vm))
            if n:
                self._write_vm(n)
        if self._to_host:
            n = self._out_pace.take(len(self._to_host))
            if n:
                self._write_host(n)
        rl = [self._wake_r]
        wl = []
        if len(self._to_vm) + len(self._pending) < _BUFFER:
            rl.append(self._master)
        if len(self._to_host) < _BUFFER:
            rl.append(self._vm_fd)
        if self._vm_blocked:
            wl.append(self._vm_fd)
        timeout = None
        if self._to_vm and not self._vm_blocked:
            timeout = max(self._in_pace.wait(), self._retry_at - time.monotonic())
        if self._to_host:
            t = self._out_pace.wait()
            timeout = t if timeout is None else min(timeout, t)
        if self._hold or self._bhold:
            timeout = 0.05 if timeout is None else min(timeout, 0.05)
        r, w, _ = select.select(rl, wl, [], timeout)
        if self._vm_fd in w:
            self._vm_blocked = False
        if self._master in r:
            try:
                data = os.read(self._master, 1024)
            except (BlockingIOError, InterruptedError):
                data = b""
            if data:
                self._from_host(data)
        if self._vm_fd in r:
            try:
                data = os.read(self._vm_fd, 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            if data:
                self._from_vm(data)
            else:
                self._vm_exited()
        elif not r and (self._hold or self._bhold):
            self._flush_holds()

    def _write_vm(self, n):
        chunk = bytes(self._to_vm[:n])
        i = chunk.find(b"\x03")
        if i == 0:
            if self._ctrl_c():
                del self._to_vm[:1]
                self._in_pace.refund(n - 1)
            else:
                self._in_pace.refund(n)
            return
        if i > 0:
            self._in_pace.refund(n - i)
            chunk = chunk[:i]
        try:
            done = os.write(self._vm_fd, chunk)
        except BlockingIOError:
            done = 0
        except OSError:
            done = len(chunk)  # VM gone; the read side reboots it
        if done < len(chunk):
            self._vm_blocked = True
            self._in_pace.refund(len(chunk) - done)
        del self._to_vm[:done]

    def _ctrl_c(self):
        """Ctrl-C as a board's UART interrupt handles it: KeyboardInterrupt
        if the running code has Ctrl-C as interrupt character, else a byte of
        input for the REPL (vm_interrupt.py). False: not delivered yet, call
        again (later bytes wait, as in a FIFO)."""
        got = self._interrupt.deliver()
        if got == SENT:
            return True
        if got != AS_INPUT:
            self._retry_at = time.monotonic() + got
            return False
        try:
            os.write(self._vm_fd, b"\x03")
        except BlockingIOError:
            self._vm_blocked = True
            return False
        except OSError:
            pass  # VM gone; the read side reboots it
        return True

    def _write_host(self, n):
        try:
            done = os.write(self._master, bytes(self._to_host[:n]))
        except BlockingIOError:
            done = n  # nobody reading and the port buffer is full: lost, as on a UART
        except OSError:
            done = n
        del self._to_host[:done]

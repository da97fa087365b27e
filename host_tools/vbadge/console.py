"""What a board's console makes of the bytes between the host and the VM:
the virtual badge's REPL modes, its boot phases and the banner it shows.

It exists so that the rules that make the unix port look like an ESP32 on
its UART live in one place: input the VM cannot take yet waits (as in a
board's UART buffer), the boot shim's markers (boot_shim.py) move the badge
through its phases, the unix banner becomes the board's, newlines are cooked
as the ESP32's stdout does, and the proxy tracks whether the REPL is friendly
or raw so that a soft reset comes back to the same one.

Phases of one VM: boot -> run -> [enter1 -> enter2 ->] ready. A VM heading
for the raw REPL (a soft reset from it) is walked there by the proxy:
enter1 waits for the friendly prompt, sends Ctrl-A, enter2 waits for the raw
banner.
"""
import os
import random
import re
import sys
import time

from host_tools.vbadge.boot_shim import MARK, MARK_END

# What stock ESP32_GENERIC firmware prints (ports/esp32, shared/runtime/pyexec.c).
BOARD_MACHINE = b"Generic ESP32 module with ESP32"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_HELP = b'Type "help()" for more information.'

_LONE_LF = re.compile(rb"(?<!\r)\n")
# Output after a MARK is held this long for its MARK_END (a warn: marker
# carries up to 400 characters of text); beyond that it was not a marker.
_MARK_MAX = 512


def partial_tail(buf, pattern):
    """Length of the longest suffix of buf that is a proper prefix of pattern."""
    for k in range(min(len(buf), len(pattern) - 1), 0, -1):
        if buf.endswith(pattern[:k]):
            return k
    return 0


class BoardConsole:
    """Mixin of VirtualBadge: the console side of the proxy. Owns the
    phase, REPL mode and the output held back while it may be the start of a
    marker or banner; queues input on the serial link's _to_vm and output on
    its _to_host (serial_link.py)."""

    def _reset_console(self):
        self._pending = bytearray()  # host bytes held until the VM can take them
        self._hold = b""  # VM output that may be the start of a marker
        self._bhold = b""  # output that may be the start of the banner text
        self._tail = b""  # recent output, for REPL mode tracking
        self._last_cr = False
        self._mode = "friendly"
        self._phase = "boot"
        self._target = "friendly"

    # ---- host -> VM ----

    def _from_host(self, data):
        phase = self._phase
        if phase == "ready" or (phase == "run" and self._target == "friendly"):
            self._to_vm += data
        elif phase == "run":
            # Only boot.py runs before the raw REPL: Ctrl-C may stop it, and
            # everything else waits for the raw REPL, as in a board's UART buffer.
            self._to_vm += b"\x03" * data.count(3)
            self._pending += data.replace(b"\x03", b"")
        else:
            self._pending += data

    # ---- VM -> host ----

    def _from_vm(self, data):
        # The ESP32 writes text with "\r\n"; the unix port's print writes "\n".
        if self._last_cr and data[:1] == b"\n":  # pairs with the "\r" that ended the last read
            data = b"\n" + _LONE_LF.sub(b"\r\n", data[1:])
        else:
            data = _LONE_LF.sub(b"\r\n", data)
        self._last_cr = data.endswith(b"\r")
        buf = self._hold + data
        self._hold = b""
        while buf:
            if self._phase in ("enter1", "enter2"):
                token = b">>> " if self._phase == "enter1" else RAW_BANNER + b">"
                i = buf.find(token)
                if i < 0:
                    k = partial_tail(buf, token)
                    self._hold = buf[len(buf) - k:] if k else b""
                    return
                buf = buf[i + len(token):]
                if self._phase == "enter1":
                    self._phase = "enter2"
                    os.write(self._vm_fd, b"\x01")
                else:
                    self._emit(RAW_BANNER + b">")
                    self._enter_ready("raw")
                continue
            i = buf.find(MARK)
            if i < 0:
                k = partial_tail(buf, MARK)
                self._emit_vm(buf[:len(buf) - k])
                self._hold = buf[len(buf) - k:] if k else b""
                return
            j = buf.find(MARK_END, i)
            if j < 0 and len(buf) - i < _MARK_MAX:
                self._emit_vm(buf[:i])
                self._hold = buf[i:]
                return
            if j < 0:  # not a marker after all
                self._emit_vm(buf[:i + 1])
                buf = buf[i + 1:]
                continue
            self._emit_vm(buf[:i])
            cmd = buf[i + len(MARK):j]
            buf = buf[j + 1:]
            if self._marker(cmd):
                return  # the VM was restarted: its remaining output is gone

    def _marker(self, cmd):
        if cmd == b"run":
            self._phase = "run"
            if self._target == "friendly":
                self._to_vm += self._pending
                self._pending = bytearray()
        elif cmd == b"repl":
            if self._target == "friendly":
                self._enter_ready("friendly")
            else:
                self._phase = "enter1"
        elif cmd.startswith(b"exit:"):
            self._reboot(int(cmd[5:]))
            return True
        elif cmd.startswith(b"warn:"):
            text = cmd[5:].decode("utf-8", "replace")
            self.warnings.append(text)
            sys.stderr.write("%s: %s\n" % (self.name, text))
            sys.stderr.flush()
        elif cmd == b"kbd":
            # The VM took a KeyboardInterrupt where it could not raise it
            # (the shim's FS.stat): the same Ctrl-C again, ahead of later input,
            # a moment later, when the VM has moved on from there.
            self._interrupt.taken()
            self._to_vm[:0] = b"\x03"
            self._retry_at = time.monotonic() + 0.001 + random.random() * 0.004
        return False

    def _enter_ready(self, mode):
        self._phase = "ready"
        self._mode = mode
        self._tail = b""  # what an earlier VM printed says nothing about this one
        self._to_vm += self._pending
        self._pending = bytearray()
        self._repl.set()

    def _emit_vm(self, out):
        """VM output on its way to the host: the unix banner becomes the board's."""
        if not out and not self._bhold:
            return
        buf = self._bhold + out
        buf = buf.replace(self._banner_from, self._banner_to)
        k = partial_tail(buf, self._banner_from)
        self._bhold = buf[len(buf) - k:] if k else b""
        self._emit(buf[:len(buf) - k])

    def _emit(self, out):
        if not out:
            return
        self._to_host += out
        if self._phase == "ready":
            seen = self._tail + out
            r, f = seen.rfind(RAW_BANNER), seen.rfind(FRIENDLY_HELP)
            if r > f:
                self._mode = "raw"
            elif f > r:
                self._mode = "friendly"
            self._tail = seen[-40:]

    def _flush_holds(self):
        hold, self._hold = self._hold, b""
        if hold and self._phase not in ("enter1", "enter2"):
            self._emit_vm(hold)
        bhold, self._bhold = self._bhold, b""
        self._emit(bhold)

"""One reader thread per serial port: lines in, records out, through unplugs
and resets.

Opening a port must not reset the badge. On ESP32 boards the USB-UART's DTR
and RTS drive EN (reset) and IO0 (boot mode) through two transistors:
  DTR RTS  ->  EN   IO0
   1   1       run  high     (pyserial's default state after open)
   0   0       run  high
   0   1       RESET         (esptool pulls this to reset)
   1   0       run  LOW      (boot mode, sampled only at reset)
(1 = asserted). Linux asserts both lines together when a port is opened and
drops both together when it is closed (HUPCL), which leaves EN alone, so
the reader keeps pyserial's default (both asserted) and never changes them:
clearing them one at a time after opening ("dtr=False, rts=False") would
pass through 0/1 and reset the badge on the way. Boards with native USB
(ESP32-S3/C3 USB-Serial/JTAG) follow the same table. The port is opened
exclusively, so a deploy cannot interleave its REPL traffic with the reader.

A port that disappears (unplugged; a native-USB board resetting) is waited
for and reopened; a reset on a USB-UART board keeps the port and shows up in
the stream as the ROM's "rst:" line.
"""
import datetime
import os
import threading
import time

import serial

from host_tools.link import logparse

BAUD = 115200
REOPEN_EVERY = 0.05  # seconds between looks for a vanished port: a pin's boot lines come fast
IDLE_FLUSH = 0.5  # a partial line (a prompt) is passed on after this long


def open_port(port, baud=BAUD, timeout=0.1):
    """pyserial Serial on `port` without touching DTR/RTS (see above)."""
    s = serial.Serial()
    s.port = port
    s.baudrate = baud
    s.timeout = timeout
    s.exclusive = True
    s.dtr = True  # pyserial's defaults, spelt out: both asserted, as the kernel sets them on open
    s.rts = True
    s.open()
    return s


IDENTIFY = """
try:
    from cloudpin import identity as _i
    _b = _i.public(_i.load(_i.open_nvs()))["badge_id"]
except Exception:
    _b = None
if not _b:
    import machine, binascii
    _b = "uid-" + binascii.hexlify(machine.unique_id()).decode()
print(_b)
"""


def identify(port, baud=BAUD):
    """(open Serial, badge id or None, what the badge printed from its 'soft
    reboot' line on while the session waited for it): the id from the
    badge's NVS identity (or its chip's unique_id) over the raw REPL. This
    stops the app (Ctrl-C) and soft-resets it afterwards, so it is opt-in
    (`cloudpin logs --identify`). The port stays open and the restart's
    output is handed on, so the restarted app's first lines are not lost."""
    from host_tools.link.session import LinkError, SerialSession

    badge = SerialSession(port, baud, wake_timeout=3)
    try:
        badge.connect()
        out = badge.run(IDENTIFY, timeout=5).strip().splitlines()
        badge.restart()
    except LinkError:
        badge.close()  # the app runs again, whatever went wrong
        return open_port(port, baud), None, b""
    first = badge.reboot_output
    s = badge.detach()
    s.timeout = 0.1
    return s, (out[-1].strip() if out else None), first


class PortReader(threading.Thread):
    """Reads `port` until stop is set. on_record(rec) gets every line as a
    logparse record plus port, badge and host_time; on_status(port, text)
    hears connects and disconnects. `badge` is learnt from the stream (the
    firmware's `badge=` announcement) or, with identify, asked for at each
    connection; until then it is `fallback` (e.g. the adapter's serial number)."""

    def __init__(self, port, on_record, on_status=None, stop=None, baud=BAUD, identify_badge=False, fallback=None):
        super().__init__(name="logs-" + os.path.basename(port), daemon=True)
        self.port = port
        self.on_record = on_record
        self.on_status = on_status or (lambda port, text: None)
        self.stop_event = stop or threading.Event()
        self.baud = baud
        self.identify_badge = identify_badge
        self.fallback = fallback
        self.badge = None
        self.connections = 0
        self.classifier = logparse.Classifier()

    def run(self):
        waiting = False
        while not self.stop_event.is_set():
            if not os.path.exists(self.port):
                if not waiting:
                    self.on_status(self.port, "waiting for the port")
                    waiting = True
                self.stop_event.wait(REOPEN_EVERY)
                continue
            waiting = False
            try:
                first = b""
                if self.identify_badge:
                    s, self.badge, first = identify(self.port, self.baud)
                else:
                    s = open_port(self.port, self.baud)
            except (serial.SerialException, OSError) as e:
                self.on_status(self.port, "cannot open: %s" % _why(e))
                self.stop_event.wait(1.0)
                continue
            self.connections += 1
            self.on_status(self.port, "connected" + (" (badge %s)" % self.badge if self.badge else ""))
            try:
                self._read(s, first)
                # Stopped: what is left of a partial line still counts.
            except (serial.SerialException, OSError):
                self.on_status(self.port, "disconnected; waiting for it to come back")
            finally:
                try:
                    s.close()
                except Exception:  # already gone with the device
                    pass
            # A new connection may be a different badge, mid-way through anything.
            self.classifier.reset()
            self.badge = None

    def _read(self, s, first=b""):
        buf = first
        last = time.monotonic()
        while not self.stop_event.is_set():
            data = s.read(s.in_waiting or 1)
            now = time.monotonic()
            if data:
                buf += data
                last = now
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._line(line)
            elif buf and now - last > IDLE_FLUSH:
                self._line(buf)
                buf = b""
        if buf:
            self._line(buf)

    def _line(self, raw):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return
        rec = self.classifier.feed(text)
        self.badge = logparse.badge_id_in(rec) or self.badge
        rec["port"] = self.port
        rec["badge"] = self.badge or self.fallback
        rec["host_time"] = datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")
        self.on_record(rec)


def _why(e):
    text = str(e)
    if "exclusively lock" in text or "Resource temporarily unavailable" in text or "busy" in text.lower():
        return "port busy (another program has it open: a deploy, mpremote, screen?)"
    if "Permission denied" in text:
        return "permission denied (add yourself to the dialout group)"
    return text

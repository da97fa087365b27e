"""One running badge on a serial port, in MicroPython's raw REPL, through
mpremote's SerialTransport. Every host tool that talks to a badge's REPL
(deploy, the desk, `logs --identify`, the demo) opens it through SerialSession, so
waking the badge, out-of-memory recovery and the errors an operator sees
are the same everywhere.

Serial lines: the port is opened the way pyserial always does (DTR and RTS
asserted together, which an ESP32's auto-reset circuit ignores) and never
toggled, so connecting does not reset a badge (host_tools/link/logreader.py has
the table).

Waking: the app is stopped with Ctrl-C, not a reset (the firmware keeps
feeding its watchdog from a timer once interrupted). One Ctrl-C per round,
as mpremote sends it since MicroPython PR #15991: the double Ctrl-C of the
old pyboard.py served only the stm port's preemptive interrupt. On an ESP32
(UART or USB-Serial/JTAG) two Ctrl-Cs sent together arrive in one receive
callback and set the same pending KeyboardInterrupt twice, so the second
buys nothing; if they do arrive apart, the second lands in the app's
KeyboardInterrupt handler (cloudpin/app.py), the one that arms the
watchdog-feeding timer, and the badge resets in the middle of the session.
A round that shows no prompt sends the next one, by then after the handler.
Likewise a badge just plugged in is booting: a Ctrl-C that lands in
MicroPython's own start-up (_boot.py mounts the filesystem) can leave it
without its files, so while boot output arrives the session first waits
for a sign that user code runs.
"""
import contextlib
import logging
import os
import re
import time

BAUD = 115200
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
# mpremote reads ptys one blocking byte at a time: a bounded read keeps its
# own timeouts working on a silent badge, and a generous one lets a busy badge
# take its time in a raw paste.
READ_TIMEOUT = 10
# Output that shows MicroPython runs user code (safe to interrupt): a CloudPin
# log line "I 1234 app ...", a traceback, the REPL banner or a prompt.
_ALIVE = re.compile(rb"(^|\n)[DIWE] \d+ \S+ |Traceback|MicroPython v|MicroPython \w|>>> |raw REPL")
_COLLECT = "import gc\ngc.collect()\n"  # the app stopped by Ctrl-C leaves garbage: collect before compiling
# The watchdog a stopped app leaves running: board.build() starts one of
# WDT_MS (firmware/cloudpin/board.py) and the app's Ctrl-C handler feeds it
# from a Timer (board.wdt_keeper). A soft reset stops that Timer, not the
# watchdog (an ESP32's cannot be stopped), which would cut the session ~8 s
# later: after one, the session feeds it from a Timer of its own until the
# app restarts and takes over. Defined at the REPL, not imported from the
# package (a deploy may be rewriting the romfs partition it runs from).
WDT_MS = 8000
_APP_RAN = "import sys\nprint('cloudpin.board' in sys.modules)\n"
_FEED = ("import machine\n_cp_wd = machine.WDT(timeout=%d)\n_cp_wt = machine.Timer(0)\n"
         "_cp_wt.init(period=1000, mode=machine.Timer.PERIODIC, callback=lambda t: _cp_wd.feed())\n" % WDT_MS)


class LinkError(RuntimeError):
    """A badge the session could not work with; the message is meant for the
    operator and never holds what a command sent (secrets travel in them)."""


class BadgeGone(LinkError):
    """The badge went away or cannot be reached (unplugged, port vanished or
    held by another program, I/O error)."""


class BadgeError(LinkError):
    """The badge answered, but not as it should (no MicroPython, an error on
    the badge, a garbled exchange)."""


class BadgeOutOfMemory(BadgeError):
    """The badge could not compile or run a command: its heap is full or too
    fragmented (typically by the app stopped with Ctrl-C)."""


class SerialSession:
    """A badge's raw REPL. connect() wakes it; run() executes code; close()
    lets go (by default restarting the app, as a badge with a battery keeps
    running after it is unplugged and must not stay stopped at the REPL).
    Methods raise LinkError subclasses only."""

    def __init__(self, port, baud=BAUD, wake_timeout=8.0, boot_wait=4.0, log=None):
        self.port = port
        self.baud = baud
        self.wake_timeout = wake_timeout
        self.boot_wait = boot_wait
        self.log = log or logging.getLogger("cloudpin.link")
        self.t = None
        self.watchdog = False  # a soft reset leaves the app's watchdog running: fed by the session (after_oom)
        self.reboot_output = b""  # what restart() read from the 'soft reboot' line on (for a reader after detach())

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def _gone_or_error(self, e, what):
        if isinstance(e, OSError) or not os.path.exists(self.port):
            return BadgeGone("%s: badge unplugged" % self.port)
        return BadgeError("%s: %s: %s" % (self.port, what, e))

    # -- connection -------------------------------------------------------------
    def connect(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        if not os.path.exists(self.port):
            raise BadgeGone("%s: no such port (unplugged? list ports with: python -m serial.tools.list_ports)"
                            % self.port)
        if not os.access(self.port, os.R_OK | os.W_OK):
            raise BadgeError("%s: permission denied (add yourself to the dialout group)" % self.port)
        try:
            self.t = SerialTransport(self.port, baudrate=self.baud, timeout=READ_TIMEOUT)
        except TransportError:
            raise BadgeGone("%s: port busy: another program has it open (mpremote, screen, cloudpin logs?)"
                            % self.port) from None
        except OSError as e:
            raise self._gone_or_error(e, "cannot open the port") from None
        try:
            seen, prompt = self._wake()
            if not prompt and not seen:
                raise BadgeError("%s: the badge is not answering (powered? the right port? is the baud rate %d "
                                 "right?)" % (self.port, self.baud))
            if not prompt:
                raise BadgeError("%s: not a MicroPython REPL (is MicroPython flashed? `cloudpin flash`); it said %r"
                                 % (self.port, seen[-80:]))
            try:
                self.t.enter_raw_repl(soft_reset=False, timeout_overall=5)
            except TransportError:
                raise BadgeError("%s: the badge did not enter the raw REPL; it said %r" % (self.port, seen[-80:])) \
                    from None
        except OSError as e:
            self.close(restart=False)
            raise self._gone_or_error(e, "cannot wake the badge") from None
        except BaseException:
            self.close(restart=False)
            raise

    @contextlib.contextmanager
    def _short_reads(self):
        s = self.t.serial
        timeout, s.timeout = s.timeout, 0.05
        try:
            yield s
        finally:
            with contextlib.suppress(Exception):
                s.timeout = timeout

    def _read_for(self, endings, seconds):
        """Bytes until one of `endings` arrives or `seconds` pass, even on a
        port that never stops talking (mpremote's read_until checks its
        overall timeout only while the line is quiet)."""
        s = self.t.serial
        data = b""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            chunk = s.read(s.in_waiting or 1)
            if chunk:
                data += chunk
                if any(e in data[-len(e) - len(chunk):] for e in endings):
                    break
        return data

    def _wait_for_user_code(self):
        """While boot output arrives, wait (at most boot_wait) for a sign that
        user code runs (see the module docstring); what was heard."""
        seen = self._read_for((b"\n",), 0.3)
        end = time.monotonic() + self.boot_wait
        # Quiet is no sign: _boot.py can be silent for a while (a first boot
        # formats the filesystem) before boot.py and main.py print.
        while seen and not _ALIVE.search(seen) and time.monotonic() < end:
            seen = seen[-200:] + self._read_for((b"\n",), 0.5)
        return seen

    def _wake(self):
        """Ctrl-C until a prompt shows (a badge just plugged in may still be
        booting and miss one); Ctrl-A in case it sits in the raw REPL already,
        where Ctrl-C prints nothing. Returns (everything received, whether a
        MicroPython prompt showed)."""
        with self._short_reads() as s:
            seen = self._wait_for_user_code()
            deadline = time.monotonic() + self.wake_timeout
            while time.monotonic() < deadline:
                s.write(b"\r\x03")  # one per round (see the module docstring)
                seen += self._read_for((b">>> ", RAW_BANNER), 0.8)
                if b">>> " in seen[-400:] or RAW_BANNER in seen[-400:]:
                    return seen, True
                s.write(b"\r\x01")
                seen += self._read_for((RAW_BANNER,), 0.3)
                if RAW_BANNER in seen[-400:]:
                    return seen, True
            return seen, False

    def reconnect(self):
        """A fresh connection to the same badge, the app left stopped."""
        self.close(restart=False)
        self.connect()

    def restart(self):
        """Leave the raw REPL and soft-reset at the friendly prompt, where a
        board runs boot.py and main.py again. True once 'soft reboot' shows."""
        if self.t is None:
            return False
        try:
            with self._short_reads() as s:
                s.write(b"\r\x02")
                self.t.in_raw_repl = False
                self._read_for((b">>> ",), 3)
                s.write(b"\x04")
                data = self._read_for((b"soft reboot\r\n",), 5)
        except OSError:  # unplugged right at the end: it restarts on power-up
            return False
        at = data.find(b"soft reboot\r\n")
        self.reboot_output = data[data.rfind(b"\n", 0, at) + 1:] if at >= 0 else b""
        return at >= 0

    def close(self, restart=True):
        """Let go of the badge; restart: start the app again first if the
        session left it stopped."""
        t = self.t
        if t is None:
            return
        try:
            if t.in_raw_repl and restart:
                self.restart()
            elif t.in_raw_repl:
                t.exit_raw_repl()  # at the friendly prompt, the next connect wakes it at once
        except Exception:  # the port may be gone already; nothing to save
            pass
        finally:
            self.t = None
            try:
                t.close()
            except Exception:  # the port may be gone already; nothing to save
                with contextlib.suppress(Exception):
                    t.serial.close()

    def detach(self):
        """Hand over the open pyserial port (for a reader that goes on
        listening); the session is closed without closing it."""
        t, self.t = self.t, None
        return t.serial

    # -- commands ---------------------------------------------------------------
    def run(self, code, timeout=15, idempotent=False):
        """Execute code in the raw REPL; its printed output. An idempotent
        command whose exchange was garbled (noise on the line, a badge that
        stalled) is tried once more on a fresh connection. A MemoryError on
        the badge raises BadgeOutOfMemory (see after_oom)."""
        from mpremote.transport import TransportError

        if self.t is None:
            raise BadgeGone("%s: not connected" % self.port)
        try:
            out, err = self.t.exec_raw(_COLLECT + code, timeout=timeout)
        except (TransportError, OSError) as e:
            problem = self._gone_or_error(e, "badge stopped answering")
            if isinstance(problem, BadgeGone) or not idempotent:
                raise problem from None
            self.log.warning("%s; reconnecting to try again", problem)
            self.reconnect()
            return self.run(code, timeout)
        if err:
            lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            last = lines[-1] if lines else "an error"
            cls = BadgeOutOfMemory if last.startswith("MemoryError") else BadgeError
            raise cls("%s: the badge reported %s" % (self.port, last))
        return out.decode("utf-8", "replace")

    def soft_reset(self):
        """Soft-reset in the raw REPL: boot.py runs, main.py does not, so the
        app's objects are gone and the heap is whole again. On an ESP32 the
        app's watchdog keeps running: fed from here on once after_oom found
        one (self.watchdog); close() restarts the app, which feeds its own."""
        from mpremote.transport import TransportError

        try:
            self.t.enter_raw_repl(soft_reset=True, timeout_overall=10)
        except (TransportError, OSError) as e:
            raise self._gone_or_error(e, "the badge did not come back from a soft reset") from None
        if self.watchdog:
            self.run(_FEED)

    def after_oom(self, work, on_retry=None):
        """work(), and once more on a soft-reset badge if the badge ran out of
        memory: the stopped app can leave its heap too full or fragmented to
        compile a command. `work` must be idempotent from the start (a soft
        reset also forgets whatever earlier commands defined); the app's
        watchdog is fed while it runs (WDT_MS), however long it takes.
        on_retry(error) hears the reset."""
        try:
            return work()
        except BadgeOutOfMemory as e:
            self.log.warning("%s; soft-resetting it to try again", e)
            if on_retry:
                on_retry(e)
            self.watchdog = self.watchdog or self._app_ran()
            self.soft_reset()
            return work()

    def _app_ran(self):
        """Did the CloudPin app run (so its watchdog does)? Asked before a
        soft reset forgets it; a badge too full to answer is one whose
        stopped app filled its heap."""
        try:
            return self.run(_APP_RAN).strip() != "False"
        except BadgeOutOfMemory:
            return True

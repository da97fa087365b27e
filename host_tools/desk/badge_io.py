"""One badge over its serial port, through mpremote's SerialTransport (raw
REPL: exec/eval). Each step is one short script that calls the firmware's
own modules (cloudpin.identity, owner, selftest) and prints one JSON line,
so the badge's rules (validation, commit-marker order) apply however it is
written, and a step costs one round trip.

Serial lines: the port is opened the way pyserial always does (DTR and RTS
asserted together, which an ESP32's auto-reset circuit ignores) and never
toggled, so plugging into the desk does not reset a badge. The app is
stopped with Ctrl-C, not a reset (the firmware keeps feeding its watchdog
from a timer once interrupted).

Secrets go to the badge inside the write script and come back only from
pair_key(), for a pairing card; they never appear in an error message.
"""
import binascii
import json
import logging
import os
import re
import time
from dataclasses import dataclass

from host_tools import FIRMWARE_DIR

log = logging.getLogger("cloudpin.desk")
_MARK = "@@"
_READ_TIMEOUT = 10
# Output that shows MicroPython runs user code (safe to interrupt): a CloudPin
# log line "I 1234 app ...", a traceback, the REPL banner or a prompt.
_ALIVE = re.compile(rb"(^|\n)[DIWE] \d+ \S+ |Traceback|MicroPython v|MicroPython \w|>>> |raw REPL")


class BadgeGone(Exception):
    """The badge went away (unplugged, port vanished, I/O error)."""


class BadgeError(Exception):
    """The badge answered, but not as it should (no MicroPython, an error on
    the badge, a refused value). The message is meant for the operator."""


def firmware_version(root=FIRMWARE_DIR):
    """VERSION of the firmware tree this tool would deploy."""
    text = (root / "cloudpin" / "__init__.py").read_text()
    m = re.search(r'^VERSION\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise RuntimeError("no VERSION in %s" % (root / "cloudpin" / "__init__.py"))
    return m.group(1)


@dataclass
class BadgeState:
    """What a badge holds, without secrets. version None: no CloudPin app;
    complete False: the app lacks the modules the desk needs."""

    version: str = None
    complete: bool = False
    badge_id: str = None  # 16 hex digits
    prov_gen: int = None
    identity_ok: bool = False  # NVS identity complete (marker set)
    digest: str = None
    owner: dict = None

    @property
    def provisioned(self):
        """A finished provisioning: identity complete and an owner card of the same generation."""
        return bool(self.identity_ok and self.owner and self.owner.get("gen") == self.prov_gen)

    def holds(self, assignment):
        """Does the badge hold exactly what this assignment put there?"""
        return bool(self.provisioned and self.prov_gen == assignment.id and self.digest == assignment.digest
                    and self.badge_id == assignment.badge_id and self.owner.get("acc") == assignment.acc_id)

    def public(self):
        return {"firmware": self.version, "badge_id": self.badge_id, "prov_gen": self.prov_gen,
                "provisioned": self.provisioned, "digest": self.digest, "owner": self.owner}


_INSPECT = """
import json
try:
    from cloudpin import VERSION as _v
except ImportError:
    _v = None
_r = {"version": _v, "complete": False}
try:
    from cloudpin import identity as _i, owner as _o
    _r.update(_i.public(_i.load(_i.open_nvs())))
    _r["owner"] = _o.load()
    _r["complete"] = True
except ImportError:
    pass
print("@@" + json.dumps(_r))
"""

_SET_ID = """
import binascii
from cloudpin import identity as _i
_i.set_badge_id(_i.open_nvs(), binascii.unhexlify(%r))
print("@@1")
"""

_WRITE = """
import json, binascii
from cloudpin import identity as _i, owner as _o
_n = _i.open_nvs()
_i.invalidate(_n)
_o.save(json.loads(%r))
_i.write(_n, binascii.unhexlify(%r), binascii.unhexlify(%r), %d)
print("@@1")
"""

_SELFTEST = """
import json
from cloudpin import selftest as _s
print("@@" + json.dumps(_s.run()))
"""

_PAIR_KEY = """
import binascii
from cloudpin import identity as _i
_k = _i.load(_i.open_nvs())["pair_key"]
print("@@" + (binascii.hexlify(_k).decode() if _k else ""))
"""

_WIPE = """
from cloudpin import identity as _i, owner as _o
_i.wipe(_i.open_nvs())
_o.wipe()
print("@@1")
"""


def state_from(d):
    return BadgeState(d.get("version"), bool(d.get("complete")), d.get("badge_id"), d.get("prov_gen"),
                      bool(d.get("provisioned")), d.get("digest"), d.get("owner"))


class SerialBadge:
    """A badge on a serial port. Methods raise BadgeGone or BadgeError only."""

    def __init__(self, port, baud=115200, connect_timeout=8.0, boot_wait=4.0):
        self.port = port
        self.baud = baud
        self.connect_timeout = connect_timeout
        self.boot_wait = boot_wait
        self.t = None

    # -- connection -------------------------------------------------------
    def _gone_or_error(self, e):
        if isinstance(e, (OSError, BadgeGone)) or not os.path.exists(self.port):
            return BadgeGone("%s: badge disconnected" % self.port)
        return BadgeError("%s: %s" % (self.port, e))

    def connect(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        if not os.path.exists(self.port):
            raise BadgeGone("%s: no such port" % self.port)
        try:
            # timeout: mpremote reads ptys one blocking byte at a time; a
            # bounded read keeps its own timeouts working on a silent badge,
            # and a generous one lets a busy badge take its time in a raw paste.
            self.t = SerialTransport(self.port, baudrate=self.baud, timeout=_READ_TIMEOUT)
        except TransportError:
            raise BadgeGone("%s: cannot open the port (in use by another program?)" % self.port) from None
        except OSError as e:
            raise self._gone_or_error(e) from None
        try:
            self._wake()
            self.t.enter_raw_repl(soft_reset=False, timeout_overall=5)
        except TransportError:
            self.close()
            raise BadgeError("%s: no MicroPython prompt: is MicroPython flashed? (cloudpin flash)" % self.port) \
                from None
        except OSError as e:
            self.close()
            raise self._gone_or_error(e) from None

    def _wake(self):
        """Stop the running app with Ctrl-C until the REPL prompt shows.

        A badge just plugged in is booting. A Ctrl-C that lands in
        MicroPython's own start-up (_boot.py mounts the filesystem) can leave
        the badge without its files, so while boot output is arriving the
        desk first waits for a sign that user code runs: the app's first log
        line, a traceback, the banner or a prompt (at most boot_wait)."""
        serial = self.t.serial
        serial.timeout = 0.05  # short reads while listening (mpremote reads ptys blocking)
        try:
            t0 = time.monotonic()
            seen = self.t.read_until(1, b"\n", timeout=0.3, timeout_overall=0.3)
            while seen and not _ALIVE.search(seen) and time.monotonic() - t0 < self.boot_wait:
                seen = seen[-200:] + self.t.read_until(1, b"\n", timeout=0.3, timeout_overall=0.5)
            deadline = time.monotonic() + self.connect_timeout
            while time.monotonic() < deadline:
                serial.write(b"\r\x03")  # one per round: a second one can hit the next boot stage
                data = self.t.read_until(1, b">>> ", timeout=0.3, timeout_overall=0.8)
                if data.endswith(b">>> ") or b"raw REPL" in data:
                    return
            # No prompt: maybe already in the raw REPL; enter_raw_repl decides.
        finally:
            serial.timeout = _READ_TIMEOUT

    def close(self, restart=True):
        """Let go of the badge. restart: start the app again (a soft reset at
        the REPL, as pressing Ctrl-D there does): a badge with a battery keeps
        running after it is unplugged, and must not stay stopped at the REPL."""
        if self.t is not None:
            t, self.t = self.t, None
            try:
                if t.in_raw_repl:
                    t.exit_raw_repl()
                    if restart:
                        t.read_until(1, b">>> ", timeout=1, timeout_overall=2)
                        t.serial.write(b"\x04")
                        t.read_until(1, b"soft reboot", timeout=1, timeout_overall=2)
                t.close()
            except Exception:  # the port may be gone already; nothing to save
                try:
                    t.serial.close()
                except Exception:
                    pass

    def _run(self, code, timeout=15, retry=True):
        """Run one step's script; its "@@" answer. Every script is idempotent,
        so a garbled exchange (noise on the line, a badge that stalled) is
        retried once on a fresh connection."""
        from mpremote.transport import TransportError

        if self.t is None:
            raise BadgeGone("%s: not connected" % self.port)
        try:
            # The app stopped by Ctrl-C leaves garbage: collect before compiling.
            out, err = self.t.exec_raw("import gc\ngc.collect()\n" + code, timeout=timeout)
        except (TransportError, OSError) as e:
            problem = self._gone_or_error(e)
            if isinstance(problem, BadgeGone) or not retry:
                raise problem from None
            log.warning("%s: %s; reconnecting to try again", self.port, problem)
            self.close(restart=False)
            self.connect()
            return self._run(code, timeout, retry=False)
        if err:
            last = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            if retry and last and last[-1].startswith("MemoryError"):
                # The stopped app can leave the heap too fragmented to compile
                # the step. A soft reset in the raw REPL runs boot.py but not
                # main.py: a clean heap, and every step is idempotent. (On an
                # ESP32 the app's watchdog keeps running; the desk restarts
                # the app when it lets go of the badge.)
                log.warning("%s: badge out of memory; soft-resetting it to try again", self.port)
                try:
                    self.t.enter_raw_repl(soft_reset=True, timeout_overall=10)
                except (TransportError, OSError) as e:
                    raise self._gone_or_error(e) from None
                return self._run(code, timeout, retry=False)
            raise BadgeError("%s: the badge reported %s" % (self.port, last[-1] if last else "an error"))
        for line in reversed(out.decode("utf-8", "replace").splitlines()):
            if line.startswith(_MARK):
                return line[len(_MARK):]
        raise BadgeError("%s: no answer from the badge" % self.port)

    # -- steps --------------------------------------------------------------
    def inspect(self):
        return state_from(json.loads(self._run(_INSPECT)))

    def set_badge_id(self, badge_id):
        self._run(_SET_ID % binascii.hexlify(badge_id).decode())

    def write(self, card, pair_key, id_key, gen):
        self._run(_WRITE % (json.dumps(card, ensure_ascii=False), pair_key.hex(), id_key.hex(), gen))

    def selftest(self):
        return json.loads(self._run(_SELFTEST, timeout=20))

    def pair_key(self):
        k = self._run(_PAIR_KEY)
        return bytes.fromhex(k) if k else None

    def wipe(self):
        self._run(_WIPE)

    # -- firmware updates (the deploy seam) -----------------------------------
    def release(self):
        """Give the port up (for a deploy tool that opens it itself)."""
        self.close(restart=False)


def deploy_updater(board_name):
    """The state machine's firmware updater, through host_tools.deploy when
    that tool is installed (None otherwise: outdated badges are reported).
    The deploy opens the port itself and restarts the app, so the badge's
    connection is given up around it and opened again after."""
    try:
        from host_tools import deploy
        from host_tools.boards import load_board
    except ImportError:
        return None
    if not hasattr(deploy, "deploy_badge"):
        return None
    board = load_board(board_name)

    def update(badge, progress):
        total = [0, 0]

        def note(event, **info):
            if event == "plan":
                total[0] = info.get("total") or 0
            elif event == "bytes" and total[0]:
                total[1] += info.get("n", 0)
                progress(min(1.0, total[1] / total[0]))

        badge.release()
        try:
            with deploy.Badge(badge.port, badge.baud) as conn:
                deploy.deploy_badge(conn, board, progress=note)
        except deploy.DeployError as e:
            if not os.path.exists(badge.port):
                raise BadgeGone("%s: badge disconnected" % badge.port) from None
            raise BadgeError(str(e)) from None
        badge.connect()

    return update

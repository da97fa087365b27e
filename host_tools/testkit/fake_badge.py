"""An in-process badge for tests and the fault-injection harness. It runs the
firmware's own cloudpin.identity and cloudpin.owner (the real write order
and validation) over an in-memory NVS and a folder, and can lose power at
any NVS operation or halfway through writing the owner card, as a badge
pulled out of the desk would.

Same interface as badge_io.SerialBadge: connect, inspect, set_badge_id,
write, selftest, phone_check, pair_key, wipe, close.
"""
import os

from host_tools import firmware_on_path
from host_tools.desk.badge_io import BadgeGone, BadgeState, firmware_version


def firmware():
    """(identity, owner) modules from the firmware tree, importable in CPython."""
    # The emulator supplies CPython's `micropython` (const, viper...): a
    # private stand-in here would be what later firmware imports in the same
    # process get (`cloudpin bench all` runs the simulator after the desk).
    firmware_on_path()
    from cloudpin import identity, owner

    return identity, owner


class _Cut(Exception):
    pass


class FakeNVS:
    """esp32.NVS semantics: i32 and blob only, OSError for missing keys,
    durable only after commit(). `tick` runs before every operation."""

    def __init__(self, flash, tick):
        self.flash = flash
        self.pending = dict(flash)
        self.tick = tick

    def set_i32(self, key, value):
        self.tick()
        self.pending[key] = int(value)

    def get_i32(self, key):
        v = self.pending.get(key)
        if not isinstance(v, int):
            raise OSError(-0x1102, "ESP_ERR_NVS_NOT_FOUND")
        return v

    def set_blob(self, key, value):
        self.tick()
        self.pending[key] = bytes(value)

    def get_blob(self, key, buf):
        v = self.pending.get(key)
        if not isinstance(v, bytes):
            raise OSError(-0x1102, "ESP_ERR_NVS_NOT_FOUND")
        if len(v) > len(buf):
            raise OSError(-0x110C, "ESP_ERR_NVS_INVALID_LENGTH")
        buf[: len(v)] = v
        return len(v)

    def erase_key(self, key):
        self.tick()
        if key not in self.pending:
            raise OSError(-0x1102, "ESP_ERR_NVS_NOT_FOUND")
        del self.pending[key]

    def commit(self):
        self.tick()
        self.flash.clear()
        self.flash.update(self.pending)


class FakeBadge:
    def __init__(self, folder, port="fake0", version=None, selftest=None):
        self.identity, self.owner = firmware()
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.port = port
        self.version = version if version is not None else firmware_version()
        self.selftest_result = selftest or {"sensor": {"ok": True, "detail": "lis3dh"},
                                            "ble": {"ok": True, "detail": "radio up"},
                                            "storage": {"ok": True, "detail": "ok"}, "ok": True}
        self.flash = {}  # what survives a power cut
        self.plugged = True
        self.connected = False
        self.cut_after = None  # operations until the badge loses power (None: never)
        self.hook = None  # called with a step name at each badge operation (tool-kill injection)
        self.ops = 0
        self.rtc_offset_ms = None  # its RTC minus this computer's clock; None: never set (2000-01-01)
        self.clock_src = None  # who set it (cloudpin.clockset)

    # -- physical world -----------------------------------------------------
    def _tick(self):
        self.ops += 1
        if self.cut_after is not None:
            if self.cut_after <= 0:
                self.cut_after = None
                self.plugged = False
                self.connected = False
                raise _Cut()
            self.cut_after -= 1

    def replug(self):
        self.plugged = True

    def _owner_path(self):
        return os.path.join(self.folder, "owner.json")

    def peek(self):
        """The badge's state as its flash holds it (no connection, no faults)."""
        nvs = FakeNVS(self.flash, lambda: None)
        d = self.identity.public(self.identity.load(nvs))
        owner = self.owner.load(path=self._owner_path())
        return BadgeState(self.version, True, d["badge_id"], d["prov_gen"], d["provisioned"], d["digest"], owner,
                          d["social"], d["utc_offset"], d["event_digest"])

    # -- the badge_io interface ----------------------------------------------
    def _op(self, name, fn):
        if self.hook:
            self.hook("badge:" + name)
        if not (self.plugged and self.connected):
            raise BadgeGone("%s: badge disconnected" % self.port)
        try:
            self._tick()
            result = fn(FakeNVS(self.flash, self._tick))
        except _Cut:
            raise BadgeGone("%s: badge disconnected" % self.port) from None
        if self.hook:
            self.hook("badge:%s:done" % name)
        return result

    def connect(self):
        if not self.plugged:
            raise BadgeGone("%s: no such port" % self.port)
        self.connected = True

    def close(self):
        self.connected = False

    def inspect(self):
        return self._op("inspect", lambda nvs: self.peek())

    def set_badge_id(self, badge_id):
        self._op("set_badge_id", lambda nvs: self.identity.set_badge_id(nvs, badge_id))

    def _write(self, nvs, card, pair_key, id_key, gen, event):
        self.identity.invalidate(nvs)
        path = self._owner_path()
        try:
            self._tick()
        except _Cut:
            # Power lost while the Store wrote its temp file: a torn copy stays.
            with open(path + ".tmp", "w") as f:
                f.write('{"acc": "%s", "na' % card["acc"])
            raise
        self.owner.save(card, path=path)
        self.identity.write(nvs, pair_key, id_key, gen, event.key, event.utc_offset)

    def write(self, card, pair_key, id_key, gen, event):
        self._op("write", lambda nvs: self._write(nvs, card, pair_key, id_key, gen, event))

    def selftest(self):
        return self._op("selftest", lambda nvs: dict(self.selftest_result))

    def set_clock(self, utc_ms):
        def do(nvs):
            from host_tools.desk.clock import now_ms

            self.rtc_offset_ms = utc_ms() - now_ms()
            self.clock_src = "desk"

        self._op("set_clock", do)

    def read_clock(self):
        def do(nvs):
            from host_tools.desk.clock import now_ms

            if self.rtc_offset_ms is None:
                return 946684800000 + self.ops * 10, None  # an RTC since power-on, never set
            return now_ms() + self.rtc_offset_ms, self.clock_src

        return self._op("read_clock", do)

    def pair_key(self):
        return self._op("pair_key", lambda nvs: self.identity.load(nvs)["pair_key"])

    def phone_check(self, pair_key, badge_id=None, acc=None):
        """The firmware's phone service on this badge's NVS and card, asked
        by the phone's own client (as SerialBadge.phone_check over the REPL)."""
        def check(nvs):
            from host_tools.phone import selftest
            from host_tools.phone.transports import Loopback
            from cloudpin.phone.backend import PinBackend
            from cloudpin.phone.service import PhoneService

            d = self.identity.load(nvs)
            if pair_key is None or d["pair_key"] is None:
                return {"ok": False, "detail": "phone service: no pairing key"}
            svc = PhoneService(PinBackend(self.version, d["badge_id"], d["prov_gen"], card_path=self._owner_path()),
                               d["pair_key"])
            return selftest.check_transport(Loopback(svc), pair_key, badge_id, acc)

        return self._op("phone_check", check)

    def _wipe(self, nvs):
        self.identity.wipe(nvs)
        self._tick()
        self.owner.wipe(path=self._owner_path())

    def wipe(self):
        self._op("wipe", self._wipe)

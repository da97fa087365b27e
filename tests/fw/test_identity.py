# The pin's identity in NVS (firmware/cloudpin/identity.py): a provisioning or
# a wipe cut off at any NVS operation leaves a complete identity or none.
from cloudpin import identity


class PowerCut(Exception):
    pass


class FakeNVS:
    """esp32.NVS semantics (i32 and blob only, OSError for a missing key or a
    too-small buffer, changes durable only after commit()), plus a power cut
    after `budget` operations: uncommitted changes are lost."""

    def __init__(self, flash=None, budget=-1):
        self.flash = flash if flash is not None else {}
        self.pending = dict(self.flash)
        self.budget = budget

    def _tick(self):
        if self.budget == 0:
            self.pending = dict(self.flash)
            raise PowerCut()
        self.budget -= 1

    def set_i32(self, key, value):
        self._tick()
        self.pending[key] = ("i32", value)

    def get_i32(self, key):
        v = self.pending.get(key)
        if v is None or v[0] != "i32":
            raise OSError(-0x1102)  # ESP_ERR_NVS_NOT_FOUND
        return v[1]

    def set_blob(self, key, value):
        self._tick()
        self.pending[key] = ("blob", bytes(value))

    def get_blob(self, key, buf):
        v = self.pending.get(key)
        if v is None or v[0] != "blob":
            raise OSError(-0x1102)
        if len(v[1]) > len(buf):
            raise OSError(-0x1108)  # ESP_ERR_NVS_INVALID_LENGTH
        buf[: len(v[1])] = v[1]
        return len(v[1])

    def erase_key(self, key):
        self._tick()
        if key not in self.pending:
            raise OSError(-0x1102)
        del self.pending[key]

    def commit(self):
        self._tick()
        self.flash.clear()
        self.flash.update(self.pending)


BID = b"\x01\x02\x03\x04\x05\x06\x07\x08"
PK1, IK1 = b"P" * 16, b"I" * 16
PK2, IK2 = b"p" * 16, b"i" * 16


def _provisioned(pk, ik, gen):
    nvs = FakeNVS()
    identity.set_badge_id(nvs, BID)
    identity.write(nvs, pk, ik, gen)
    return nvs.flash


def test_keys_are_the_documented_six():
    assert [k for k, _, _ in identity.KEYS] == ["badge_id", "pair_key", "id_key", "event_key", "utc_offset",
                                                 "prov_gen"]
    for key, kind, size in identity.KEYS:
        assert kind in ("i32", "blob")  # all esp32.NVS can store
        assert len(key) <= 15  # NVS key name limit
        assert (size > 0) == (kind == "blob")


def test_blank_badge_reads_as_not_provisioned():
    d = identity.load(FakeNVS())
    assert d["provisioned"] is False
    assert d["badge_id"] is None and d["prov_gen"] is None
    assert identity.public(d)["badge_id"] is None


def test_write_then_load_roundtrip_and_public_has_no_secret():
    nvs = FakeNVS(_provisioned(PK1, IK1, 7))
    d = identity.load(nvs)
    assert d["provisioned"] is True
    assert d["badge_id"] == BID and d["pair_key"] == PK1 and d["id_key"] == IK1 and d["prov_gen"] == 7
    pub = identity.public(d)
    assert pub["badge_id"] == "0102030405060708" and pub["prov_gen"] == 7
    text = repr(pub)
    for secret in (PK1, IK1):
        assert secret.decode() not in text
    import binascii

    assert pub["digest"] == binascii.hexlify(identity.digest(PK1, IK1)).decode()
    assert identity.digest(PK1, IK1) != identity.digest(PK2, IK2)


def test_bad_inputs_are_refused():
    nvs = FakeNVS()
    for bad in (b"short", b"x" * 9, "01234567"):
        try:
            identity.set_badge_id(nvs, bad)
            assert False, bad
        except ValueError:
            pass
    try:
        identity.write(nvs, PK1, IK1, 1)  # no badge id yet
        assert False
    except ValueError:
        pass
    identity.set_badge_id(nvs, BID)
    for pk, ik, gen in ((PK1[:15], IK1, 1), (PK1, IK1 + b"x", 1), (PK1, IK1, 0), (PK1, IK1, 2 ** 31)):
        try:
            identity.write(nvs, pk, ik, gen)
            assert False, gen
        except ValueError:
            pass
    try:
        identity.set_badge_id(nvs, b"\xff" * 8)  # a badge keeps its serial
        assert False
    except ValueError:
        pass
    identity.set_badge_id(nvs, BID)  # same id again: fine


def test_wrong_sized_blob_reads_as_missing():
    nvs = FakeNVS(_provisioned(PK1, IK1, 3))
    nvs.set_blob("pair_key", b"x" * 17)
    assert identity.load(nvs)["pair_key"] is None
    assert identity.load(nvs)["provisioned"] is False
    nvs.set_blob("pair_key", b"x" * 40)  # bigger than the read buffer
    assert identity.load(nvs)["provisioned"] is False


def test_power_cut_at_every_step_of_a_reprovisioning():
    # Old identity (gen 1) being replaced by a new one (gen 2): after a cut
    # at any operation the badge holds exactly the old, exactly the new, or
    # nothing provisioned -- never gen 2 with old keys or the reverse.
    seen = set()
    for budget in range(0, 20):
        nvs = FakeNVS(_provisioned(PK1, IK1, 1), budget)
        try:
            identity.write(nvs, PK2, IK2, 2)
            done = True
        except PowerCut:
            done = False
        d = identity.load(FakeNVS(nvs.flash))  # after reboot: flash only
        assert d["badge_id"] == BID
        if d["provisioned"]:
            state = (d["prov_gen"], d["pair_key"], d["id_key"])
            assert state in ((1, PK1, IK1), (2, PK2, IK2)), state
            seen.add(state[0])
        else:
            seen.add(0)
        if done:
            assert d["provisioned"] and d["prov_gen"] == 2
    assert seen == {0, 1, 2}


def test_power_cut_at_every_step_of_a_wipe():
    for budget in range(0, 10):
        nvs = FakeNVS(_provisioned(PK1, IK1, 5), budget)
        try:
            identity.wipe(nvs)
            done = True
        except PowerCut:
            done = False
        d = identity.load(FakeNVS(nvs.flash))
        assert d["badge_id"] == BID
        if d["provisioned"]:
            assert not done and (d["prov_gen"], d["pair_key"]) == (5, PK1)
        if done:
            assert d["pair_key"] is None and d["id_key"] is None and d["prov_gen"] is None


def test_wipe_of_a_blank_badge_is_harmless():
    nvs = FakeNVS()
    identity.wipe(nvs)
    assert identity.load(nvs)["provisioned"] is False


EK1, EK2 = b"E" * 16, b"e" * 16


def test_event_keys_make_the_pin_social_and_are_wiped():
    nvs = FakeNVS()
    identity.set_badge_id(nvs, BID)
    identity.write(nvs, PK1, IK1, 4, EK1, -300)
    d = identity.load(FakeNVS(nvs.flash))
    assert d["provisioned"] and d["social"]
    assert d["event_key"] == EK1 and d["utc_offset"] == -300
    pub = identity.public(d)
    assert pub["social"] and pub["utc_offset"] == -300 and "EEEE" not in repr(pub)
    import binascii

    assert pub["event_digest"] == binascii.hexlify(identity.event_digest(EK1)).decode()
    # A later provisioning without event keys must not keep this event's.
    identity.write(nvs, PK2, IK2, 5)
    d = identity.load(nvs)
    assert d["provisioned"] and not d["social"] and d["event_key"] is None and d["utc_offset"] is None
    identity.write(nvs, PK2, IK2, 6, EK2, 0)
    assert identity.load(nvs)["social"]
    identity.wipe(nvs)
    d = identity.load(FakeNVS(nvs.flash))
    assert d["event_key"] is None and d["utc_offset"] is None and not d["social"] and not d["provisioned"]


def test_event_keys_are_checked():
    nvs = FakeNVS()
    identity.set_badge_id(nvs, BID)
    for ek, off in ((EK1, None), (None, 60), (EK1[:15], 60), (EK1, 841), (EK1, -721), (EK1, "60"), (EK1, True)):
        try:
            identity.write(nvs, PK1, IK1, 1, ek, off)
            assert False, (ek, off)
        except ValueError:
            pass
    identity.write(nvs, PK1, IK1, 1, EK1, 840)
    nvs.set_i32("utc_offset", 5000)  # out of range in flash: not social, never a crash
    d = identity.load(nvs)
    assert d["provisioned"] and not d["social"] and d["utc_offset"] is None


def test_power_cut_at_every_step_of_a_social_reprovisioning():
    for budget in range(0, 20):
        nvs = FakeNVS(_provisioned(PK1, IK1, 1), budget)
        try:
            identity.write(nvs, PK2, IK2, 2, EK2, 120)
        except PowerCut:
            pass
        d = identity.load(FakeNVS(nvs.flash))
        if d["provisioned"] and d["prov_gen"] == 2:
            assert d["social"] and d["event_key"] == EK2 and d["utc_offset"] == 120
        elif d["provisioned"]:
            assert (d["prov_gen"], d["pair_key"], d["social"]) == (1, PK1, False)

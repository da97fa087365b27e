"""Every simulated pin provisioned as the desk does it: an identity in its
emulated NVS (`cloudpin.identity.write`, with the event's key and time zone)
and an owner card in its own flash folder (`cloudpin.owner`) whose name and
accreditation are the pin's id, so a friend's card names the pin.

Keys come from the scenario's seed, not from os.urandom, so a run repeats:
one event key per scenario, and per pin a badge id, pairing key and id_key.
`Keys.fk8` maps the first 8 hex digits of a friend key (what the firmware's
`meet` lines log) back to the pin it belongs to.
"""
import hashlib

GEN = 1  # the provisioning number every simulated pin carries
RTC_EPOCH_UNIX = 946684800  # the ESP32's RTC counts from 2000-01-01


def _derive(seed, label, n, pin_id=""):
    h = hashlib.sha256(("cloudpin sim %s %d %s" % (label, seed, pin_id)).encode())
    return h.digest()[:n]


class Keys:
    """The event's keys and every pin's, derived from the seed."""

    def __init__(self, seed, pin_ids, utc_offset_min=0):
        from cloudpin.social import advert

        self.event_key = _derive(seed, "event key", 16)
        self.utc_offset = utc_offset_min
        self.pins = {}
        self.fk8 = {}  # first 8 hex digits of a pin's friend key -> pin id
        self.fk = {}  # pin id -> friend key
        for pid in pin_ids:
            id_key = _derive(seed, "id key", 16, pid)
            self.pins[pid] = {"badge_id": _derive(seed, "badge id", 8, pid),
                              "pair_key": _derive(seed, "pair key", 16, pid), "id_key": id_key}
            fk = advert.derive_keys(id_key, self.event_key)[0]
            self.fk[pid] = fk
            self.fk8[fk[:4].hex()] = pid

    def pin_of(self, fk_hex8):
        """The pin whose friend key starts with these 8 hex digits, or None."""
        return self.fk8.get(fk_hex8.lower())


CARD_FIELDS = ("organisation", "role", "handles")  # what a scenario may give (pins[].card)


def card(pin_id, extra=None):
    """The owner card the desk would write for a simulated wearer: name and
    accreditation are the pin id, the rest from the scenario's pins[].card."""
    doc = {"acc": pin_id, "name": pin_id, "organisation": "", "role": "", "handles": [], "gen": GEN}
    doc.update(extra or {})
    return doc


def check_card(pin_id, extra):
    """The firmware's own check of the card (cloudpin.owner.validate):
    ValueError naming the field."""
    from host_tools import firmware_on_path

    firmware_on_path(compat=True)
    from cloudpin import owner

    return owner.validate(card(pin_id, extra))


def provision(world, dev, pin_id, keys, extra=None, pack=None, clock_ms=None):
    """Write the pin's identity into its NVS and its owner card into its
    flash folder (dev.flash_dir must be set), with `dev` bound; `pack`, the
    compiled event pack, goes beside them as deploy puts it (the designs).
    clock_ms: the UTC ms its RTC was set to, as the desk sets it (the pin
    keeps that its clock was set: cloudpin.clockset); a time before the
    firmware's year is a clock never set."""
    import esp32

    from cloudpin import clockset, identity, owner

    world.use(dev)
    k = keys.pins[pin_id]
    nvs = esp32.NVS(identity.NAMESPACE)
    identity.set_badge_id(nvs, k["badge_id"])
    identity.write(nvs, k["pair_key"], k["id_key"], GEN, keys.event_key, keys.utc_offset)
    owner.save(card(pin_id, extra))
    if clock_ms is not None and clock_ms >= clockset.FLOOR_MS:
        clockset.mark(clock_ms, "desk")
    if pack is not None:
        from host_tools.designs import PACK_FILE

        with open(PACK_FILE, "wb") as f:
            f.write(pack)

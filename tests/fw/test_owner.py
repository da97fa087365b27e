# The owner card (firmware/cloudpin/owner.py): validated on write and read,
# atomic, and wiped without leftovers.
import os

from cloudpin import owner

CARD = {"acc": "PR-0042", "name": "Zoë Ångström", "organisation": "Le Monde", "role": "photographer",
        "handles": ["@zoe", "zoe@mastodon.social"], "gen": 3}


def _refused(doc):
    try:
        owner.validate(doc)
    except ValueError:
        return True
    return False


def test_save_load_roundtrip_with_non_ascii_text():
    assert owner.load() is None
    owner.save(CARD)
    assert owner.load() == CARD
    assert "owner.json" in os.listdir(".")


def test_invalid_cards_are_refused():
    ok = dict(CARD)
    assert not _refused(ok)
    for field, value in (("name", ""), ("acc", ""), ("name", 5), ("role", "x" * 101), ("handles", "@zoe"),
                         ("handles", ["@" * 65]), ("handles", [""]), ("handles", ["@a"] * 9),
                         ("gen", 0), ("gen", "3"), ("gen", True), ("gen", None)):
        doc = dict(CARD)
        doc[field] = value
        assert _refused(doc), (field, value)
    assert _refused([CARD])
    doc = dict(CARD)
    del doc["gen"]
    assert _refused(doc)


def test_missing_optional_fields_default_and_extra_fields_are_dropped():
    doc = owner.validate({"acc": "A1", "name": "N", "gen": 1, "secret": "x"})
    assert doc == {"acc": "A1", "name": "N", "organisation": "", "role": "", "handles": [], "gen": 1}


def test_save_refuses_an_invalid_card_and_keeps_the_old_one():
    owner.save(CARD)
    bad = dict(CARD)
    bad["name"] = ""
    try:
        owner.save(bad)
        assert False
    except ValueError:
        pass
    assert owner.load() == CARD


def test_corrupt_card_reads_as_none_and_wipe_removes_every_copy():
    owner.save(CARD)
    with open("owner.json", "w") as f:
        f.write('{"acc": "PR-0042", "name": "Zo')
    assert owner.load() is None
    assert "owner.json.bad" in os.listdir(".")  # the Store keeps it aside...
    with open("owner.json.tmp", "w") as f:
        f.write("{")
    owner.save(CARD)
    owner.wipe()
    left = [n for n in os.listdir(".") if n.startswith("owner.json")]
    assert left == [], left  # ...so a wipe must remove it: it names the wearer
    assert owner.load() is None
    owner.wipe()  # nothing there: fine


def test_control_characters_are_refused_in_every_text_and_handle():
    # A card reaches friends' pins, phones and log lines: a newline could forge
    # a log line, an escape sequence could drive a terminal.
    for bad in ("Zoë\nI 0 meet friend", "a\x1b[31m", "nul\x00", "del\x7f", "c1\x85", "ls\u2028"):
        for field in ("acc", "name", "organisation", "role"):
            doc = dict(CARD)
            doc[field] = bad
            assert _refused(doc), (field, bad)
        doc = dict(CARD)
        doc["handles"] = ["@ok", bad]
        assert _refused(doc), bad
    doc = dict(CARD)
    doc["name"] = "José Nuñez 李明 · Ωmega"  # ordinary non-ASCII text stays accepted
    assert not _refused(doc)

# Persistent data survives power loss and corruption (firmware/cloudpin/store.py).
import os

from cloudpin.store import Store


def _validate(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), int):
        raise ValueError("bad stats")
    return doc


def test_roundtrip_and_missing_file_gives_default():
    s = Store("stats.json", _validate)
    assert s.load({"steps": 0}) == {"steps": 0}
    s.save({"steps": 42})
    assert s.load() == {"steps": 42}
    assert "stats.json.tmp" not in os.listdir(".")


def test_power_cut_before_rename_keeps_old_document():
    s = Store("stats.json", _validate)
    s.save({"steps": 1})
    # What a power cut mid-save leaves: a torn temp file beside the old one.
    with open("stats.json.tmp", "w") as f:
        f.write('{"steps": 9')
    assert s.load() == {"steps": 1}
    assert "stats.json.tmp" not in os.listdir(".")


def test_corrupt_or_invalid_file_never_crashes():
    s = Store("stats.json", _validate)
    for junk in ('{"steps": 1', "\x00\xff garbage", '{"steps": "many"}', "[1, 2]", ""):
        with open("stats.json", "w") as f:
            f.write(junk)
        assert s.load({"steps": 0}) == {"steps": 0}, junk
    assert "stats.json.bad" in os.listdir(".")
    s.save({"steps": 3})
    assert s.load() == {"steps": 3}


def test_every_prefix_of_a_save_is_safe():
    # Simulate a power cut after each byte of the temp file was written.
    s = Store("f.json", _validate)
    s.save({"steps": 5})
    import json

    text = json.dumps({"steps": 6})
    for n in range(len(text)):
        with open("f.json.tmp", "w") as f:
            f.write(text[:n])
        assert s.load() == {"steps": 5}

# The pin's pack reader (designs/pack.py) and the format's descriptive tables
# (designs/packinfo.py, loaded only when asked for: docs/designs.md "The heap").
import sys


def test_mp_the_reader_loads_a_pack_without_the_tables():
    from cloudpin.designs import pack

    p = pack.Pack({"format": 1, "event": "T", "sports": [
        {"id": "a", "name": "A", "short": "A", "task": {"kind": "friends", "n": 1}, "led": ["red"],
         "design": [["rect", 0, 0, 10, 10, "red", 1]]}]})
    with open("pack.bin", "wb") as f:
        f.write(p.to_bytes())
    for name in ("cloudpin.designs.packinfo", "cloudpin.designs.packjson"):
        sys.modules.pop(name, None)
    import cloudpin.designs

    for name in ("packinfo", "packjson"):
        if hasattr(cloudpin.designs, name):
            delattr(cloudpin.designs, name)
    q = pack.load("pack.bin")
    assert q.ids == ("a",) and q.leds[0] == ("red",) and pack.FRIENDS == q.kinds[0]
    assert "cloudpin.designs.packinfo" not in sys.modules and "cloudpin.designs.packjson" not in sys.modules


def test_the_readers_counts_match_the_tables():
    from cloudpin.designs import pack

    assert pack.N_KINDS == len(pack.KINDS) and pack.N_COLOURS == len(pack.COLOURS)
    assert [pack.kind_code(k[0]) for k in pack.KINDS] == list(range(pack.N_KINDS))
    assert pack.KINDS[pack.STREAK][0] == "streak" and pack.COLOURS[pack.N_COLOURS - 1][0] == "skin"
    try:
        pack.NO_SUCH_NAME
    except AttributeError:
        pass
    else:
        assert False, "an unknown name must raise AttributeError"

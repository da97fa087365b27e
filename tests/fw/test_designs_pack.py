# The event pack format (firmware/cloudpin/designs/pack.py): a valid pack
# compiles to what the pin keeps; a bad one is refused with every error
# named by its path, in both runtimes (the pin and `cloudpin pack check`
# run this same code).
from cloudpin.designs import pack

_SQUARE = [["rect", 0, 0, 10, 10, "red", 1]]


def _doc(sports=None):
    return {"format": 1, "event": "Test", "sports": sports or [
        {"id": "judo", "name": "Judo", "short": "Judo", "task": {"kind": "friends", "n": 3}, "led": ["white", "blue"],
         "design": [["rect", 0, 0, 128, 128, "blue", 1], ["line", 10, 20, 30, 40, 5, "white"],
                    ["ellipse", 64, 64, 10, 8, "black", 1], ["arc", 64, 64, 20, 20, "red", 3],
                    ["poly", "yellow", 1, [0, 0, 10, 0, 5, 9]]]},
        {"id": "run", "name": "Run", "short": "Run", "task": {"kind": "streak", "n": 3, "steps": 5000}, "led": ["red"],
         "design": [list(op) for op in _SQUARE]}]}


def test_a_valid_pack_compiles_to_bytes_per_design():
    assert pack.check(_doc()) == []
    p = pack.Pack(_doc())
    assert p.count == 2 and p.ids == ("judo", "run") and p.shorts == ("Judo", "Run") and p.event == "Test"
    assert p.kinds == bytes([pack.FRIENDS, pack.STREAK])
    assert list(p.n) == [3, 3] and list(p.extra) == [0, 5000]
    assert p.leds == (("white", "blue"), ("red",))
    blue, white, red = pack.colour_index("blue"), pack.colour_index("white"), pack.colour_index("red")
    assert p.designs[1] == bytes([pack.OP_RECT, 0, 0, 10, 10, red, 1])
    d = p.designs[0]
    assert d[:7] == bytes([pack.OP_RECT, 0, 0, 128, 128, blue, 1])
    assert d[7:14] == bytes([pack.OP_LINE, 10, 20, 30, 40, 5, white])
    assert d[-10:] == bytes([pack.OP_POLY, pack.colour_index("yellow"), 1, 3, 0, 0, 10, 0, 5, 9])
    assert p.index("run") == 1 and p.index("nope") == -1


def test_every_error_is_named_with_its_path():
    doc = _doc()
    doc["colour"] = "x"
    s0, s1 = doc["sports"]
    s0["task"] = {"kind": "friend", "n": 3}
    s0["design"][1] = ["line", 10, 20, 300, 40, 5, "mauve"]
    s0["design"][4] = ["poly", "red", 1, [0, 0, 1, 1]]
    s0["short"] = "A much too long name"
    s1["id"] = "judo"
    s1["task"] = {"kind": "streak", "n": 0}
    s1["led"] = ["purple"]
    s1["design"].append(["circle", 1, 2, 3])
    s1["extra"] = 1
    errors = pack.check(doc)
    want = [
        "colour: not a known field",
        "sports[0].short: 20 characters, at most 16",
        "sports[0].task.kind: 'friend' is not a task kind",
        "sports[0].design[1][3] (x2): must be an integer 0..127, got 300",
        "sports[0].design[1][6] (colour): 'mauve' is not a colour",
        "sports[0].design[4][3] (points): must be 3..12 points",
        "sports[1].extra: not a known field",
        "sports[1].id: 'judo' also names sports[0]",
        "sports[1].task.n: must be an integer 1..60 for streak, got 0",
        "sports[1].task.steps: must be an integer 1..200000 for streak, got None",
        "sports[1].led: must be a list of 1..4 LED colours",
        "sports[1].design[1]: 'circle' is not an operation",
    ]
    for w in want:
        assert [e for e in errors if e.startswith(w)], (w, errors)
    assert len(errors) == len(want), errors
    try:
        pack.Pack(doc)
        assert False, "an invalid pack was accepted"
    except pack.PackError as e:
        assert str(e).count(";") == len(want) - 1


def test_anything_that_is_not_a_pack_is_refused_without_raising_otherwise():
    for junk in (None, [], "pack", 3, {"format": 2}, {"format": 1, "event": "E", "sports": []},
                 {"format": 1, "event": "E", "sports": [None, 4]}, _doc([{"id": 5}])):
        errors = pack.check(junk)
        assert errors and all(isinstance(e, str) for e in errors), junk
    try:
        pack.load("missing.bin")
        assert False
    except pack.PackError as e:
        assert "cannot read" in str(e)


def test_the_compiled_pack_reads_back_the_same():
    p = pack.Pack(_doc())
    data = p.to_bytes()
    with open("pack.bin", "wb") as f:
        f.write(data)
    q = pack.load("pack.bin")
    for k in ("event", "count", "ids", "shorts", "leds", "designs", "kinds"):
        assert getattr(q, k) == getattr(p, k), k
    assert list(q.n) == list(p.n) and list(q.extra) == list(p.extra)


def test_a_torn_corrupt_or_foreign_pack_file_is_refused_cleanly():
    data = pack.Pack(_doc()).to_bytes()
    bad = 0
    for n in range(len(data)):  # every truncation
        try:
            pack.from_bytes(data[:n])
        except pack.PackError:
            bad += 1
    assert bad == len(data)
    for i in range(len(data)):  # every single flipped byte
        b = bytearray(data)
        b[i] ^= 0x41
        try:
            pack.from_bytes(b)
            assert False, i
        except pack.PackError:
            pass
    for junk in (None, "CPK1", b"", b"CPK1\x00\x00\x00\x00", 42):
        try:
            pack.from_bytes(junk)
            assert False, junk
        except pack.PackError:
            pass
    # a design that passes the CRC but is malformed (a file made by hand) is refused too
    for code in (bytes([pack.OP_LINE, 1, 2, 3]), bytes([9, 0, 0, 0, 0, 0, 0]), bytes([pack.OP_RECT, 0, 0, 1, 1, 16, 1]),
                 bytes([pack.OP_POLY, 1, 1, 2, 0, 0, 1, 1]), bytes([pack.OP_POLY, 1, 1, 3, 0, 0, 1, 1])):
        try:
            pack.check_design(code)
            assert False, code
        except pack.PackError:
            pass

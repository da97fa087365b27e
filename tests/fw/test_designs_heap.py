# The designs beside meet and greet (issue 10, docs/designs.md "The heap"):
# the whole app as main.py starts it, with the Tokyo pack as /pack.bin, on
# two provisioned pins of the reference board in the test VM (one pin's
# share each, conftest): each boots WITH its designs, the two make friends
# with a tap and each unlocks the one-friend design. And the pin keeps its
# pack on flash: loading it keeps the ids and task numbers, not the designs.
import gc
import os
import sys

PINS = 2  # two pins (conftest: one pin's heap each)
_T0 = 1796000010  # UTC at t = 0


def _tokyo():
    """The Tokyo pack, compiled as `cloudpin pack build` does; the firmware
    modules that took are dropped again, so that the pins load their own."""
    import json

    from cloudpin.designs import pack

    with open(__file__.rsplit("/", 3)[0] + "/packs/tokyo2020.json") as f:
        data = pack.Pack(json.load(f)).to_bytes()
    if sys.implementation.name == "micropython":  # its heap is the pin's; CPython's tests share the modules
        for name in [k for k in sys.modules if k == "cloudpin" or k.startswith("cloudpin.")]:
            sys.modules.pop(name)
    return data


def test_two_pins_boot_with_their_designs_make_friends_and_unlock():
    from cpsim import resident
    from cpsim.world import World

    if sys.implementation.name == "micropython":
        resident.load_all(sim=True, every_board=True)  # the chip's C modules (as conftest sizes the heap)
    w = World()
    data = _tokyo()
    root = os.getcwd()
    from appkit import app_pin, start_and_tap
    from cloudpin import bus as topics

    try:
        da, a, la = app_pin(w, root, "pa", 1, _T0, card=True, pack=data, status_every_ms=600000)
        db, b, lb = app_pin(w, root, "pb", 2, _T0, card=True, pack=data, status_every_ms=600000)
        data = None
        for lines in (la, lb):
            assert not any("designs off" in ln for ln in lines), lines
        assert a.designs is not None and b.designs is not None and a.meet is not None and a.phone is not None
        w.radio.set_distance(da, db, 0.02)  # touching
        made = []
        for app in (a, b):
            app.bus.subscribe(topics.FRIEND, lambda slot, t, app=app: made.append(app.badge))
        start_and_tap(w, ((da, a), (db, b)))
        w.run_for(7000)
    finally:
        os.chdir(root)
    assert sorted(made) == sorted([a.badge, b.badge]), (la, lb)
    for app, lines in ((a, la), (b, lb)):
        e = app.designs.engine
        assert [e.pack.ids[i] for i in e.order] == ["aquatics"], lines
        assert any(" designs unlocked sport=aquatics " in ln for ln in lines), lines
        assert not any("MemoryError" in ln or "out of heap" in ln for ln in lines), lines


def _pack_file():
    from cloudpin.designs import pack

    sports = [{"id": "s_" + "abcdefghijklmnopqrst"[i], "name": "S", "short": "Sport %d" % i, "task": {"kind": "friends", "n": 1 + i},
               "led": ["red", "blue"], "design": [["rect", i, 0, 10, 10, "red", 1], ["line", 0, 0, 9, i, 3, "blue"]]}
              for i in range(20)]
    p = pack.Pack({"format": 1, "event": "T", "sports": sports})
    with open("pack.bin", "wb") as f:
        f.write(p.to_bytes())
    return pack, p


def test_a_pack_file_changed_under_the_pin_gives_empty_records_never_an_exception():
    pack, p = _pack_file()
    q = pack.load("pack.bin")
    assert q.designs[3] == p.designs[3] and q.shorts[19] == "Sport 19" and q.leds[0] == ("red", "blue")
    with open("pack.bin", "wb") as f:
        f.write(b"CPK1 something else")
    assert q.shorts[19] == "Sport 19"  # the last two records read are kept (a card redrawn as it was)
    assert q.designs[4] == b"" and q.shorts[4] == "?" and q.leds[4] == ()
    os.remove("pack.bin")
    assert q.designs[1] == b"" and len(q.designs) == 20
    assert q.ids[5] == "s_f" and list(q.n)[:3] == [1, 2, 3]  # kept in RAM: the engine's


def test_mp_the_pin_keeps_its_designs_on_flash():
    pack, p = _pack_file()
    p = None
    with open("pack.bin", "rb") as f:
        data = f.read()
    gc.collect()
    m0 = gc.mem_alloc()
    held = pack.from_bytes(data)  # everything in RAM (host tools, tests)
    gc.collect()
    m1 = gc.mem_alloc()
    pin = pack.load("pack.bin")
    gc.collect()
    m2 = gc.mem_alloc()
    assert pin.designs == held.designs
    os.remove("pack.bin")
    assert (m2 - m1) * 2 < m1 - m0, (m2 - m1, m1 - m0)  # the designs, names and LED patterns stayed on flash

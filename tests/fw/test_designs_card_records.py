# Reading a card's records from /pack.bin (issue 10: "drawing a design on the
# pin allocates no more than the frame buffer it draws into"). A record read
# allocates its own bytes, a file object and a few small objects, nothing per
# drawing operation (a tuple per operation and a slice per field took 2.4 KB
# of the VM's heap per record). A new card reads two records (its design and
# the next unlock's name): together less than the band it is drawn in.
import gc
import os

SPORTS = 4


def _pack_file(ops):
    from cloudpin.designs import pack

    design = [["line", 0, k % 128, 127, (7 * k) % 128, 2, "blue"] for k in range(ops)]
    sports = [{"id": "s_" + "abcd"[i], "name": "S", "short": "Sport %d" % i, "task": {"kind": "friends", "n": 1},
               "led": ["red", "blue"], "design": design} for i in range(SPORTS)]
    with open("pack.bin", "wb") as f:
        f.write(pack.Pack({"format": 1, "event": "T", "sports": sports}).to_bytes())
    return pack.load("pack.bin")


def _first_read(p, i):
    """(heap bytes allocated, record bytes) reading record i anew."""
    c = p.designs.cache
    c[0] = c[2] = -1
    gc.collect()
    a = gc.mem_alloc()
    p.designs[i]
    return gc.mem_alloc() - a, p.designs.at[i + 1] - p.designs.at[i]


def test_mp_a_record_read_allocates_its_bytes_and_nothing_per_operation():
    from cloudpin.designs import draw

    try:
        small, small_len = _first_read(_pack_file(2), 1)
        p = _pack_file(60)  # more than any Tokyo design (51 operations at most)
        big, big_len = _first_read(p, 1)
        assert p.designs[1][0] == 1 and p.shorts[1] == "Sport 1" and p.leds[1] == ("red", "blue")
        assert _first_read(p, 1)[0] > 0 and p.designs[1] is p.designs[1]  # read once, then kept
    finally:
        os.remove("pack.bin")
    assert big_len - small_len == 58 * 7
    assert big - small <= big_len - small_len + 32, (small, big, big_len - small_len)
    assert 2 * big < 135 * 2 * draw.BAND, (big, 135 * 2 * draw.BAND)

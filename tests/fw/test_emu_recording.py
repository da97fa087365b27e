# The accelerometer's recording source (cpsim.recording) on a file it cannot
# read: with a device (a virtual badge) it holds still and says why, never
# raising into the sensor model; without one it raises, for host tools.
from fwcheck import raises as _raises

GARBAGE = (b"\x00\xff\x81\x02\x7fELF" * 40, b"t_ms,x,y,z\n", b"time,a,b,c\n1,2,3,4\n", b"t_ms,x,y,z\n0,0.1,\xff,1\n")


def _write(name, data):
    with open(name, "wb") as f:
        f.write(data)


def _warns(dev):
    return [n[2] for n in dev.log if n[1] == "warn"]


def test_unreadable_recording_holds_a_pin_lying_still_and_says_why():
    from cpsim.recording import Recording
    from cpsim.world import World

    out = [0, 0, 0]
    for data in GARBAGE + (None,):
        name = "missing.csv" if data is None else "bad.csv"
        if data is not None:
            _write(name, data)
        _raises((ValueError, OSError), Recording, name, True)
        dev = World().device("a")
        r = Recording(name, loop=True, device=dev)
        r.mean_ug(0, 2500, out, 0)
        assert out == [0, 0, 1000000], out
        r.at_ug(10000000, out, 0)
        assert out == [0, 0, 1000000] and r.failed
        w = _warns(dev)
        assert len(w) == 1 and name in w[0] and "still" in w[0], w


def test_recording_that_breaks_later_holds_its_last_sample():
    from cpsim.recording import Recording
    from cpsim.world import World

    rows = ["t_ms,x,y,z"] + ["%d,0.%d,0,1" % (t, t // 10) for t in range(0, 100, 10)] + ["100,0.5,zz,1", "110,0,0,1"]
    _write("late.csv", "\n".join(rows).encode())
    dev = World().device("a")
    r = Recording("late.csv", loop=True, device=dev)
    out = [0, 0, 0]
    r.at_ug(45000, out, 0)
    assert out == [450000, 0, 1000000] and not _warns(dev)
    r.at_ug(200000, out, 0)  # past the bad row: the last good one (t=90) is held
    assert out == [900000, 0, 1000000], out
    r.mean_ug(0, 10000, out, 0)
    assert out == [900000, 0, 1000000]
    w = _warns(dev)
    assert len(w) == 1 and "late.csv:12" in w[0] and "last sample" in w[0], w
    _raises(ValueError, Recording("late.csv").at_ug, 200000, out, 0)


def test_virtual_badge_device_keeps_its_accelerometer_on_a_bad_recording():
    import json
    import machine
    from cpsim import default_device

    _write("bad.csv", GARBAGE[0])
    with open("board.json", "w") as f:
        json.dump({"i2c": {"bus": 0, "scl": 22, "sda": 21}, "accel": {"type": "lis3dh", "address": 24}}, f)
    dev = default_device.build(board_path="board.json", recording="bad.csv")
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    assert i2c.scan() == [0x18] and i2c.readfrom_mem(0x18, 0x0F, 1) == b"\x33"
    w = _warns(dev)
    assert len(w) == 1 and "bad.csv" in w[0], w


def test_recording_saved_with_a_utf8_bom_replays():
    from cpsim.recording import Recording, check

    _write("bom.csv", b"\xef\xbb\xbft_ms,x,y,z\r\n0,0.5,0,1\r\n10,0.7,0,1\r\n")
    out = [0, 0, 0]
    Recording("bom.csv").at_ug(5000, out, 0)
    assert out == [600000, 0, 1000000] and check("bom.csv") == 2

# The emulated `esp32` module: NVS as on the ESP32 port (i32 and blob only).
from fwcheck import raises as _raises


def _device():
    from cpsim.world import World

    return World().device("a")


def test_nvs_round_trip_and_not_found():
    import esp32

    dev = _device()
    nvs = esp32.NVS("cloudpin")
    nvs.set_i32("boots", -7)
    nvs.set_blob("key", b"\x00\x01secret")
    nvs.commit()
    assert nvs.get_i32("boots") == -7
    buf = bytearray(16)
    assert nvs.get_blob("key", buf) == 8
    assert bytes(buf[:8]) == b"\x00\x01secret"
    e = _raises(OSError, nvs.get_i32, "missing")
    assert e.errno == -0x1102 and e.args[1] == "ESP_ERR_NVS_NOT_FOUND"
    _raises(OSError, nvs.get_i32, "key")  # a blob is not found as an i32
    e = _raises(OSError, nvs.get_blob, "key", bytearray(4))
    assert e.errno == -0x110C  # buffer too small
    _raises(OverflowError, nvs.set_i32, "big", 1 << 31)
    _raises(OSError, nvs.set_i32, "a_key_of_16_chr_", 1)
    nvs.erase_key("boots")
    _raises(OSError, nvs.get_i32, "boots")
    _raises(OSError, nvs.erase_key, "boots")
    # Namespaces are separate, and the data belongs to the device.
    _raises(OSError, esp32.NVS("other").get_blob, "key", buf)
    assert dev.nvs["cloudpin"]["key"] == b"\x00\x01secret"


def test_nvs_file_survives_a_new_process_default_device():
    import esp32
    from cpsim import default_device

    dev = default_device.build(nvs_file="nvs.json")
    nvs = esp32.NVS("prov")
    nvs.set_i32("id", 42)
    nvs.set_blob("secret", b"\xfe\xff")
    nvs.set_i32("late", 1)
    nvs.commit()
    nvs.set_i32("late", 2)  # never committed: lost on reboot
    again = default_device.build(nvs_file="nvs.json")
    assert again is not dev
    nvs2 = esp32.NVS("prov")
    assert nvs2.get_i32("id") == 42 and nvs2.get_i32("late") == 1
    buf = bytearray(2)
    assert nvs2.get_blob("secret", buf) == 2 and buf == b"\xfe\xff"


def test_default_device_from_a_board_file():
    import json
    import machine
    from cpsim import default_device

    with open("board.json", "w") as f:
        json.dump({"name": "x", "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
                   "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39},
                   "battery": {"adc_pin": 35, "divider": 2.0}, "led": {"pins": [25]}}, f)
    dev = default_device.build(board_path="board.json")
    assert dev.world.clock.__class__.__name__ == "WallClock"
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    assert i2c.scan() == [0x18]
    assert i2c.readfrom_mem(0x18, 0x0F, 1) == b"\x33"
    assert machine.I2C(1).scan() == []  # not on I2C(1)'s default pins
    uv = machine.ADC(machine.Pin(35), atten=machine.ADC.ATTN_11DB).read_uv()
    assert 1900000 < uv < 2000000, uv
    try:
        machine.reset()
    except SystemExit as e:
        assert e.args[0] == 64 + machine.HARD_RESET
    else:
        raise AssertionError("machine.reset() returned")


def test_mp_virtual_badge_delivers_timers_while_asyncio_sleeps():
    # The VM has no interrupts; the default device of a virtual badge makes
    # asyncio's idle wait short and polls the (real-time) clock after it.
    import asyncio
    import json
    import machine
    from cpsim import default_device

    with open("board.json", "w") as f:
        json.dump({"i2c": {"bus": 0, "scl": 22, "sda": 21}}, f)
    default_device.build(board_path="board.json")
    fired = []
    machine.Timer(0, period=20, callback=lambda t: fired.append(1))

    async def idle():
        await asyncio.sleep_ms(200)

    asyncio.run(idle())
    machine.Timer(0).deinit()
    assert fired, "no timer callback while the app slept"


def _board_json():
    import json

    with open("board.json", "w") as f:
        json.dump({"i2c": {"bus": 0, "scl": 22, "sda": 21}, "accel": {"type": "lis3dh", "address": 24}}, f)
    return "board.json"


def _head(path):
    # size and first bytes: a whole 50 KB file would not fit the VM's heap twice
    import os

    with open(path, "rb") as f:
        return os.stat(path)[6], f.read(32)


def test_corrupt_nvs_file_boots_empty_with_all_the_hardware():
    # Garbage where the partition was (a binary file, JSON cut short by a
    # power cut, the wrong JSON shape): every page corrupt, as ESP-IDF treats
    # them, an empty NVS; never an exception that leaves the pin without its
    # sensor.
    import esp32
    import machine
    from cpsim import default_device

    for garbage in (b"\x00\xff\xfe\x81binary\x00", b'{"prov": {"id": ["i32", 4', b'["i32", 1]', b"{}" + b" " * 50000):
        with open("nvs.json", "wb") as f:
            f.write(garbage)
        dev = default_device.build(board_path=_board_json(), nvs_file="nvs.json")
        assert dev.nvs == {}
        assert machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)).scan() == [0x18]
        warns = [n[2] for n in dev.log if n[1] == "warn"]
        assert len(warns) == 1 and "whole partition" in warns[0], warns
        assert _head("nvs.json.corrupt") == (len(garbage), garbage[:32])  # kept for a person to look at
        nvs = esp32.NVS("prov")
        _raises(OSError, nvs.get_i32, "id")
        nvs.set_i32("id", 9)
        nvs.commit()
        default_device.build(nvs_file="nvs.json")
        assert esp32.NVS("prov").get_i32("id") == 9


def test_damaged_nvs_entries_are_dropped_and_the_rest_kept():
    import esp32
    from cpsim import default_device

    with open("nvs.json", "w") as f:
        f.write('{"prov": {"id": ["i32", 42], "secret": ["blob", "fe0"], "x": ["str", "a"], "big": ["i32", 4294967296],'
                ' "key": ["blob", "00ff"], "odd": "i32"}, "a_namespace_of_16": {"k": ["i32", 1]}, "n": 5}')
    dev = default_device.build(nvs_file="nvs.json")
    assert dev.nvs == {"prov": {"id": 42, "key": b"\x00\xff"}}
    warns = [n[2] for n in dev.log if n[1] == "warn"]
    assert len(warns) == 1 and "6 damaged entries" in warns[0], warns
    assert esp32.NVS("prov").get_i32("id") == 42


def test_good_nvs_file_loads_without_a_warning_and_commit_leaves_no_temporary():
    import os

    import esp32
    from cpsim import default_device

    for name in ("nvs.json", "nvs.json.corrupt", "nvs.json.tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
    default_device.build(nvs_file="nvs.json")
    nvs = esp32.NVS("prov")
    nvs.set_i32("id", -5)
    nvs.set_blob("k", b"")
    nvs.commit()
    dev = default_device.build(nvs_file="nvs.json")
    assert dev.nvs == {"prov": {"id": -5, "k": b""}} and not [n for n in dev.log if n[1] == "warn"]
    names = os.listdir(".")
    assert "nvs.json.tmp" not in names and "nvs.json.corrupt" not in names

# The pin's self-test (firmware/cloudpin/selftest.py) on emulated hardware:
# sensor found through the board layer, BLE up then back off, storage
# writable, and never a watchdog.
import json
import os

import bluetooth
import machine
from cpsim import boardfit
from cpsim.world import World
from cloudpin import selftest

# boards/cloudpin_ref.json (the VM cannot see the repo's boards/ folder)
BOARD = {
    "name": "cloudpin_ref", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
    "led": {"type": "rgb", "pins": [25, 26, 27], "active_low": True},
    "button": {"pin": 0, "active_low": True},
    "battery": {"type": "adc", "adc_pin": 35, "divider": 2.0, "full_mv": 4200, "empty_mv": 3300},
    "display": None, "power": None,
}


def _pin(fitted=None, written=None):
    """A pin whose hardware is `fitted` and whose /board.json says `written`."""
    dev = World().device()
    boardfit.fit(dev, fitted or BOARD)
    with open("board.json", "w") as f:
        json.dump(written or fitted or BOARD, f)
    return dev


def _with_accel(**changes):
    b = dict(BOARD)
    a = dict(BOARD["accel"])
    a.update(changes)
    b["accel"] = a
    return b


def test_healthy_pin_passes_and_leaves_radio_off_and_no_files():
    _pin()
    before = sorted(os.listdir("."))
    r = selftest.run()
    assert r["ok"] is True, r
    assert r["sensor"] == {"ok": True, "detail": "lis3dh"}
    assert r["ble"]["ok"] is True and r["storage"]["ok"] is True
    assert bluetooth.BLE().active() is False
    assert sorted(os.listdir(".")) == before
    json.dumps(r)  # the desk reads it as JSON


def test_radio_that_was_on_stays_on():
    _pin()
    bluetooth.BLE().active(True)
    assert selftest.run()["ble"]["ok"] is True
    assert bluetooth.BLE().active() is True


def test_missing_sensor_fails_with_a_reason():
    # The board file says LIS3DH at 0x18, the pin has nothing on the bus there.
    _pin(fitted=_with_accel(type="none"), written=BOARD)
    r = selftest.run()
    assert r["ok"] is False and r["sensor"]["ok"] is False
    assert "0x18" in r["sensor"]["detail"], r
    assert r["ble"]["ok"] is True and r["storage"]["ok"] is True


def test_wrong_sensor_fails_naming_the_part():
    _pin(fitted=_with_accel(address=0x19), written=BOARD)  # sensor strapped to the other address
    r = selftest.run()
    assert r["sensor"]["ok"] is False
    assert "LIS3DH" in r["sensor"]["detail"] or "0x18" in r["sensor"]["detail"], r


def test_never_starts_a_watchdog():
    dev = _pin()
    real = machine.WDT
    made = []

    def no_wdt(*a, **kw):
        made.append(1)
        return real(*a, **kw)

    machine.WDT = no_wdt
    try:
        assert selftest.run()["ok"] is True
    finally:
        machine.WDT = real
    assert made == [] and dev.wdt is None


def test_missing_board_file_is_reported_not_raised():
    _pin()
    os.remove("board.json")
    r = selftest.run()
    assert r["ok"] is False and "board" in r["sensor"]["detail"]
    assert r["storage"]["ok"] is True


def test_unwritable_storage_fails():
    _pin()
    r = selftest.run(tmp_path="no_such_dir/selftest.tmp")
    assert r["storage"]["ok"] is False and r["ok"] is False


def test_storage_reports_the_filesystems_free_and_total_size():
    # On a pin the filesystem is the vfs partition (about 2 MB of a 4 MB
    # flash); the detail says how much of it is free.
    _pin()
    st = os.statvfs(".")
    d = selftest.run()["storage"]["detail"]
    assert d.endswith(" KB free of %d KB" % (st[0] * st[2] // 1024)), d
    assert int(d.split()[0]) <= st[0] * st[2] // 1024

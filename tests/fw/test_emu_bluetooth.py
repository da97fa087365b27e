# The emulated `bluetooth` module's API: names, constants, UUIDs, config and
# the errors of MicroPython's ESP32 port (extmod/modbluetooth.c over NimBLE).
import errno

import bluetooth
from cpsim.world import World
from cpsim.blelog import IrqLog, ble_of
from fwcheck import raises as _raises


def _errno(fn, *args, **kw):
    return _raises(OSError, fn, *args, **kw).args[0]


def test_ble_is_the_singleton_of_the_current_device():
    w = World()
    a, b = w.device("a"), w.device("b")
    ba = ble_of(a)
    assert bluetooth.BLE() is ba and bluetooth.BLE(0) is ba  # extra args are ignored
    assert ble_of(b) is not ba and ble_of(a) is ba and a.ble_obj is ba
    assert ba.active() is False


def test_constants_are_the_modules_only():
    f = bluetooth
    assert (f.FLAG_READ, f.FLAG_WRITE_NO_RESPONSE, f.FLAG_WRITE, f.FLAG_NOTIFY, f.FLAG_INDICATE) == (
        0x02, 0x04, 0x08, 0x10, 0x20)
    # the docs: IRQ and other flag constants are not on the module, copy them
    for name in ("IRQ_SCAN_RESULT", "_IRQ_SCAN_RESULT", "FLAG_BROADCAST", "FLAG_AUX_WRITE", "rxbuf"):
        assert not hasattr(f, name), name


def test_uuid_forms_compare_hash_and_give_little_endian_bytes():
    U = bluetooth.UUID
    u16 = U(0x2A37)
    assert repr(u16) == "UUID(0x2a37)" and bytes(u16) == b"\x37\x2a"
    full = U("6E400001-B5A3-F393-E0A9-E50E24DCCA9E")
    assert full == U("6e400001b5a3f393e0a9e50e24dcca9e") and full != U(0x0001)
    assert repr(full) == "UUID('6e400001-b5a3-f393-e0a9-e50e24dcca9e')"
    assert bytes(full) == bytes(reversed(bytes.fromhex("6E400001B5A3F393E0A9E50E24DCCA9E")))
    assert U(full) == full and U(b"\x37\x2a") == u16  # copies and raw buffers
    assert {u16: 1}[U(0x2A37)] == 1 and u16 != b"\x37\x2a"
    for bad in (0x10000, "6E400001-B5A3-F393-E0A9-E50E24DCCA9", "6E400001-B5A3-F393-E0A9-E50E24DCCA9E0",
                "6E400001-B5A3-F393-E0A9-E50E24DCCA9G"):
        _raises(ValueError, U, bad)
    _raises(TypeError, U, 1.5)


def test_stack_calls_need_active_true():
    w = World()
    ble = ble_of(w.device("a"))
    ENODEV = errno.ENODEV
    assert _errno(ble.gap_advertise, 100000, b"x") == ENODEV
    assert _errno(ble.gap_scan, 1000) == ENODEV and _errno(ble.gap_scan, None) == ENODEV
    assert _errno(ble.gap_connect, 0, bytes(6)) == ENODEV
    assert _errno(ble.gap_disconnect, 0) == ENODEV
    assert _errno(ble.gatts_register_services, ()) == ENODEV
    assert _errno(ble.gatts_write, 12, b"x") == ENODEV
    assert _errno(ble.config, "mac") == ENODEV and _errno(ble.config, mtu=100) == ENODEV
    assert _errno(ble.config, addr_mode=1) == ENODEV
    assert ble.gatts_read(12) == b"" and ble.gap_advertise(None) is None
    assert ble.active(True) is True and ble.active() is True
    assert ble.active(False) is False


def test_config_parameters():
    w = World()
    ble = ble_of(w.device("a"))
    ble.active(True)
    # micropython's sdkconfig.ble names the stack "MPY ESP32"
    assert ble.config("gap_name") == b"MPY ESP32" and ble.config("mtu") == 256
    ble.config(gap_name="pin-07", mtu=185, bond=True, io=3, mitm=False, le_secure=False)
    assert ble.config("gap_name") == b"pin-07" and ble.config("mtu") == 185
    assert _errno(ble.config, gap_name="x" * 32) == errno.EINVAL
    assert _errno(ble.config, mtu=22) == errno.EINVAL
    _raises(ValueError, ble.config, rxbuf=1024)  # ESP32: synchronous events, no ring buffer
    _raises(ValueError, ble.config, "addr_mode")  # set-only
    _raises(TypeError, ble.config)
    _raises(TypeError, ble.config, "mtu", mtu=100)
    _raises(ValueError, ble.irq, 5)


def test_addresses_public_random_and_rotating():
    w = World()
    ble = ble_of(w.device("a", uid=b"\x24\x0a\xc4\x12\x34\xfe"))
    ble.active(True)
    assert ble.config("mac") == (0, b"\x24\x0a\xc4\x12\x35\x00")  # Bluetooth MAC = base MAC + 2
    ble.config(addr_mode=1)
    t1, s1 = ble.config("mac")
    ble.config(addr_mode=1)  # each time: a new static random address
    t2, s2 = ble.config("mac")
    assert t1 == t2 == 1 and s1 != s2 and s1[0] >> 6 == s2[0] >> 6 == 3
    ble.config(addr_mode=3)
    assert ble.config("mac")[1][0] >> 6 == 0  # non-resolvable private
    ble.config(addr_mode=2)
    assert _errno(ble.config, "mac") == errno.EINVAL
    scanner = ble_of(w.device("b"))
    addrs = set()
    scanner.irq(lambda e, d: addrs.add((d[0], bytes(d[1]))) if e == 5 else None)
    scanner.active(True)
    ble.gap_advertise(10000000, b"x")
    scanner.gap_scan(0, 100000, 100000)
    w.advance(20 * 60 * 1000)
    assert len(addrs) == 2 and all(t == 1 and a[0] >> 6 == 1 for t, a in addrs)  # RPA every 15 min
    ble.active(True)  # a restart goes back to the public address
    assert ble.config("mac")[0] == 0


def test_advertising_and_scan_argument_errors():
    w = World()
    ble = ble_of(w.device("a"))
    ble.active(True)
    assert _errno(ble.gap_advertise, 100000, bytes(32)) == -18  # micropython#7130
    assert _errno(ble.gap_advertise, 100000, b"", resp_data=bytes(32)) == -18
    assert _errno(ble.gap_advertise, 10000, b"x") == errno.EINVAL  # under 20 ms
    _raises(TypeError, ble.gap_advertise, 100000.0)
    _raises(TypeError, ble.gap_advertise, 100000, 5)
    assert not ble._adv_on
    ble.gap_scan(0)
    assert _errno(ble.gap_scan, 0) == errno.EALREADY
    ble.gap_scan(None)
    assert _errno(ble.gap_scan, 0, 10000, 20000) == errno.EINVAL  # window > interval
    _raises(TypeError, ble.gap_scan, 1.5)
    _raises(TypeError, ble.gap_connect, 0)
    _raises(ValueError, ble.gap_connect, 0, bytes(5))


def test_handler_exception_unregisters_the_handler():
    w = World()
    dev = w.device("a")
    ble = ble_of(dev)
    ble.active(True)
    calls = []

    def bad(event, data):
        calls.append(event)
        raise KeyError("boom")

    ble.irq(bad)
    ble.gap_scan(0)
    w.radio.inject_advertisement(bytes(6), b"")
    w.radio.inject_advertisement(bytes(6), b"")
    assert calls == [5] and ble._handler is None  # printed, then unregistered as on the board


def test_active_true_on_an_active_stack_restarts_it():
    w = World()
    ble = ble_of(w.device("a"))
    log = IrqLog(ble)
    ble.active(True)
    ((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x180F), ((bluetooth.UUID(0x2A19), 2),)),))
    ble.gatts_write(h, b"\x64")
    ble.gap_scan(0)
    ble.active(True)
    assert log.of(6) == [()]  # the scan ended
    assert ble.gatts_read(h) == b"" and _errno(ble.gatts_write, h, b"x") == errno.EINVAL


def test_handlers_run_as_their_own_device():
    w = World()
    a, b = w.device("a"), w.device("b")
    ba, bb = ble_of(a), ble_of(b)
    seen = []
    bb.irq(lambda e, d: seen.append(bluetooth.BLE()) if e == 5 else None)
    bb.active(True)
    bb.gap_scan(0)
    w.use(a)
    w.radio.inject_advertisement(bytes(6), b"", to=b)
    w.radio.inject_advertisement(bytes(6), b"", to=a)  # a is not scanning
    assert seen == [bb] and bluetooth.BLE() is ba  # and the caller's device is back

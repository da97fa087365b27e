# Emulated `bluetooth` module: MicroPython's documented API (docs/library/
# bluetooth.rst) as the ESP32 port implements it (extmod/modbluetooth.c over
# extmod/nimble/modbluetooth_nimble.c, synchronous IRQ events), on the World's
# shared simulated radio (cpsim.radio). This file is the API surface; IRQ
# delivery is cpsim.bleirq, the logic cpsim.blegap, cpsim.blegatts and
# cpsim.blegattc (small modules: the VM compiles each one whole).
# Copied from the port:
# - BLE() is the current Device's singleton. Stack calls raise OSError(ENODEV)
#   while inactive (gatts_read then returns b"", gap_advertise(None) is a
#   no-op). active(True) on an active stack restarts it (mp_bluetooth_init
#   deinitialises first).
# - IRQs run synchronously with the documented tuples; addr/adv_data/char_data/
#   notify_data are read-only memoryviews and uuid a UUID, all overwritten once
#   the handler returns (copy them, as on the board). An exception in the
#   handler prints "Unhandled exception in IRQ callback handler" and
#   unregisters the handler.
# - adv/resp data over 31 bytes: OSError(-18), NimBLE passing the controller's
#   "invalid HCI parameters" through (micropython#7130). connectable=False
#   advertises ADV_SCAN_IND (adv_type 2), NimBLE's type for MicroPython's
#   discoverable non-connectable mode.
# - config: 'rxbuf' is unknown on ESP32 (sync events have no ring buffer);
#   only 'gap_name', 'mac', 'mtu' can be read back. addr_mode 1 (random static)
#   and 3 (NRPA) make a new address each time they are set, which is how
#   firmware rotates its address; mode 2 (RPA) rotates every 15 min by itself
#   and config('mac') then raises EINVAL. The public address is the ESP32's
#   Bluetooth MAC: machine.unique_id() (Device.uid) + 2.
# Not enforced at run time: positional-only arguments (pyright with the ESP32
# stubs rejects keyword use). Not emulated: L2CAP (not on ESP32), connection
# parameter updates, real pairing (gap_pair is "just works", one round trip).
import errno as _errno
import sys as _sys

from cpsim import world as _world
from cpsim.bleirq import IrqDelivery

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_ENODEV = _errno.ENODEV
_EINVAL = _errno.EINVAL
_ENOTCONN = getattr(_errno, "ENOTCONN", 128)
_EALREADY = getattr(_errno, "EALREADY", 120)
_EBUSY = getattr(_errno, "EBUSY", 16)

_NONE = 0xFFFF  # BLE_HS_CONN_HANDLE_NONE
_ADDR0 = b"\x00\x00\x00\x00\x00\x00"
_MP = _sys.implementation.name == "micropython"
_MISSING = object()


def _err(code):
    # MicroPython sets .errno from OSError(code); CPython only from (code, text)
    return OSError(code) if _MP else OSError(code, _errno.errorcode.get(code, str(code)))


def _int(x):
    if isinstance(x, int):
        return int(x)
    raise TypeError("can't convert %s to int" % type(x).__name__)


def _buf(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode()
    if isinstance(x, UUID):
        return x._data
    try:
        return bytes(memoryview(x))
    except TypeError:
        raise TypeError("object with buffer protocol required")


# the rest of the stack, loaded on first use (the VM compiles a module whole,
# so small modules keep a firmware test's heap small)
def _gap():
    from cpsim import blegap

    return blegap


def _gatts():
    from cpsim import blegatts

    return blegatts


def _gattc():
    from cpsim import blegattc

    return blegattc


class UUID:
    def __init__(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            if value > 65535:
                raise ValueError("invalid UUID")
            self._data = bytes((value & 0xFF, (value >> 8) & 0xFF))
            return
        buf = _buf(value)
        if len(buf) in (2, 4, 16):  # raw little-endian bytes, even from a str
            self._data = bytes(buf)
            return
        out = bytearray(16)
        i = 32
        for c in buf:
            if c == 0x2D:  # '-'
                continue
            v = "0123456789abcdefABCDEF".find(chr(c))
            if v < 0:
                raise ValueError("invalid char in UUID")
            if v > 15:
                v -= 6
            i -= 1
            if i < 0:
                raise ValueError("UUID too long")
            out[i // 2] = (v << 4) if i % 2 else out[i // 2] | v
        if i > 0:
            raise ValueError("UUID too short")
        self._data = bytes(out)

    def __eq__(self, other):
        return isinstance(other, UUID) and self._data == other._data

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._data)

    def __bytes__(self):
        return self._data

    def __iter__(self):  # bytes(uuid) under MicroPython, which has no __bytes__
        return iter(self._data)

    def __repr__(self):
        d = self._data
        n = len(d)
        s = ""
        for i in range(n):
            s += ("-" if i in (4, 6, 8, 10) else "") + "%02x" % d[n - 1 - i]
        return ("UUID(0x%s)" if n <= 4 else "UUID('%s')") % s


class BLE(IrqDelivery):
    def __new__(cls, *args, **kwargs):
        dev = _world.current()
        obj = dev.ble_obj
        if obj is None:
            obj = object.__new__(cls)
            obj._setup(dev)
            dev.ble_obj = obj
        return obj

    def _setup(self, dev):
        from cpsim.radio import Rng

        self._dev = dev
        self._world = dev.world
        self._clock = dev.world.clock
        self._radio = dev.world.radio
        self._handler = None
        self._active = False
        self._gen = 0
        self._name = b"MPY ESP32"  # micropython ports/esp32/boards/sdkconfig.ble
        self._mtu = 256  # ESP-IDF CONFIG_BT_NIMBLE_ATT_PREFERRED_MTU
        self._bond = False
        base = int.from_bytes(bytes(dev.uid[:6]), "big")
        self._public = ((base + 2) & 0xFFFFFFFFFFFF).to_bytes(6, "big")
        self._rng = Rng(base ^ (base >> 24) ^ 0x5BD1E995)
        self._slots = []
        self._depth = 0
        self._st = self._radio.attach(self)
        _gap().reset(self)

    # --- GAP: cpsim.blegap -------------------------------------------------------------
    def active(self, active=None):
        return _gap().active(self, active)

    def config(self, *args, **kwargs):
        return _gap().config(self, args, kwargs)

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid handler")
        self._handler = handler

    def gap_advertise(self, interval_us=500000, adv_data=None, *, resp_data=None, connectable=True):
        _gap().advertise(self, interval_us, adv_data, resp_data, connectable)

    def gap_scan(self, duration_ms=0, interval_us=1280000, window_us=11250, active=False):
        _gap().scan(self, duration_ms, interval_us, window_us, active)

    def gap_connect(self, addr_type, addr=_MISSING, scan_duration_ms=2000, min_conn_interval_us=None,
                    max_conn_interval_us=None):
        if addr is not _MISSING:
            _gap().connect(self, addr_type, addr, scan_duration_ms, min_conn_interval_us, max_conn_interval_us)
        elif addr_type is None:
            _gap().cancel(self)
        else:
            raise TypeError("invalid addr")

    def gap_disconnect(self, conn_handle):
        return _gap().disconnect(self, conn_handle)

    def _adv_address(self):  # for the radio: RPAs rotate while advertising
        return _gap().own_addr(self) if self._mode == 2 else self._adv_addr

    def _connect_end(self):
        _gap().connect_end(self)

    def _connected(self, link):
        h = 0
        while h in self._conns:
            h += 1
        self._conns[h] = link
        return h

    def _closed(self, link, side, irq):
        h = link.handles[side]
        if self._conns.get(h) is link:
            del self._conns[h]
        if irq:
            at, a = link.addrs[1 - side]
            self._irq_addr(8 if side == 0 else 2, h, at, a)

    def _link(self, conn, need_active):
        if need_active and not self._active:
            raise _err(_ENODEV)
        conn = _int(conn) & 0xFFFF
        link = self._conns.get(conn)
        if link is None:
            raise _err(_ENOTCONN)
        return link, link.side_of(self), conn

    # --- GATT server: cpsim.blegatts ---------------------------------------------------
    def gatts_register_services(self, services_definition):
        return _gatts().register(self, services_definition)

    def gatts_read(self, value_handle):
        return _gatts().read(self, value_handle)

    def gatts_write(self, value_handle, data, send_update=False):
        return _gatts().write(self, value_handle, data, send_update)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        _gatts().push(self, conn_handle, value_handle, data, False)

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        _gatts().push(self, conn_handle, value_handle, data, True)

    def gatts_set_buffer(self, value_handle, len, append=False):
        _gatts().set_buffer(self, value_handle, len, append)

    # --- GATT client and pairing: cpsim.blegattc ----------------------------------------------
    def gattc_discover_services(self, conn_handle, uuid=None):
        _gattc().discover(self, 9, conn_handle, 0, 0, uuid)

    def gattc_discover_characteristics(self, conn_handle, start_handle, end_handle, uuid=None):
        _gattc().discover(self, 11, conn_handle, start_handle, end_handle, uuid)

    def gattc_discover_descriptors(self, conn_handle, start_handle, end_handle):
        _gattc().discover(self, 13, conn_handle, start_handle, end_handle, None)

    def gattc_read(self, conn_handle, value_handle):
        _gattc().read(self, conn_handle, value_handle)

    def gattc_write(self, conn_handle, value_handle, data, mode=0):
        _gattc().write(self, conn_handle, value_handle, data, mode)

    def gattc_exchange_mtu(self, conn_handle):
        _gattc().exchange_mtu(self, conn_handle)

    def gap_pair(self, conn_handle):
        _gattc().pair(self, conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        _int(passkey)
        if _int(action) not in (2, 3, 4):
            raise _err(_EINVAL)
        self._link(conn_handle, False)

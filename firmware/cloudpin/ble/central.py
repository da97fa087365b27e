# Central role: connect to a peer and use its GATT server. Every procedure
# waits on the IRQ that ends it, with a timeout, and every failure comes out
# as an exception of this module: ConnectError (no link made), LinkLost (the
# link dropped, before or during the procedure) or GattError (an ATT error,
# a timeout or the stack refusing, with .status). One procedure at a time
# per connection (ATT allows one request in flight).
import asyncio
import errno

import bluetooth
from micropython import const

_IRQ_PERIPHERAL_CONNECT = const(7)
_IRQ_PERIPHERAL_DISCONNECT = const(8)
_IRQ_GATTC_SERVICE_RESULT = const(9)
_IRQ_GATTC_SERVICE_DONE = const(10)
_IRQ_GATTC_CHARACTERISTIC_RESULT = const(11)
_IRQ_GATTC_CHARACTERISTIC_DONE = const(12)
_IRQ_GATTC_READ_RESULT = const(15)
_IRQ_GATTC_READ_DONE = const(16)
_IRQ_GATTC_WRITE_DONE = const(17)
_IRQ_GATTC_NOTIFY = const(18)
_IRQ_GATTC_INDICATE = const(19)
_IRQ_MTU_EXCHANGED = const(21)
_NO_HANDLE = const(0xFFFF)
_STATUS_NOT_CONNECTED = const(7)  # BLE_HS_ENOTCONN: the link went first
_STATUS_TIMEOUT = const(-1)
_MAX_NOTIFIED = const(8)  # notifications kept unread per connection (oldest dropped)


class GattError(Exception):
    def __init__(self, msg, status=0):
        super().__init__(msg)
        self.status = status  # ATT error + 0x100, an errno, or -1 (timeout)


class LinkLost(GattError):
    pass


class ConnectError(GattError):
    pass


def _errno(e):
    n = e.args[0] if e.args else 0
    return n if isinstance(n, int) else 0


class Connection:
    """One link made by Central.connect."""

    def __init__(self, central, addr_type, addr):
        self.central = central
        self.addr_type = addr_type
        self.addr = addr
        self.handle = _NO_HANDLE
        self.connected = False
        self.mtu = 23  # ATT's default until exchange_mtu()
        self._flag = asyncio.ThreadSafeFlag()
        self._expect = 0  # the IRQ that ends the procedure in flight, 0: none
        self._status = 0
        self._value = None
        self._found = []
        self._notified = []  # [(value handle, bytes)]
        self._nflag = asyncio.ThreadSafeFlag()

    def _check(self):
        if not self.connected:
            raise LinkLost("not connected", _STATUS_NOT_CONNECTED)

    async def _run(self, expect, call, timeout_ms, what):
        self._check()
        self._expect = expect
        self._status = 0
        self._value = None
        self._found = []
        self._flag.clear()
        try:
            call()
        except OSError as e:
            self._expect = 0
            n = _errno(e)
            if not self.connected or n == errno.ENOTCONN:
                raise LinkLost("%s: link lost" % what, _STATUS_NOT_CONNECTED)
            raise GattError("%s: stack refused: %r" % (what, e), n)
        try:
            await asyncio.wait_for_ms(self._flag.wait(), timeout_ms)
        except asyncio.TimeoutError:
            self._expect = 0
            raise GattError("%s: no answer in %d ms" % (what, timeout_ms), _STATUS_TIMEOUT)
        st = self._status
        if st == _STATUS_NOT_CONNECTED or not self.connected:
            raise LinkLost("%s: link lost" % what, _STATUS_NOT_CONNECTED)
        if st:
            raise GattError("%s: status 0x%x" % (what, st), st)

    async def service(self, uuid, timeout_ms=2000):
        """(start, end) handles of the peer's service `uuid`; GattError if absent."""
        ble = self.central.owner.ble
        await self._run(_IRQ_GATTC_SERVICE_DONE, lambda: ble.gattc_discover_services(self.handle, uuid),
                        timeout_ms, "discover service")
        for start, end, u in self._found:
            if u == uuid:
                return start, end
        raise GattError("service %r not found" % (uuid,), 0x10A)  # ATT "attribute not found"

    async def characteristics(self, start, end, timeout_ms=2000):
        """[(value handle, properties, UUID)] of the characteristics in start..end."""
        ble = self.central.owner.ble
        await self._run(_IRQ_GATTC_CHARACTERISTIC_DONE,
                        lambda: ble.gattc_discover_characteristics(self.handle, start, end),
                        timeout_ms, "discover characteristics")
        return list(self._found)

    async def discover(self, service_uuid, char_uuids, timeout_ms=2000):
        """Value handles of `char_uuids` (in that order) in the peer's service
        `service_uuid`; GattError if one is missing."""
        start, end = await self.service(service_uuid, timeout_ms)
        chars = await self.characteristics(start, end, timeout_ms)
        out = []
        for want in char_uuids:
            h = 0
            for vh, props, u in chars:
                if u == want:
                    h = vh
            if not h:
                raise GattError("characteristic %r not found" % (want,), 0x10A)
            out.append(h)
        return out

    async def read(self, value_handle, timeout_ms=2000):
        """The value (bytes) of the peer's attribute."""
        ble = self.central.owner.ble
        await self._run(_IRQ_GATTC_READ_DONE, lambda: ble.gattc_read(self.handle, value_handle),
                        timeout_ms, "read 0x%x" % value_handle)
        return self._value if self._value is not None else b""

    async def exchange_mtu(self, timeout_ms=2000):
        """Agree a larger ATT MTU (both stacks offer 256 by default on the
        ESP32); returns it. Values longer than MTU - 3 need it."""
        ble = self.central.owner.ble
        await self._run(_IRQ_MTU_EXCHANGED, lambda: ble.gattc_exchange_mtu(self.handle), timeout_ms, "MTU exchange")
        return self.mtu

    async def write(self, value_handle, data, response=True, timeout_ms=2000):
        """Write `data` (at most MTU - 3 bytes: 20 unless exchanged; longer is
        a GattError, not the stack's silent cut). With response, returns once
        the peer confirmed; without, once queued."""
        ble = self.central.owner.ble
        if len(data) > self.mtu - 3:
            raise GattError("write of %d bytes: more than MTU %d - 3" % (len(data), self.mtu), errno.EINVAL)
        if not response:
            self._check()
            try:
                ble.gattc_write(self.handle, value_handle, data, 0)
            except OSError as e:
                if not self.connected:
                    raise LinkLost("write: link lost", _STATUS_NOT_CONNECTED)
                raise GattError("write: stack refused: %r" % (e,), _errno(e))
            return
        await self._run(_IRQ_GATTC_WRITE_DONE, lambda: ble.gattc_write(self.handle, value_handle, data, 1),
                        timeout_ms, "write 0x%x" % value_handle)

    async def subscribe(self, value_handle, indicate=False, timeout_ms=2000):
        """Turn on notifications (or indications) of a characteristic. Our
        pins' servers are NimBLE, which puts the CCCD right after the value."""
        await self.write(value_handle + 1, b"\x02\x00" if indicate else b"\x01\x00", True, timeout_ms)

    async def notified(self, value_handle=None, timeout_ms=2000):
        """The next notification or indication (of value_handle, or any) as
        (handle, bytes); GattError on timeout, LinkLost if the link drops."""
        while True:
            for i in range(len(self._notified)):
                h, v = self._notified[i]
                if value_handle is None or h == value_handle:
                    del self._notified[i]
                    return h, v
            self._check()
            self._nflag.clear()
            try:
                await asyncio.wait_for_ms(self._nflag.wait(), timeout_ms)
            except asyncio.TimeoutError:
                raise GattError("no notification in %d ms" % timeout_ms, _STATUS_TIMEOUT)

    async def disconnect(self, timeout_ms=1000):
        """End the link; returns when the stack reports it closed (or at once
        if it already was)."""
        if not self.connected:
            return
        self._expect = _IRQ_PERIPHERAL_DISCONNECT
        self._flag.clear()
        try:
            self.central.owner.ble.gap_disconnect(self.handle)
        except OSError:
            pass  # already going (EALREADY) or the stack is off
        try:
            await asyncio.wait_for_ms(self._flag.wait(), timeout_ms)
        except asyncio.TimeoutError:
            pass
        self._lost()

    def _lost(self):
        self.connected = False
        self.central._conns.pop(self.handle, None)
        self._status = _STATUS_NOT_CONNECTED
        self._flag.set()
        self._nflag.set()

    # --- IRQ side (copies what it keeps) --------------------------------------
    def _event(self, event, data):
        if event == _IRQ_GATTC_NOTIFY or event == _IRQ_GATTC_INDICATE:
            if len(self._notified) >= _MAX_NOTIFIED:
                self._notified.pop(0)
            self._notified.append((data[1], bytes(data[2])))
            self._nflag.set()
            return
        if event == _IRQ_MTU_EXCHANGED:
            self.mtu = data[1]
            if self._expect == event:
                self._expect = 0
                self._flag.set()
            return
        if event == _IRQ_GATTC_SERVICE_RESULT:
            self._found.append((data[1], data[2], bluetooth.UUID(data[3])))
        elif event == _IRQ_GATTC_CHARACTERISTIC_RESULT:
            self._found.append((data[2], data[3], bluetooth.UUID(data[4])))
        elif event == _IRQ_GATTC_READ_RESULT:
            if self._expect == _IRQ_GATTC_READ_DONE:
                self._value = bytes(data[2])
        elif event == self._expect:
            self._expect = 0
            self._status = data[-1]
            self._flag.set()


class Central:
    def __init__(self, owner):
        self.owner = owner
        self._conns = {}  # conn handle -> Connection
        self._pending = None  # the Connection being made
        self._pflag = asyncio.ThreadSafeFlag()
        owner.handle(_IRQ_PERIPHERAL_CONNECT, self._irq)
        owner.handle(_IRQ_PERIPHERAL_DISCONNECT, self._irq)
        for ev in range(_IRQ_GATTC_SERVICE_RESULT, _IRQ_GATTC_INDICATE + 1):
            owner.handle(ev, self._irq)
        owner.handle(_IRQ_MTU_EXCHANGED, self._irq)
        owner.watch(self._on_off, self._idle)

    async def connect(self, addr_type, addr, timeout_ms=2000):
        """Connect to the peer advertising connectably as (addr_type, addr);
        returns a Connection, or raises ConnectError (timeout, refused)."""
        if self._pending is not None:
            raise ConnectError("a connect is already under way", errno.EALREADY)
        conn = Connection(self, addr_type, bytes(addr))
        self._pending = conn
        self._pflag.clear()
        try:
            self.owner.ble.gap_connect(addr_type, conn.addr, timeout_ms)
        except OSError as e:
            self._pending = None
            raise ConnectError("connect refused by the stack: %r" % (e,), _errno(e))
        try:
            # the stack ends the attempt itself at timeout_ms; a margin for its IRQ
            await asyncio.wait_for_ms(self._pflag.wait(), timeout_ms + 500)
        except asyncio.TimeoutError:
            self._cancel()
        self._pending = None
        if not conn.connected:
            raise ConnectError("no connection to %s in %d ms" % (_hex(conn.addr), timeout_ms),
                               _STATUS_TIMEOUT)
        return conn

    def _cancel(self):
        try:
            self.owner.ble.gap_connect(None)
        except OSError:
            pass

    def connections(self):
        return list(self._conns.values())

    def _irq(self, event, data):
        if not isinstance(data[0], int):
            return  # not a tuple the stack makes: ignored, nothing kept
        if event == _IRQ_PERIPHERAL_CONNECT:
            conn = self._pending
            if conn is not None and not conn.connected:
                conn.handle = data[0]
                conn.connected = True
                self._conns[data[0]] = conn
                self._pflag.set()
            return
        if event == _IRQ_PERIPHERAL_DISCONNECT:
            h = data[0]
            if h == _NO_HANDLE:  # the connect attempt ended without a link
                self._pflag.set()
                return
            conn = self._conns.get(h)
            if conn is not None:
                conn._lost()
            return
        conn = self._conns.get(data[0])
        if conn is not None:
            conn._event(event, data)

    def _on_off(self, on):
        if not on:
            for conn in list(self._conns.values()):
                conn._lost()
            if self._pending is not None:
                self._pflag.set()

    def _idle(self):
        return self._pending is None


def _hex(b):
    return ":".join("%02x" % x for x in b)

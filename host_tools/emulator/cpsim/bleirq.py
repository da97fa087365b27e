# IRQ delivery of the emulated bluetooth.BLE (its base class). Handlers run
# synchronously, as with the ESP32 port's synchronous events, with the
# handler's own Device current (machine.* built in a handler binds there).
# addr/data are read-only memoryviews into per-nesting-level buffers and uuid a
# reused UUID. On the board the data tuple and what its memoryviews point at
# live on the NimBLE task's stack (modbluetooth.c invoke_irq_handler_run:
# mp_local_alloc, memoryviews over the event's own buffers), gone once the
# handler returns: here the views are released (CPython: reading one raises
# ValueError) or, where memoryview has no release() (MicroPython), their
# bytes are wiped. An exception in a handler is printed the way modbluetooth.c
# prints it and unregisters the handler.
#
# CPU: each event the handler takes is charged to the pin's "cpu" accounting
# (cpsim.cpucost) as the radio's per-event host time (cpsim.radio IRQ_US:
# NimBLE plus a short handler). While the pin light-sleeps (machine.lightsleep)
# its CPU is halted and NimBLE's host task with it: events wait in the
# controller's buffers and reach the handler, in order, when it wakes
# (cpsim.gpio.run_deferred), each with fresh memoryviews over its own copy;
# advertising reports beyond the HCI event buffers (cpsim.radio
# EVT_DISCARD_COUNT) are dropped meanwhile, as the controller drops them.
import sys

from cpsim import world as _world

_RO = hasattr(memoryview, "toreadonly")
_ADDR0 = b"\x00\x00\x00\x00\x00\x00"


def _view(s, buf, n):
    mv = memoryview(buf)[:n]
    if _RO:
        mv = mv.toreadonly()
        s.views.append(mv)
    return mv


class _Slot:  # buffers behind one nesting level's memoryviews and UUID
    def __init__(self):
        from bluetooth import UUID

        self.addr = bytearray(6)
        self.data = bytearray(32)
        self.uuid = UUID(0)
        self.views = []


class IrqDelivery:
    def _irq(self, event, data):
        h = self._handler
        if h is None:
            return None
        dev = self._dev
        if getattr(dev, "asleep", False):
            self._defer(dev, event, data)
            return None
        st = _world._state
        pw, pd = st["world"], st["device"]
        st["world"], st["device"] = self._world, self._dev
        try:
            return h(event, data)
        except Exception as e:
            self._handler = None
            print("Unhandled exception in IRQ callback handler")
            pe = getattr(sys, "print_exception", None)
            if pe is not None:
                pe(e)
            note = getattr(self._dev, "note", None)
            if note is not None:
                note("ble_irq_exception", repr(e))
            return None
        finally:
            st["world"], st["device"] = pw, pd
            if getattr(dev, "cpu_src", None) is not None:
                from cpsim import cpucost

                cpucost._charge(dev, self._st.irq_us)

    def _defer(self, dev, event, data):
        # the pin sleeps: keep a copy of the event for its wake-up
        if event == 5:
            from cpsim.radio import EVT_DISCARD_COUNT

            held = 0
            for d in dev.deferred:
                if d[2] == "ble_scan":
                    held += 1
            if held >= EVT_DISCARD_COUNT:
                a = getattr(dev, "acct", None)
                if a is not None:
                    a.count("radio.reports_dropped")
                return
        from bluetooth import UUID

        copy = []
        for x in data:
            if isinstance(x, memoryview):
                x = bytes(x)
            elif isinstance(x, UUID):
                x = UUID(x._data)
            copy.append(x)
        dev.deferred.append((self._replay, (event, copy), "ble_scan" if event == 5 else "ble_irq"))

    def _replay(self, arg):
        # a deferred event, now that the pin is awake: views over its own copy, wiped after
        event, copy = arg
        s = self._fill(None, None)
        bufs = []
        out = []
        for x in copy:
            if isinstance(x, bytes):
                b = bytearray(x)
                bufs.append(b)
                x = _view(s, b, len(b))
            out.append(x)
        try:
            self._irq(event, tuple(out))
        finally:
            self._leave(s, 0)
            for b in bufs:
                for i in range(len(b)):
                    b[i] = 0

    def _fill(self, addr, data):
        # the next free slot, loaded; views into it die with _leave
        d = self._depth
        if d == len(self._slots):
            self._slots.append(_Slot())
        self._depth = d + 1
        s = self._slots[d]
        if addr is not None:
            s.addr[0:6] = addr
        if data is not None:
            n = len(data)
            if n > len(s.data):
                s.data = bytearray(n)
            s.data[0:n] = data
        return s

    def _leave(self, s, n):
        # what a handler kept a view of is gone on the board: make that visible
        views = s.views
        while views:
            views.pop().release()
        buf = s.data
        for i in range(n):
            buf[i] = 0
        s.addr[0:6] = _ADDR0
        s.uuid._data = bytes(len(s.uuid._data))
        self._depth -= 1

    def _on_adv(self, addr_type, addr, adv_type, rssi, data):
        if self._handler is None:
            return
        s = self._fill(addr, data)
        rssi = -128 if rssi < -128 else (127 if rssi > 127 else rssi)
        try:
            self._irq(5, (addr_type, _view(s, s.addr, 6), adv_type, rssi, _view(s, s.data, len(data))))
        finally:
            self._leave(s, len(data))

    def _irq_addr(self, event, conn, addr_type, addr):
        if self._handler is not None:
            s = self._fill(addr, None)
            try:
                self._irq(event, (conn, addr_type, _view(s, s.addr, 6)))
            finally:
                self._leave(s, 0)

    def _irq_data(self, event, conn, handle, data):
        if self._handler is not None:
            s = self._fill(None, data)
            try:
                self._irq(event, (conn, handle, _view(s, s.data, len(data))))
            finally:
                self._leave(s, len(data))

    def _irq_uuid(self, event, nums, raw):
        if self._handler is not None:
            s = self._fill(None, None)
            s.uuid._data = raw
            try:
                self._irq(event, nums + (s.uuid,))
            finally:
                self._leave(s, 0)

    def _irq_secret(self, event, nums, key, value):
        """_IRQ_GET_SECRET (nums: type, index; data: key or None) or
        _IRQ_SET_SECRET (nums: type; data: key, value or None); returns what
        the handler returned (modbluetooth.c mp_bluetooth_gap_on_get/set_secret)."""
        if self._handler is None:
            return None
        s = self._fill(None, None)
        datas = []
        for d in (key, value) if event == 30 else (key,):
            datas.append(None if d is None else _view(s, bytearray(d), len(d)))
        try:
            return self._irq(event, nums + tuple(datas))
        finally:
            self._leave(s, 0)

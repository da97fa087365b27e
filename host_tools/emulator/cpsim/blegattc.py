# GATT client and pairing of the emulated bluetooth.BLE, loaded on first use.
# Each request travels to the peer at the next connection event, is answered
# there by cpsim.blegatts, and its result IRQs come back one event later.
from bluetooth import _err, UUID, _int, _buf, _ENODEV, _EINVAL, _EALREADY, _EBUSY
from cpsim.blegatts import server, serve_read, serve_write


def _status(err):
    return 0x100 + err if err else 0


def _ignore(status):
    pass


def discover(ble, event, conn, start, end, uuid):
    """event 9 services, 11 characteristics, 13 descriptors; done = event + 1."""
    conn, start, end = _int(conn), _int(start) & 0xFFFF, _int(end) & 0xFFFF
    if uuid is not None and not isinstance(uuid, UUID):
        raise TypeError("UUID")
    if event == 11:
        if not ble._active:
            raise _err(_ENODEV)
        if ble._chr_disc:
            raise _err(_EBUSY)  # modbluetooth_nimble: one at a time
    link, side, conn = ble._link(conn, True)
    raw = None if uuid is None else uuid._data
    if event == 11:
        ble._chr_disc = True

    def on_tx():
        t = server(link.ends[1 - side])
        found = []
        if event == 9:
            for s, e, u in t.services(raw):
                found.append(((conn, s, e), u))
        elif event == 13:
            for h, u in t.handles_after(start, end):
                found.append(((conn, h), u))
        else:
            chars = t.characteristics(start, end)
            for i in range(len(chars)):
                vh, props, u = chars[i][1:]
                if raw is None or u == raw:
                    # NimBLE reports one when it sees the next: its end is the next
                    # declaration - 1, or the end of the searched range
                    last = chars[i + 1][0] - 1 if i + 1 < len(chars) else end
                    found.append(((conn, last, vh, props), u))
        status = 0x101 if event == 11 and (start == 0 or start > end) else 0

        def on_rx():
            for nums, u in found:
                ble._irq_uuid(event, nums, u)
            _done(ble, event, conn, status)

        return on_rx

    link.transact(side, 0, on_tx, lambda st: _done(ble, event, conn, st))


def _done(ble, event, conn, status):
    if event == 11:
        ble._chr_disc = False
    ble._irq(event + 1, (conn, status))


def read(ble, conn, h):
    h = _int(h) & 0xFFFF
    link, side, conn = ble._link(conn, True)
    peer = link.ends[1 - side]

    def on_tx():
        err, v = serve_read(peer, link, 1 - side, h)

        def on_rx():
            if not err:
                ble._irq_data(15, conn, h, v)
            ble._irq(16, (conn, h, _status(err)))

        return on_rx

    link.transact(side, 0, on_tx, lambda st: ble._irq(16, (conn, h, st)))


def write(ble, conn, h, data, mode):
    h, data, mode = _int(h) & 0xFFFF, _buf(data), _int(mode)
    if not ble._active:
        raise _err(_ENODEV)
    if mode != 0 and mode != 1:
        raise _err(_EINVAL)
    link, side, conn = ble._link(conn, True)
    peer = link.ends[1 - side]
    data = data[: link.mtu - 3]
    if mode == 0:
        link.post(side, lambda: serve_write(peer, link, 1 - side, h, data))
        return

    def on_tx():
        err = serve_write(peer, link, 1 - side, h, data)
        return lambda: ble._irq(17, (conn, h, _status(err)))

    link.transact(side, 0, on_tx, lambda st: ble._irq(17, (conn, h, st)))


def exchange_mtu(ble, conn):
    link, side, conn = ble._link(conn, False)
    if link.mtu_sent[side]:
        raise _err(_EALREADY)
    link.mtu_sent[side] = True
    mine = ble._mtu

    def on_tx():
        peer = link.ends[1 - side]
        mtu = max(23, min(mine, peer._mtu))
        link.mtu = mtu
        peer._irq(21, (link.handles[1 - side], mtu))
        return lambda: ble._irq(21, (conn, mtu))

    link.transact(side, 0, on_tx, _ignore)


def pair(ble, conn):
    link, side, conn = ble._link(conn, False)
    peer = link.ends[1 - side]

    def on_tx():
        link.encrypted = True
        bonded = 1 if ble._bond and peer._bond else 0
        peer._irq(28, (link.handles[1 - side], 1, 0, bonded, 16))
        return lambda: ble._irq(28, (conn, 1, 0, bonded, 16))

    link.transact(side, 0, on_tx, _ignore)

# GATT server of the emulated bluetooth.BLE, loaded on first use: the local
# gatts_* API and the answers to a peer's requests, from the attribute table
# (cpsim.gatt), when they arrive over the cpsim.link.Link. NimBLE behaviour
# kept (here and in cpsim.blegattc, the client):
# - client statuses: 0 on success, 0x100 + the ATT error code otherwise, 7
#   (BLE_HS_ENOTCONN) when the link drops first;
# - every ATT payload is cut to the MTU (23 until exchanged) without error,
#   and a remote write to the value's buffer (20 bytes unless gatts_write or
#   gatts_set_buffer made it larger);
# - gatts_notify/indicate send whatever the subscription; gatts_write(...,
#   True) only reaches clients that subscribed through the CCCD, which the
#   stack keeps (no _IRQ_GATTS_WRITE for it);
# - a remote read first raises _IRQ_GATTS_READ_REQUEST, whose non-zero return
#   denies it with that ATT error; gatts_notify(conn, h) without data reads
#   the value the same way, from connection 0xFFFF;
# - one characteristic discovery at a time (EBUSY), one MTU exchange per side.
from bluetooth import _err, UUID, _int, _buf, _ENODEV, _EINVAL, _EBUSY, _NONE
from cpsim import gatt as G
import errno


def server(ble):
    if ble._gatt is None:
        ble._gatt = G.GattServer()
    return ble._gatt


def _array(x):
    if isinstance(x, (tuple, list)):
        return x
    raise TypeError("object '%s' isn't a tuple or list" % type(x).__name__)


def _fixed(x, n):
    x = _array(x)
    if len(x) != n:
        raise ValueError("tuple/list has wrong length")
    return x


def _uuid(u, what):
    if not isinstance(u, UUID):
        raise ValueError("invalid %s UUID" % what)
    return u._data


# --- server: local API --------------------------------------------------------------
def register(ble, services):
    len(services)
    if not ble._active:
        raise _err(_ENODEV)
    if ble._adv_on or ble._scanning or ble._connecting is not None or ble._conns:
        raise _err(_EBUSY)  # NimBLE ble_gatts_reset(): the table is in use
    table = ble._gatt = G.GattServer()
    out = []
    for svc in services:
        svc = _fixed(svc, 2)
        suuid = _uuid(svc[0], "service")
        chars = []
        len(svc[1])
        for c in svc[1]:
            c = _array(c)
            if len(c) < 2 or len(c) > 3:
                raise ValueError("invalid characteristic tuple")
            cuuid = _uuid(c[0], "characteristic")
            dscs = []
            if len(c) == 3:
                len(c[2])
                for d in c[2]:
                    d = _fixed(d, 2)
                    dscs.append((_uuid(d[0], "descriptor"), _int(d[1]) & 0xFFFF))
            chars.append((cuuid, _int(c[1]) & 0xFFFF, dscs))
        handles = table.add_service(suuid, chars)
        if handles is None:
            raise _err(getattr(errno, "E2BIG", 7))
        out.append(tuple(handles))
    return tuple(out)


def read(ble, h):
    e = server(ble).entry(_int(h)) if ble._active else None
    if e is None:
        return b""
    v = e.value
    if e.append:
        e.value = b""
    return v


def _entry(ble, h):
    if not ble._active:
        raise _err(_ENODEV)
    e = server(ble).entry(h)
    if e is None:
        raise _err(_EINVAL)
    return e


def write(ble, h, data, update):
    h = _int(h)
    data = _buf(data)
    e = _entry(ble, h)
    e.value = data
    if len(data) > e.alloc:
        e.alloc = len(data)
    if update:
        for link in list(ble._conns.values()):
            side = link.side_of(ble)
            bits = link.cccd[side].get(h, 0)
            if bits:
                try:
                    _send(ble, link, side, h, data, not bits & 1)
                except OSError:
                    pass  # ble_gatts_chr_updated() reports nothing back
    return len(data)


def set_buffer(ble, h, n, append):
    h, n = _int(h), _int(n)
    e = _entry(ble, h)
    if n < 0:
        raise _err(errno.ENOMEM)
    e.alloc = n
    e.value = b""
    e.append = bool(append)


def push(ble, conn, h, data, indicate):
    h = _int(h)
    data = None if data is None else _buf(data)
    link, side, conn = ble._link(conn, True)
    if data is None:
        t = server(ble)
        a = t.get(h)
        if a is None:
            raise _err(errno.ENOENT)
        if a.kind == G.VAL or a.kind == G.DSC:
            ble._irq(4, (_NONE, h))
            data = ble._name if h == t.name_handle else a.value
        else:
            data = b"\x00\x00" if a.kind == G.CCCD else t.read(h, True, ble._name)[1]
    _send(ble, link, side, h, data, indicate)


def _send(ble, link, side, h, data, indicate):
    # a notification holds a host buffer until sent (cpsim.link: ENOMEM when
    # none is left); an indication is also a GATT procedure (ENOMEM past 4)
    data = data[: link.mtu - 3]
    peer = link.ends[1 - side]
    if not indicate:
        link.post(side, lambda: peer._irq_data(18, link.handles[1 - side], h, data), 3 + len(data))
        return
    from cpsim.blegattc import proc

    done = proc(ble)
    conn = link.handles[side]

    def on_tx():
        peer._irq_data(19, link.handles[1 - side], h, data)
        return lambda: done() or ble._irq(20, (conn, h, 0))

    link.transact(side, 1, on_tx, lambda st: done() or ble._irq(20, (conn, h, st)), 3 + len(data), 1)


# --- server: answering a peer (runs when its request arrives) -------------------------------
def serve_read(srv, link, side, h):
    t = server(srv)
    a = t.get(h)
    if a is not None and a.kind == G.CCCD:
        return 0, G.u16(link.cccd[side].get(a.extra, 0))
    err, v = t.read(h, link.encrypted, srv._name)
    if not err and (a.kind == G.VAL or a.kind == G.DSC):
        deny = srv._irq(4, (link.handles[side], h))
        if isinstance(deny, int) and deny:
            return deny & 0xFF, b""
        err, v = t.read(h, link.encrypted, srv._name)  # the handler may have rewritten it
    return err, v[: link.mtu - 1]


def serve_write(srv, link, side, h, data):
    sniffers = getattr(link.radio, "sniffers", None)
    if sniffers:  # someone on the air follows connections (the simulator's replay attacker)
        for f in sniffers:
            f(link, side, h, bytes(data))
    t = server(srv)
    a = t.get(h)
    if a is not None and a.kind == G.CCCD:
        if len(data) != 2:
            return G.ERR_INVALID_LEN
        link.cccd[side][a.extra] = data[0] & 3
        return 0
    err = t.write(h, data, link.encrypted)
    if not err:
        srv._irq(3, (link.handles[side], h))
    return err

# GATT client and pairing of the emulated bluetooth.BLE, loaded on first use.
# Each request travels to the peer at the next connection event, is answered
# there by cpsim.blegatts, and its result IRQs come back one event later.
# NimBLE allocates every client procedure (discoveries, read, write with
# response, MTU exchange, and the server's indications) from a pool of
# MAX_PROCS for the whole stack; ble_gattc_proc_alloc() failing is
# BLE_HS_ENOMEM, which modbluetooth_nimble.c raises as ENOMEM.
import errno

from bluetooth import _err, UUID, _int, _buf, _ENODEV, _EINVAL, _EALREADY, _EBUSY
from cpsim.blegatts import server, serve_read, serve_write

MAX_PROCS = 4  # ESP-IDF CONFIG_BT_NIMBLE_GATT_MAX_PROCS default
# Pairing (LE Secure Connections, "just works"): Pairing Request/Response,
# public keys, confirm, random, DHKey check, then the link layer's encryption
# start: six round trips before _IRQ_ENCRYPTION_UPDATE (Core spec Vol 3 Part H
# 2.3.5.6; key distribution rides on the last ones).
PAIRING_ROUND_TRIPS = 6
_SECRET_OUR_SEC = 1  # NimBLE BLE_STORE_OBJ_TYPE_OUR_SEC
_SECRET_PEER_SEC = 2  # NimBLE BLE_STORE_OBJ_TYPE_PEER_SEC


def _status(err):
    return 0x100 + err if err else 0


def _ignore(status):
    pass


def proc(ble):
    """Take a procedure from the pool (ENOMEM when it is empty); returns
    the function that gives it back, once, for this stack's generation."""
    if ble._procs >= MAX_PROCS:
        raise _err(errno.ENOMEM)
    ble._procs += 1
    gen = ble._gen
    held = [True]

    def done():
        if held[0] and ble._gen == gen:
            ble._procs -= 1
        held[0] = False

    return done


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
    done = proc(ble)
    if event == 11:
        ble._chr_disc = True

    if getattr(link, "remote", False):  # a pin in another VM (cpsim/airlink.py)
        link.gattc(ble, b"D", conn, (event, start, end, raw), done)
        return

    def on_tx():
        found, status = discovered(server(link.ends[1 - side]), event, conn, start, end, raw)

        def on_rx():
            for nums, u in found:
                ble._irq_uuid(event, nums, u)
            _done(ble, event, conn, status, done)

        return on_rx

    # a discovery request (7 bytes: opcode, range, type) and a response of a few
    # entries (~20 bytes): one round of NimBLE's procedure, all this one takes
    link.transact(side, 0, on_tx, lambda st: _done(ble, event, conn, st, done), 7, 20)


def discovered(t, event, conn, start, end, raw):
    """What a discovery finds in GATT table t: ([(IRQ numbers, uuid)], status)."""
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
    return found, 0x101 if event == 11 and (start == 0 or start > end) else 0


def _done(ble, event, conn, status, done):
    done()
    if event == 11:
        ble._chr_disc = False
    ble._irq(event + 1, (conn, status))


def read(ble, conn, h):
    h = _int(h) & 0xFFFF
    link, side, conn = ble._link(conn, True)
    peer = link.ends[1 - side]
    done = proc(ble)
    if getattr(link, "remote", False):
        link.gattc(ble, b"Q", conn, h, done)
        return

    def on_tx():
        err, v = serve_read(peer, link, 1 - side, h)
        link.charge(1 - side, 1 + (0 if err else len(v[: link.mtu - 1])))  # Read Response / Error

        def on_rx():
            done()
            if not err:
                ble._irq_data(15, conn, h, v)
            ble._irq(16, (conn, h, _status(err)))

        return on_rx

    link.transact(side, 0, on_tx, lambda st: done() or ble._irq(16, (conn, h, st)), 3)


def write(ble, conn, h, data, mode):
    h, data, mode = _int(h) & 0xFFFF, _buf(data), _int(mode)
    if not ble._active:
        raise _err(_ENODEV)
    if mode != 0 and mode != 1:
        raise _err(_EINVAL)
    link, side, conn = ble._link(conn, True)
    peer = link.ends[1 - side]
    data = data[: link.mtu - 3]
    remote = getattr(link, "remote", False)
    if mode == 0:
        link.post(side, (lambda: link.gattc(ble, b"W", conn, (0, h, data), None)) if remote
                  else (lambda: serve_write(peer, link, 1 - side, h, data)), 3 + len(data))
        return
    done = proc(ble)
    if remote:
        link.gattc(ble, b"W", conn, (1, h, data), done)
        return

    def on_tx():
        err = serve_write(peer, link, 1 - side, h, data)
        return lambda: done() or ble._irq(17, (conn, h, _status(err)))

    link.transact(side, 0, on_tx, lambda st: done() or ble._irq(17, (conn, h, st)), 3 + len(data), 1)


def exchange_mtu(ble, conn):
    link, side, conn = ble._link(conn, False)
    if link.mtu_sent[side]:
        raise _err(_EALREADY)
    done = proc(ble)
    link.mtu_sent[side] = True
    mine = ble._mtu
    if getattr(link, "remote", False):
        link.gattc(ble, b"M", conn, mine, done)
        return

    def on_tx():
        peer = link.ends[1 - side]
        mtu = max(23, min(mine, peer._mtu))
        link.mtu = mtu
        peer._irq(21, (link.handles[1 - side], mtu))
        return lambda: done() or ble._irq(21, (conn, mtu))

    link.transact(side, 0, on_tx, lambda st: done(), 3, 3)


def _addr_key(atype, addr):
    # NimBLE's ble_addr_t as the store sees it: type, then the address LSB first
    return bytes((atype,)) + bytes(reversed(bytes(addr)))


def pair(ble, conn):
    """gap_pair: ble_gap_security_initiate(). EALREADY while a pairing is
    under way. The initiator's store is asked for a bond with the peer first
    (_IRQ_GET_SECRET); the pairing takes PAIRING_ROUND_TRIPS connection-event
    round trips; if both ends bond, each offers its keys to its store
    (_IRQ_SET_SECRET, ours then the peer's) before _IRQ_ENCRYPTION_UPDATE.
    A link lost meanwhile ends it without an event (NimBLE finds no
    connection to report on)."""
    link, side, conn = ble._link(conn, False)
    if link.pairing:
        raise _err(_EALREADY)
    link.pairing = True
    peer = link.ends[1 - side]
    at, a = link.addrs[1 - side]
    ble._irq_secret(29, (_SECRET_PEER_SEC, 0), _addr_key(at, a), None)
    if getattr(link, "remote", False):  # the peer is in another VM or a host central (shared air)
        from cpsim import airlink

        airlink.pair(ble, link, side)
        return

    def end():
        bonded = 1 if ble._bond and peer._bond else 0
        for b, s in ((peer, 1 - side), (ble, side)):
            encrypted(b, link, s, bonded)

    pairing(link, side, PAIRING_ROUND_TRIPS, end)


def pairing(link, side, n, end):
    """The SMP exchange from `side`: n connection-event round trips, one at
    a time, then the link is encrypted and end() runs. A link lost meanwhile
    ends it with nothing raised."""
    left = [n]

    def on_tx():
        return step

    def step():
        left[0] -= 1
        if left[0] > 0:
            link.transact(side, 2, on_tx, fail)
            return
        link.pairing = False
        link.encrypted = True
        end()

    def fail(status):
        link.pairing = False

    link.transact(side, 2, on_tx, fail)


def encrypted(b, link, s, bond):
    """What end `b` (side `s` of `link`) raises when a pairing ends: if both
    ends bond (`bond`), its keys then the peer's to its store (_IRQ_SET_SECRET),
    then _IRQ_ENCRYPTION_UPDATE (encrypted, not authenticated, bonded, 16-byte
    key). (Its names are ones the VM interned already: a virtual badge's qstr
    pools stay as they were, docs/heap.md.)"""
    if bond:
        pt, pa = link.addrs[1 - s]
        key = _addr_key(pt, pa)
        b._irq_secret(30, (_SECRET_OUR_SEC,), key, _sec_value(b, key))
        b._irq_secret(30, (_SECRET_PEER_SEC,), key, _sec_value(b, key))
    b._irq(28, (link.handles[s], 1, 0, bond, 16))


def _sec_value(ble, key):
    # a struct ble_store_value_sec's worth of key material (its layout is NimBLE's)
    from cpsim.blegap import SEC_VALUE_LEN

    v = bytearray(SEC_VALUE_LEN)
    v[0:7] = key
    for i in range(7, SEC_VALUE_LEN):
        v[i] = ble._rng.next() & 0xFF
    return bytes(v)

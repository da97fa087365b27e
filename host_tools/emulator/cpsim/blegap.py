# GAP half of the emulated bluetooth.BLE: stack on/off, config, addresses,
# advertising, scanning, connecting. Functions take the BLE object; the
# module is small on purpose (the MicroPython VM compiles each module whole).
from bluetooth import _err, _int, _buf, _ENODEV, _EINVAL, _EALREADY, _EBUSY, _NONE, _ADDR0
import errno

_RPA_TIMEOUT_US = 900000000  # ESP-IDF CONFIG_BT_NIMBLE_RPA_TIMEOUT, 900 s
# micropython's sdkconfig.ble lets NimBLE hold 4 connections, but the classic
# ESP32 controller's BTDM_CTRL_BLE_MAX_CONN defaults to 3 and refuses a 4th
# LE Create Connection; its HCI error is not in modbluetooth_nimble.c's
# ble_hs_err_to_errno table, which makes it EIO.
_MAX_CONN = 3
_INIT_SCAN_US = 10000  # gap_connect scans 0x0010 x 625 us of every 0x0010 (modbluetooth_nimble.c)
_SECRET_OUR_IRK = 10  # modbluetooth_nimble.c SECRET_TYPE_OUR_IRK
_SECRET_PEER_SEC = 2  # NimBLE BLE_STORE_OBJ_TYPE_PEER_SEC
SEC_VALUE_LEN = 80  # sizeof(struct ble_store_value_sec) the store must hand back (NimBLE 1.x, ESP-IDF 5)
# active(True) blocks the caller until NimBLE's host has synced with the
# controller (modbluetooth_nimble.c mp_bluetooth_init: nimble_port_init, the
# host task, then a wait for sync_cb). ESTIMATE, not a measurement: 250 ms for
# the controller's init with its RF calibration and the host's sync on a
# classic ESP32; Device.ble_start_us changes it per pin. Charged to firmware
# running on simulated time (a pin's task under World.run_until: that pin's
# tasks wait, cpsim.timebase.busy; advertising, scanning or connecting before
# the pin yielded waits for the rest); a scene's set-up code outside a run (a
# test or bench placing pins) and wall-clock virtual badges are not charged.
START_US = 250000
# The pin's scheduled callbacks (machine.Pin IRQ soft handlers, Timer
# callbacks: mp_sched_schedule) during the start. mp_bluetooth_init first calls
# nimble_port_init(), which on ESP-IDF inits and enables the controller (its RF
# calibration only at a boot's first start: esp_phy_enable keeps
# s_is_phy_calibrated) and runs no MicroPython code: callbacks raised then
# wait. It then waits for sync_cb in a loop of mp_event_wait_ms(), which on the
# ESP32 port is MICROPY_EVENT_POLL_HOOK: mp_handle_pending() runs the
# scheduled callbacks as they come (py/scheduler.c), while asyncio tasks wait
# for active(True) to return. INIT_US is the first part: ESTIMATE, not a
# measurement; Device.ble_init_us changes it per pin.
INIT_US = 50000
# The sync wait gives up after NIMBLE_STARTUP_TIMEOUT (2000 ms) with ETIMEDOUT;
# nimble_port_init() failing (the controller cannot allocate its memory from a
# fragmented IDF heap, micropython #14293) is EIO at once (the ESP32 port sets
# MICROPY_BLUETOOTH_NIMBLE_PORT_INIT_RETURNS_ERROR). Either way the stack is
# left off (mp_bluetooth_deinit).
TIMEOUT_US = 2000000


def reset(ble):
    ble._gatt = None  # cpsim.gatt.GattServer, made on first GATT use
    ble._mode = 0
    ble._own = ble._adv_addr = ble._conn_own = (0, ble._public)
    ble._rpa_due = 0
    ble._adv_on = False
    ble._adv_ev = ble._adv_cb = None
    ble._adv_data = ble._resp_data = b""
    ble._adv_itvl = ble._adv_type = 0
    ble._scanning = ble._scan_active = False
    ble._scan_t0 = 0
    ble._scan_itvl = ble._scan_win = 1
    ble._scan_end = None
    ble._connecting = ble._conn_to = None
    ble._conn_itvl = 30000
    ble._conns = {}  # conn_handle -> cpsim.link.Link
    ble._chr_disc = False
    ble._procs = 0  # GATT client procedures in flight (cpsim.blegattc)
    ble._mbufs = 0  # host buffers held by queued notifications and writes (cpsim.link)


def active(ble, on):
    if on is not None:
        deinit(ble, True, True)  # mp_bluetooth_init() deinitialises first
        if on:
            _start(ble)
    return ble._active


def _start(ble):
    # Device.ble_start_fail: None, an errno (EIO or ETIMEDOUT) for every
    # start, or a callable(start number from 1) returning one or None.
    dev = ble._dev
    ble._starts = getattr(ble, "_starts", 0) + 1
    fail = getattr(dev, "ble_start_fail", None)
    if fail is not None and callable(fail):
        fail = fail(ble._starts)
    from cpsim import timebase

    ble._radio.power(ble, True)  # the controller draws while it starts
    init = getattr(dev, "ble_init_us", INIT_US)
    if fail is not None:
        if fail == errno.ETIMEDOUT and timebase.busy(dev, TIMEOUT_US):
            _hold_callbacks(ble, init)
        ble._radio.power(ble, False)
        dev.acct.count("radio.start_failed")
        raise _err(fail)
    us = getattr(dev, "ble_start_us", START_US)
    if timebase.busy(dev, us):
        ble._ready_us = ble._clock.now_us() + us
        _hold_callbacks(ble, min(init, us))
    dev.acct.count("radio.starts")
    ble._gen += 1
    ble._active = True
    _load_irk(ble)


def _hold_callbacks(ble, us):
    # nimble_port_init(): the pin's scheduled callbacks wait (see INIT_US),
    # then run, once per source, as the wait loop's first poll hook would
    if us <= 0:
        return
    from cpsim import gpio

    dev = ble._dev
    dev.callbacks_held = True

    def poll_hook():
        dev.callbacks_held = False
        gpio.run_deferred(dev)

    ble._clock.call_at(ble._clock.now_us() + us, poll_hook)


def _ready(ble):
    # On air only once active(True) has returned on the chip: firmware that
    # did not yield since calling it blocks here for the rest of the start-up.
    left = getattr(ble, "_ready_us", 0) - ble._clock.now_us()
    if left > 0:
        from cpsim import timebase

        timebase.block(ble._dev, left)


def _load_irk(ble):
    # modbluetooth_nimble.c sync_cb -> load_irk(), before active(True) returns:
    # ask the store for our IRK; without one, make one and offer it to the
    # store; once the store holds one, NimBLE reloads the peers' keys
    # (ble_hs_misc_restore_irks: PEER_SEC entries by index until none).
    irk = ble._irq_secret(29, (_SECRET_OUR_IRK, 0), b"irk", None)
    if not (irk is not None and len(_buf(irk)) == 16):
        fresh = bytearray(16)
        for i in range(16):
            fresh[i] = ble._rng.next() & 0xFF
        if not ble._irq_secret(30, (_SECRET_OUR_IRK,), b"irk", bytes(fresh)):
            return  # a store that keeps nothing: NimBLE's fixed IRK
    i = 0
    while ble._active:
        v = ble._irq_secret(29, (_SECRET_PEER_SEC, i), None, None)
        if v is None or len(_buf(v)) != SEC_VALUE_LEN:
            return
        i += 1


def deinit(ble, graceful, irq):
    # mp_bluetooth_deinit: advertising and scanning stop (SCAN_DONE), then
    # nimble_port_stop() terminates every link while the state is still ACTIVE
    # on the ESP32 port (mpnimbleport.c), so with `irq` this side gets its own
    # disconnect events and the queued procedures fail (status 7) first.
    if not ble._active:
        return
    ble._radio.stop_adv(ble)
    scan_stop(ble, irq)
    if ble._connecting is not None:
        connect_end(ble)
    for link in list(ble._conns.values()):
        link.drop(link.side_of(ble), graceful, irq)
    ble._active = False
    ble._radio.power(ble, False)
    ble._gen += 1
    reset(ble)


def lightsleep(ble):
    """machine.lightsleep() with the stack up: the controller's clock stops
    and stock MicroPython configures no sleep clock for it, so its links lose
    their timing (micropython #6396): each link (and a connection being made)
    is dropped, with this side's disconnect events and the peer's supervision
    timeout. The stack stays active; advertising and scanning go on, their
    events held until the wake-up (cpsim/bleirq.py)."""
    if not ble._active:
        return
    if ble._connecting is not None:
        connect_end(ble)
    for link in list(ble._conns.values()):
        link.drop(link.side_of(ble), False, True)


def config(ble, args, kwargs):
    if not kwargs:
        if len(args) != 1:
            raise TypeError("must query one param")
        p = args[0]
        if p == "gap_name":
            return ble._name
        if p == "mac" or p == "mtu":
            if not ble._active:
                raise _err(_ENODEV)
            if p == "mtu":
                return ble._mtu
            if ble._mode == 2:
                raise _err(_EINVAL)
            return ble._own
        if not isinstance(p, str):
            raise TypeError("can't convert %s to str" % type(p).__name__)
        raise ValueError("unknown config param")
    if args:
        raise TypeError("can't specify pos and kw args")
    for k in kwargs:
        v = kwargs[k]
        if k == "gap_name":
            name = _buf(v).split(b"\x00")[0]
            if len(name) > 31:  # CONFIG_BT_NIMBLE_GAP_DEVICE_NAME_MAX_LEN
                raise _err(_EINVAL)
            ble._name = name
        elif k == "mtu":
            mtu = _int(v) & 0xFFFF
            if not ble._active:
                raise _err(_ENODEV)
            if mtu < 23 or mtu > 527:
                raise _err(_EINVAL)
            ble._mtu = mtu
        elif k == "addr_mode":
            set_mode(ble, _int(v) & 0xFF)
        elif k == "bond":
            ble._bond = bool(v)
        elif k == "io":
            _int(v)
        elif k != "mitm" and k != "le_secure":
            raise ValueError("unknown config param")


def set_mode(ble, mode):
    if not ble._active:
        raise _err(_ENODEV)
    if mode > 3:
        return
    if mode == 0:
        ble._own = (0, ble._public)
    else:
        # top address bits: static random 11, resolvable 01, non-resolvable 00
        a = bytearray(6)
        for i in range(6):
            a[i] = ble._rng.next() & 0xFF
        a[0] = (a[0] & 0x3F) | (0, 0xC0, 0x40, 0)[mode]
        ble._own = (1, bytes(a))
    ble._rpa_due = ble._clock.now_us() + _RPA_TIMEOUT_US
    ble._mode = mode


def own_addr(ble):
    if ble._mode == 2 and ble._clock.now_us() >= ble._rpa_due:
        set_mode(ble, 2)
    return ble._own


def advertise(ble, interval_us, adv_data, resp_data, connectable):
    if interval_us is None:
        ble._radio.stop_adv(ble)
        return
    units = _int(interval_us) // 625
    adv = None if adv_data is None else _buf(adv_data)
    rsp = None if resp_data is None else _buf(resp_data)
    if not ble._active:
        raise _err(_ENODEV)
    ble._radio.stop_adv(ble)
    for d in (adv, rsp):
        if d is not None and len(d) > 31:
            raise _err(-18)
    if adv is not None:
        ble._adv_data = adv
    if rsp is not None:
        ble._resp_data = rsp
    if units == 0:
        units = 48 if connectable else 160  # NimBLE's default fast intervals
    elif units < 0x20 or units > 0x4000:
        raise _err(_EINVAL)
    ble._adv_itvl = units * 625
    ble._adv_type = 0 if connectable else 2
    _ready(ble)
    ble._adv_addr = own_addr(ble)
    ble._radio.start_adv(ble)


def scan(ble, duration_ms, interval_us, window_us, active):
    if duration_ms is None:
        if not ble._active:
            raise _err(_ENODEV)
        scan_stop(ble, True)
        return
    duration, itvl, win = _int(duration_ms), _int(interval_us), _int(window_us)
    if not ble._active:
        raise _err(_ENODEV)
    if ble._scanning:
        raise _err(_EALREADY)
    if ble._connecting is not None:
        raise _err(_EBUSY)
    iu = max(4, min(0x4000, itvl // 625))
    wu = max(4, min(0x4000, win // 625))
    if wu > iu:
        raise _err(_EINVAL)
    _ready(ble)
    ble._scanning = True
    ble._scan_active = bool(active)
    ble._scan_itvl = iu * 625
    ble._scan_win = wu * 625
    ble._scan_t0 = ble._clock.now_us()
    ble._radio.listen_start(ble, 1, ble._scan_itvl, ble._scan_win)
    if duration > 0:
        ble._scan_end = ble._clock.call_at(ble._scan_t0 + duration * 1000, lambda: scan_stop(ble, True, True))


def scan_stop(ble, irq, expired=False):
    if expired:
        ble._scan_end = None
    if not ble._scanning:
        return
    ble._scanning = False
    ble._radio.listen_stop(ble)
    if ble._scan_end is not None:
        ble._clock.cancel(ble._scan_end)
        ble._scan_end = None
    if irq:
        ble._irq(6, ())


def connect(ble, addr_type, addr, duration, imin, imax):
    addr_type = _int(addr_type) & 0xFF
    addr = _buf(addr)
    if len(addr) != 6:
        raise ValueError("invalid addr")
    duration = 2000 if duration is None else _int(duration)
    umin = _int(imin) // 1250 if imin else 24  # NimBLE's initial interval: 30-50 ms
    umax = _int(imax) // 1250 if imax else 40
    if not ble._active:
        raise _err(_ENODEV)
    scan_stop(ble, True)
    if ble._connecting is not None:
        raise _err(_EALREADY)
    for link in ble._conns.values():
        if link.addrs[1 - link.side_of(ble)] == (addr_type, addr):
            raise _err(errno.EIO)  # BLE_HS_EDONE: already connected to it
    if len(ble._conns) >= _MAX_CONN:
        raise _err(errno.EIO)
    if umin < 6 or umax > 3200 or umin > umax:
        raise _err(_EINVAL)
    _ready(ble)
    ble._connecting = (addr_type, addr)
    ble._conn_itvl = umin * 1250
    ble._conn_own = own_addr(ble)
    ble._radio.listen_start(ble, 2, _INIT_SCAN_US, _INIT_SCAN_US)
    ms = duration if duration > 0 else 30000  # 0: NimBLE's default
    ble._conn_to = ble._clock.call_at(ble._clock.now_us() + ms * 1000, lambda: _timeout(ble))


def connect_end(ble):
    ble._connecting = None
    ble._radio.listen_stop(ble)
    if ble._conn_to is not None:
        ble._clock.cancel(ble._conn_to)
        ble._conn_to = None


def _timeout(ble):
    ble._conn_to = None
    if ble._connecting is not None:
        connect_end(ble)
        ble._irq_addr(8, _NONE, 0xFF, _ADDR0)  # "peripheral disconnect" of no handle


def cancel(ble):
    if not ble._active:
        raise _err(_ENODEV)
    if ble._connecting is None:
        raise _err(_EALREADY)
    connect_end(ble)
    gen = ble._gen
    # the controller confirms the cancel a moment later
    ble._clock.call_at(ble._clock.now_us() + 1000, lambda: gen == ble._gen and ble._irq_addr(8, _NONE, 0xFF, _ADDR0))


def disconnect(ble, conn_handle):
    h = _int(conn_handle) & 0xFFFF
    if not ble._active:
        raise _err(_ENODEV)
    link = ble._conns.get(h)
    if link is None:
        return False
    if not link.terminate(link.side_of(ble)):
        raise _err(_EALREADY)
    return True

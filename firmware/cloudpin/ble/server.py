# GATT server role. Roles declare their services before the radio first
# starts; the owner registers all of them in one gatts_register_services
# call at every start (the stack forgets them when it stops) and this module
# re-applies buffer sizes and tells each service its handles again.
# Callbacks run in IRQ context: short, no awaits, no stack calls that wait;
# a write callback gets the written value already copied (bytes).
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)
_IRQ_MTU_EXCHANGED = const(21)


class Service:
    """A declared service. `handles[i]` is the value handle of chars[i]
    while the radio is on (None while off)."""

    def __init__(self, server, uuid, chars, on_write, on_read, on_ready):
        self.server = server
        self.uuid = uuid
        self.chars = chars
        self.handles = None
        self.on_write = on_write
        self.on_read = on_read
        self.on_ready = on_ready

    def _registered(self, handles):
        self.handles = handles
        ble = self.server.owner.ble
        for i in range(len(self.chars)):
            c = self.chars[i]
            if len(c) > 2 and c[2]:
                ble.gatts_set_buffer(handles[i], c[2], False)
        if self.on_ready is not None:
            self.on_ready(self)

    def owns(self, handle):
        return self.handles is not None and handle in self.handles


class Server:
    def __init__(self, owner):
        self.owner = owner
        self.services = []
        self.connected = []  # conn handles of centrals connected to us
        self._mtu = {}  # conn handle -> ATT_MTU agreed (23 until an exchange)
        self._on_connect = []  # callables(conn, addr_type, addr bytes)
        self._on_disconnect = []  # callables(conn)
        for ev in (_IRQ_CENTRAL_CONNECT, _IRQ_CENTRAL_DISCONNECT, _IRQ_GATTS_WRITE, _IRQ_GATTS_READ_REQUEST,
                   _IRQ_MTU_EXCHANGED):
            owner.handle(ev, self._irq)
        owner.watch(self._on_off)

    def service(self, uuid, chars, on_write=None, on_read=None, on_ready=None):
        """Declare a service: chars is a sequence of (UUID, flags) or
        (UUID, flags, buffer length) (values hold 20 bytes unless given).
        on_write(conn, value handle, value bytes) and on_read(conn, value
        handle) -> ATT error or 0 run in IRQ context; on_ready(service) after
        each registration (set initial values there)."""
        svc = Service(self, uuid, tuple(chars), on_write, on_read, on_ready)
        defs = tuple((c[0], c[1]) for c in svc.chars)
        self.owner.declare((uuid, defs), svc._registered)
        self.services.append(svc)
        return svc

    def links(self, on_connect=None, on_disconnect=None):
        """Be told (in IRQ context) when a central connects to this pin,
        on_connect(conn, addr_type, addr bytes), and when it leaves,
        on_disconnect(conn)."""
        if on_connect is not None:
            self._on_connect.append(on_connect)
        if on_disconnect is not None:
            self._on_disconnect.append(on_disconnect)

    def write(self, handle, data, send_update=False):
        """Set a local value (gatts_write); send_update notifies subscribers."""
        self.owner.ble.gatts_write(handle, data, send_update)

    def read(self, handle):
        return self.owner.ble.gatts_read(handle)

    def notify(self, conn, handle, data=None, indicate=False):
        """Send a notification (or indication); False if the stack refused
        (the link is gone, no host buffer free: ENOMEM)."""
        try:
            if indicate:
                self.owner.ble.gatts_indicate(conn, handle, data)
            else:
                self.owner.ble.gatts_notify(conn, handle, data)
            return True
        except OSError:
            return False

    def mtu(self, conn):
        """ATT_MTU of a central's link: a notification carries mtu - 3 bytes
        (the stack cuts longer ones silently)."""
        return self._mtu.get(conn, 23)

    def disconnect(self, conn):
        try:
            return self.owner.ble.gap_disconnect(conn)
        except OSError:
            return False

    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            conn, h = data[0], data[1]
            for svc in self.services:
                if svc.on_write is not None and svc.owns(h):
                    svc.on_write(conn, h, bytes(self.owner.ble.gatts_read(h)))
            return None
        if event == _IRQ_GATTS_READ_REQUEST:
            conn, h = data[0], data[1]
            for svc in self.services:
                if svc.on_read is not None and svc.owns(h):
                    return svc.on_read(conn, h) or 0
            return 0
        conn = data[0]
        if not isinstance(conn, int):
            return None  # not a tuple the stack makes: ignored, nothing kept
        if event == _IRQ_MTU_EXCHANGED:
            if conn in self.connected:  # (a link this pin made as central is not ours)
                self._mtu[conn] = data[1]
            return None
        if event == _IRQ_CENTRAL_CONNECT:
            if conn not in self.connected:
                self.connected.append(conn)
            if self._on_connect:
                addr = bytes(data[2])
                for f in self._on_connect:
                    f(conn, data[1], addr)
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if conn in self.connected:
                self.connected.remove(conn)
            self._mtu.pop(conn, None)
            for f in self._on_disconnect:
                f(conn)
        return None

    def _on_off(self, on):
        if not on:
            self.connected = []
            self._mtu = {}
            for svc in self.services:
                svc.handles = None

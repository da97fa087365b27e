# The GATT server attribute table of one emulated pin, laid out the way NimBLE
# (the ESP32 port's stack) lays it out, so handle numbers, discovery results and
# ATT error codes look like the board's:
#   1-5  GAP service 0x1800: Device Name 0x2A00, Appearance 0x2A01 (read only)
#   6-9  GATT service 0x1801: Service Changed 0x2A05 (indicate) + its CCCD
#   10.. the firmware's services: service declaration, then per characteristic
#        its declaration, its value, a CCCD (0x2902, stack-managed) when it can
#        notify or indicate, then its descriptors.
# Values live in a per-handle store with MicroPython's semantics
# (extmod/modbluetooth.c gatts_db): 20 bytes by default, remote writes are cut
# to that size (or appended in append mode), local writes grow it.
# UUIDs are kept as their raw little-endian bytes (2, 4 or 16 of them).

SVC = 0
DECL = 1
VAL = 2
CCCD = 3
DSC = 4

DEFAULT_LEN = 20  # MP_BLUETOOTH_DEFAULT_ATTR_LEN
_MAX_SERVICES = 8  # MP_BLUETOOTH_NIMBLE_MAX_SERVICES: the firmware's own services

_F_READ = 0x0002
_F_WRITE_NR = 0x0004
_F_WRITE = 0x0008
_F_NOTIFY = 0x0010
_F_INDICATE = 0x0020
_F_AUX_WRITE = 0x0100
_F_READ_ENC = 0x0200
_F_READ_AUTHEN = 0x0400
_F_WRITE_ENC = 0x1000
_F_WRITE_AUTHEN = 0x2000

# ATT error codes (Core spec Vol 3 Part F 3.4.1.1)
ERR_INVALID_HANDLE = 0x01
ERR_READ_NOT_PERMITTED = 0x02
ERR_WRITE_NOT_PERMITTED = 0x03
ERR_INSUFFICIENT_AUTHEN = 0x05
ERR_INVALID_LEN = 0x0D
ERR_INSUFFICIENT_ENC = 0x0F

_U_SVC = b"\x00\x28"
_U_CHR = b"\x03\x28"
_U_CCCD = b"\x02\x29"


def u16(v):
    return bytes((v & 0xFF, v >> 8))


class Attr:
    """One row of the table. `value`/`alloc`/`append` are used by VAL and DSC;
    `extra` is (end_handle, service uuid) for SVC, (properties, value handle,
    uuid) for DECL, the characteristic's value handle for CCCD."""

    def __init__(self, kind, type_uuid, flags=0, extra=None):
        self.kind = kind
        self.type = type_uuid
        self.flags = flags
        self.extra = extra
        self.value = b""
        self.alloc = DEFAULT_LEN
        self.append = False


class GattServer:
    def __init__(self):
        self.attrs = [None]  # index = handle
        self.user_services = 0
        self._add_service(u16(0x1800), ((u16(0x2A00), _F_READ, ()), (u16(0x2A01), _F_READ, ())))
        self.name_handle = 3
        self.attrs[5].value = b"\x00\x00"  # appearance: unknown
        self._add_service(u16(0x1801), ((u16(0x2A05), _F_INDICATE, ()),))

    # --- building ---------------------------------------------------------
    def add_service(self, uuid, chars):
        """chars: ((uuid, flags, ((uuid, flags), ...)), ...); returns the value
        handles, characteristics and descriptors flattened in order."""
        if self.user_services >= _MAX_SERVICES:
            return None
        self.user_services += 1
        return self._add_service(uuid, chars)

    def _add_service(self, uuid, chars):
        attrs = self.attrs
        svc = Attr(SVC, _U_SVC, _F_READ, None)
        attrs.append(svc)
        start = len(attrs) - 1
        handles = []
        for cuuid, flags, dscs in chars:
            props = flags & 0xFF  # NimBLE: the flag bits are the properties...
            if flags & _F_AUX_WRITE:
                props |= 0x80  # ...and aux writes need the extended properties bit
            vh = len(attrs) + 1
            attrs.append(Attr(DECL, _U_CHR, _F_READ, (props, vh, cuuid)))
            attrs.append(Attr(VAL, cuuid, flags))
            handles.append(vh)
            if flags & (_F_NOTIFY | _F_INDICATE):
                attrs.append(Attr(CCCD, _U_CCCD, _F_READ | _F_WRITE, vh))
            for duuid, dflags in dscs:
                attrs.append(Attr(DSC, duuid, dflags))
                handles.append(len(attrs) - 1)
        svc.extra = (len(attrs) - 1, uuid)
        return handles

    # --- local access (gatts_read / gatts_write / gatts_set_buffer) ----------
    def entry(self, handle):
        """The value store behind `handle`, or None (MicroPython: EINVAL)."""
        if 0 < handle < len(self.attrs):
            a = self.attrs[handle]
            if a.kind == VAL or a.kind == DSC:
                return a
        return None

    def get(self, handle):
        if 0 < handle < len(self.attrs):
            return self.attrs[handle]
        return None

    # --- remote access (ATT server) -----------------------------------------
    def read(self, handle, encrypted, name):
        """(att_error, value) for an ATT Read of `handle`; `name` is the GAP
        device name. CCCDs are answered by the caller, which knows the link."""
        a = self.get(handle)
        if a is None:
            return ERR_INVALID_HANDLE, b""
        k = a.kind
        if k == SVC:
            return 0, a.extra[1]
        if k == DECL:
            props, vh, uuid = a.extra
            return 0, bytes((props,)) + u16(vh) + uuid
        if not a.flags & _F_READ:
            return ERR_READ_NOT_PERMITTED, b""
        if k == VAL and not encrypted and a.flags & (_F_READ_ENC | _F_READ_AUTHEN):
            return (ERR_INSUFFICIENT_ENC if a.flags & _F_READ_ENC else ERR_INSUFFICIENT_AUTHEN), b""
        if handle == self.name_handle:
            return 0, name
        return 0, a.value

    def write(self, handle, data, encrypted=False):
        """ATT Write of `data`: stores it the way NimBLE's access callback does
        and returns the ATT error (0 = stored)."""
        a = self.get(handle)
        if a is None:
            return ERR_INVALID_HANDLE
        k = a.kind
        if k == SVC or k == DECL or not a.flags & (_F_WRITE | _F_WRITE_NR):
            return ERR_WRITE_NOT_PERMITTED
        if k == VAL and not encrypted and a.flags & (_F_WRITE_ENC | _F_WRITE_AUTHEN):
            return ERR_INSUFFICIENT_ENC if a.flags & _F_WRITE_ENC else ERR_INSUFFICIENT_AUTHEN
        if a.append:
            a.value = (a.value + data)[: a.alloc]
        else:
            a.value = data[: a.alloc]
        return 0

    # --- discovery ------------------------------------------------------------
    def services(self, uuid=None):
        """[(start, end, uuid)] of primary services, optionally of one UUID."""
        out = []
        for h in range(1, len(self.attrs)):
            a = self.attrs[h]
            if a.kind == SVC and (uuid is None or a.extra[1] == uuid):
                out.append((h, a.extra[0], a.extra[1]))
        return out

    def characteristics(self, start, end):
        """[(declaration handle, value handle, properties, uuid)] in range."""
        out = []
        for h in range(max(1, start), min(end, len(self.attrs) - 1) + 1):
            a = self.attrs[h]
            if a.kind == DECL:
                props, vh, uuid = a.extra
                out.append((h, vh, props, uuid))
        return out

    def handles_after(self, start, end):
        """[(handle, type uuid)] for Find Information over (start, end]: what
        NimBLE reports as descriptors of the characteristic at `start`."""
        out = []
        for h in range(max(1, start + 1), min(end, len(self.attrs) - 1) + 1):
            out.append((h, self.attrs[h].type))
        return out

"""Per-badge NVS partition images, written with Espressif's
esp-idf-nvs-partition-gen and read back by `parse_nvs`.

MicroPython's esp32.NVS reads only i32 (get_i32) and blob (get_blob) values,
so these are the only two encodings written: ints become i32, bytes become
blobs (text, a UTF-8 blob). In namespace "cloudpin" the keys, types and sizes
are the firmware's own (KEYS in firmware/cloudpin/identity.py: badge_id,
pair_key, id_key, event_key as blobs, utc_offset and prov_gen as i32), and an identity is all or
nothing: prov_gen is the firmware's commit marker, so secrets without it
would read as "not provisioned" and it without them as a broken identity.
"""
import base64
import binascii
import csv
import io
import struct
import zlib
from pathlib import Path

from esp_idf_nvs_partition_gen import nvs_partition_gen as gen

from host_tools import FIRMWARE_DIR
from host_tools.fw import source as fwsource

NAMESPACE = "cloudpin"
NVS_SIZE = 0x6000  # MicroPython's nvs partition on ESP32 (ports/esp32/partitions-*.csv)
KEY_MAX = 15  # NVS key length limit (ESP-IDF NVS_KEY_NAME_MAX_SIZE - 1)
_PAGE = 4096
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
MARKER = "prov_gen"  # written last, erased first by firmware/cloudpin/identity.py


def firmware_keys(root=FIRMWARE_DIR):
    """{key: (kind, size)} from the firmware's identity module (not imported
    as a package: it is MicroPython code, loaded here as a plain file)."""
    return {key: (kind, size) for key, kind, size in fwsource.load("identity", root).KEYS}


def check_identity(values, keys):
    """Refuse values in namespace "cloudpin" that the firmware would not read
    back as they were meant: unknown keys, wrong types or sizes, or a partial
    identity."""
    for key, value in values.items():
        if key not in keys:
            raise NvsError("NVS key %r is not one the firmware reads in namespace %r (%s)" % (
                key, NAMESPACE, ", ".join(keys)))
        kind, size = keys[key]
        if kind == "i32" and (not isinstance(value, int) or isinstance(value, bool)):
            raise NvsError("NVS key %r must be an i32, got %r" % (key, value))
        if kind == "blob":
            blob = value.encode() if isinstance(value, str) else value
            if not isinstance(blob, (bytes, bytearray)) or len(blob) != size:
                raise NvsError("NVS key %r must be a %d-byte blob, got %r" % (key, size, value))
    if MARKER in values and values[MARKER] <= 0:
        raise NvsError("NVS key %r must be > 0" % MARKER)
    if "utc_offset" in values:
        # identity.load() reads an offset outside its range as none: a pin
        # flashed with one would never turn meet and greet on
        ident = fwsource.load("identity")
        if not ident.UTC_OFFSET_MIN <= values["utc_offset"] <= ident.UTC_OFFSET_MAX:
            raise NvsError("NVS key 'utc_offset' is minutes east of UTC, %d..%d; got %r" % (
                ident.UTC_OFFSET_MIN, ident.UTC_OFFSET_MAX, values["utc_offset"]))
    given = set(values)
    secrets = set(keys) - {"badge_id"}
    if given & secrets and not secrets | {"badge_id"} <= given:
        raise NvsError("a provisioned identity needs all of %s (missing %s); give only badge_id for a blank badge" % (
            ", ".join(keys), ", ".join(sorted(set(keys) - given))))


class NvsError(ValueError):
    """Bad NVS input; the message names the key and what is wrong."""


def _check(namespace, key, value):
    for what, name in (("namespace", namespace), ("key", key)):
        if not name or len(name) > KEY_MAX or not name.isascii():
            raise NvsError("NVS %s %r must be 1..%d ASCII characters" % (what, name, KEY_MAX))
    if isinstance(value, bool) or not isinstance(value, (int, bytes, bytearray, str)):
        raise NvsError("NVS key %r: %r is neither an int (i32) nor bytes or text (blob); "
                       "MicroPython's esp32.NVS reads nothing else" % (key, value))
    if isinstance(value, int) and not _I32_MIN <= value <= _I32_MAX:
        raise NvsError("NVS key %r: %d does not fit an i32" % (key, value))


def _write(entries, size, keys):
    """entries: [(namespace, key, value)] -> the partition image as bytes.
    Values in namespace "cloudpin" are checked against `keys`."""
    ours = {k: v for ns, k, v in entries if ns == NAMESPACE}
    if ours:
        check_identity(ours, keys)
    if size % _PAGE or size < 3 * _PAGE:
        raise NvsError("NVS partition size 0x%x must be a multiple of 0x1000 and at least 0x3000" % size)
    out = io.BytesIO()
    # The generator keeps its last page free for NVS's own garbage collection.
    nvs = gen.nvs_open(out, size - _PAGE, gen.Page.VERSION2)
    written = set()
    try:
        for namespace, key, value in entries:
            _check(namespace, key, value)
            if (namespace, key) in written:
                raise NvsError("NVS key %r appears twice in namespace %r" % (key, namespace))
            written.add((namespace, key))
            # NVS.write_* directly: the module-level write_entry() adds Wi-Fi
            # entries behind the caller's back for some key names.
            nvs.write_namespace(namespace)
            ns_index = nvs.written_namespaces[namespace]
            if isinstance(value, int):
                nvs.write_entry(key, str(value), "i32", ns_index)
            else:
                blob = value.encode() if isinstance(value, str) else bytes(value)
                nvs.write_entry(key, blob.hex(), "hex2bin", ns_index)
        gen.nvs_close(nvs)
    except (gen.InsufficientSizeError, gen.PageFullError):
        raise NvsError("the values do not fit a 0x%x-byte NVS partition" % size) from None
    except gen.InputError as e:
        raise NvsError(str(e)) from None
    return out.getvalue()


def build_nvs_image(values, out, namespace=NAMESPACE, size=NVS_SIZE, keys=None):
    """Write an NVS image holding `values` ({key: int | bytes | str}) in
    `namespace` to `out`; returns the path. `keys` defaults to the
    firmware's (see firmware_keys)."""
    data = _write([(namespace, k, v) for k, v in values.items()], size, keys or firmware_keys())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def entries_from_csv(path):
    """[(namespace, key, value)] from an esp-idf-nvs-partition-gen CSV
    (key,type,encoding,value), accepting only what esp32.NVS can read:
    i32 data, and blobs given as binary, hex2bin, base64 or file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise NvsError("cannot read NVS CSV %s: %s" % (path, e.strerror)) from None
    rows = csv.DictReader(line for line in io.StringIO(text) if line.strip() and not line.startswith("#"))
    if rows.fieldnames is None or [f.strip() for f in rows.fieldnames[:4]] != ["key", "type", "encoding", "value"]:
        raise NvsError("%s: the header must be key,type,encoding,value" % path)
    entries, namespace = [], None
    for n, row in enumerate(rows, start=2):
        key, kind = (row["key"] or "").strip(), (row["type"] or "").strip()
        enc, value = (row["encoding"] or "").strip().lower(), row["value"] or ""
        where = "%s line %d (%s)" % (path, n, key)
        if kind == "namespace":
            namespace = key
            continue
        if namespace is None:
            raise NvsError("%s: the first row must be a namespace" % where)
        try:
            if kind == "file":
                if enc not in ("binary", "hex2bin", "base64"):
                    _bad(enc)
                entries.append((namespace, key, (path.parent / value.strip()).read_bytes()))
            elif kind != "data":
                raise NvsError("type %r is not one of namespace, data, file" % kind)
            elif enc == "i32":
                entries.append((namespace, key, int(value, 0)))
            elif enc == "hex2bin":
                entries.append((namespace, key, binascii.unhexlify(value.strip())))
            elif enc == "base64":
                entries.append((namespace, key, base64.b64decode(value.strip(), validate=True)))
            elif enc == "binary":
                entries.append((namespace, key, value.encode()))
            else:
                _bad(enc)
        except (ValueError, binascii.Error, OSError) as e:
            raise NvsError("%s: %s" % (where, getattr(e, "strerror", None) or e)) from None
    return entries


def _bad(encoding):
    raise NvsError("encoding %r cannot be read by MicroPython's esp32.NVS, which reads only i32 and blobs "
                   "(binary, hex2bin, base64)" % encoding)


def build_nvs_image_from_csv(csv_path, out, size=NVS_SIZE, keys=None):
    data = _write(entries_from_csv(csv_path), size, keys or firmware_keys())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def parse_assignment(text):
    """"key=value" (a UTF-8 blob), "key:i32=5", "key:hex=00ff", "key:b64=AP8=" -> (key, value)."""
    if "=" not in text:
        raise NvsError("%r is not KEY[:TYPE]=VALUE" % text)
    name, value = text.split("=", 1)
    key, _, kind = name.partition(":")
    kind = kind or "str"
    try:
        if kind == "i32":
            return key, int(value, 0)
        if kind == "hex":
            return key, binascii.unhexlify(value)
        if kind == "b64":
            return key, base64.b64decode(value, validate=True)
        if kind == "str":
            return key, value
    except (ValueError, binascii.Error) as e:
        raise NvsError("%r: %s" % (text, e)) from None
    raise NvsError("%r: type %r is not one of str, i32, hex, b64" % (text, kind))


# -- reading an image back ---------------------------------------------------

_ENTRY = 32
_FIRST_ENTRY = 64
_ENTRIES_PER_PAGE = 126
_ACTIVE, _FULL = 0xFFFFFFFE, 0xFFFFFFFC
_PRIMITIVES = {0x01: "<B", 0x11: "<b", 0x02: "<H", 0x12: "<h", 0x04: "<I", 0x14: "<i", 0x08: "<Q", 0x18: "<q"}
_SZ, _BLOB_DATA, _BLOB_IDX = 0x21, 0x42, 0x48


def _crc(data):
    return zlib.crc32(data, 0xFFFFFFFF) & 0xFFFFFFFF


def parse_nvs(image):
    """{namespace: {key: int | bytes | str}} from an NVS partition image, as
    ESP-IDF would read it: every page header and entry CRC is checked."""
    if len(image) % _PAGE:
        raise NvsError("NVS image size %d is not a multiple of %d" % (len(image), _PAGE))
    names, items, chunks = {}, {}, {}
    for base in range(0, len(image), _PAGE):
        page = image[base:base + _PAGE]
        state, seq = struct.unpack_from("<II", page, 0)
        if state not in (_ACTIVE, _FULL):
            continue  # empty or being freed
        if struct.unpack_from("<I", page, 28)[0] != _crc(page[4:28]):
            raise NvsError("page %d: header CRC mismatch" % (base // _PAGE))
        bitmap = page[32:64]
        i = 0
        while i < _ENTRIES_PER_PAGE:
            if (bitmap[i // 4] >> (2 * (i % 4))) & 3 != 2:  # 2 = written
                i += 1
                continue
            e = page[_FIRST_ENTRY + i * _ENTRY:_FIRST_ENTRY + (i + 1) * _ENTRY]
            ns, typ, span, chunk = e[0], e[1], e[2], e[3]
            if struct.unpack_from("<I", e, 4)[0] != _crc(e[0:4] + e[8:32]):
                raise NvsError("page %d entry %d: CRC mismatch" % (base // _PAGE, i))
            key = e[8:24].split(b"\0", 1)[0].decode("ascii")
            payload = e[24:32]
            if typ in _PRIMITIVES:
                value = struct.unpack_from(_PRIMITIVES[typ], payload)[0]
                if ns == 0:
                    names[value] = key
                else:
                    items[(ns, key)] = value
            elif typ in (_SZ, _BLOB_DATA):
                size, crc = struct.unpack_from("<H2xI", payload)
                data = page[_FIRST_ENTRY + (i + 1) * _ENTRY:][:size]
                if _crc(data) != crc:
                    raise NvsError("page %d entry %d (%s): data CRC mismatch" % (base // _PAGE, i, key))
                if typ == _SZ:
                    items[(ns, key)] = data.rstrip(b"\0").decode()
                else:
                    chunks[(ns, key, chunk)] = data
            elif typ == _BLOB_IDX:
                size, count, start = struct.unpack_from("<IBB", payload)
                items[(ns, key)] = (size, count, start)
            i += max(span, 1)
    result = {}
    for (ns, key), value in items.items():
        if isinstance(value, tuple):  # a blob index: join its chunks
            size, count, start = value
            try:
                value = b"".join(chunks[(ns, key, start + c)] for c in range(count))
            except KeyError:
                raise NvsError("blob %r is missing a chunk" % key) from None
            if len(value) != size:
                raise NvsError("blob %r has %d bytes, its index says %d" % (key, len(value), size))
        if ns not in names:
            raise NvsError("key %r is in namespace index %d, which has no name" % (key, ns))
        result.setdefault(names[ns], {})[key] = value
    return result

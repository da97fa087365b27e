# HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) on what stock ESP32
# MicroPython has: hashlib.sha256 with update() and digest() only (no copy(),
# no hmac module). Used when keys are derived (provisioning, adding a friend,
# once per tap window), never per scan result: each call allocates a few
# small objects.
import hashlib

_BLOCK = 64  # SHA-256 block size in bytes
_HASH = 32


def _padded(key, byte):
    """The key, hashed if longer than a block, zero-padded to a block and
    XORed with `byte` (0x36 inner, 0x5c outer)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    pad = bytearray(_BLOCK)
    pad[: len(key)] = key
    for i in range(_BLOCK):
        pad[i] ^= byte
    return pad


def hmac_sha256(key, msg):
    """HMAC-SHA256(key, msg) -> 32 bytes. `msg` may be a sequence of byte
    strings, hashed in order as if joined (saves building the join)."""
    h = hashlib.sha256(_padded(key, 0x36))
    if isinstance(msg, (tuple, list)):
        for part in msg:
            h.update(part)
    else:
        h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(_padded(key, 0x5C))
    h.update(inner)
    return h.digest()


def hkdf_extract(salt, ikm):
    """PRK = HMAC(salt, IKM); an empty or None salt is 32 zero bytes."""
    if not salt:
        salt = bytes(_HASH)
    return hmac_sha256(salt, ikm)


def hkdf_expand(prk, info, length):
    """OKM of `length` bytes (at most 255 * 32) from a pseudorandom key."""
    if not 0 < length <= 255 * _HASH:
        raise ValueError("HKDF length 1..8160")
    out = bytearray()
    t = b""
    n = 1
    while len(out) < length:
        t = hmac_sha256(prk, (t, info, bytes((n,))))
        out.extend(t)
        n += 1
    return bytes(out[:length])


def hkdf(ikm, salt, info, length):
    """HKDF-SHA256(IKM, salt, info) -> `length` bytes."""
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def same(a, b):
    """a == b for two byte strings, in a time that does not depend on where
    they differ (MAC and proof checks)."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0

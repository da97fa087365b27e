"""MicroPython's `cryptolib` for CPython, so firmware that uses AES runs in
host tools and CPython tests unchanged. Backed by the `cryptography`
package; as strict as a stock ESP32 build: modes ECB (1) and CBC (2) only
(CTR, 6, is not compiled in by default), 16-byte blocks, one direction per
object, CBC chaining kept across calls.

Call install() before importing firmware that does `import cryptolib`.
"""
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1
MODE_CBC = 2


class aes:  # noqa: N801 (MicroPython's name)
    def __init__(self, key, mode, iv=None):
        if len(key) not in (16, 32):
            raise ValueError("key")
        if mode == MODE_ECB:
            m = modes.ECB()
        elif mode == MODE_CBC:
            m = modes.CBC(bytes(iv) if iv is not None else bytes(16))
        else:
            raise ValueError("mode")
        self._cipher = Cipher(algorithms.AES(bytes(key)), m)
        self._ctx = None
        self._dir = None

    def _run(self, direction, data, out):
        if self._dir is not None and self._dir != direction:
            raise ValueError("can't encrypt & decrypt")
        if len(data) % 16:
            raise ValueError("blksize % 16")
        if self._ctx is None:
            self._dir = direction
            self._ctx = self._cipher.encryptor() if direction == "e" else self._cipher.decryptor()
        result = self._ctx.update(bytes(data))
        if out is None:
            return result
        if len(out) != len(data):
            raise ValueError("output too small")
        out[:] = result
        return None

    def encrypt(self, data, out=None):
        return self._run("e", data, out)

    def decrypt(self, data, out=None):
        return self._run("d", data, out)


def install():
    """Register this module as `cryptolib` unless a real one exists."""
    if "cryptolib" in sys.modules:
        return
    try:
        import cryptolib  # noqa: F401
    except ImportError:
        sys.modules["cryptolib"] = sys.modules[__name__]

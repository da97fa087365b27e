# HMAC-SHA256 and HKDF-SHA256 in Python (firmware/cloudpin/social/kdf.py)
# against the published vectors: RFC 4231 (all seven SHA-256 cases) and
# RFC 5869 (the three SHA-256 cases).
from binascii import unhexlify as h

from cloudpin.social import kdf

RFC4231 = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),  # first 128 bits
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)

RFC5869 = (
    (b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x50)), bytes(range(0x60, 0xB0)), bytes(range(0xB0, 0x100)), 82,
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da327560"
     "0c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    (b"\x0b" * 22, b"", b"", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
)


def test_hmac_sha256_rfc4231():
    for key, data, mac in RFC4231:
        want = h(mac)
        assert kdf.hmac_sha256(key, data)[: len(want)] == want, mac


def test_hmac_of_parts_equals_hmac_of_join():
    key, data, mac = RFC4231[6]
    parts = (data[:7], b"", data[7:100], data[100:])
    assert kdf.hmac_sha256(key, parts) == h(mac)
    assert kdf.hmac_sha256(key, list(parts)) == h(mac)


def test_hkdf_sha256_rfc5869():
    for ikm, salt, info, length, prk, okm in RFC5869:
        assert kdf.hkdf_extract(salt, ikm) == h(prk)
        assert kdf.hkdf_expand(h(prk), info, length) == h(okm)
        assert kdf.hkdf(ikm, salt, info, length) == h(okm)


def test_hkdf_refuses_impossible_lengths():
    for n in (0, -1, 255 * 32 + 1):
        try:
            kdf.hkdf_expand(b"k" * 32, b"", n)
            assert False, n
        except ValueError:
            pass
    assert len(kdf.hkdf_expand(b"k" * 32, b"", 255 * 32)) == 255 * 32


def test_aes_block_matches_fips197_in_both_runtimes():
    # The firmware's AES is cryptolib's (ECB, one block at a time); under
    # CPython host_tools/hostcrypto stands in for it and must agree.
    import cryptolib

    a = cryptolib.aes(bytes(range(16)), 1)
    out = bytearray(16)
    a.encrypt(h("00112233445566778899aabbccddeeff"), out)
    assert out == h("69c4e0d86a7b0430d8cdb78070b4c55a")
    try:
        cryptolib.aes(bytes(16), 6)  # CTR: not in a stock ESP32 build
        assert False
    except ValueError:
        pass


def test_same_compares_whole_byte_strings():
    assert kdf.same(b"abc", bytearray(b"abc")) and kdf.same(b"", b"")
    assert not kdf.same(b"abc", b"abd") and not kdf.same(b"abc", b"ab") and not kdf.same(b"\x00", b"\x80")

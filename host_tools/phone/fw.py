"""The firmware's own protocol modules (cloudpin.phone.protocol, phoneside) under
CPython: the client speaks the bytes the pin speaks from the same file.
It imports `micropython` (the emulator's CPython stand-in), `cryptolib`
(host_tools.hostcrypto) and cloudpin.social.kdf, so the firmware tree goes
on sys.path (after everything else: no host module is shadowed)."""
import importlib
import sys

from host_tools import EMULATOR_DIR, FIRMWARE_DIR, hostcrypto


def protocol():
    for d in (str(FIRMWARE_DIR), str(EMULATOR_DIR)):
        if d not in sys.path:
            sys.path.append(d)
    hostcrypto.install()
    return importlib.import_module("cloudpin.phone.phoneside")  # protocol and the phone's side

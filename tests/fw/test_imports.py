# Every firmware module imports in both runtimes: in the MicroPython VM this
# catches CPython-only modules and names (dataclasses, typing, abc, ...) even
# in a module no other test exercises.
import os
import sys


def _firmware_modules():
    for root in sys.path:
        pkg = root + "/cloudpin"
        try:
            names = os.listdir(pkg)
        except OSError:
            continue
        if "boardspec.py" in names:
            return sorted("cloudpin." + n[:-3] for n in names if n.endswith(".py") and n != "__init__.py")
    raise AssertionError("firmware package not on sys.path: %r" % (sys.path,))


def test_every_firmware_module_imports():
    mods = _firmware_modules()
    assert "cloudpin.app" in mods and len(mods) >= 15, mods
    for name in mods:
        try:
            __import__(name)
        except Exception as e:
            raise AssertionError("%s does not import: %r" % (name, e))

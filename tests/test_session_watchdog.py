"""The serial session and the watchdog a stopped app leaves running: an
ESP32's cannot be stopped, and a soft reset stops the app's Timer that fed
it, not the watchdog. A virtual badge carries it through the soft reset as
the chip does (cpsim/chipstate.py), so a session that did not feed it would
be cut mid-command here too."""
import time

import pytest
import serial

from host_tools.link.session import BadgeOutOfMemory, LinkError, SerialSession
from host_tools.virtual_badge import VirtualBadge

BAUD = 921600

# An app with a short watchdog (so the test need not wait 8 s for it), fed
# while it runs and from a Timer once Ctrl-C stops it (as cloudpin/app.py
# does).
_APP = """
import machine, time
import cloudpin.board  # the CloudPin app's sign (what the session asks)
_dog = machine.WDT(timeout=1500)
print("running")
try:
    while True:
        _dog.feed()
        time.sleep_ms(50)
except KeyboardInterrupt:
    _keeper = machine.Timer(0)
    _keeper.init(period=500, mode=machine.Timer.PERIODIC, callback=lambda t: _dog.feed())
    raise
"""
# What the stopped app leaves of the heap, made at the REPL: nearly nothing.
_HOG = "_hog = []\ntry:\n    while True:\n        _hog.append(bytearray(64))\nexcept MemoryError:\n    pass\ndel _hog[-64:]\n"

# Too big to compile on the stopped app's heap; on a whole heap it runs 3 s
# (twice the app's watchdog), touching the emulated hardware so its clock
# and the watchdog move on.
_LONG = "_pad = %r\nimport machine, time\nfor _i in range(60):\n    time.sleep_ms(50)\n    machine.RTC().datetime()\nprint('done', len(_pad))\n" % ("x" * 20000)


@pytest.fixture
def vb(tmp_path):
    b = VirtualBadge(tmp_path / "badge", baud=BAUD, board="cloudpin_ref", name="dog")
    (b.root / "cloudpin").mkdir()
    (b.root / "cloudpin" / "__init__.py").write_text("")
    (b.root / "cloudpin" / "board.py").write_text("")
    (b.root / "main.py").write_text(_APP)
    b.start()
    with serial.Serial(b.port, BAUD, timeout=30) as port:
        assert b"running" in port.read_until(b"running")
    yield b
    b.stop()


def test_a_long_retry_after_a_soft_reset_is_not_cut_by_the_apps_watchdog(vb):
    retried = []
    with SerialSession(vb.port, BAUD) as s:
        try:
            s.run(_HOG)
        except BadgeOutOfMemory:
            pass  # (what is left may not even report back)
        with pytest.raises(BadgeOutOfMemory):
            s.run(_LONG)
        boots = vb.boots
        out = s.after_oom(lambda: s.run(_LONG), retried.append)
        assert out.split() == ["done", "20000"] and retried
        assert s.watchdog
        assert vb.boots == boots + 1  # the soft reset only: no watchdog reset
        # still fed afterwards, for as long as the session keeps the badge
        assert s.run(_LONG).split() == ["done", "20000"] and vb.boots == boots + 1


def test_without_feeding_the_badge_resets_as_a_chip_would(vb):
    # the emulator is no kinder than the chip: the same soft reset, unfed
    s = SerialSession(vb.port, BAUD)
    s.connect()
    try:
        boots = vb.boots
        s.soft_reset()
        assert not s.watchdog
        try:
            out = s.run(_LONG)
        except LinkError:
            out = None
        assert out != "done 3000\n"
        for _ in range(100):  # the VM's end reaches the badge just after the command's
            if vb.boots == boots + 2:
                break
            time.sleep(0.1)
        assert vb.boots == boots + 2 and vb._cause == 3  # machine.WDT_RESET
    finally:
        s.close(restart=False)  # (the app runs again already)

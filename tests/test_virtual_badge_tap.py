"""`cloudpin virtual-badge tap`: a touch put into running virtual badges'
accelerometers from another process, through the farm's air hub
(host_tools/vbadge/tap.py, cpsim/touch.py)."""
import ast
import subprocess
import sys
from pathlib import Path

from host_tools import REPO
from host_tools.virtual_badge import VirtualBadgeFarm

BIN = Path(sys.executable).parent
TIMEOUT = 60

# On a badge (on the air from power-on): run the LIS3DH at 400 Hz and
# keep the largest departure from 1 g it reads, for SECONDS (or until it
# passes 500 mg, with UNTIL_FELT).
FEEL = """
import bluetooth, machine, time
b = bluetooth.BLE()
i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
i2c.writeto_mem(0x18, 0x20, b"\\x77")  # CTRL_REG1: 400 Hz, x y z
i2c.writeto_mem(0x18, 0x23, b"\\x98")  # CTRL_REG4: block update, +-4 g, high resolution
i2c.writeto_mem(0x18, 0x24, b"\\x40")  # CTRL_REG5: FIFO on
i2c.writeto_mem(0x18, 0x2E, b"\\x80")  # FIFO_CTRL: stream mode: every sample kept
time.sleep_ms(100)
i2c.readfrom_mem(0x18, 0xA8, 6 * 32)  # the first samples
print("READY")
peak = 0
end = time.ticks_add(time.ticks_ms(), SECONDS * 1000)
while time.ticks_diff(end, time.ticks_ms()) > 0:
    n = i2c.readfrom_mem(0x18, 0x2F, 1)[0] & 0x1F
    if n:
        d = i2c.readfrom_mem(0x18, 0xA8, 6 * n)
        for j in range(0, 6 * n, 6):
            v = [((d[j + k + 1] << 8 | d[j + k]) ^ 0x8000) - 0x8000 for k in (0, 2, 4)]
            mg = [x // 16 * 2 for x in v]  # 12-bit left-justified, 2 mg a digit at +-4 g
            dev = abs(mg[0]) + abs(mg[1]) + abs(mg[2] - 1000)
            if dev > peak:
                peak = dev
    if UNTIL_FELT and peak > 500:
        break
    time.sleep_ms(20)
print("PEAK", peak)
"""


def _feel(port, seconds, until_felt):
    return subprocess.Popen([str(BIN / "mpremote"), "connect", port, "exec",
                             "SECONDS = %d\nUNTIL_FELT = %s\n" % (seconds, until_felt) + FEEL],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _tap(*argv):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", "virtual-badge", "tap"] + list(argv),
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)


def test_a_tap_from_another_process_is_felt_by_the_badges_named_and_only_them():
    with VirtualBadgeFarm(3) as farm:
        for b in farm:
            assert b.wait_repl(TIMEOUT)
        procs = [_feel(b.port, 30, True) for b in farm[:2]]
        try:
            for p in procs:
                assert p.stdout.readline().startswith("READY")
            # badge-3 is unplugged, so off the air: refused, one line, nothing tapped
            farm[2].unplug()
            r = _tap("badge-1", "badge-3", "--air", farm.air.path)
            assert r.returncode == 1 and r.stderr.count("\n") == 1
            assert "badge-3 is not on the air" in r.stderr and "not running" in r.stderr
            farm[2].replug()  # on the air again from power-on, as a chip's radio is there
            assert farm[2].wait_repl(TIMEOUT)
            procs.append(_feel(farm[2].port, 8, False))  # past the contact (~2 s after the command)
            assert procs[2].stdout.readline().startswith("READY")
            r = _tap("badge-1", farm[1].port)  # a name and a port; the farm found by asking
            assert r.returncode == 0, r.stderr
            assert "tapped badge-1 and badge-2: contact in" in r.stderr
            outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
        finally:
            for p in procs:
                p.kill()
        peaks = [ast.literal_eval(o.split("PEAK ", 1)[1].split()[0]) for o in outs]
        # the touch's contact pulse is g's; a pin lying still reads its 2 mg noise
        assert peaks[0] > 500 and peaks[1] > 500 and peaks[2] < 100, peaks
        r = _tap("badge-9", "--air", farm.air.path)
        assert r.returncode == 1 and "no badge badge-9 in this farm (badge-1 /dev/pts/" in r.stderr
    r = _tap("badge-1", "--air", farm.air.path)  # the farm is gone
    assert r.returncode == 1 and "cannot reach the air hub at" in r.stderr and r.stderr.count("\n") == 1

"""Every board in boards/ boots the real firmware on a virtual badge (the
VM, the board's emulated parts fitted by cpsim/boardfit.py) with its
accelerometer working: steps and a tap reach the log. The M5StickC Plus's
display shows the status screen, saved as a PNG as `cloudpin virtual-badge
--display-png` does, while it is lit: the screen is lit from boot and for a
while after each of the wearer's events (cloudpin.display), here the tap."""
import re
import time

import pytest
import serial
from PIL import Image

from host_tools import FIRMWARE_DIR, boards
from host_tools.demo import install_firmware, vm_arch
from host_tools.virtual_badge import VirtualBadge, board_file, micropython_binary
from test_motion import Walk

TAP_MS = 6000


@pytest.fixture(scope="module")
def walk_csv(tmp_path_factory):
    # A walk at 2 steps/s with one sharp knock, sampled at 1 kHz: what the pin feels, in g.
    walk = Walk(cadence=2.0, walk_from_ms=0, walk_to_ms=10 ** 9, taps=(TAP_MS,))
    path = tmp_path_factory.mktemp("rec") / "walk.csv"
    with path.open("w") as f:
        f.write("t_ms,x,y,z\n")
        for t in range(0, 60000):
            x, y, z = walk.at(t)
            f.write("%d,%.4f,%.4f,%.4f\n" % (t, x, y, z))
    return path


def test_every_board_boots_on_a_virtual_badge_and_counts(tmp_path, walk_csv):
    arch = vm_arch(micropython_binary())
    names = boards.board_names()
    badges, ports, seen = {}, {}, {}
    try:
        for name in names:
            b = VirtualBadge(tmp_path / name, board=name, recording=str(walk_csv), name=name)
            install_firmware(FIRMWARE_DIR, b.root, board_file(name), arch)
            badges[name] = b.start()
            ports[name] = serial.Serial(b.port, timeout=0.05)
            seen[name] = b""
        deadline = time.monotonic() + 90
        done = set()
        png = tmp_path / "m5.png"
        tapped = lit = None  # when the M5's log showed its tap; its shot's lit pixels
        while (len(done) < len(names) or lit is None) and time.monotonic() < deadline:
            for name in names:
                seen[name] += ports[name].read(4096)
                if name == "m5stickc_plus" and lit is None and b" tap t_ms=" in seen[name]:
                    # The wearer looks at the pin they just tapped: its screen is lit
                    # for cloudpin.display.LIT_MS after the tap (the log line comes just
                    # before the app hears of it: shots for up to 2 s, the first lit one kept)
                    tapped = tapped or time.monotonic()
                    assert badges[name].save_display_png(png)
                    n = sum(k for k, c in Image.open(png).getcolors(135 * 240) if c != (0, 0, 0))
                    lit = n if n or time.monotonic() - tapped > 2 else None
                steps = [int(n) for n in re.findall(rb" steps=(\d+)", seen[name])]
                if steps and max(steps) > 0 and b" tap t_ms=" in seen[name] and name not in done:
                    done.add(name)
        for name in names:
            log = seen[name].decode("utf-8", "replace")
            assert "faults=none" in log, (name, log[-2000:])
            assert name in done, (name, log[-2000:])
        img = Image.open(png)
        assert img.size == (135, 240)
        assert lit is not None and 200 < lit < 135 * 240 // 4, lit  # text on black
        assert not badges["cloudpin_ref"].save_display_png(tmp_path / "none.png")  # no display on that board
    finally:
        for p in ports.values():
            p.close()
        for b in badges.values():
            b.stop()


def test_virtual_badge_cli_keeps_a_png_of_the_display(tmp_path):
    import signal
    import subprocess
    import sys

    from host_tools import REPO

    png = tmp_path / "screen.png"
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "virtual-badge", "--board", "m5stickc_plus",
                             "--root", str(tmp_path / "vb"), "--display-png", str(png)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not png.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert png.exists(), proc.stderr.read1().decode() if proc.poll() is not None else "no PNG"
        # A blank badge runs no firmware: the controller sleeps and the glass is black.
        img = Image.open(png)
        assert img.size == (135, 240) and img.getcolors() == [(135 * 240, (0, 0, 0))]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

"""`cloudpin demo`: a firmware folder booted on a virtual badge, its output
streamed line by line (a small fixture firmware stands in for the real one);
and the real firmware on two badges provisioned by the desk, tapped together."""
import subprocess
import sys

import pytest

from host_tools import REPO
from host_tools.demo import DEMO_RECORDING, install_firmware, vm_arch
from host_tools.images import romfs
from host_tools.vbadge.boot_shim import ROMFS_NAME
from host_tools.virtual_badge import board_file, micropython_binary


@pytest.fixture
def firmware(tmp_path):
    fw = tmp_path / "fw"
    (fw / "pkg").mkdir(parents=True)
    (fw / "boot.py").write_text('print("fixture boot")\n')
    (fw / "main.py").write_text(
        "import time\nfrom pkg import greet\nimport json\n"
        "print(greet.line(json.load(open('board.json'))['name']))\n"
        "while True:\n    print('I 0 demo tick')\n    time.sleep(0.2)\n")
    (fw / "pkg" / "__init__.py").write_text("")
    (fw / "pkg" / "greet.py").write_text("def line(board):\n    return 'I 0 demo hello from ' + board\n")
    (fw / "pyrightconfig.json").write_text("{}")  # not firmware: stays behind
    return fw


def test_install_puts_scripts_as_source_and_packages_in_the_romfs_image(firmware, tmp_path):
    root = tmp_path / "badge"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "greet.mpy").write_bytes(b"M old")  # an older install: it would shadow /rom
    board = board_file("cloudpin_ref")
    names = install_firmware(firmware, root, board, vm_arch(micropython_binary()))
    assert sorted(names) == [ROMFS_NAME, "board.json", "boot.py", "main.py"]
    assert (root / "main.py").read_text() == (firmware / "main.py").read_text()
    assert not (root / "pkg").exists()
    rom = romfs.files((root / ROMFS_NAME).read_bytes())
    assert sorted(rom) == ["/pkg/__init__.mpy", "/pkg/greet.mpy"]
    assert rom["/pkg/greet.mpy"][:1] == b"M"  # mpy header
    assert (root / "board.json").read_bytes() == board.read_bytes()
    # as .mpy files instead (the heap bench's table compares the two)
    names = install_firmware(firmware, tmp_path / "files", None, vm_arch(micropython_binary()), romfs=False)
    assert sorted(names) == ["boot.py", "main.py", "pkg/__init__.mpy", "pkg/greet.mpy"]


def test_demo_soft_resets_the_badge_and_streams_its_lines(firmware):
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--badges", "1", "--seconds", "2",
                           "--firmware", str(firmware), "--board", "m5stickc_plus"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "MPY: soft reboot" in lines
    i = lines.index("MPY: soft reboot")
    assert lines[i + 1:i + 4] == ["fixture boot", "I 0 demo hello from m5stickc_plus", "I 0 demo tick"]
    assert "virtual badge on /dev/pts/" in proc.stderr
    assert "accelerometer: replays %s, looped (a walk" % DEMO_RECORDING in proc.stderr  # by default, from the repo


def test_demo_rejects_an_unknown_board():
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--board", "nope"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "known boards" in proc.stderr


def test_demo_recording_ships_in_the_repo_and_is_a_walk():
    from host_tools.bench.resample import load_csv
    from host_tools.bench.steps import board_odr
    from host_tools.plot import trace_steps

    rec = DEMO_RECORDING
    assert rec.is_relative_to(REPO) and rec.stat().st_size < 300 * 1024
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(rec), str(rec.parent / "README.md")],
                             cwd=REPO, capture_output=True, text=True)
    assert tracked.returncode == 0, tracked.stderr  # in a fresh clone, not only here
    t, x, y, z = load_csv(rec)
    assert 55000 < t[-1] - t[0] < 65000
    # The firmware's counter (in CPython, at the rate the app runs the sensor)
    # counts a minute of walking at about 1.7 steps a second.
    assert 85 <= trace_steps(rec, board_odr())["steps"] <= 120


def test_demo_says_when_the_pin_lies_still(firmware):
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--badges", "1", "--seconds", "1", "--still",
                           "--firmware", str(firmware)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "accelerometer: the pin lies still" in proc.stderr and "counts no steps" in proc.stderr


def test_two_badges_are_provisioned_at_the_desk_tapped_together_and_become_friends():
    # The real firmware: `make demo` as a new user runs it (stdout not a terminal).
    # Touched at 3 s, and again (at most three touches) if a pin did not feel
    # it (a loaded host's VMs drain their FIFOs late), for the reason it says.
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--seconds", "20", "--tap-at", "3"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    err, lines = proc.stderr, proc.stdout.splitlines()
    # Both pins lie still (no steps): the demo says so, and how to walk them.
    assert "accelerometers: both pins held still" in err and "give --recording to walk" in err
    assert "badge-1: desk: done: hand the badge and card to Ada Lovelace" in err
    assert "badge-2: desk: done: hand the badge and card to Grace Hopper" in err
    assert "demo: the wearers touch their pins together (first touch; " in err
    for name in ("badge-1", "badge-2"):
        mine = [line for line in lines if line.startswith(name + " | ")]
        assert any(" app cloudpin " in line for line in mine), proc.stdout  # booted, provisioned
        taps = [int(line.split("tap t_ms=")[1].split()[0]) for line in mine if " motion tap t_ms=" in line]
        assert taps, proc.stdout + err  # the tap the demo injected, felt by this pin
    # Each touch lands at the instant the demo says (the VMs share the host's
    # monotonic ms clock), and each retry's reasons are what the logs show.
    touches = [(int(line.split("contact at t_ms=")[1].rstrip(")")), line) for line in err.splitlines()
               if line.startswith("demo: the wearers touch their pins together (")]
    for i, (contact, line) in enumerate(touches):
        felt = [[t for t in _log_ms(lines, n, " motion tap t_ms=") if 0 <= t - contact < 3000]
                for n in ("badge-1", "badge-2")]
        for taps in felt:
            assert not taps or taps[0] - contact < 150, (contact, felt)  # the contact, not later
        if i:
            _check_reasons(line, lines, touches[i - 1][0])
    first = [min(_log_ms(lines, n, " motion tap t_ms=")) for n in ("badge-1", "badge-2")]
    if len(touches) == 1:
        assert abs(first[0] - first[1]) < 100, first  # one touch, felt at one instant by both
    # The closing line counts what each log showed.
    assert "badge-1 felt %d tap(s)" % len([x for x in lines if x.startswith("badge-1 | ") and " motion tap " in x]) \
        in err.splitlines()[-1]
    # The touch made them friends: each log names the other's friend key, on
    # the pin's own heap (the boot shim gives each VM exactly its share).
    keys = {}
    for name in ("badge-1", "badge-2"):
        made = [line for line in lines if line.startswith(name + " | ") and " meet friend slot=0 " in line]
        assert len(made) == 1, proc.stdout + err
        keys[name] = made[0].split("fk=")[1].split()[0]
        assert "%s felt" % name in err.splitlines()[-1]
    assert keys["badge-1"] != keys["badge-2"]
    assert "made 1 friend(s); badge-2" in err.splitlines()[-1] and err.splitlines()[-1].endswith("made 1 friend(s)")
    assert "MemoryError" not in proc.stdout


def _log_ms(lines, name, what):
    """ticks_ms of badge `name`'s log lines containing `what` (the line's own
    stamp, or the t_ms= it carries)."""
    out = []
    for line in lines:
        if line.startswith(name + " | ") and what in line:
            part = line.split(what)[1] if what.endswith("=") else line.split(" | ", 1)[1].split()[1]
            out.append(int(part.split()[0]))
    return out


def _check_reasons(line, lines, contact):
    # "again: badge-2 its sensor's FIFO overran +40 ms from the contact: ...; badge-1 ..."
    for reason in line.split("again: ", 1)[1].split("; contact at")[0].split("; "):
        name = reason.split()[0]
        if "FIFO overran" in reason:
            d = int(reason.split("overran ")[1].split()[0])
            assert contact + d in _log_ms(lines, name, " motion fifo overrun "), reason
        elif "asked to tap again" in reason:
            assert _log_ms(lines, name, " meet tap again"), reason
        else:
            assert "detector did not find" in reason, reason
            assert not [t for t in _log_ms(lines, name, " motion tap t_ms=") if 0 <= t - contact < 3000], reason


def test_the_demo_says_why_a_pin_did_not_feel_a_touch():
    from host_tools.demo import Toucher

    class Badge:
        def __init__(self, name):
            self.name = name

    t = Toucher([Badge("badge-1"), Badge("badge-2")], 3.0, print)
    t.contact_ms = 1000
    for k, text in ((0, "I 1035 motion tap t_ms=1020 mg=3000"), (1, "W 1045 motion fifo overrun 4"),
                    (1, "W 1900 motion fifo overrun 5")):
        t.saw(k, text)
    assert t.why_not(0) is None
    assert t.why_not(1).startswith("its sensor's FIFO overran +45 ms from the contact")
    t.overruns[1] = [1900]  # too late to have cost this touch
    assert t.why_not(1) == "its detector did not find the touch"
    t.saw(0, "W 40 meet tap again reason=alone")
    assert t.why_not(0) == "asked to tap again"


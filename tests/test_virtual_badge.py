"""Virtual badges on the wire: the unmodified mpremote and ampy, run as
separate processes against the pty, and a raw serial console for the exact
bytes a board sends."""
import ast
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from host_tools import REPO
from host_tools.vbadge.boot_shim import NOT_ON_FS
from host_tools.bench.resample import RecordingError
from host_tools.virtual_badge import (RAW_BANNER, RootInUse, VirtualBadge, VirtualBadgeFarm, check_recording,
                                      micropython_binary)

BIN = Path(sys.executable).parent
TIMEOUT = 60  # generous: the machine is shared; a wait only ends early on success

BOOT_PY = 'print("boot ran")\nwith open("boots.txt", "a") as f:\n    f.write("x")\n'
MAIN_PY = 'print("main ran")\n'
LOOP_MAIN_PY = 'import time\nwhile True:\n    print("tick")\n    time.sleep(0.05)\n'


def boots(badge):
    p = badge.root / "boots.txt"
    return len(p.read_text()) if p.exists() else 0


def mpremote(port, *args):
    proc = subprocess.run([str(BIN / "mpremote"), "connect", port, *args],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def ampy(port, *args):
    proc = subprocess.run([str(BIN / "ampy"), "--port", port, *args],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


class Console:
    """A terminal on the badge's port that waits for text, never for time."""

    def __init__(self, port):
        self.ser = serial.Serial(port, 115200, timeout=0.05)
        self.seen = b""

    def send(self, data):
        self.ser.write(data)

    def sync(self):
        """Reach a fresh friendly prompt, past whatever the badge sent before."""
        self.send(b"print('in' 'sync')\r")  # the echo never contains the output
        self.expect(b"insync\r\n>>> ")

    def expect(self, text, timeout=TIMEOUT):
        """Read until `text` arrives; return everything read up to and including it."""
        end = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < end, "waited for %r, got %r" % (text, self.seen)
            self.seen += self.ser.read(max(1, self.ser.in_waiting))
        i = self.seen.index(text) + len(text)
        got, self.seen = self.seen[:i], self.seen[i:]
        return got

    def close(self):
        self.ser.close()


def make_badge(folder, main=MAIN_PY, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "boot.py").write_text(BOOT_PY)
    if main:
        (folder / "main.py").write_text(main)
    return VirtualBadge(folder, **kw)


@pytest.fixture
def badge(tmp_path):
    with make_badge(tmp_path / "badge") as b:
        assert b.wait_repl(TIMEOUT)
        yield b


@pytest.fixture
def console(badge):
    c = Console(badge.port)
    yield c
    c.close()


def test_mpremote_cp_ls_cat_run_exec(badge, tmp_path):
    local = tmp_path / "hello.txt"
    local.write_text("hello badge\n" * 50)
    mpremote(badge.port, "cp", str(local), ":hello.txt")
    assert (badge.root / "hello.txt").read_text() == local.read_text()
    listing = mpremote(badge.port, "ls")
    assert "hello.txt" in listing and "boot.py" in listing
    assert "%d hello.txt" % len(local.read_text()) in listing  # sizes, as LittleFS reports them
    assert mpremote(badge.port, "cat", "hello.txt") == local.read_text()
    back = tmp_path / "back.txt"
    mpremote(badge.port, "cp", ":hello.txt", str(back))
    assert back.read_text() == local.read_text()
    script = tmp_path / "script.py"
    script.write_text("import os\nprint('files', sorted(os.listdir('/')))\n")
    assert "files ['boot.py', 'boots.txt', 'hello.txt', 'main.py']" in mpremote(badge.port, "run", str(script))
    assert mpremote(badge.port, "exec", "print(6 * 7)").strip() == "42"


def test_mpremote_soft_reset_then_exec_runs_boot_again(badge):
    before = boots(badge)
    out = mpremote(badge.port, "soft-reset", "exec", "print(open('boots.txt').read())")
    # A soft reset into the raw REPL runs boot.py but not main.py (ports/esp32).
    assert out.strip() == "x" * (before + 1)
    assert mpremote(badge.port, "exec", "print('again')").strip() == "again"
    assert boots(badge) == before + 2  # mpremote soft-resets on connect


def test_ampy_put_get_ls_run(badge, tmp_path):
    local = tmp_path / "data.txt"
    local.write_text("".join("line %d\n" % i for i in range(200)))
    ampy(badge.port, "put", str(local), "data.txt")
    assert (badge.root / "data.txt").read_text() == local.read_text()
    assert ampy(badge.port, "get", "data.txt").replace("\r\n", "\n").rstrip("\n") == local.read_text().rstrip("\n")
    assert "/data.txt" in ampy(badge.port, "ls").split()
    script = tmp_path / "s.py"
    script.write_text("print('ran', 3 * 3)\n")
    assert "ran 9" in ampy(badge.port, "run", str(script))


def test_friendly_soft_reset_prints_board_text_and_reruns_boot_and_main(badge, console):
    console.sync()
    assert boots(badge) == 1
    console.send(b"\x04")
    out = console.expect(b">>> ")
    assert out.startswith(b"\r\nMPY: soft reboot\r\nboot ran\r\nmain ran\r\nMicroPython ")
    assert out.endswith(b'; Generic ESP32 module with ESP32\r\nType "help()" for more information.\r\n>>> ')
    assert boots(badge) == 2
    console.send(b"import sys; sys.platform\r")  # the REPL still works after the restart
    assert b"'linux'" in console.expect(b">>> ")


def test_raw_repl_soft_reset_stays_in_raw_repl_without_main(badge, console):
    console.sync()
    console.send(b"\r\x01")
    console.expect(RAW_BANNER + b">")
    console.send(b"\x04")
    assert console.expect(RAW_BANNER + b">") == b"OK\r\nMPY: soft reboot\r\nboot ran\r\n" + RAW_BANNER + b">"
    console.send(b"print(1 + 1)\x04")
    assert console.expect(b"\x04>") == b"OK2\r\n\x04\x04>"
    console.send(b"\x05A\x01")  # raw-paste mode, with its flow-control window
    window = b"R\x01" + (128).to_bytes(2, "little") + b"\x01"  # 128: the ESP32's too
    assert console.expect(window) == window
    console.send(b"print('paste')\x04")
    assert console.expect(b"\x04>") == b"\x04paste\r\n\x04\x04>"
    assert boots(badge) == 2


def test_ctrl_c_interrupts_main(tmp_path):
    with make_badge(tmp_path / "b", main=LOOP_MAIN_PY) as b:
        c = Console(b.port)
        c.expect(b"tick\r\n")
        c.send(b"\x03")
        out = c.expect(b">>> ")
        c.close()
    tb = out[out.index(b"Traceback (most recent call last):\r\n"):]
    assert tb.startswith(b'Traceback (most recent call last):\r\n  File "main.py", line ')
    assert b", in <module>\r\nKeyboardInterrupt: \r\nMicroPython " in tb
    assert b"<stdin>" not in out  # the badge's own start-up code stays out of tracebacks


def test_tools_stop_a_main_that_runs_forever(tmp_path):
    with make_badge(tmp_path / "b", main=LOOP_MAIN_PY) as b:
        c = Console(b.port)
        c.expect(b"tick\r\n")
        c.close()
        assert mpremote(b.port, "exec", "print('stopped it')").strip() == "stopped it"
        assert "/boot.py" in ampy(b.port, "ls").split()


def test_ctrl_c_stops_code_started_by_raw_paste(badge, tmp_path):
    script = tmp_path / "forever.py"
    script.write_text("print('looping')\nwhile True:\n    pass\n")
    proc = subprocess.Popen([str(BIN / "mpremote"), "connect", badge.port, "run", str(script)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "looping"
    finally:
        proc.kill()  # leaves the loop running on the badge, as a closed terminal would
        proc.communicate(timeout=TIMEOUT)
    assert mpremote(badge.port, "exec", "print('back')").strip() == "back"


def test_pacing_limits_transfer_to_the_baud_rate(tmp_path):
    baud, size = 9600, 2048
    local = tmp_path / "blob.txt"
    local.write_text("0123456789abcde\n" * (size // 16))
    with make_badge(tmp_path / "slow", baud=baud) as b:
        assert b.wait_repl(TIMEOUT)
        t0 = time.monotonic()
        mpremote(b.port, "cp", str(local), ":blob.txt")
        elapsed = time.monotonic() - t0
        assert (b.root / "blob.txt").read_text() == local.read_text()
    # 10 bits a byte on the wire: the file alone needs size * 10 / baud seconds.
    assert size / elapsed < baud / 10, "%d bytes in %.2f s beats %d baud" % (size, elapsed, baud)


def test_badges_have_separate_filesystems(tmp_path):
    with VirtualBadgeFarm(2, root=tmp_path) as farm:
        a, b = farm
        assert a.root == tmp_path / "badge-1" and b.root == tmp_path / "badge-2"
        assert os.readlink(tmp_path / "badge-1.tty") == a.port
        assert os.readlink(tmp_path / "badge-2.tty") == b.port
        mpremote(str(tmp_path / "badge-1.tty"), "exec", "open('who.txt', 'w').write('one')")
        mpremote(b.port, "exec", "open('who.txt', 'w').write('two')")
        assert (a.root / "who.txt").read_text() == "one"
        assert (b.root / "who.txt").read_text() == "two"
        assert mpremote(a.port, "exec", "print(open('/who.txt').read())").strip() == "one"


def test_listing_shows_only_the_badges_files(badge):
    out = mpremote(badge.port, "exec",
                   "import os, esp32, machine\n"
                   "n = esp32.NVS('t'); n.set_i32('k', 7); n.commit()\n"
                   "print(sorted(os.listdir('/')), machine.reset_cause())")
    # The emulated built-ins and the NVS partition are not files on the pin's flash.
    assert out.strip() == "['boot.py', 'boots.txt', 'main.py'] 1"
    assert (badge.nvs_path).exists()


def test_machine_reset_reboots_like_the_chip(badge, console):
    console.sync()
    console.send(b"import machine; machine.reset()\r")
    out = console.expect(b">>> ")
    assert b"rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nboot ran\r\nmain ran\r\n" in out
    console.send(b"import machine; machine.reset_cause() == machine.HARD_RESET\r")
    assert b"True" in console.expect(b">>> ")


def test_unplug_and_replug(badge, console):
    console.sync()
    badge.unplug()
    assert badge.port is None
    with pytest.raises(serial.SerialException):
        for _ in range(100):
            console.ser.read(1)
    badge.replug()
    assert badge.wait_repl(TIMEOUT)
    assert boots(badge) == 2  # powered on again, files kept
    assert mpremote(badge.port, "exec", "import machine; print(machine.reset_cause())").strip() == "1"


def _read_lines(stream, n, timeout):
    data, end = b"", time.monotonic() + timeout
    while data.count(b"\n") < n:
        r, _, _ = select.select([stream], [], [], max(0, end - time.monotonic()))
        assert r, "%d lines not printed within %s s: %r" % (n, timeout, data)
        chunk = os.read(stream.fileno(), 4096)
        assert chunk, "output ended: %r" % data
        data += chunk
    return data.decode().split()


def test_cli_prints_ports_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "virtual-badge", "--count", "2",
                             "--root", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        ports = _read_lines(proc.stdout, 2, TIMEOUT)
        for p in ports:
            assert stat.S_ISCHR(os.stat(p).st_mode)
        assert [os.readlink(tmp_path / ("badge-%d.tty" % n)) for n in (1, 2)] == ports
        assert mpremote(ports[1], "exec", "print('hi')").strip() == "hi"
        held = serial.Serial(ports[0], 115200, timeout=0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        with pytest.raises(serial.SerialException):  # the port hung up (its number may be reused)
            for _ in range(100):
                held.read(1)
        held.close()
        assert not (tmp_path / "badge-1.tty").exists()
        assert (tmp_path / "badge-2").is_dir()  # --root folders persist
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


# What host tools send to stop a badge: mpremote and `cloudpin deploy` "\r\x03\x03",
# an impatient user more.
BURSTS = (b"\r\x03\x03", b"\x03" * 5)
GO = b"print('go' '!')"  # prints go!, which its echo does not contain
I2C_MAIN_PY = ("import machine\ni2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))\n"
               + LOOP_MAIN_PY)  # builds the board's I2C bus, as the firmware does, then runs forever


def test_ctrl_c_bursts_in_every_state_never_reboot_the_vm(tmp_path):
    with make_badge(tmp_path / "b", main=LOOP_MAIN_PY) as b:
        c = Console(b.port)
        c.expect(b"tick\r\n")
        c.send(BURSTS[0])  # main.py running
        c.expect(b"KeyboardInterrupt: \r\n")
        c.sync()
        for burst in BURSTS:
            c.send(burst)  # friendly REPL, idle
            c.sync()
            for loop in (b"pass", b"time.sleep_ms(1)"):  # friendly REPL, code running
                c.send(b'import time; exec("%s\\nwhile True: %s")\r' % (GO, loop))
                c.expect(b"go!\r\n")
                c.send(burst)
                c.expect(b"KeyboardInterrupt: \r\n")
                c.sync()
            c.send((b"x = 1\r" + burst) * 10)  # just as code ends
            c.sync()
            c.send(b"\r\x01")
            c.expect(RAW_BANNER + b">")
            c.send(burst)  # raw REPL, idle
            c.send(b"print(6 * 7)\x04")
            c.expect(b"OK42\r\n\x04\x04>")
            c.send(GO + b"\nwhile True: pass\x04")  # raw REPL, code running
            c.expect(b"go!\r\n")
            c.send(burst)
            c.expect(b"KeyboardInterrupt: \r\n\x04>")
            c.send((b"x = 1\x04" + burst) * 10)  # just as code ends
            c.send(b"\x05A\x01")  # raw-paste, while the badge reads the code
            c.expect(b"R\x01")
            c.send(b"x = 1\nwhile Tr" + burst)
            c.expect(b"KeyboardInterrupt: \r\n\x04>")
            c.send(b"\x05A\x01")  # raw-paste, code running
            c.expect(b"R\x01")
            c.send(GO + b"\nwhile True: pass\n\x04")
            c.expect(b"go!\r\n")
            c.send(burst)
            c.expect(b"KeyboardInterrupt: \r\n\x04>")
            c.send(b"\x02")
            c.sync()
        c.close()
        assert b.boots == 1


def test_ctrl_c_while_booting_stops_the_files_and_leaves_the_hardware(tmp_path):
    with make_badge(tmp_path / "b", main=I2C_MAIN_PY) as b:
        for n, burst in enumerate(BURSTS):
            if n:
                b.unplug()
                b.replug()
            c = Console(b.port)
            while not b.wait_repl(0.01):  # from power-on until a Ctrl-C got main.py
                c.send(burst)
            c.sync()
            assert b.boots == n + 1
            c.send(b"import machine; machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)).scan()\r")
            assert b"\r\n[24]\r\n>>> " in c.expect(b">>> ")  # the board's LIS3DH
            c.close()
        # A host tool in the same VM (`resume`: no soft reset) finds it too.
        out = mpremote(b.port, "resume", "exec", "import machine\n"
                       "print(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)).scan())")
        assert out.strip() == "[24]"
        assert b.boots == 2


def test_ctrl_c_that_came_while_booting_stops_boot_py(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "boot.py").write_text("import time\nwhile True:\n    time.sleep_ms(10)\n")
    (folder / "main.py").write_text(MAIN_PY)
    with VirtualBadge(folder) as b:
        c = Console(b.port)
        c.send(b"\x03")  # held while the VM starts, as a UART buffers it
        out = c.expect(b">>> ")
        c.close()
        assert b"KeyboardInterrupt: \r\n" in out and b"main ran" not in out  # a failed boot.py skips main.py
        assert b.boots == 1


def test_ctrl_c_in_allocating_code_leaves_a_working_heap(badge, console):
    # The VM raises KeyboardInterrupt from its signal handler; landing inside
    # the allocator it would leave the heap locked ("MemoryError: memory
    # allocation failed, heap is locked") or the VM hung.
    console.sync()
    for burst in BURSTS * 5:
        console.send(b'exec("%s\\nwhile True: x = [str(i) for i in range(50)]")\r' % GO)
        console.expect(b"go!\r\n")
        console.send(burst)
        console.expect(b"KeyboardInterrupt: \r\n")
        console.send(b"print(len([str(i) for i in range(500)]))\r")
        assert b"\r\n500\r\n>>> " in console.expect(b"500\r\n>>> ")
    assert badge.boots == 1


def test_corrupt_nvs_file_boots_with_the_hardware_and_says_so(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / ".nvs.json").write_bytes(b'{"prov": {"id": ["i32", 4')  # cut short by a power cut
    with make_badge(folder) as b:
        assert b.wait_repl(TIMEOUT)
        out = mpremote(b.port, "exec", "import machine, esp32\n"
                       "print(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)).scan())\n"
                       "n = esp32.NVS('prov')\nn.set_i32('id', 7)\nn.commit()")
        assert out.strip() == "[24]"  # the board's LIS3DH, there whatever the NVS held
        assert len(b.warnings) == 1 and "NVS" in b.warnings[0] and ".corrupt" in b.warnings[0], b.warnings
        assert "boot.py" in mpremote(b.port, "ls") and ".nvs" not in mpremote(b.port, "ls")
    assert (folder / ".nvs.json.corrupt").read_bytes() == b'{"prov": {"id": ["i32", 4'
    assert json.loads((folder / ".nvs.json").read_text()) == {"prov": {"id": ["i32", 7]}}


def test_rename_replaces_a_file_as_littlefs_does(badge):
    # What every atomic save on the pin relies on (firmware/cloudpin/store.py),
    # with names of many lengths: a rooted VfsPosix builds both paths in one
    # buffer, and whether a rename works then depends on its size.
    pairs = [("s.tmp", "s"), ("u", "v")] + [("n%d" % k, "n%d.%s" % (k, "x" * k)) for k in range(1, 40, 3)]
    mpremote(badge.port, "exec", "import os\n"
             "for a, b in %r:\n"
             "    for n, t in ((a, 'new'), (b, 'old')):\n"
             "        with open(n, 'w') as f:\n            f.write(t)\n"
             "    os.rename(a, b)\n    os.rename('/' + b, '/' + a)\n    os.rename(a, '/' + b)\n"
             "os.mkdir('d')\nos.chdir('d')\nopen('c', 'w').close()\nos.rename('c', '/e')\nos.rename('/e', '../f')" % pairs)
    for a, b in pairs:
        assert (badge.root / b).read_text() == "new" and not (badge.root / a).exists(), (a, b)
    assert (badge.root / "f").exists() and not (badge.root / "e").exists() and not (badge.root / "d" / "c").exists()


WALK = "t_ms,x,y,z\n" + "".join("%d,0.01,-0.02,%.3f\n" % (t * 10, 1 + 0.3 * (t % 50 < 25)) for t in range(400))


def test_cli_refuses_a_bad_recording_before_any_badge_starts(tmp_path):
    bad = {"binary.csv": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 40, "UTF-8"),
           "header.csv": (b"time,a,b,c\n0,0,0,1\n10,0,0,1\n", "t_ms,x,y,z"),
           "late.csv": (WALK.encode() + b"4000,0.1,oops,1\n", "late.csv:402"),
           "seconds.csv": (b"t_ms,x,y,z\n" + b"".join(b"%.2f,0,0,1\n" % (t / 100) for t in range(200)), "seconds"),
           "missing.csv": (None, "No such file")}
    for name, (data, says) in sorted(bad.items()):
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(RecordingError) as e:
            VirtualBadgeFarm(2, tmp_path / "root", recording=str(tmp_path / name))
        assert name in str(e.value) and says in str(e.value), e.value
    (tmp_path / "ok.csv").write_text(WALK)
    check_recording(tmp_path / "ok.csv")  # a good one passes
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "virtual-badge", "--root", str(root),
                           "--recording", str(tmp_path / "binary.csv")], capture_output=True, text=True, timeout=TIMEOUT)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and proc.stdout == "" and len(err.splitlines()) == 1 and "UTF-8" in err, err
    assert not root.exists()  # refused before a badge folder, a link or a VM


def test_recording_unreadable_in_the_vm_keeps_the_accelerometer_and_says_so(tmp_path):
    rec = tmp_path / "walk.csv"
    rec.write_text(WALK)
    b = make_badge(tmp_path / "b", recording=str(rec))
    (b.root / ".motion.csv").write_bytes(b"\x00\xff" * 100)  # the badge's copy, damaged before power-on
    with b:
        assert b.wait_repl(TIMEOUT)
        out = mpremote(b.port, "exec", "import machine\n"
                       "print(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)).scan())")
        assert out.strip() == "[24]"
        # once per boot (mpremote's soft reset boots it again), on the host's stderr
        assert b.warnings and all(".motion.csv" in w and "still" in w for w in b.warnings), b.warnings


def test_second_farm_on_the_same_root_is_refused_and_leaves_the_first_alone(tmp_path):
    link = tmp_path / "badge-1.tty"
    with VirtualBadgeFarm(1, tmp_path) as farm:
        assert farm[0].wait_repl(TIMEOUT)
        port = farm.ports[0]
        proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "virtual-badge", "--root", str(tmp_path)],
                              capture_output=True, text=True, timeout=TIMEOUT)
        err = proc.stderr.strip()
        assert proc.returncode == 2 and proc.stdout == "", err
        assert "in use" in err and "pid %d" % os.getpid() in err and len(err.splitlines()) == 1, err
        with pytest.raises(RootInUse):
            VirtualBadgeFarm(2, tmp_path)
        assert os.readlink(link) == port and not (tmp_path / "badge-2").exists()
        assert mpremote(port, "exec", "print(6 * 7)").strip() == "42"
    with VirtualBadgeFarm(1, tmp_path) as again:  # free once the first has stopped
        assert os.readlink(link) == again.ports[0]


# A real VfsLfs2 (the port's own LittleFS, default settings) in a VM, on a RAM
# block device of `blocks` blocks, holding files of the given sizes: the
# blocks its statvfs says are used.
_LFS_USED = """
import os, vfs
class Dev:
    def __init__(s, n):
        s.n = n
        s.d = bytearray(4096 * n)
    def readblocks(s, n, buf, off=0):
        o = n * 4096 + off
        buf[:] = s.d[o:o + len(buf)]
    def writeblocks(s, n, buf, off=0):
        o = n * 4096 + off
        s.d[o:o + len(buf)] = buf
    def ioctl(s, op, arg):
        if op == 4:
            return s.n
        if op == 5:
            return 4096
        if op == 6:
            s.d[arg * 4096:(arg + 1) * 4096] = b"\\xff" * 4096
        return 0
d = Dev(%d)
vfs.VfsLfs2.mkfs(d)
vfs.mount(vfs.VfsLfs2(d), "/l")
for p, z in %r:
    if z is None:
        os.mkdir("/l" + p)
    else:
        with open("/l" + p, "wb") as f:
            f.write(b"x" * z)
st = os.statvfs("/l")
print(st[2] - st[3])
"""


def lfs_used(blocks, tree):
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=%d" % (blocks * 4096 + (1 << 20)), "-c",
                           _LFS_USED % (blocks, tree)], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return int(proc.stdout)


def badge_tree(root):
    """(badge path, size or None for a folder) of what a badge's filesystem holds."""
    tree = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0].startswith(NOT_ON_FS):
            continue
        tree.append(("/" + rel.as_posix(), None if p.is_dir() else p.stat().st_size))
    return tree


def test_filesystem_is_the_boards_vfs_partition_not_the_hosts_disk(badge):
    (badge.root / "big.bin").write_bytes(b"x" * 20000)
    (badge.root / "d").mkdir()
    (badge.root / "d" / "log.txt").write_bytes(b"y" * 300)
    (badge.root / ".nvs.json").write_bytes(b"{}" + b" " * 9000)  # the NVS partition, elsewhere on a pin
    pkg = badge.root / "cloudpin"
    pkg.mkdir()
    for name in ("__init__.py", "log.py", "selftest.py"):
        (pkg / name).write_bytes((REPO / "firmware" / "cloudpin" / name).read_bytes())
    out = mpremote(badge.port, "exec", "import os\nfrom cloudpin import selftest\n"
                   "print(os.statvfs('/'))\nprint(os.statvfs('/d'))\nprint(selftest._storage('t.tmp')['detail'])")
    st, st_d, detail = out.strip().splitlines()
    st = ast.literal_eval(st)
    assert ast.literal_eval(st_d) == st
    assert st[:3] == (4096, 4096, 512) and st[4] == st[3] and st[5:] == (0, 0, 0, 0, 255), st  # 2 MB of 4 MB
    used = lfs_used(512, badge_tree(badge.root))
    assert abs((512 - st[3]) - used) <= 2, (512 - st[3], used)
    assert detail.strip() == "%d KB free of 2048 KB" % (st[3] * 4)


# A module that measures the heap when imported and when measure() is
# called: what gc.mem_free() says, into heap.txt, once a block of the size
# given in place of %d was had (else MemoryError). Run as a precompiled
# .mpy: the compiler's garbage under what a source probe keeps would be
# measured with it.
HEAP_PROBE = """import gc
def measure():
    gc.collect()
    f = gc.mem_free()
    b = bytearray(%d)
    b = None
    print('HEAP', f)
    with open('heap.txt', 'a') as h:
        h.write('%%d\\n' %% f)
measure()
"""


def test_the_firmware_gets_the_pins_heap_whatever_the_folders_path(tmp_path):
    # The boot shim's ballast (host_tools/vbadge/boot_shim.py): the firmware
    # finds its share free in one block, from a short path or a long one, at
    # boot, at the REPL after main.py (the same VM) and at the REPL after a
    # soft reset (mpremote's: boot.py only), and never much more than its
    # share: the shim's code lies under the share and is kept, its
    # filesystem's garbage is collected before a file's code is made. The
    # chip's qstr pools for the firmware's names are held from it
    # (cpsim/resident.py, docs/heap.md).
    from host_tools.demo import vm_arch
    from host_tools.emulator.cpsim.resident import BADGE_QSTR_POOL_BYTES, RUNTIME_BYTES
    from host_tools.fw.vm import firmware_heap_in_vm
    from host_tools.images import fsimage

    share = firmware_heap_in_vm() + RUNTIME_BYTES - BADGE_QSTR_POOL_BYTES
    src = tmp_path / "heapprobe.py"
    src.write_text(HEAP_PROBE % (share - 4096))
    mpy = fsimage.compile_module(src, "heapprobe.py", vm_arch(micropython_binary()) or fsimage.BYTECODE)
    seen = []
    for folder in (tmp_path / "a", tmp_path / ("long-" + "x" * 60) / "b"):
        b = make_badge(folder, main="import heapprobe\n")
        (folder / "heapprobe.mpy").write_bytes(mpy)
        with b:
            assert b.wait_repl(TIMEOUT)
            mpremote(b.port, "resume", "exec", "heapprobe.measure()")  # after main.py
            mpremote(b.port, "exec", "import heapprobe")  # after a soft reset
        got = [int(n) for n in (folder / "heap.txt").read_text().split()]
        # One block of the share less 4 KB (the probe got it, three times):
        # what boot.py, main.py, the probe, the REPL and the emulator's
        # run-time state keep comes out of it, and the garbage left under what
        # they keep (about 2.5 KB here). At most the share and 1 KB free: the
        # few blocks the ballast cannot fill and the shim's frame, freed when
        # it returns (~0.5 KB).
        assert len(got) == 3 and all(f <= share + 1024 for f in got), (got, share)
        seen.append(got[0])
    assert abs(seen[0] - seen[1]) <= 512, seen


def test_a_romfs_image_in_the_folder_is_mounted_at_rom_outside_the_firmwares_share(tmp_path):
    # The badge folder's .romfs (boot_shim.ROMFS_NAME: the pin's romfs
    # partition, `make demo` writes the package there) is mounted at /rom as
    # the port does at start: "/rom" and "/rom/lib" on sys.path after "" and
    # ".frozen", before "/lib"; a module imports from it in place; the file is
    # not on the badge's filesystem (the root lists the mount point first, as
    # micropython extmod/vfs.c lists mounts before the root's own files); its
    # bytes (60 KB of data here) are not taken from the firmware's share.
    from host_tools.demo import vm_arch
    from host_tools.emulator.cpsim.resident import BADGE_QSTR_POOL_BYTES, RUNTIME_BYTES
    from host_tools.fw.vm import firmware_heap_in_vm
    from host_tools.images import fsimage, romfs
    from host_tools.vbadge.boot_shim import ROMFS_NAME

    src = tmp_path / "greet.py"
    src.write_text("def line():\n    return 'hello from rom'\n")
    mpy = fsimage.compile_module(src, "pkg/greet.py", vm_arch(micropython_binary()) or fsimage.BYTECODE)
    image = romfs.build({"/pkg/__init__.py": b"", "/pkg/greet.mpy": mpy, "/data.bin": bytes(60000)})
    probe = ("import gc, os, sys\nfrom pkg import greet\nprint('ROM', greet.line(), greet.__file__)\n"
             "print('PATH', sys.path[:5])\nprint('LS', sorted(os.listdir('/')))\n"
             "gc.collect()\nprint('HEAP', gc.mem_free())\n")
    folder = tmp_path / "badge"
    folder.mkdir()
    (folder / ROMFS_NAME).write_bytes(image)
    with make_badge(folder, main=probe) as b:
        assert b.wait_repl(TIMEOUT)
        out = mpremote(b.port, "exec", probe)
    assert "ROM hello from rom /rom/pkg/greet.mpy" in out, out
    assert "PATH ['', '.frozen', '/rom', '/rom/lib', '/lib']" in out, out
    assert "LS ['boot.py', 'boots.txt', 'main.py', 'rom']" in out, out
    share = firmware_heap_in_vm() + RUNTIME_BYTES - BADGE_QSTR_POOL_BYTES
    free = int(out.split("HEAP ")[1].split()[0])
    assert share - 4096 <= free <= share + 4096, (free, share)


def test_an_erased_romfs_mounts_nothing_and_says_nothing(tmp_path):
    # An erased partition (0xFF, no RM1 header) is no ROMFS: the port's mount
    # at start fails silently (micropython extmod/vfs.c swallows the error).
    from host_tools.vbadge.boot_shim import ROMFS_NAME

    probe = "import sys\nprint('PATH', sys.path[:3])\n"
    folder = tmp_path / "badge"
    folder.mkdir()
    (folder / ROMFS_NAME).write_bytes(b"\xff" * 8192)
    with make_badge(folder, main=probe) as b:
        assert b.wait_repl(TIMEOUT)
        console = Console(b.port)
        try:
            console.send(b"\x04")  # a soft reset: the boot shows the whole boot's output again
            got = console.expect(b"PATH ['', '.frozen', '/lib']")
        finally:
            console.close()
    assert b"Traceback" not in got and b"Error" not in got, got

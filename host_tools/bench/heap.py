"""Heap budget of the whole app (docs/heap.md), measured in the MicroPython VM.
Numbers are the VM's bytes (64-bit words: the pin's 100 KB heap is 200 KB
here, host_tools/fw/vm.py) unless they say esp32.

  modules   what importing each firmware module the app loads keeps on the
            heap, in the order the app loads them: in place from the
            package's ROMFS image at /rom (rom: as the pin runs it), as .mpy
            files on the filesystem (mpy, bytecode) and as source (.py:
            also the compiler's garbage, the peak an import needs); and the
            .mpy's size for the ESP32 (-march=xtensawin), a floor for its
            share of the chip's heap when it is loaded from the filesystem.
  romfs_image the package's ROMFS image, for the VM's CPU and the ESP32.
  services  what App builds, service by service (App's mark hook): the first
            pin of a VM pays for its code and its data, a second pin in the
            same VM for its data alone.
  (phases and one_pin run the package from its ROMFS image at /rom, as a pin
  with a romfs partition does: host_tools/images/romfs.py)
  phases    two whole apps and a phone on simulated time: the VM's heap in
            use and its largest free block after boot, after the tap that
            made them friends, after a friend-update window, while the
            phone reads the friend list, and after it left.
  one_pin   the whole app on exactly one pin's share with the chip's qstr
            pools charged (cpsim.resident.pad_qstrs), without and with the
            Tokyo pack, and on the M5StickC Plus with it (its parts fitted,
            its display's buffers charged as on the chip): free heap after
            boot and after each part of it (free_after), the least while a
            tap makes a friend (sampled every 20 ms while the pin is awake; a
            second pin built after it, the VM cut to what two chips would
            have), after it; whether the designs came on; with a display,
            the most a redraw of a new card allocates.
            The modules table has the M5StickC Plus's own modules too ("only").
  chip_qstrs the names the app interns on the chip (its .mpy files for the
            ESP32, less the ROM's) at boot, with the designs, after a phone
            session, and the qstr pools they take.
  badges    `cloudpin demo`'s two virtual badges, each VM giving the firmware
            exactly the pin's share: what the firmware has free at boot
            and after the tap (its status lines), and whether they became
            friends. --no-badges skips it (30 s).
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO
from host_tools.bench import emit
from host_tools.bench.steps import BenchError
from host_tools.fw import vm
from host_tools.images import romfs

FW_TESTS = REPO / "tests" / "fw"  # appkit: a pin as the desk leaves it, the owner's phone
PHONE_SIDE = ("cloudpin.phone.phoneside",)  # the phone's code in the phases run: no pin loads it

# The package's ROMFS image (rom_image()), mounted at /rom as the pin's port
# mounts its romfs partition (host_tools/images/romfs.py); read before a run
# cuts the pins' shares, outside them.
ROM_FILE = "fw.romfs"
_MOUNT_ROM = romfs.vm_mount_source(ROM_FILE)

_BIG = """
import gc, sys

def big():
    # the largest block the heap can give now (fragmentation)
    lo, hi = 0, gc.mem_free()
    while hi - lo > 256:
        m = (lo + hi) // 2
        try:
            b = bytearray(m)
        except MemoryError:
            hi = m
        else:
            b = None
            lo = m
    return lo

def mark(tag):
    gc.collect()
    print("MARK %s %d %d" % (tag, gc.mem_alloc(), big()))
"""

_PHASES = _BIG + """
import asyncio, os
from cpsim import resident, simtime
simtime.install()
resident.load_all(sim=True, every_board=True)
from cpsim.world import World
w = World()
gc.collect()
mark("emulator")
from appkit import app_pin, pair_key, phone_device, phone_reads_friends, start_and_tap
T0 = 1796000010
root = os.getcwd()

def svc(pin):
    def m(name):
        gc.collect()
        print("SVC %s %s %d" % (pin, name, gc.mem_alloc()))
    return m

gc.collect()
print("SVC a start %d" % gc.mem_alloc())
da, a, la = app_pin(w, root, "pa", 1, T0, card=True, status_every_ms=600000, mark=svc("a"))
gc.collect()
print("SVC b start %d" % gc.mem_alloc())
db, b, lb = app_pin(w, root, "pb", 2, T0, card=True, status_every_ms=600000, mark=svc("b"))
dp, phone = phone_device(w, (da, db))
w.radio.set_distance(da, db, 0.02)
mark("boot")
start_and_tap(w, ((da, a), (db, b)))
w.run_for(20000)  # the tap at 3 s, the friendship, the window for the clock after it (social/updates.py)
assert a.friends.count == 1 and b.friends.count == 1, (la, lb)
mark("tap")
first = (T0 // 300 + 1) * 300  # the first friend-update window (social/updates.py)
w.run_for((first - T0) * 1000 + 3000 - 20000)
assert a.updates.stored and b.updates.stored, (la, lb)
mark("update")
w.use(da)
a.phone.open()
got = []
w.start(dp, phone_reads_friends(phone, a, pair_key(1), got, lambda: mark("phone")))
w.run_for(4000)  # the session (~2 s) and into the beacon the role keeps LINGER_S after it: the phone modules still loaded
assert len(got) == 1 and got[0][2] == 0, got
mark("phone_gone")
os.chdir(root)
print("ORDER " + " ".join(k for k in sys.modules if k.startswith("cloudpin")))
"""

_MODULES = _BIG + """
from cpsim import resident
resident.load_all(sim=True, every_board=True)
resident.pad_qstrs()  # no module pays for a pool the emulator's names filled (docs/heap.md)
for m in ORDER:
    gc.collect()
    a = gc.mem_alloc()
    __import__(m)
    peak = gc.mem_alloc() - a
    gc.collect()
    print("MOD %s %d %d" % (m, gc.mem_alloc() - a, peak))
"""


def _source(module):
    rel = module.replace(".", "/")
    src = FIRMWARE_DIR / (rel + ".py")
    return (src, rel + ".py") if src.exists() else (FIRMWARE_DIR / rel / "__init__.py", rel + "/__init__.py")


def load_order(modules):
    """`modules` with each one's module-level imports (those among them)
    before it, so that importing them in turn costs each one alone."""
    import ast

    names = set(modules)
    deps = {}
    for m in modules:
        found = set()
        for node in ast.parse(_source(m)[0].read_text()).body:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(node.module + "." + a.name for a in node.names)
        deps[m] = sorted((found & names) - {m})
    order, seen = [], set()

    def visit(m):
        if m not in seen:
            seen.add(m)
            for d in deps[m]:
                visit(d)
            order.append(m)

    for m in sorted(modules):
        visit(m)
    return order


def _parse(out, kind):
    return [line.split()[1:] for line in out.splitlines() if line.startswith(kind + " ")]


def _mpy_tree(dest):
    """The firmware's packages compiled as deploy compiles them (the VM's
    -march, so its @native code loads here)."""
    from host_tools.demo import install_firmware, vm_arch

    install_firmware(FIRMWARE_DIR, dest, None, vm_arch(vm.micropython_binary(BenchError)), romfs=False)
    return dest


def _phases(image):
    exe = vm.micropython_binary(BenchError)
    # as tests/conftest.py gives a test of three pins: the emulator and three pins' heaps
    heap = str(int(vm.vm_heap(exe, "from cpsim import resident\nresident.load_all(sim=True, every_board=True)"))
               + 2 * vm.firmware_heap_in_vm() + len(image))
    return vm.run_script(_MOUNT_ROM + _PHASES, {ROM_FILE: image}, BenchError, what="heap phases", heap=heap,
                         path=[FW_TESTS, vm.emulator_dir()])


def _modules(order, path=None, image=None):
    """{module: (kept, peak)}: from the folder `path`, or in place from the ROMFS `image`."""
    code = "ORDER = %r\n" % (order,) + (_MOUNT_ROM if image is not None else "") + _MODULES
    out = vm.run_script(code, {ROM_FILE: image} if image is not None else None, BenchError, what="heap modules",
                        heap="4m", path=([path] if path is not None else []) + [vm.emulator_dir()])
    return {m: (int(kept), int(peak)) for m, kept, peak in _parse(out, "MOD")}


def _esp32_mpy_bytes(module):
    from host_tools.images.fsimage import compile_module

    src, rel = _source(module)
    return len(compile_module(src, rel, "xtensawin"))


def _services(out):
    rows = {}
    for pin, name, alloc in _parse(out, "SVC"):
        rows.setdefault(pin, []).append((name, int(alloc)))
    table = {}
    for pin, marks in rows.items():
        prev = marks[0][1]
        for name, alloc in marks[1:]:
            table.setdefault(name, {})["pin_" + pin] = alloc - prev
            prev = alloc
    return table


def _badges(seconds=20, tap_at=5):
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--seconds", str(seconds),
                           "--tap-at", str(tap_at)], cwd=REPO, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise BenchError("demo failed: " + proc.stderr[-1000:])
    out = {}
    for name in ("badge-1", "badge-2"):
        mine = [line for line in proc.stdout.splitlines() if line.startswith(name + " | ")]
        free = [int(m.group(1)) for m in (re.search(r" status .*mem_free=(\d+)", line) for line in mine) if m]
        out[name] = {"free_at_boot": free[0] if free else None, "least_free_after": min(free[1:]) if free[1:] else None,
                     "friends_made": sum(" meet friend " in line for line in mine),
                     "memory_errors": sum("MemoryError" in line for line in mine)}
    out["firmware_share"] = vm.firmware_heap_in_vm()
    return out


# --- the names the app interns on the chip (docs/heap.md "The qstr pools") ---
ESP32_ROM_NAMES = Path(__file__).with_name("esp32_rom_names.txt")
# Loaded and dropped at boot (cloudpin.app._drop_boot_modules): its names stay.
BOOT_ONLY = ("cloudpin.boardspec",)
DESIGNS = ("cloudpin.designs", "cloudpin.designs.pack", "cloudpin.designs.engine", "cloudpin.designs.service")
DISPLAY_DESIGNS = ("cloudpin.designs.draw", "cloudpin.designs.packinfo")  # packinfo read and dropped: its names stay
PHONE_SESSION = ("cloudpin.phone.protocol", "cloudpin.phone.service", "cloudpin.phone.backend")  # phone/ids.py
_ROM_PROBE = """
import micropython
f = open("names.txt")
names = [ln[:-1] for ln in f]
f.close()
micropython.qstr_info()
for nm in names:
    getattr(None, nm, None)
    micropython.qstr_info()
"""


def mpy_names(data):
    """The names a .mpy file's qstr table interns when it is loaded (micropython
    py/persistentcode.c load_qstr; the static ones are in ROM, left out)."""
    def uint(i):
        n = 0
        while True:
            b = data[i]
            i += 1
            n = (n << 7) | (b & 0x7F)
            if not b & 0x80:
                return n, i

    if data[:2] != b"M\x06":
        raise BenchError("not a version 6 .mpy file")
    i = 4
    if data[2] & 0x40:  # architecture flags follow the header
        i = uint(i)[1]
    n_qstr, i = uint(i)
    i = uint(i)[1]  # the objects' count
    names = set()
    for _ in range(n_qstr):
        ln, i = uint(i)
        if not ln & 1:
            names.add(bytes(data[i:i + (ln >> 1)]).decode())
            i += (ln >> 1) + 1  # and its NUL
    return names


def _unix_rom(names):
    """Those of `names` the VM's unix port has in ROM: interning them adds no qstr."""
    names = sorted(names)
    out = vm.run_script(_ROM_PROBE, {"names.txt": "".join(n + "\n" for n in names).encode()}, BenchError,
                        what="qstr ROM probe", path=[], heap="8m")
    counts = [int(re.search(r"n_qstr=(\d+)", ln).group(1)) for ln in out.splitlines() if ln.startswith("qstr pool")]
    return {n for n, a, b in zip(names, counts, counts[1:]) if a == b}


def _esp32_rom():
    return {ln.strip() for ln in ESP32_ROM_NAMES.read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def _module_names(modules):
    """{module: the names its .mpy for the ESP32 interns}."""
    from host_tools.images.fsimage import compile_module

    return {m: mpy_names(compile_module(*_source(m), "xtensawin")) for m in modules}


def chip_names(modules):
    """The names the modules (their .mpy for the ESP32) intern on a chip: not
    in its ROM (the unix port's ROM, tested in the VM, for the core the two
    share; ESP32_ROM_NAMES for the ESP32's own modules)."""
    names = set().union(*_module_names(modules).values()) - _esp32_rom()
    return names - _unix_rom(names)


def chip_pools(n):
    """The entries of the qstr pools a chip holds for n interned names (20, 40, ...)."""
    pools, size = [], 20
    while sum(pools) < n:
        pools.append(size)
        size *= 2
    return pools


def qstrs(app_modules, designs=DESIGNS):
    """How many names the app interns on the chip at boot (its modules as the
    one_pin run loaded them, less the designs', and the boot's own), with the
    designs (`designs`: their modules), and after a phone session; and the
    pools that takes."""
    at_boot = (set(app_modules) - set(designs[1:])) | set(BOOT_ONLY)
    cases = {"boot": at_boot, "boot_with_designs": at_boot | set(designs),
             "phone_session": at_boot | set(PHONE_SESSION), "phone_session_with_designs": at_boot | set(designs + PHONE_SESSION)}
    per = _module_names(sorted(set().union(*cases.values())))
    every = set().union(*per.values()) - _esp32_rom()
    interned = every - _unix_rom(every)
    out = {}
    for k, mods in cases.items():
        n = len(set().union(*(per[m] for m in mods)) & interned)
        pools = chip_pools(n)
        out[k] = {"names": n, "pool_entries": sum(pools), "esp32_pool_bytes": sum(24 + 7 * e for e in pools)}
    return out

_ONE_PIN_PROBE = "from cpsim import resident\nresident.load_all(sim=True, every_board=True)\n" \
         "from cpsim.world import World\nw = World()\nresident.pad_qstrs()"

_ONE_PIN = r'''
import gc, os
gc.threshold(4096)  # the emulator packed low, as a virtual badge's boot shim loads it
from cpsim import resident, simtime
simtime.install()
resident.load_all(sim=True, every_board=True)
from cpsim.world import World
w = World()
resident.pad_qstrs()
''' + _MOUNT_ROM + r'''
import sys
data = None  # the pack file's bytes, for app_pin to write on each pin's flash: held outside the shares
if PACK:
    with open("pack.bin", "rb") as f:
        data = f.read()
board = None  # the test board of appkit (the reference board's services, no parts fitted)
devs = {"pa": None, "pb": None}
if BOARD:
    # A board file's parts on both pins (cpsim.boardfit, as a virtual badge
    # fits them), made before the shares: the models are the chip's hardware.
    # The display's memory is a file (no VM heap, as the glass costs none).
    import json
    from cpsim import boardfit
    with open("board.json") as f:
        board = json.load(f)
    for name in devs:
        devs[name] = w.device(name)
        boardfit.fit(devs[name], board, display_path="lcd-%s.bin" % name)


class Sink:
    def blit(self, buf, x, y, w, h):
        pass


def raw(app):
    # The display's buffers: bytes in the VM as on the chip, where the share
    # is the chip's heap doubled (objects are words): held once more, so that
    # they cost the share twice their size as on the chip.
    n = 0
    d = app.hw.display
    if d is not None and app.designs is None:
        n += d.lcd.width * 12 * 2  # the status screen's line (cloudpin.statusscreen.LINE_H rows), made at its first refresh
    cv = getattr(app.designs, "_canvas", None)
    if cv is not None:
        n += len(cv._band)
    return n


gc.collect()
# The chip's qstr pools for the firmware's names at boot, then exactly the
# pin's share free: the rest of the heap is held; a second share is held for
# pin B. With the designs' names the chip makes its next pool as they load
# (docs/heap.md "The qstr pools"): that one is held when they have loaded
# (held before, it would be charged twice: the designs' heap check counts it).
pools = resident.CHIP_QSTR_POOL_BYTES
held = [bytearray(pools), bytearray(SHARE), None]
gc.collect()
held[2] = bytearray(gc.mem_free() - SHARE + pools)
gc.threshold(-1)  # the port's default, as the firmware finds it on a chip
gc.collect()
print("SHARE", gc.mem_free())
from appkit import app_pin, start_and_tap
from cloudpin import bus as topics
T0 = 1796000010
root = os.getcwd()
if PACK:
    import cloudpin.designs as designs_pkg

    def for_app(app, hw, log, path, real=designs_pkg.for_app):
        svc = real(app, hw, log, path)
        if svc is not None:
            held.append(bytearray(resident.CHIP_QSTR_POOL_MORE_BYTES))
        return svc

    designs_pkg.for_app = for_app


def mark(tag):
    if MARKS:
        gc.collect()
        print("MARK", tag, gc.mem_free())


da, a, la = app_pin(w, root, "pa", 1, T0, card=True, pack=data, status_every_ms=600000, board=board, dev=devs["pa"],
                    mark=mark)
os.chdir(root)
if a.designs is None:
    data = None
print("RAW", raw(a))
held.append(bytearray(raw(a)))
gc.collect()
free_a = gc.mem_free()
print("BOOT", free_a)
print("DESIGNS", a.designs is not None)
print("FROM", sys.modules["cloudpin.app"].__file__)
print("MODULES", " ".join(k for k in sys.modules if k.startswith("cloudpin")))
held[1] = None
gc.collect()
db, b, lb = app_pin(w, root, "pb", 2, T0, card=True, pack=data, status_every_ms=600000, board=board, dev=devs["pb"])
os.chdir(root)
held.append(bytearray(raw(b)))
gc.collect()
held[1] = bytearray(gc.mem_free() - 2 * free_a)  # what two chips would have free, no more
gc.collect()
print("TWO", gc.mem_free())
w.radio.set_distance(da, db, 0.02)
made = []
for app in (a, b):
    app.bus.subscribe(topics.FRIEND, lambda slot, t, app=app: made.append(app.badge))
low = [gc.mem_free(), 0]  # the least free seen, the samples taken

async def sample():  # every 20 ms of the run, allocating nothing
    import asyncio
    while True:
        m = gc.mem_free()
        if m < low[0]:
            low[0] = m
        low[1] += 1
        await asyncio.sleep_ms(20)

w.start(da, sample())
start_and_tap(w, ((da, a), (db, b)))
w.run_for(7000)
print("LEAST", low[0])
print("SAMPLES", low[1])
os.chdir(root)
gc.collect()
print("AFTER", gc.mem_free())
print("MADE", len(made))
print("UNLOCKED", " ".join(a.designs.engine.pack.ids[i] for i in a.designs.engine.order) if a.designs else "-")
cv = getattr(a.designs, "_canvas", None)
if cv is not None:
    # A redraw of each card in turn, none among the last two read (what a new
    # card costs: its records and a file object), with nothing collected
    # meanwhile: the most one allocates.
    svc = a.designs
    e = svc.engine
    lcd = Sink()  # the firmware's allocations alone: the emulated glass is the chip's LCD
    worst = 0
    for i in range(e.pack.count):
        gc.collect()
        f0 = gc.mem_free()
        gc.disable()
        cur, n = e.progress(i)
        cv.card(e.pack, i, e.got[i], cur, n, len(e.order), (i + 1) % e.pack.count, 0, 1)
        cv.push(lcd, svc._palette)
        used = f0 - gc.mem_free()
        gc.enable()
        worst = max(worst, used)
    print("REDRAW", worst)
# Then the owner's double tap opens the phone window: its service loads if
# the heap has the room a session needs (cloudpin.phone.role), else it stays
# shut, logged (no phone connects here: tests/test_phone_e2e.py serves one).
# Pin B's half of the free heap held first (in pieces: it is not one block),
# so that the check sees pin A's alone. Pieces of 256 bytes at least: holes
# smaller than that stay free (a little more than half), else no small
# allocation of pin A's could be served anywhere, which no pin's heap is like
# (the emulator's own light sleep allocates in the share: it failed there).
print("B_FED", len(lb))  # pin B's lines before its half is held (starved after: the harness's doing)
gc.collect()
goal = gc.mem_free() // 2
piece = 1024
while gc.mem_free() - goal >= 256 and piece >= 256:
    try:
        held.append(bytearray(min(piece, gc.mem_free() - goal - 128)))
    except MemoryError:  # what is left lies in smaller holes
        piece //= 2
w.use(da)
a.phone.open()
w.run_for(1500)
gc.collect()
print("PHONE", a.phone.service is not None)
for ln in la:
    print("A", ln)
for ln in lb:
    print("B", ln)
'''


M5 = "m5stickc_plus"
# (key, the Tokyo pack, board) of the one_pin runs: the reference board's
# services with no parts fitted (appkit), and the M5StickC Plus with its
# parts (the accelerometer read in software, the AXP192, the ST7789).
ONE_PIN_RUNS = (("without_pack", False, None), ("with_pack", True, None), (M5 + "_with_pack", True, M5))


def rom_image():
    """The firmware package's ROMFS image for the VM's CPU (its @native code
    loads here), as a pin runs it in place from its romfs partition."""
    from host_tools.demo import vm_arch

    return romfs.build_package(vm_arch(vm.micropython_binary(BenchError)))


def one_pin(path, pack, image=None, board=None, marks=False):
    """The run above: the package from its ROMFS `image` (rom_image() if None)
    mounted at /rom; `path` a scratch folder for the harness's .mpy; pack: the
    Tokyo pack on the pins; board: a board file's name (boards/NAME.json)
    whose parts both pins carry (None: appkit's, the reference board's
    services with no parts fitted). A dict of what the firmware had free (the
    VM's bytes), the friends made, the first pin's unlocks, and both pins'
    log lines; with a display, what a redraw allocates at most (a card not
    read before) and the least free in it, after the tap."""
    from host_tools.designs import DEFAULT_PACK, compile_pack
    from host_tools.emulator.cpsim import resident
    from host_tools.images.fsimage import BYTECODE, compile_module

    exe = vm.micropython_binary(BenchError)
    image = image if image is not None else rom_image()
    share = vm.firmware_heap_in_vm() + resident.RUNTIME_BYTES
    # with a board: its parts' models, two pins' (the chip's hardware: outside the shares)
    heap = str(int(vm.vm_heap(exe, _ONE_PIN_PROBE)) + 2 * share + len(image) + 1024 + (98304 if board else 0))
    files = {"pack.bin": compile_pack(DEFAULT_PACK), ROM_FILE: image}
    if board is not None:
        files["board.json"] = (REPO / "boards" / (board + ".json")).read_bytes()
    # the harness's code is charged to the pin: as .mpy, as the firmware, not compiled in its heap
    harness = Path(path) / "harness"
    harness.mkdir(parents=True, exist_ok=True)
    (harness / "appkit.mpy").write_bytes(compile_module(FW_TESTS / "appkit.py", "appkit.py", BYTECODE))
    out = vm.run_script("SHARE = %d\nPACK = %r\nBOARD = %r\nMARKS = %r\n" % (share, pack, board is not None, marks) + _ONE_PIN,
                        files, BenchError,
                        what="one pin's share", heap=heap, path=[harness, vm.emulator_dir()], timeout=300)
    vals = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        vals.setdefault(k, []).append(v)
    # the chip's pools at boot, and the next one once the designs' names are interned (held when they load)
    charge = resident.CHIP_QSTR_POOL_BYTES + (resident.CHIP_QSTR_POOL_MORE_BYTES if vals["DESIGNS"] == ["True"] else 0)
    return {"share": int(vals["SHARE"][0]), "qstr_charge": charge,
            "free_after_boot": int(vals["BOOT"][0]), "designs": vals["DESIGNS"] == ["True"],
            # two pins given twice the first one's free heap, sharing the code: half is a pin's
            "least_free_in_tap_per_pin": int(vals["LEAST"][0]) // 2, "samples": int(vals["SAMPLES"][0]),
            "free_after_tap_per_pin": int(vals["AFTER"][0]) // 2, "friends_made": int(vals["MADE"][0]),
            "board": board or "appkit", "display_bytes_charged_again": int(vals["RAW"][0]),
            "redraw_alloc_max": int(vals["REDRAW"][0]) if "REDRAW" in vals else None,
            # the phone window opened after the tap: its service loaded? (the role's log line says why not)
            "phone_window_loads": vals["PHONE"][0].split()[0] == "True",
            "phone_log": [ln for ln in vals.get("A", []) if " phone " in ln],
            # with marks: free after each part of the first pin's boot (App's mark hook), in order
            "free_after": [(t, int(f)) for t, f in (v.split() for v in vals.get("MARK", []))],
            "unlocked": vals["UNLOCKED"][0].split() if vals["UNLOCKED"] != ["-"] else [],
            "modules": vals["MODULES"][0].split(), "app_from": vals["FROM"][0],
            "lines_a": vals.get("A", []), "lines_b": vals.get("B", []),
            # pin B runs on while the phone check holds its half of the heap:
            # what it logs from then on is the harness's starving, not the firmware's
            "lines_b_fed": int(vals["B_FED"][0])}


def measure(badges=True, progress=None):
    say = progress or (lambda m: None)
    with tempfile.TemporaryDirectory(prefix="cloudpin-heap-") as tmp:
        tree = _mpy_tree(Path(tmp) / "fw")
        image = rom_image()
        say("heap: two whole apps and a phone on simulated time...")
        out = _phases(image)
        phases = {tag: {"in_use": int(alloc), "largest_free": int(big)} for tag, alloc, big in _parse(out, "MARK")}
        loaded = [line[len("ORDER "):].split() for line in out.splitlines() if line.startswith("ORDER ")][0]
        say("heap: the app on one pin's share, without and with the designs' pack, and on the %s..." % M5)
        runs = {k: one_pin(tmp, pack, image, board, marks=True) for k, pack, board in ONE_PIN_RUNS}
        alone = {k: {n: v for n, v in r.items() if not n.startswith("lines_") and n != "modules"} for k, r in runs.items()}
        # the designs' modules (the phases run has no pack), and the M5StickC Plus's own: its parts' drivers, the drawing
        ref = set(loaded) | set(runs["with_pack"]["modules"])
        m5 = [m for m in runs[M5 + "_with_pack"]["modules"] if m not in ref]
        order = load_order(sorted(ref | set(m5)))
        say("heap: module by module, .mpy and source...")
        rom = _modules(order, image=image)
        mpy = _modules(order, tree)
        src = _modules(order, FIRMWARE_DIR)
        say("heap: the names the app interns on the chip...")
        names = qstrs(runs["without_pack"]["modules"])
        names.update({M5 + "_" + k: v for k, v in qstrs(runs[M5 + "_with_pack"]["modules"], DESIGNS + DISPLAY_DESIGNS).items()})
    modules = {m: {"rom": rom[m][0], "mpy": mpy[m][0], "py": src.get(m, (None,))[0], "py_peak": src.get(m, (None, None))[1],
                   "esp32_mpy_file": _esp32_mpy_bytes(m), "only": M5 if m in m5 else None}
               for m in order if m in mpy and m not in PHONE_SIDE}
    result = {"unit": "VM bytes (64-bit; the pin's heap is %d here) unless esp32" % vm.firmware_heap_in_vm(),
              "modules": modules,
              # the app as the phases run loads it (no pack, the reference board's services)
              "modules_total": {k: sum(v[k] for m, v in modules.items() if m in loaded)
                                for k in ("rom", "mpy", "py", "esp32_mpy_file")},
              "romfs_image": {"vm": len(image), "esp32": len(romfs.build_package("xtensawin"))},
              "services": _services(out), "phases": phases, "one_pin": alone, "chip_qstrs": names}
    if badges:
        say("heap: the demo's two virtual badges...")
        result["badges"] = _badges()
    return result


def add_arguments(parser):
    parser.add_argument("--no-badges", action="store_true", help="skip the two virtual badges (30 s)")


def run(args):
    try:
        r = measure(not args.no_badges, lambda m: print(m, file=sys.stderr))
    except BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    t = r["modules_total"]
    ph = r["phases"]
    summary = "app code %d B from /rom in place, %d as .mpy (%d as source; ESP32 .mpy files %d B); boot %d -> phone %d B in use" % (
        t["rom"], t["mpy"], t["py"], t["esp32_mpy_file"], ph["boot"]["in_use"] - ph["emulator"]["in_use"],
        ph["phone"]["in_use"] - ph["emulator"]["in_use"])
    o = r["one_pin"]["without_pack"]
    summary += "; one pin's share: %d free at boot, %d least in a tap (designs %s with the pack)" % (
        o["free_after_boot"], o["least_free_in_tap_per_pin"], "on" if r["one_pin"]["with_pack"]["designs"] else "off")
    m = r["one_pin"][M5 + "_with_pack"]
    summary += "; %s with the pack: designs %s, %d free at boot, %d least in a tap" % (
        M5, "on" if m["designs"] else "off", m["free_after_boot"], m["least_free_in_tap_per_pin"])
    if "badges" in r:
        b = r["badges"]["badge-1"]
        summary += "; demo badge free %s at boot, %s least after its friend" % (b["free_at_boot"], b["least_free_after"])
    return emit(r, summary)

"""The designs on the M5StickC Plus (a 135x240 ST7789 display, an MPU6886
read in software at every sample, an AXP192) on ONE pin's exact share (issue
10, docs/designs.md "The heap"), as tests/test_designs_one_pin.py runs the
reference board: the app as main.py starts it on a provisioned pin, its
package in place from /rom, the chip's qstr pools held, the board's parts
fitted as a virtual badge fits them (cpsim.boardfit; the display's memory a
file). The display's buffers are bytes in the VM as on the chip, where the
share is the chip's heap doubled: the run holds them once more, so that they
cost the share twice their size as on the chip.

And the designs' heap check (cloudpin.designs.for_app): its figures against
what the designs took, and that it refuses when the heap cannot hold them
(cleanly, a log line, nothing loaded) and admits when it can.
"""
import pytest
from cloudpin import designs
from cpsim import resident

from host_tools.bench import heap
from host_tools.fw import vm
from test_designs_one_pin import TAP_MARGIN, _run, designs_cost

M5 = heap.M5
WIDTH = 135  # boards/m5stickc_plus.json display.width


@pytest.fixture(scope="module")
def image():
    return heap.rom_image()


@pytest.fixture(scope="module")
def m5(tmp_path_factory, image):
    return _run((tmp_path_factory.mktemp("fw"), image), True, M5)


def test_the_m5stickc_plus_boots_its_designs_beside_meet_and_greet_and_a_tap_makes_a_friend(m5):
    r = m5
    assert r["designs"], r["lines_a"]
    assert r["friends_made"] == 2, (r["lines_a"], r["lines_b"])
    # pin B's lines until the phone check holds its half of the heap (heap.one_pin)
    lines = r["lines_a"] + r["lines_b"][:r["lines_b_fed"]]
    assert not [ln for ln in lines if "MemoryError" in ln or "crashed" in ln or "designs off" in ln], lines
    assert r["unlocked"] == ["aquatics"], (r["unlocked"], r["lines_a"])
    # its parts came up: the MPU6886 read in software, the display drawn
    assert any("accel=mpu6886" in ln and "faults=none" in ln for ln in r["lines_a"]), r["lines_a"]
    assert "cloudpin.designs.draw" in r["modules"] and "cloudpin.designs.packinfo" not in r["modules"]
    # no frame of the screen: one RGB565 band, charged twice (docs/designs.md)
    assert r["display_bytes_charged_again"] == designs.canvas_bytes(WIDTH)
    # measured 2026-12-06 (this run, with the screen policy of cloudpin.display;
    # 29,824 / 4,800 / 14,880 on main 953dab0 before it): 30,560 free after
    # boot, 5,568 the least while the tap made a friend and unlocked aquatics
    # (its card redrawn then), 15,648 after it; a redraw of a card not
    # read before allocates 4,160 at most (its records and the pack's file;
    # 960 since 2026-12-06, tests/fw/test_designs_card_records.py).
    # Before the card was drawn in bands (a 16,320-byte frame, a 4,320-byte
    # band and the status screen's 3,240-byte line kept), the check refused
    # the designs (54,240 free, 65,072 needed) and they needed ~37 KB more.
    assert r["least_free_in_tap_per_pin"] >= TAP_MARGIN, r["least_free_in_tap_per_pin"]
    assert r["free_after_boot"] - r["redraw_alloc_max"] >= 16384, r
    assert r["free_after_tap_per_pin"] - r["redraw_alloc_max"] >= TAP_MARGIN, r


def test_the_check_counts_what_the_designs_took_on_the_m5(m5):
    # From /rom: their code and data, the drawing's and its band (measured
    # 24,880 without the qstr pool, packinfo dropped), not much more: the
    # check counts packinfo too, which draw reads while it loads (3.9 KB).
    took = designs_cost(m5)
    counted = (designs.CODE_ROM_WORDS + designs.DRAW_ROM_WORDS) * 8 + designs.canvas_bytes(WIDTH)
    assert took <= counted < took + 3936 + 1536, (took, counted)


def test_the_check_counts_the_designs_loaded_from_files(image):
    # The same modules as .mpy files keep their bytecode on the heap: the
    # check's figures for files are those for /rom plus what each module
    # keeps more as a file (bench heap's modules table, measured here).
    import tempfile
    from pathlib import Path

    mods = list(heap.DESIGNS + heap.DISPLAY_DESIGNS)
    order = heap.load_order(mods)
    with tempfile.TemporaryDirectory() as d:
        rom = heap._modules(order, image=image)
        mpy = heap._modules(order, heap._mpy_tree(Path(d) / "fw"))
    more = {m: mpy[m][0] - rom[m][0] for m in order}
    # (the package itself is loaded before the check runs: it needs no room)
    code = sum(v for m, v in more.items() if m not in heap.DISPLAY_DESIGNS and m != "cloudpin.designs")
    draw = sum(more[m] for m in heap.DISPLAY_DESIGNS)
    assert designs.CODE_ROM_WORDS * 8 + code <= designs.CODE_FILE_WORDS * 8, (code, more)
    assert designs.DRAW_ROM_WORDS * 8 + draw <= designs.DRAW_FILE_WORDS * 8, (draw, more)


_GUARD = "import gc\ngc.threshold(4096)  # packed low: the rest of the heap one free run\n" + heap._MOUNT_ROM + r"""
import sys
from cpsim import resident
resident.pad_qstrs()  # the VM's names make no pool: the check counts the chip's
import cloudpin.designs as designs
from cloudpin.bus import Bus

class Log:
    def error(self, msg):
        print("LOG", msg)
    info = warning = debug = error
    def child(self, name):
        return self

class Lcd:
    width = 135
    height = 240

class Display:  # cloudpin.display.Screen's face to the designs
    lcd = Lcd()
    lit_until = 0
    def listen(self, bus):
        pass

class Hw:
    nvs = rtc = led = button = None
    board = {}
    display = Display() if WIDTH else None

class App:
    meet = friends = motion = None
    def __init__(self):
        self.bus = Bus()

app, hw, log = App(), Hw(), Log()
gc.collect()
want = designs.need(True, WIDTH, False, 8)
print("NEED", want)
held = bytearray(gc.mem_free() - want - SPARE)
gc.threshold(-1)
gc.collect()
svc = designs.for_app(app, hw, log, "pack.bin")
print("ON", svc is not None, "cloudpin.designs.service" in sys.modules)
held = None
"""


def _guard(image, width, spare):
    from host_tools.designs import DEFAULT_PACK, compile_pack

    out = vm.run_script("WIDTH = %d\nSPARE = %d\n" % (width, spare) + _GUARD,
                        {heap.ROM_FILE: image, "pack.bin": compile_pack(DEFAULT_PACK)},
                        heap.BenchError, what="designs guard", heap="512k", path=[vm.emulator_dir()])
    return [ln for ln in out.splitlines() if ln.startswith(("LOG", "ON", "NEED"))]


@pytest.mark.parametrize("width", [0, WIDTH])
def test_the_check_refuses_when_the_heap_cannot_hold_the_designs_and_admits_when_it_can(image, width):
    # 512 bytes short: refused with its log line, the designs' modules not loaded
    short = _guard(image, width, -512)
    assert short[1].startswith("LOG designs off: out of heap (") and short[1].endswith(" needed)"), short
    assert short[2] == "ON False False", short
    # 512 bytes to spare: admitted, and the designs load (from /rom) in that room
    room = _guard(image, width, 512)
    assert room[1:] == ["ON True True"], room

"""Designs benchmark: a card redraw on the M5StickC Plus (135x240 ST7789 on
SPI at the board file's clock): the SPI bytes and transfers the firmware's
ST7789 driver sends for one redraw (counted on a counting SPI bus, in the
MicroPython unix VM with the pin-sized heap), the time those bytes take on
the wire at the board's SPI clock, and the CPU time of a redraw (the card
drawn band by band, each band converted to RGB565 and sent) in the VM (the ESP32 figure is an ESTIMATE: VM time
x ESP32_FACTOR, see docs/meet-and-greet.md). Also the heap the pack and the
canvas (its band) take, what reading a new card's records allocates,
and the engine's cost per STEPS event.
"""
import sys

from host_tools.bench import emit
from host_tools.bench.social import ESP32_FACTOR
from host_tools.bench.steps import BenchError
from host_tools.fw import vm
from host_tools.boards import load_board
from host_tools.designs import DEFAULT_PACK, compile_pack

_SCRIPT = r"""
import gc, time
from cloudpin.designs import pack, draw, engine
from cloudpin.st7789 import ST7789, color
from cloudpin.log import Logger

class Spi:
    def __init__(self):
        self.bytes = 0
        self.writes = 0
    def write(self, b):
        self.bytes += len(b)
        self.writes += 1

class Pin:
    def value(self, v=None):
        return 0

gc.collect()
h0 = gc.mem_alloc()
p = pack.load("pack.bin")
gc.collect()
print("HEAP pack_kept %%d" %% (gc.mem_alloc() - h0))
h0 = gc.mem_alloc()
c = draw.Canvas(%(w)d, %(h)d)
pal = draw.palette_rgb565(color)
gc.collect()
print("HEAP canvas %%d" %% (gc.mem_alloc() - h0))
spi = Spi()
lcd = ST7789(spi, Pin(), Pin(), None, %(w)d, %(h)d, 52, 40)
i = p.index("cycling")
c.card(p, i, True, 100000, 100000, 5, 0, 2, 3)
c.push(lcd, pal)
print("SPI bytes %%d" %% spi.bytes)
print("SPI writes %%d" %% spi.writes)

def card_all(push):
    for k in range(p.count):
        c.card(p, k, True, 1, 2, 5, 0, 2, 3)
        if push:
            c.push(lcd, pal)

def same_card():
    c.card(p, i, False, 40000, 100000, 5, 0, 2, 3)
    c.push(lcd, pal)

row("card_records_mean_of_33", lambda: card_all(False), 3, p.count)
row("redraw_mean_of_33", lambda: card_all(True), 3, p.count)
row("redraw_same_card", same_card, 20)
e = engine.Designs(p, Logger("designs", sink=lambda s: None))
e.load(100)
k = [0]
def steps():
    k[0] += 1
    e.on_steps(k[0] %% 2000, 1000 + k[0])
row("engine_steps_event", steps, 2000)
"""


def measure(board="m5stickc_plus"):
    b = load_board(board)
    d = b["display"]
    code = vm.ROW_FN + _SCRIPT % {"w": d["width"], "h": d["height"]}
    out = vm.run_script(code, {"pack.bin": compile_pack(DEFAULT_PACK)}, BenchError, what="designs run")
    calls, heap, spi = vm.rows(out, ESP32_FACTOR), {}, {}
    for line in out.splitlines():
        kind, name, *vals = line.split()
        if kind == "HEAP":
            heap[name] = int(vals[0])
        elif kind == "SPI":
            spi[name] = int(vals[0])
    hz = d["spi"].get("baudrate", 20000000)
    wire_ms = spi["bytes"] * 8 / hz * 1000
    cpu_ms = calls["redraw_mean_of_33"]["esp32_ms_estimate"]  # drawn band by band and sent (draw.py)
    return {"board": board, "display": "%dx%d" % (d["width"], d["height"]), "spi_hz": hz,
            "runtime": "MicroPython unix port, pin-sized heap; esp32 figures are estimates (x%d)" % ESP32_FACTOR,
            "redraw": {"spi_bytes": spi["bytes"], "spi_writes": spi["writes"], "wire_ms_at_spi_clock": round(wire_ms, 2),
                       "esp32_cpu_ms_estimate": round(cpu_ms, 1),
                       "esp32_total_ms_estimate": round(wire_ms + cpu_ms, 1)},
            "heap": heap, "calls": calls}


def add_arguments(parser):
    parser.add_argument("--board", default="m5stickc_plus", help="a board with a display (default %(default)s)")


def run(args):
    try:
        b = load_board(args.board)
        if not b.get("display"):
            raise BenchError("board %s has no display" % args.board)
        result = measure(args.board)
    except (BenchError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    r = result["redraw"]
    return emit(result, "redraw on %s: %d SPI bytes in %d writes, %.1f ms on the wire at %.0f MHz, ~%.0f ms in all (estimate)" % (
        args.board, r["spi_bytes"], r["spi_writes"], r["wire_ms_at_spi_clock"], result["spi_hz"] / 1e6,
        r["esp32_total_ms_estimate"]))

"""Render a pack's design cards through the firmware's own drawing code.

CPython has no framebuf, so the cards are drawn where the pin draws them:
in the MicroPython unix VM, by cloudpin.designs.draw, drawn and pushed band
by band in RGB565 as the pin sends them to its ST7789. The VM writes
the RGB565 bytes it would have sent over SPI to stdout; this module turns
them into Pillow images. Nothing is redrawn in Python, so a PNG shows what
the pin's glass shows."""
import os
import subprocess
import tempfile

from host_tools import FIRMWARE_DIR
from host_tools.designs import PackError, compile_pack
from host_tools.fw.vm import micropython_binary

# Runs in the VM. Per sport: its card unlocked, then locked; progress shown
# for a locked card is 2/5 of its task, the "next" line points at the next
# sport at 3/5 (a picture of the layout, not of a real pin's state).
_SCRIPT = """
import sys
from cloudpin.designs import pack, draw
from cloudpin.st7789 import color
p = pack.load("pack.bin")
c = draw.Canvas(%(w)d, %(h)d)
pal = draw.palette_rgb565(color)
out = sys.stdout.buffer
class Lcd:
    def blit(self, buf, x, y, w, h):
        out.write(buf)
lcd = Lcd()
only = %(only)r
for i in range(p.count):
    if only is not None and p.ids[i] != only:
        continue
    t = p.n[i]
    j = (i + 1) %% p.count
    for unlocked in (True, False):
        c.card(p, i, unlocked, t * 2 // 5, t, 5, j, p.n[j] * 3 // 5, p.n[j])
        c.push(lcd, pal)
"""


class RenderError(RuntimeError):
    pass


def _glass():
    # The emulated ST7789's module turns what the LCD was sent into an
    # image (one conversion for virtual badges and these cards).
    import importlib.util

    from host_tools import EMULATOR_DIR

    spec = importlib.util.spec_from_file_location("cpsim_st7789", EMULATOR_DIR / "cpsim" / "st7789.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def render_cards(pack_path, width=135, height=240, only=None):
    """[(sport index, unlocked image, locked image)] for every sport of the
    pack (or the one whose id is `only`), drawn by the firmware in the VM."""
    try:
        data = compile_pack(pack_path)
    except PackError as e:
        raise RenderError(str(e))
    code = _SCRIPT % {"w": width, "h": height, "only": only}
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(FIRMWARE_DIR), ".frozen"])
    with tempfile.TemporaryDirectory(prefix="cloudpin-designs-") as cwd:
        with open(os.path.join(cwd, "pack.bin"), "wb") as f:
            f.write(data)  # what the pin boots from
        proc = subprocess.run([micropython_binary(RenderError), "-X", "heapsize=8m", "-c", code], cwd=cwd,
                              env=env, capture_output=True, timeout=300)
    if proc.returncode:
        err = proc.stderr.decode(errors="replace").strip() or proc.stdout[-2000:].decode(errors="replace")
        raise RenderError("drawing in the MicroPython VM failed: " + err.splitlines()[-1] if err else "no output")
    frame = width * height * 2
    data = proc.stdout
    if len(data) % (2 * frame):
        raise RenderError("the VM sent %d bytes, not a whole number of %dx%d card pairs" % (len(data), width, height))
    glass = _glass()
    cards = []
    for k in range(len(data) // (2 * frame)):
        a = glass.image(data[2 * k * frame:(2 * k + 1) * frame], width, height)
        b = glass.image(data[(2 * k + 1) * frame:(2 * k + 2) * frame], width, height)
        cards.append((k, a, b))
    return cards

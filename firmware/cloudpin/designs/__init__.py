# Achievement designs: the event pack, the unlock engine, the drawing.
# (Host tools import this package too: no micropython imports here.)

BAND = 8  # rows of the screen drawn and sent at a time (draw.py)

# What the designs need on top of a booted app, in machine words (4 bytes on
# the ESP32, 8 in the VM) unless bytes, measured on one pin's share
# (`cloudpin bench heap`, one_pin; docs/designs.md "The heap";
# tests/test_designs_m5.py checks them against a measurement):
# their code and data run in place from /rom (19,472 bytes in the VM: bytecode
# and strings stay in flash), and as .mpy files on the filesystem (12.5 KB
# more: the bytecode on the heap);
CODE_ROM_WORDS = 2440
CODE_FILE_WORDS = 4096
# with a display, the drawing code and the canvas's objects (3.3 KB from /rom),
# and packinfo's tables while draw reads them (3.9 KB; dropped after), or as
# files (5.2 KB more); the canvas's band is bytes on both (canvas_bytes());
DRAW_ROM_WORDS = 912
DRAW_FILE_WORDS = 1664
# the qstr pool their names make the chip add (1,280 entries, 8,984 bytes);
QSTR_WORDS = 2246
# on a pin with meet and greet, the room a tap's handshake takes with the
# services running (21.4 KB in the VM) and 4 KB to spare.
TAP_WORDS = 3328


def canvas_bytes(width):
    """The canvas's band for a display `width` pixels wide: BAND rows of
    RGB565 pixels, drawn and sent."""
    return 2 * width * BAND


def need(rom, display_width, meet, word):
    """The heap (bytes) the designs and a tap need on a booted app: loaded
    from /rom or not, for a display `display_width` wide (0: none), with meet
    and greet or not, `word` bytes a machine word."""
    words = (CODE_ROM_WORDS if rom else CODE_FILE_WORDS) + QSTR_WORDS + (TAP_WORDS if meet else 0)
    raw = 0
    if display_width:
        words += DRAW_ROM_WORDS if rom else DRAW_FILE_WORDS
        raw = canvas_bytes(display_width)
    return words * word + raw


def for_app(app, hw, log, path):
    """designs.service.for_app, or None without loading it when the heap
    has not the room they and a tap need (logged: the pin runs on without
    its designs). A load
    that runs out half way gives the heap back but not the names it interned
    (docs/heap.md "The qstr pools"): on the chip those push a phone
    session's names past the pool of 640 entries (a 9 KB pool more)."""
    import gc
    import sys

    lcd = hw.display.lcd if hw.display is not None else None
    want = need(__file__.startswith("/rom/"), lcd.width if lcd is not None else 0,
                getattr(app, "meet", None) is not None, 8 if sys.maxsize > 0x7FFFFFFF else 4)
    gc.collect()
    free = gc.mem_free()
    if free < want:
        log.error("designs off: out of heap (%d bytes free, %d needed)" % (free, want))
        return None
    from cloudpin.designs.service import for_app as build

    return build(app, hw, log, path)

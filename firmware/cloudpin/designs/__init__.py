# Achievement designs: the event pack, the unlock engine, the drawing.
# (Host tools import this package too: no micropython imports here.)


def for_app(app, hw, log, path):
    """designs.service.for_app, or None without loading it when the heap
    has not the room they and a tap need (logged: the pin runs on without
    its designs). A load
    that runs out half way gives the heap back but not the names it interned
    (docs/heap.md "The qstr pools"): on the chip those push a phone
    session's names past the pool of 640 entries (a 9 KB pool more)."""
    import gc
    import sys

    # What the designs need on top of a booted app, in machine words (4 bytes
    # on the ESP32, 8 in the VM), measured on one pin's share (docs/designs.md
    # "The heap"): their code and data, 19.9 KB in the VM (2,560 words) when
    # the package runs in place from the romfs partition (/rom: bytecode and
    # strings stay in flash, docs/heap.md), 31.0 KB (3,904 words) loaded into
    # the heap from the filesystem; the qstr pool their names make the chip
    # add (1,280 entries, 8,984 bytes: 2,246 words); on a pin with meet and
    # greet, the room a tap's handshake takes with the services running
    # (21.4 KB) and 4 KB to spare (3,328 words).
    code = 2560 if __file__.startswith("/rom/") else 3904
    need = code + 2246 + (3328 if getattr(app, "meet", None) is not None else 0)
    need *= 8 if sys.maxsize > 0x7FFFFFFF else 4
    gc.collect()
    free = gc.mem_free()
    if free < need:
        log.error("designs off: out of heap (%d bytes free, %d needed)" % (free, need))
        return None
    from cloudpin.designs.service import for_app as build

    return build(app, hw, log, path)

"""Render an event pack's designs to PNG with the firmware's own drawing
code (cloudpin.designs.draw, run in the MicroPython unix VM: the same
framebuf calls, band by band in RGB565, that the pin uses), at the display's resolution
and scaled up for a person to look at.

  cloudpin designs --png DIR [--board m5stickc_plus] [--pack FILE]
      DIR/<id>.png and DIR/<id>-locked.png at display resolution, and
      DIR/<id>@<scale>x.png, DIR/<id>-locked@<scale>x.png scaled up
  cloudpin designs --sheet FILE.png
      every design, unlocked, on one contact sheet
  cloudpin designs --art DIR
      DIR/<id>.png: the design alone (its 128x128 box, unlocked), as the
      web app shows it (webapp/designs/ holds the Tokyo pack's)

A card shows the sport's short name, the design (or its locked form: a
dark silhouette under a padlock), the task and a progress bar, and progress
toward the next unlock (sample values: a locked card at 2/5 of its task)."""
import sys
from pathlib import Path

from host_tools.boards import BoardError, load_board
from host_tools.fw import source as fwsource
from host_tools.designs import DEFAULT_PACK, packfmt, read_pack
from host_tools.designs.render import RenderError, render_cards


def add_arguments(p):
    p.add_argument("--png", metavar="DIR", help="write every card, unlocked and locked, as PNG files into DIR")
    p.add_argument("--sheet", metavar="FILE", help="write a contact sheet of every design (unlocked) to FILE (.png)")
    p.add_argument("--art", metavar="DIR", help="write each design alone (its 128x128 box, unlocked) as DIR/<id>.png")
    p.add_argument("--board", default="m5stickc_plus",
                   help="board whose display sets the resolution (default m5stickc_plus, 135x240)")
    p.add_argument("--pack", default=str(DEFAULT_PACK), help="pack file (default packs/tokyo2020.json)")
    p.add_argument("--scale", type=int, default=3, help="scale of the enlarged PNGs and the sheet (default 3; 1..8)")
    p.add_argument("--sport", metavar="ID", help="only this sport")


def _fail(msg):
    print("cloudpin designs: " + msg, file=sys.stderr)
    return 2


def design_art(card):
    """The design's box cut from a card as the firmware drew it (where
    cloudpin.designs.draw puts it: centred, DESIGN_Y from the top)."""
    box = packfmt.BOX
    x = (card.size[0] - box) // 2
    y = fwsource.constants("designs.draw")["DESIGN_Y"]
    return card.crop((x, y, x + box, y + box))


def contact_sheet(cards, names, scale, columns=11):
    """One image with every card (scaled by `scale`) in a grid."""
    from PIL import Image

    w, h = cards[0].size
    rows = (len(cards) + columns - 1) // columns
    gap = 4 * scale
    sheet = Image.new("RGB", (columns * (w * scale + gap) + gap, rows * (h * scale + gap) + gap), (32, 32, 32))
    for k, card in enumerate(cards):
        x = gap + (k % columns) * (w * scale + gap)
        y = gap + (k // columns) * (h * scale + gap)
        sheet.paste(card.resize((w * scale, h * scale), Image.NEAREST), (x, y))
    return sheet


def run(args):
    if not args.png and not args.sheet and not args.art:
        return _fail("nothing to do: give --png DIR, --sheet FILE.png and/or --art DIR")
    if not 1 <= args.scale <= 8:
        return _fail("--scale must be 1..8, got %d" % args.scale)
    if args.sheet and not args.sheet.lower().endswith(".png"):
        return _fail("--sheet: %s is not a .png file name" % args.sheet)
    try:
        disp = load_board(args.board).get("display")
    except BoardError as e:
        return _fail(str(e))
    if not disp:
        return _fail("board %s has no display: its designs show as LED colour patterns (pack field led)" % args.board)
    doc, errors = read_pack(args.pack)
    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        return _fail("%s is not a valid pack (%d errors; see `cloudpin pack check`)" % (args.pack, len(errors)))
    ids = [s["id"] for s in doc["sports"]]
    if args.sport and args.sport not in ids:
        return _fail("--sport: no sport %r in %s" % (args.sport, args.pack))
    w, h = disp["width"], disp["height"]
    print("drawing %d cards at %dx%d in the MicroPython VM..." % (1 if args.sport else len(ids), w, h), file=sys.stderr)
    try:
        cards = render_cards(args.pack, w, h, args.sport)
    except RenderError as e:
        return _fail(str(e))
    from PIL import Image

    names = [args.sport] if args.sport else ids
    if args.png:
        out = Path(args.png)
        out.mkdir(parents=True, exist_ok=True)
        for k, unlocked, locked in cards:
            for suffix, img in (("", unlocked), ("-locked", locked)):
                img.save(out / ("%s%s.png" % (names[k], suffix)))
                img.resize((w * args.scale, h * args.scale), Image.NEAREST).save(
                    out / ("%s%s@%dx.png" % (names[k], suffix, args.scale)))
        print("wrote %d PNG files to %s" % (4 * len(cards), out), file=sys.stderr)
    if args.art:
        out = Path(args.art)
        out.mkdir(parents=True, exist_ok=True)
        for k, unlocked, _ in cards:
            design_art(unlocked).save(out / ("%s.png" % names[k]))
        print("wrote %d PNG files to %s" % (len(cards), out), file=sys.stderr)
    if args.sheet:
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet([c[1] for c in cards], names, args.scale).save(args.sheet)
        print("wrote %s" % args.sheet, file=sys.stderr)
    return 0

# The event pack format described, for host tools, tests and the drawing
# code of boards with a display: the task kinds (what n counts, the extra
# parameter), the palette's names and colours, the drawing box, and check()
# of a JSON document. The pin's reader (pack.py) gives these too, loading
# this module when one is asked for: a pin without a display never does.
# Pure logic that CPython runs too: no hardware or micropython imports.
FORMAT = 1
BOX = 128  # designs are drawn in a BOX x BOX square, coordinates 0..BOX-1
MAX_OPS = 64

# Task kinds, in the order of their codes (the engine's per-kind tables).
# (name, what n counts, the extra parameter's name or None, its range)
KINDS = (
    ("friends", "friends made in total", None),
    ("friends_day", "friends made in one day", None),
    ("steps_day", "steps in one day", None),
    ("steps_total", "steps in total", None),
    ("orgs", "friends from different organisations", None),
    ("roles", "friends with different roles", None),
    ("tap_days", "days with at least one tap", None),
    ("collectors", "friends seen having made 'made' friends in a day", "made"),
    ("streak", "days in a row with at least 'steps' steps", "steps"),
)

# The 16 colours a design may use (a 4-bit frame buffer: index = position).
COLOURS = (
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("grey", (150, 150, 150)),
    ("dark", (60, 60, 70)),
    ("red", (230, 30, 40)),
    ("orange", (255, 140, 0)),
    ("yellow", (255, 210, 0)),
    ("green", (40, 180, 60)),
    ("dkgreen", (0, 100, 40)),
    ("sky", (90, 190, 255)),
    ("blue", (20, 80, 220)),
    ("navy", (10, 30, 110)),
    ("purple", (140, 60, 200)),
    ("pink", (255, 120, 180)),
    ("brown", (140, 80, 30)),
    ("skin", (240, 190, 140)),
)

# Drawing operations: name, opcode, the arguments after the name.
#   line x1 y1 x2 y2 width colour        thick line with round ends
#   rect x y w h colour fill
#   ellipse x y rx ry colour fill         (a circle when rx == ry)
#   arc x y rx ry colour quadrants        outline of the quadrants in the
#                                         mask: 1 upper right, 2 upper left,
#                                         4 lower left, 8 lower right
#   poly colour fill [x y x y ...]        3..MAX_POINTS points


def colour_index(name):
    for i in range(len(COLOURS)):
        if COLOURS[i][0] == name:
            return i
    return -1


def kind_code(name):
    for i in range(len(KINDS)):
        if KINDS[i][0] == name:
            return i
    return -1


def check(doc):
    """Every error in the pack document `doc` (packjson.check): host tools and tests."""
    from cloudpin.designs import packjson

    return packjson.check(doc)

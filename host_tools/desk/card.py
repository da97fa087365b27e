"""The pairing card handed to the wearer with the badge: a credit-card-sized
PNG or PDF (300 dpi) with a QR code of the phone-pairing secret, the
wearer's name and organisation, and the badge id. Each text is set in the
first bundled font that has all its characters (DejaVu, Noto Sans CJK,
Devanagari, Thai) and shrunk, wrapped and at worst cut with an ellipsis so
it stays on the card.

QR payload (alphanumeric QR mode, so the code stays small and robust):
    CLOUDPIN:1:<badge id, 16 hex digits>:<pair key, base32 without padding>
The secret is only in the QR pixels: never in the file name, metadata or
any text on the card.
"""
import base64
import functools
import importlib.util
import os
import re
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

DPI = 300
SIZE = (1011, 638)  # ISO/IEC 7810 ID-1, 85.6 x 54 mm at 300 dpi


def qr_payload(badge_id, pair_key):
    key = base64.b32encode(pair_key).decode().rstrip("=")
    return "CLOUDPIN:1:%s:%s" % (badge_id.upper(), key)


def parse_payload(text):
    """-> (badge_id, pair_key): what the phone app does with the QR text."""
    tag, version, badge_id, key = text.split(":")
    if tag != "CLOUDPIN" or version != "1":
        raise ValueError("not a CloudPin pairing code")
    return badge_id.lower(), base64.b32decode(key + "=" * (-len(key) % 8))


def card_filename(acc_id, badge_id, ext="png"):
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", acc_id)
    return "%s_%s.%s" % (safe, badge_id[:8], ext)


_FONTS = (  # (package, regular file, package, bold file), each file in its package's folder
    ("matplotlib", "mpl-data/fonts/ttf/DejaVuSans.ttf", "matplotlib", "mpl-data/fonts/ttf/DejaVuSans-Bold.ttf"),
    ("noto_cjk_sans_jp_regular", "NotoSansCJKjp-Regular.otf", "noto_cjk_sans_jp_bold", "NotoSansCJKjp-Bold.otf"),
    # Variable fonts: one file, the weight chosen by its named instance (_load).
    ("fontpkg_noto_sans_devanagari", "files/NotoSansDevanagari[wdth,wght].ttf",
     "fontpkg_noto_sans_devanagari", "files/NotoSansDevanagari[wdth,wght].ttf"),
    ("fontpkg_noto_sans_thai", "files/NotoSansThai[wdth,wght].ttf",
     "fontpkg_noto_sans_thai", "files/NotoSansThai[wdth,wght].ttf"),
)


def _package_file(package, name):
    spec = importlib.util.find_spec(package)  # found, not imported (matplotlib takes seconds)
    path = Path(spec.origin).parent / name if spec is not None and spec.origin else None
    return path if path is not None and path.is_file() else None


@functools.lru_cache(maxsize=None)
def _font_files():
    """[(regular, bold)] font files, tried in order for each text: DejaVu
    (matplotlib's copy: Latin, Greek, Cyrillic, Hebrew, Arabic, Armenian,
    Georgian...), Noto Sans CJK (Han, kana, Hangul), then Noto Sans
    Devanagari and Thai (each OFL-1.1, a PyPI dependency). A font that is not
    installed is left out."""
    out = []
    for regular_pkg, regular, bold_pkg, bold in _FONTS:
        files = (_package_file(regular_pkg, regular), _package_file(bold_pkg, bold))
        if None not in files:  # `make install` brings them all; without one, its scripts are drawn as boxes
            out.append(files)
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _coverage(path):
    """The code points a font file has glyphs for."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as f:
        return frozenset(f.getBestCmap())


@functools.lru_cache(maxsize=64)
def _load(path, size, bold=False):
    font = ImageFont.truetype(str(path), size)
    try:
        names = font.get_variation_names()
    except OSError:  # not a variable font: its file is the weight
        return font
    font.set_variation_by_name("Bold" if bold and b"Bold" in names else "Regular")
    return font


def _font_file(text, bold):
    """The first font file that has every character of `text` (else the one
    missing the fewest: a box is better than a crash)."""
    needed = {ord(c) for c in text if not c.isspace()}
    files = _font_files()
    best = min(range(len(files)), key=lambda i: (len(needed - _coverage(files[i][0])), i))
    return files[best][1 if bold else 0]


def missing_glyphs(text):
    """Characters of `text` no card font can draw (shown as boxes)."""
    files = _font_files()
    return sorted({c for c in text if not c.isspace() and all(ord(c) not in _coverage(f[0]) for f in files)})


def _font(size, bold=False, text=""):
    return _load(_font_file(text, bold), size, bold)


def _wrap(draw, text, font, width):
    """Lines of `text` no wider than `width`: broken at spaces, and inside a
    word (or a run of CJK, which has no spaces) only where it must be."""
    lines = []
    line = ""
    for word in text.split(" "):
        candidate = (line + " " + word) if line else word
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        for ch in word:  # a word wider than the card: break between characters
            if line and draw.textlength(line + ch, font=font) > width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def _ellipsize(draw, line, font, width):
    while line and draw.textlength(line + "\u2026", font=font) > width:
        line = line[:-1]
    return line.rstrip() + "\u2026"


MIN_TEXT = 16  # px at 300 dpi, about 4 pt: the smallest text still legible on a printed card


def _block(draw, text, size, bold, max_lines, width):
    """(lines, font): the largest font up to `size` at which `text` wraps
    into `max_lines`; at MIN_TEXT a text still too long is cut with an ellipsis."""
    while True:
        font = _font(size, bold, text)
        lines = _wrap(draw, text, font, width)
        if len(lines) <= max_lines:
            return lines, font
        if size <= MIN_TEXT:
            return lines[:max_lines - 1] + [_ellipsize(draw, lines[max_lines - 1], font, width)], font
        size = max(MIN_TEXT, int(size * 0.9))


_LEADING = 6  # px between lines
_GAP = 12  # px between blocks


def _height(blocks):
    return sum(len(lines) * (font.size + _LEADING) for lines, font in blocks) + _GAP * (len(blocks) - 1)


def _draw_blocks(draw, x, y, blocks, fill):
    for lines, font in blocks:
        for line in lines:
            draw.text((x, y), line, font=font, fill=fill)
            y += font.size + _LEADING
        y += _GAP


def _layout(draw, blocks, width, height):
    """[(text, size, bold, max_lines)] -> [(lines, font)]: each block in the
    largest font that wraps it into its lines; if together they are taller
    than `height`, all shrink by the same factor until they fit."""
    scale = 1.0
    while True:
        out = [_block(draw, text, max(MIN_TEXT, int(size * scale)), bold, max_lines, width)
               for text, size, bold, max_lines in blocks]
        if _height(out) <= height or all(font.size <= MIN_TEXT for _, font in out):
            return out
        scale *= 0.9


def qr_matrix(badge_id, pair_key):
    """The QR code's modules (True = dark), quiet zone included."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(qr_payload(badge_id, pair_key))
    qr.make(fit=True)
    return qr.get_matrix()


QR_ORIGIN = (30, 64)  # top-left corner of the code on the card
QR_SIDE = 510


def read_modules(img, n):
    """The n x n QR modules as drawn on a card image (True = dark): what a
    scanner sees, for checking a printed card against its payload."""
    gray = img.convert("L")
    box = QR_SIDE // n
    ox = QR_ORIGIN[0] + (QR_SIDE - box * n) // 2
    oy = QR_ORIGIN[1] + (QR_SIDE - box * n) // 2
    return [[gray.getpixel((ox + c * box + box // 2, oy + r * box + box // 2)) < 128 for c in range(n)]
            for r in range(n)]


def render(acc, badge_id, pair_key):
    img = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(img)
    matrix = qr_matrix(badge_id, pair_key)
    box = QR_SIDE // len(matrix)  # whole pixels per module: crisp edges
    ox = QR_ORIGIN[0] + (QR_SIDE - box * len(matrix)) // 2
    oy = QR_ORIGIN[1] + (QR_SIDE - box * len(matrix)) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                draw.rectangle((ox + c * box, oy + r * box, ox + (c + 1) * box - 1, oy + (r + 1) * box - 1),
                               fill="black")
    x = QR_ORIGIN[0] + QR_SIDE + 30
    width = SIZE[0] - x - 30
    y = 60
    draw.text((x, y), "CloudPin", font=_font(30, True), fill="#1a5fb4")
    y += 70
    # The footer first, from the bottom up: a long accreditation id takes more lines.
    footer = _layout(draw, [("Accreditation " + acc.acc_id, 20, False, 3),
                            ("Badge " + badge_id.upper(), 20, False, 1),
                            ("Scan with the CloudPin app to pair your pin. Keep this card private.", 20, False, 3)],
                     width, SIZE[1])
    bottom = SIZE[1] - 24 - _height(footer)
    blocks = [(text, size, bold, lines) for text, size, bold, lines in (
        (acc.name, 44, True, 3), (acc.organisation, 30, False, 2), (acc.role, 26, False, 2)) if text]
    _draw_blocks(draw, x, y, _layout(draw, blocks, width, bottom - _GAP - y), "black")
    _draw_blocks(draw, x, bottom, footer, "#333333")
    return img


def write_card(path, acc, badge_id, pair_key):
    """Render and save atomically (a crash leaves the old file or none).
    The format follows the file name: .png or .pdf."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = render(acc, badge_id, pair_key)
    tmp = path.with_name(path.name + ".tmp")
    fmt = "PDF" if path.suffix.lower() == ".pdf" else "PNG"
    with open(tmp, "wb") as f:
        img.save(f, fmt, resolution=DPI) if fmt == "PDF" else img.save(f, fmt, dpi=(DPI, DPI))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path

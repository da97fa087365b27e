"""The pairing card handed to the wearer with the badge: a credit-card-sized
PNG or PDF (300 dpi) with a QR code of the phone-pairing secret, the
wearer's name and organisation, and the badge id.

QR payload (alphanumeric QR mode, so the code stays small and robust):
    CLOUDPIN:1:<badge id, 16 hex digits>:<pair key, base32 without padding>
The secret is only in the QR pixels: never in the file name, metadata or
any text on the card.
"""
import base64
import os
import re
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

DPI = 300
SIZE = (1011, 638)  # ISO/IEC 7810 ID-1, 85.6 x 54 mm at 300 dpi
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/Library/Fonts", "C:/Windows/Fonts")


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


def _font(size, bold=False):
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in _FONT_DIRS:
        p = Path(d) / name
        if p.exists():
            return ImageFont.truetype(str(p), size)
    return ImageFont.load_default(size=size)


def _fit(draw, text, width, size, bold=False):
    """The largest font up to `size` that fits `text` into `width` pixels."""
    while size > 14:
        font = _font(size, bold)
        if draw.textlength(text, font=font) <= width:
            return font
        size -= 2
    return _font(size, bold)


def _lines(draw, text, width, size, bold):
    """Up to two lines (split at a space) in the largest font that fits."""
    font = _fit(draw, text, width, size, bold)
    words = text.split(" ")
    if font.size >= size * 0.75 or len(words) < 2:
        return [text], font
    best = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
    two = [" ".join(words[:best]), " ".join(words[best:])]
    font = min((_fit(draw, ln, width, size, bold) for ln in two), key=lambda f: f.size)
    return two, font


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
    for text, size, bold in ((acc.name, 44, True), (acc.organisation, 30, False), (acc.role, 26, False)):
        if not text:
            continue
        lines, font = _lines(draw, text, width, size, bold)
        for line in lines:
            draw.text((x, y), line, font=font, fill="black")
            y += font.size + 6
        y += 12
    small = _font(20)
    y = SIZE[1] - 170
    for line in ("Accreditation " + acc.acc_id, "Badge " + badge_id.upper(), "",
                 "Scan with the CloudPin app", "to pair your pin. Keep this", "card private."):
        draw.text((x, y), line, font=small, fill="#333333")
        y += 24
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

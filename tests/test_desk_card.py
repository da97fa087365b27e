"""Pairing cards (host_tools/desk/card.py): the QR on the card is the code of
the pairing payload, the payload round-trips, and the secret is nowhere in
the file as text."""
import base64
import os

import pytest
from PIL import Image

from host_tools.desk import card
from host_tools.desk.db import Accreditation

ACC = Accreditation("PR/0042", "Zoë Ångström", "Le Monde", "photographer", ("@zoe",))
BADGE = "0a1b2c3d4e5f6071"
KEY = bytes(range(100, 116))


def test_payload_roundtrips_and_uses_qr_alphanumeric_characters():
    text = card.qr_payload(BADGE, KEY)
    assert card.parse_payload(text) == (BADGE, KEY)
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_png_card_carries_the_qr_of_the_payload(tmp_path):
    path = card.write_card(tmp_path / "c.png", ACC, BADGE, KEY)
    img = Image.open(path)
    assert img.size == card.SIZE and round(img.info["dpi"][0]) == card.DPI
    matrix = card.qr_matrix(BADGE, KEY)
    assert card.read_modules(img, len(matrix)) == matrix
    other = card.qr_matrix(BADGE, bytes(16))
    assert card.read_modules(img, len(other)) != other
    assert os.listdir(tmp_path) == ["c.png"]  # no temp file left


def test_pdf_card_is_written(tmp_path):
    path = card.write_card(tmp_path / "sub" / "c.pdf", ACC, BADGE, KEY)
    assert path.read_bytes().startswith(b"%PDF")


def test_secret_is_not_in_the_file_as_text(tmp_path):
    for ext in ("png", "pdf"):
        data = card.write_card(tmp_path / ("c." + ext), ACC, BADGE, KEY).read_bytes()
        for form in (KEY.hex(), KEY.hex().upper(), base64.b64encode(KEY).decode(),
                     base64.b32encode(KEY).decode().rstrip("="), card.qr_payload(BADGE, KEY)):
            assert form.encode() not in data, (ext, form)


def test_file_names_are_safe_and_secret_free():
    name = card.card_filename("PR/0042 x", BADGE)
    assert name == "PR_0042_x_0a1b2c3d.png"
    assert card.card_filename("A1", BADGE, "pdf").endswith(".pdf")


def test_long_names_still_fit_the_card():
    long = Accreditation("A1", "Maria Fernanda de los Ángeles García-Villanueva", "Agence France-Presse Internationale",
                         "chief photographer and video journalist")
    img = card.render(long, BADGE, KEY)
    # Nothing written past the right edge: the last columns stay white.
    strip = img.convert("L").crop((card.SIZE[0] - 20, 0, card.SIZE[0], card.SIZE[1]))
    assert strip.getextrema()[0] > 200


def _text_area(img, top=0, bottom=None):
    """The card's text column (right of the QR code) as grey pixels."""
    x = card.QR_ORIGIN[0] + card.QR_SIDE + 20
    return img.convert("L").crop((x, top, card.SIZE[0], bottom or card.SIZE[1]))


def test_cjk_names_are_drawn_as_characters_not_boxes():
    # A font without the glyphs draws every character as the same box: two
    # different names of the same length would then give the same pixels.
    for a, b in (("王小明", "李大伟"), ("山田太郎", "김민준님")):
        band = (130, 330)  # name, organisation and role
        img_a, img_b = (card.render(Accreditation("A1", n, n, n), BADGE, KEY) for n in (a, b))
        assert _text_area(img_a, *band).tobytes() != _text_area(img_b, *band).tobytes(), (a, b)
    for text in ("王小明", "山田 太郎", "김민준", "Zoë Ångström", "Ωμέγα Кирилл", "Chen Li 陈立"):
        assert card.missing_glyphs(text) == [], text


def test_devanagari_and_thai_names_are_drawn_as_characters_in_both_weights():
    for a, b in (("राजेश कुमार", "सुनील यादव"), ("สมชาย ใจดี", "ณัฐวุฒิ ศรีสุ")):
        assert card.missing_glyphs(a + b) == [], a
        band = (130, 330)
        img_a, img_b = (card.render(Accreditation("A1", n, n, n), BADGE, KEY) for n in (a, b))
        assert _text_area(img_a, *band).tobytes() != _text_area(img_b, *band).tobytes(), (a, b)
        # one variable font file serves both weights: the name is set bold
        regular, bold = (card._font(44, w, a) for w in (False, True))
        assert regular.path == bold.path and regular.getmask(a).getbbox() != bold.getmask(a).getbbox(), a


def _dark_columns_right_of(img, margin):
    strip = img.convert("L").crop((card.SIZE[0] - margin, 0, card.SIZE[0], card.SIZE[1]))
    return strip.getextrema()[0] <= 200


@pytest.mark.parametrize("name", [
    "Maria Fernanda de los Ángeles García-Villanueva y Rodríguez de la Santísima Trinidad Montoya Ochoa Pérez",
    "X" * 100,
    "王" * 100,
])
def test_a_100_character_name_stays_on_the_card_and_off_the_footer(name):
    assert len(name) >= 100
    long = Accreditation("A" * 40, name, "O" * 100, "R" * 100)
    short = Accreditation("A" * 40, "Ann", "", "")
    img, ref = card.render(long, BADGE, KEY), card.render(short, BADGE, KEY)
    assert not _dark_columns_right_of(img, 20)  # nothing past the right margin
    assert img.convert("L").crop((0, card.SIZE[1] - 15, card.SIZE[0], card.SIZE[1])).getextrema()[0] > 200
    # The footer (accreditation, badge id, instructions) is where and what it
    # is on a card with a short name: the long text did not run into it.
    footer = (card.SIZE[1] - 190, card.SIZE[1])
    assert _text_area(img, *footer).tobytes() == _text_area(ref, *footer).tobytes()
    # and the name is there, not dropped
    assert _text_area(img, 130, 180).getextrema()[0] < 100

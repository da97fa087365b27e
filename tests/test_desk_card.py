"""Pairing cards (host_tools/desk/card.py): the QR on the card is the code of
the pairing payload, the payload round-trips, and the secret is nowhere in
the file as text."""
import base64
import os

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

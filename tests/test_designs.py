"""Host side of the designs: `cloudpin pack check` (the firmware's validator,
every error named, exit 2) and `cloudpin designs` (cards drawn by the
firmware in the MicroPython VM, written as PNG and a contact sheet)."""
import hashlib
import json

import pytest
from PIL import Image

from host_tools import REPO
from host_tools.cli import main
from host_tools.designs import DEFAULT_PACK, packfmt, read_pack
from host_tools.designs.render import render_cards


def test_the_tokyo_pack_is_valid_with_33_sports_and_every_task_kind(capsys):
    assert main(["pack", "check", str(DEFAULT_PACK)]) == 0
    assert "33 designs" in capsys.readouterr().out
    doc, errors = read_pack(DEFAULT_PACK)
    assert errors == []
    assert len(doc["sports"]) == 33 and len({s["id"] for s in doc["sports"]}) == 33
    assert {s["task"]["kind"] for s in doc["sports"]} == {k[0] for k in packfmt.KINDS}


def test_pack_check_names_every_error_with_its_path_and_exits_2(tmp_path, capsys):
    doc = json.loads(DEFAULT_PACK.read_text())
    doc["sports"][2]["task"]["n"] = 0
    doc["sports"][5]["design"][0][5] = "teal"
    doc["sports"][7]["id"] = doc["sports"][1]["id"]
    del doc["sports"][30]["led"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    good = tmp_path / "good.json"
    good.write_text(DEFAULT_PACK.read_text())
    assert main(["pack", "check", str(good), str(bad)]) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert lines[-1] == "%s: 4 errors" % bad
    assert [ln.split(": ")[1] for ln in lines[:-1]] == [
        "sports[2].task.n", "sports[5].design[0][5] (colour)", "sports[7].id", "sports[30].led"]
    assert all(ln.startswith(str(bad)) for ln in lines)
    assert out.out.startswith("ok %s" % good)
    # not JSON, not there: one line each naming the file, exit 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1,')
    assert main(["pack", "check", str(broken), str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "broken.json: not valid JSON" in err and "none.json: no such file" in err


def test_pack_build_writes_the_file_the_pin_loads(tmp_path, capsys):
    out = tmp_path / "b" / "pack.bin"
    assert main(["pack", "build", str(DEFAULT_PACK), "-o", str(out)]) == 0
    p = packfmt.from_bytes(out.read_bytes())
    doc, _ = read_pack(DEFAULT_PACK)
    assert p.ids == tuple(s["id"] for s in doc["sports"]) and p.count == 33
    assert p.designs == packfmt.Pack(doc).designs
    bad = tmp_path / "bad.json"
    doc["sports"][0]["task"]["kind"] = "naps"
    bad.write_text(json.dumps(doc))
    assert main(["pack", "build", str(bad), "-o", str(tmp_path / "x.bin")]) == 2
    assert "sports[0].task.kind: 'naps' is not a task kind" in capsys.readouterr().err
    assert not (tmp_path / "x.bin").exists()


def test_designs_png_writes_every_card_unlocked_and_locked_at_display_size_and_scaled(tmp_path):
    assert main(["designs", "--png", str(tmp_path), "--sport", "judo", "--scale", "2"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["judo-locked.png", "judo-locked@2x.png", "judo.png", "judo@2x.png"]
    a, b = Image.open(tmp_path / "judo.png"), Image.open(tmp_path / "judo-locked.png")
    assert a.size == b.size == (135, 240) and Image.open(tmp_path / "judo@2x.png").size == (270, 480)
    assert a.tobytes() != b.tobytes()
    # the judo jacket is white on blue in the design box; locked, no blue is left there
    box = a.crop((3, 14, 131, 142))
    colours = {c for _, c in box.getcolors(1 << 16)}
    assert (255, 255, 255) in colours and any(b_ > 200 and r < 50 for r, g, b_ in colours)
    locked = {c for _, c in b.crop((3, 14, 131, 142)).getcolors(1 << 16)}
    assert not any(b_ > 200 and r < 50 for r, g, b_ in locked)


def test_33_distinct_designs_and_a_contact_sheet(tmp_path):
    cards = render_cards(DEFAULT_PACK)
    assert len(cards) == 33
    boxes = {hashlib.sha256(unlocked.crop((3, 14, 131, 142)).tobytes()).digest() for _, unlocked, _ in cards}
    assert len(boxes) == 33
    sheet = tmp_path / "sheet.png"
    assert main(["designs", "--sheet", str(sheet), "--scale", "1"]) == 0
    img = Image.open(sheet)
    assert img.size == (4 + 11 * (135 + 4), 4 + 3 * (240 + 4))


def test_the_web_apps_design_pictures_are_the_firmwares_drawing_of_the_tokyo_pack(tmp_path):
    # webapp/designs/<id>.png (cloudpin designs --art webapp/designs): each the
    # design's box of the card the firmware draws now, so they cannot go stale.
    ids = [s["id"] for s in json.loads(DEFAULT_PACK.read_text())["sports"]]
    shipped = REPO / "webapp" / "designs"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(i + ".png" for i in ids)
    for k, unlocked, _ in render_cards(DEFAULT_PACK):
        art = Image.open(shipped / (ids[k] + ".png")).convert("RGB")
        assert art.size == (packfmt.BOX, packfmt.BOX)
        assert art.tobytes() == unlocked.crop((3, 14, 131, 142)).tobytes(), ids[k]
    assert main(["designs", "--art", str(tmp_path), "--sport", "judo"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["judo.png"]
    assert Image.open(tmp_path / "judo.png").tobytes() == Image.open(shipped / "judo.png").tobytes()


@pytest.mark.parametrize("argv,msg", [
    (["designs"], "nothing to do"),
    (["designs", "--art", "x", "--board", "cloudpin_ref"], "has no display"),
    (["designs", "--png", "x", "--board", "cloudpin_ref"], "has no display"),
    (["designs", "--png", "x", "--board", "nope"], "unknown board"),
    (["designs", "--sheet", "x.jpg"], "not a .png"),
    (["designs", "--png", "x", "--sport", "quidditch"], "no sport 'quidditch'"),
])
def test_designs_bad_arguments_say_what_is_wrong(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.startswith("cloudpin designs: ")

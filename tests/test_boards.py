"""The committed board files, through the host loader and `cloudpin check-board`."""
import json

import pytest

from host_tools import boards
from host_tools.cli import main


def test_every_committed_board_is_valid():
    names = boards.board_names()
    assert {"cloudpin_ref", "m5stickc_plus", "devkitc_mpu6050"} <= set(names)
    for name in names:
        b = boards.load_board(name)
        assert b["name"] == name


def test_board_facts_from_datasheets():
    ref = boards.load_board("cloudpin_ref")
    assert ref["accel"]["type"] == "lis3dh" and ref["accel"]["address"] in (0x18, 0x19)  # SA0 low/high
    m5 = boards.load_board("m5stickc_plus")
    assert m5["accel"]["type"] == "mpu6886" and m5["accel"]["address"] == 0x68
    assert m5["power"]["address"] == 0x34 and (m5["display"]["width"], m5["display"]["height"]) == (135, 240)
    dk = boards.load_board("devkitc_mpu6050")
    assert dk["accel"]["type"] == "mpu6050" and dk["accel"]["address"] == 0x68


def test_unknown_board_lists_known_ones():
    with pytest.raises(boards.BoardError, match="known boards: .*cloudpin_ref"):
        boards.load_board("nope")


def test_check_board_cli_names_the_bad_field(tmp_path, capsys):
    bad = json.loads((boards.BOARDS_DIR / "cloudpin_ref.json").read_text())
    bad["i2c"]["freq"] = 5
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    assert main(["check-board", str(f)]) == 1
    assert "'i2c.freq'" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["check-board", str(tmp_path / "broken.json")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["check-board"]) == 0
    assert "cloudpin_ref" in capsys.readouterr().out


def test_cloudpin_entry_point_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "check-board" in out and "virtual-badge" in out or "check-board" in out


def test_check_board_prints_the_rate_the_app_runs_the_sensor_at(tmp_path, capsys):
    # The reference pin's step ODR is 50 Hz, but the app runs the LIS3DH at its tap rate.
    assert main(["check-board", "cloudpin_ref"]) == 0
    out = capsys.readouterr().out
    assert "run at 400 Hz (accel.tap_odr)" in out and "50 Hz" not in out, out
    typo = json.loads((boards.BOARDS_DIR / "cloudpin_ref.json").read_text())
    typo["accel"]["tapodr"] = typo["accel"].pop("tap_odr")
    f = tmp_path / "typo.json"
    f.write_text(json.dumps(typo))
    assert main(["check-board", str(f)]) == 1
    assert "'accel.tapodr' is not known; did you mean 'tap_odr'?" in capsys.readouterr().err

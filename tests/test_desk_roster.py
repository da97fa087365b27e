"""Roster CSV import (host_tools/desk/roster.py): real-world exports parse,
every problem is reported with its line number, limits match the badge's."""
import pytest

from host_tools.desk import roster


def test_header_in_any_order_semicolons_bom_and_handles(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes("\ufeffName;Accreditation ID;Organization;Role;Handles\n"
                  "Zoë Ångström;PR-001;Le Monde;photographer;@zoe, zoe@mastodon.social\n"
                  "\n"
                  "Bob;PR-002;;;\n".encode("utf-8"))
    a, b = roster.read(p)
    assert (a.acc_id, a.name, a.organisation, a.role) == ("PR-001", "Zoë Ångström", "Le Monde", "photographer")
    assert a.handles == ("@zoe", "zoe@mastodon.social")
    assert (b.acc_id, b.name, b.handles) == ("PR-002", "Bob", ())


def test_without_header_the_documented_column_order_is_used():
    (e,) = roster.parse("X-9,Eve,ACME,editor,@eve @eve2\n")
    assert (e.acc_id, e.name, e.organisation, e.role, e.handles) == ("X-9", "Eve", "ACME", "editor", ("@eve", "@eve2"))


def test_quoted_fields_with_commas_and_newlines():
    text = 'id,name,organisation\nA1,"Doe, Jane","The ""Daily"" News"\nA2,"Multi\nLine",X\nA3,C,D\n'
    rows = roster.parse(text)
    assert rows[0].name == "Doe, Jane" and rows[0].organisation == 'The "Daily" News'
    assert rows[1].name == "Multi Line" and rows[2].acc_id == "A3"


def test_every_problem_is_reported_with_its_line_and_nothing_is_imported():
    text = ("id,name,organisation,role,handles\n"
            "A1,Ann,,,\n"
            ",NoId,,,\n"
            "A2,,,,\n"
            "A 3,Spaces,,,\n"
            "A1,Again,,,\n"
            "A4,%s,,,\n"
            "A5,Eve,,,%s\n" % ("x" * 101, " ".join("@h%d" % i for i in range(9))))
    with pytest.raises(roster.RosterError) as e:
        roster.parse(text, "day1.csv")
    msg = str(e.value)
    for expected in ("day1.csv: line 3: accreditation id is empty",
                     "day1.csv: line 4: name is empty",
                     "day1.csv: line 5: accreditation id 'A 3' contains spaces",
                     "day1.csv: line 6: accreditation A1 appears again (first on line 2)",
                     "day1.csv: line 7: name is longer than 100 characters",
                     "day1.csv: line 8: more than 8 handles"):
        assert expected in msg, msg
    assert len(e.value.problems) == 6


def test_many_problems_are_capped_with_a_count():
    text = "id,name\n" + "".join(",x\n" for _ in range(30))
    with pytest.raises(roster.RosterError) as e:
        roster.parse(text)
    assert len(e.value.problems) == 20 and "and 10 more problems" in str(e.value)


def test_unreadable_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(roster.RosterError, match="cannot read"):
        roster.read(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("id,name\n")
    with pytest.raises(roster.RosterError, match="has no accreditations"):
        roster.read(tmp_path / "empty.csv")
    (tmp_path / "latin1.csv").write_bytes("id,name\nA1,Ann\nA2,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(roster.RosterError, match="line 3: not UTF-8"):
        roster.read(tmp_path / "latin1.csv")


def test_accepted_rows_are_valid_owner_cards_on_the_badge():
    # The host's limits are the firmware's: whatever the roster accepts, the
    # badge's owner.validate accepts too, and the limits are the same numbers.
    from cloudpin import owner

    assert (roster.MAX_TEXT, roster.MAX_HANDLES, roster.MAX_HANDLE) == (owner.MAX_TEXT, owner.MAX_HANDLES,
                                                                        owner.MAX_HANDLE)
    assert roster.MAX_ACC_ID <= owner.MAX_TEXT
    text = "id,name,organisation,role,handles\n%s,%s,%s,%s,%s\n" % (
        "A" * 40, "N" * 100, "O" * 100, "R" * 100, " ".join("@" + "h" * 63 for _ in range(8)))
    (e,) = roster.parse(text)
    card = e.card(7)
    assert owner.validate(card) == card


def test_scanned_input_is_normalised():
    assert roster.normalize_acc("  PR-001\r\n") == "PR-001"
    assert roster.check_acc_id("PR-001") is None
    assert "empty" in roster.check_acc_id("")
    assert "longer" in roster.check_acc_id("x" * 41)


@pytest.mark.parametrize("header,missing", [
    ("Name,Organisation,Role", "no accreditation id column; name the accreditation id column one of: "
                               "accreditation id, accreditation"),
    ("Accreditation Number,Name", "no accreditation id column"),
    ("accreditation id,organisation,role", "no name column; name the name column one of: name, full name"),
    ("org,role", "no accreditation id column and no name column"),
])
def test_a_header_without_the_id_or_name_column_is_refused_not_imported(tmp_path, header, missing):
    # Read as data, "Name,Organisation,Role" was a person with id "Name".
    p = tmp_path / "r.csv"
    p.write_text(header + "\nA1,Ann,X\n")
    with pytest.raises(roster.RosterError) as e:
        roster.read(p)
    assert e.value.problems == [e.value.problems[0]] and "line 1: the header" in e.value.problems[0]
    assert missing in e.value.problems[0]


def test_a_headerless_first_person_from_an_outlet_called_media_is_still_a_person():
    (e,) = roster.parse("A1,Jane,Media\n")
    assert (e.acc_id, e.name, e.organisation) == ("A1", "Jane", "Media")


@pytest.mark.parametrize("cell,col,code", [
    ("Ann\x00Lee", "name", "U+0000"), ("Ann\x1b[31m", "name", "U+001B"), ("Org\x7f", "organisation", "U+007F"),
    ("Ann\x9b2J", "name", "U+009B"),
])
def test_control_characters_are_refused_with_the_line(cell, col, code):
    row = ["A2", "Bob", "Org", "role", ""]
    row[1 if col == "name" else 2] = cell
    with pytest.raises(roster.RosterError) as e:
        roster.parse("id,name,organisation,role,handles\nA1,Ann,X,Y,\n" + ",".join(row) + "\n", "r.csv")
    assert e.value.problems == ["line 3: %s contains the control character %s" % (col, code)]


def test_the_csv_export_neutralises_spreadsheet_formulas(tmp_path, capsys):
    # OWASP CSV injection: a cell starting = + - @ tab or CR is prefixed with
    # an apostrophe so a spreadsheet shows it as text instead of running it.
    import csv
    import io

    from host_tools import cli
    from host_tools.desk import cli as cli_desk
    from host_tools.desk import db as deskdb

    url = str(tmp_path / "desk.sqlite")
    (tmp_path / "r.csv").write_text(
        'id,name,organisation,role,handles\n'
        'A1,"=HYPERLINK(""http://x"",""y"")",+1 Org,-2 role,@ann\n'
        'A2,Tab,Plain,"@SUM(1,2)",\n')
    log = str(tmp_path / "desk.log")  # not the working directory's
    assert cli.main(["desk", "import", "--db", url, "--log", log, "--roster", str(tmp_path / "r.csv")]) == 0
    db = deskdb.connect(url)
    for acc, badge in (("A1", "b1"), ("A2", "b2")):
        db.see_badge(badge, "0.1.0")
        db.finish(db.reserve(acc, badge, "digest", "desk").id)
    db.close()
    capsys.readouterr()
    assert cli.main(["desk", "export", "--csv", "--db", url, "--log", log]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(\"http://x\",\"y\")", "Tab"]
    assert (rows[0]["organisation"], rows[0]["role"], rows[0]["handles"]) == ("'+1 Org", "'-2 role", "'@ann")
    assert (rows[1]["organisation"], rows[1]["role"]) == ("Plain", "'@SUM(1,2)")
    assert rows[0]["acc_id"] == "A1" and rows[0]["gen"].isdigit()
    # tab and CR cannot come from the roster (whitespace is collapsed) but
    # are neutralised all the same; numbers are left as numbers
    assert [cli_desk.spreadsheet_safe(c) for c in ("\tx", "\rx", "x=1", 7)] == ["'\tx", "'\rx", "x=1", 7]

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

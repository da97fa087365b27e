"""Roster import: the accreditation office's CSV export -> Accreditation rows.

Columns (a header row names them in any order; without a header this order
is assumed): accreditation id, name, organisation, role, handles. Handles
are separated by spaces, commas or semicolons. UTF-8 (with or without the
BOM Excel writes); comma, semicolon or tab delimited.

Every problem is reported with its line number, all at once (up to a limit),
and nothing is imported from a file with errors. A header must name an
accreditation id and a name column; control characters (NUL, escapes) are
refused in every field. The length limits are the badge's own, read from
firmware/cloudpin/owner.py.
"""
import csv
import io
import re
from pathlib import Path

from host_tools.desk.db import Accreditation
from host_tools.fw import source as fwsource

_OWNER = fwsource.constants("owner")  # the badge's own limits
MAX_TEXT = _OWNER["MAX_TEXT"]
MAX_HANDLES = _OWNER["MAX_HANDLES"]
MAX_HANDLE = _OWNER["MAX_HANDLE"]
MAX_ACC_ID = 40
_MAX_REPORTED = 20

COLUMNS = ("acc_id", "name", "organisation", "role", "handles")
_ALIASES = {
    "acc_id": ("accreditation id", "accreditation", "accreditation_id", "acc_id", "acc", "id", "badge number"),
    "name": ("name", "full name", "full_name"),
    "organisation": ("organisation", "organization", "org", "outlet", "media", "company"),
    "role": ("role", "function", "position"),
    "handles": ("handles", "handle", "social", "social handles"),
}
_DEFAULT_COLS = {c: i for i, c in enumerate(COLUMNS)}
_LABELS = {"acc_id": "accreditation id", "name": "name"}
# Control characters (C0, DEL, C1) that survive the whitespace clean-up: a NUL
# or an escape sequence would be written to the badge and shown on screens.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BAD_ID = re.compile(r"[\s\x00-\x1f\x7f]")
_HANDLE_SPLIT = re.compile(r"[\s,;]+")


class RosterError(ValueError):
    def __init__(self, source, problems, more=0):
        self.problems = problems
        text = "\n".join("%s: %s" % (source, p) for p in problems)
        if more:
            text += "\n%s: ... and %d more problems" % (source, more)
        super().__init__(text)


def normalize_acc(text):
    """What a typed or scanned accreditation id is compared as."""
    return text.strip()


def check_acc_id(acc_id):
    """None if acc_id is acceptable, else what is wrong with it."""
    if not acc_id:
        return "accreditation id is empty"
    if len(acc_id) > MAX_ACC_ID:
        return "accreditation id is longer than %d characters" % MAX_ACC_ID
    if _BAD_ID.search(acc_id):
        return "accreditation id %r contains spaces or control characters" % acc_id
    return None


def _header_map(row):
    """{column: index} if `row` is a header, else None; a header without an
    accreditation id or a name column is refused, naming the columns expected
    (read as data, its cells would be imported as a person)."""
    found = {}
    for i, cell in enumerate(row):
        key = cell.strip().lower().replace("-", " ")
        for col, names in _ALIASES.items():
            if key in names and col not in found:
                found[col] = i
    # Two column names, or one in a row that is no valid person, make a
    # header: a first person whose organisation is "Media" stays a person.
    if not found or (len(found) == 1 and not _entry(row, _DEFAULT_COLS)[1]):
        return None
    missing = [c for c in ("acc_id", "name") if c not in found]
    if missing:
        raise ValueError("the header %s has no %s; name %s (organisation, role and handles are optional)" % (
            ",".join(cell.strip() for cell in row), " and no ".join(_LABELS[c] + " column" for c in missing),
            " and ".join("the %s column one of: %s" % (_LABELS[c], ", ".join(_ALIASES[c])) for c in missing)))
    return found


def _sniff_delimiter(first_line):
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def parse(text, source="roster"):
    """CSV text -> [Accreditation]; raises RosterError listing every problem."""
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first))
    problems = []
    entries = []
    first_line = {}
    cols = None
    try:
        for row in reader:
            lineno = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if cols is None:
                try:
                    cols = _header_map(row)
                except ValueError as e:
                    raise RosterError(source, ["line %d: %s" % (lineno, e)]) from None
                if cols is not None:
                    continue
                cols = _DEFAULT_COLS
            entry, errs = _entry(row, cols)
            for e in errs:
                problems.append("line %d: %s" % (lineno, e))
            if entry is None:
                continue
            if entry.acc_id in first_line:
                problems.append("line %d: accreditation %s appears again (first on line %d)"
                                % (lineno, entry.acc_id, first_line[entry.acc_id]))
                continue
            first_line[entry.acc_id] = lineno
            entries.append(entry)
    except csv.Error as e:
        problems.append("line %d: %s" % (reader.line_num, e))
    if problems:
        raise RosterError(source, problems[:_MAX_REPORTED], max(0, len(problems) - _MAX_REPORTED))
    if not entries:
        raise RosterError(source, ["has no accreditations"])
    return entries


def _entry(row, cols):
    def cell(col):
        i = cols.get(col)
        # Line breaks and runs of spaces inside a quoted field: one space.
        return " ".join(row[i].split()) if i is not None and i < len(row) else ""

    errs = []
    acc_id = normalize_acc(cell("acc_id"))
    bad = check_acc_id(acc_id)
    if bad:
        errs.append(bad)
    name = cell("name")
    if not name:
        errs.append("name is empty")
    for col in ("name", "organisation", "role"):
        if len(cell(col)) > MAX_TEXT:
            errs.append("%s is longer than %d characters" % (col, MAX_TEXT))
    for col in ("name", "organisation", "role", "handles"):
        bad = _CONTROL.search(cell(col))
        if bad:
            errs.append("%s contains the control character U+%04X" % (col, ord(bad.group())))
    handles = [h for h in _HANDLE_SPLIT.split(cell("handles")) if h]
    if len(handles) > MAX_HANDLES:
        errs.append("more than %d handles" % MAX_HANDLES)
    for h in handles:
        if len(h) > MAX_HANDLE:
            errs.append("handle %r is longer than %d characters" % (h[:20] + "...", MAX_HANDLE))
    if errs:
        return None, errs
    return Accreditation(acc_id, name, cell("organisation"), cell("role"), tuple(handles)), []


def read(path):
    """Read and parse a roster file; RosterError for a missing or bad file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RosterError(str(path), ["cannot read (%s)" % (e.strerror or e)]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise RosterError(str(path), ["line %d: not UTF-8 text; save the roster as \"CSV UTF-8\"" % line]) from None
    return parse(text, str(path))

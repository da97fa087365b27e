"""#13 part 3: one serial session for every host tool. Only
host_tools/link/session.py sends a badge's REPL its control keys (Ctrl-A
raw REPL, Ctrl-B friendly, Ctrl-C interrupt, Ctrl-D soft reset): a tool
that wrote them itself would be another waker with its own idea of how to
stop the app (the session's docstring says why one Ctrl-C a round)."""
import re

from host_tools import REPO

# A bytes literal holding a REPL control key, written to a port.
_KEYS = re.compile(r"""\.write\(\s*b(["'])[^"']*\\x0[1-4]""")
SESSION = REPO / "host_tools" / "link" / "session.py"


def test_only_the_session_sends_repl_control_keys():
    offenders = []
    for path in sorted((REPO / "host_tools").rglob("*.py")):
        if path == SESSION or "emulator" in path.parts:  # the emulated badge's own side
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _KEYS.search(line):
                offenders.append("%s:%d: %s" % (path.relative_to(REPO), n, line.strip()))
    assert not offenders, "\n".join(offenders)
    assert _KEYS.search(SESSION.read_text(encoding="utf-8"))  # the pattern finds the session's own

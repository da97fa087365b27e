"""Benchmarks: results as JSON on standard output, progress on standard error."""
import json
import sys


def emit(result, summary=None):
    """Print a benchmark's result as JSON on stdout and its one-line summary on
    stderr; returns the exit status: 1 when recordings were skipped (the result
    lists them under `skipped`), else 0."""
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    sys.stdout.flush()
    skipped = result.get("skipped") or []
    if skipped:
        summary = "%s; %d recording(s) skipped, see `skipped`" % (summary or "done", len(skipped))
    if summary:
        print(summary, file=sys.stderr)
    return 1 if skipped else 0

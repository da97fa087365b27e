"""Benchmarks: results as JSON on standard output, progress on standard error."""
import json
import sys


def emit(result, summary=None):
    """Print a benchmark's result as JSON on stdout and its one-line summary on stderr."""
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    sys.stdout.flush()
    if summary:
        print(summary, file=sys.stderr)

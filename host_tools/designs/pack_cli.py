"""Check event packs (the designs an event offers and the task unlocking
each) with the firmware's own validator, so a pack that passes here is one
the pin loads. Every error is named with its path in the pack, e.g.
`sports[3].task.n: must be an integer 1..1024 for friends, got 0`.

  cloudpin pack check packs/tokyo2020.json

Exit status: 0 when every pack is valid, 2 when any has an error.
The format is described in docs/designs.md."""
import sys
from collections import Counter

from host_tools.designs import packfmt, read_pack


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="validate pack files, naming every error", description=__doc__)
    c.add_argument("files", nargs="+", metavar="FILE", help="pack JSON files")


def run(args):
    bad = 0
    for path in args.files:
        doc, errors = read_pack(path)
        if errors:
            bad += 1
            for e in errors:
                print(e, file=sys.stderr)
            print("%s: %d error%s" % (path, len(errors), "" if len(errors) == 1 else "s"), file=sys.stderr)
            continue
        kinds = Counter(s["task"]["kind"] for s in doc["sports"])
        print("ok %s: %s, %d designs; tasks: %s" % (path, doc["event"], len(doc["sports"]), ", ".join(
            "%s %d" % (k[0], kinds[k[0]]) for k in packfmt.KINDS if kinds[k[0]])))
    return 2 if bad else 0

"""Check event packs (the designs an event offers and the task unlocking
each) with the firmware's own validator, so a pack that passes here is one
the pin loads. Every error is named with its path in the pack, e.g.
`sports[3].task.n: must be an integer 1..1024 for friends, got 0`.

  cloudpin pack check packs/tokyo2020.json
  cloudpin pack build packs/tokyo2020.json -o build/pack.bin

`build` compiles a valid pack into the file the pin boots from (/pack.bin,
beside /board.json): the JSON is not parsed on the pin, which would take
tens of KB of its heap. Exit status: 0 when every pack is valid, 2 when any
has an error. The format is described in docs/designs.md."""
import sys
from collections import Counter

from pathlib import Path

from host_tools.designs import DEFAULT_PACK, PackError, compile_pack, packfmt, read_pack


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="validate pack files, naming every error", description=__doc__)
    c.add_argument("files", nargs="+", metavar="FILE", help="pack JSON files")
    c.set_defaults(_action=check)
    b = sub.add_parser("build", help="compile a pack into the pin's /pack.bin", description=__doc__)
    b.add_argument("file", metavar="FILE", help="pack JSON file")
    b.add_argument("-o", "--out", required=True, metavar="BIN", help="compiled pack to write (e.g. build/pack.bin)")
    b.set_defaults(_action=build)


def add_pack_option(p):
    """--pack / --no-pack, as deploy and image both take them."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pack", default=str(DEFAULT_PACK), metavar="FILE",
                   help="event pack (designs and their tasks, docs/designs.md) compiled onto the pin as /pack.bin "
                        "(default: packs/tokyo2020.json)")
    g.add_argument("--no-pack", dest="pack", action="store_const", const=None,
                   help="no designs on the pin (a later deploy removes a pack.bin it put there)")


def run(args):
    return args._action(args)


def build(args):
    try:
        data = compile_pack(args.file)
    except PackError as e:
        print(str(e), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print("wrote %s: %d bytes" % (out, len(data)))
    return 0


def check(args):
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

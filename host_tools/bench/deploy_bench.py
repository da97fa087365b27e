"""Deploy benchmark: the whole compiled app onto one virtual badge paced to
115200 baud, in one run, by
  - `cloudpin deploy` (host_tools/link/deploy.py, through its Python API),
  - `mpremote cp -r` of the same files,
  - `ampy put`, one process per file (as the tool is used),
and `cloudpin deploy` again when nothing changed. Each copy starts from an
empty badge idle at its REPL (the folder is emptied and the badge power
cycled). mpremote and ampy run as the user runs them (their own process,
start-up included); the deploy time includes stopping and restarting the app.

Targets (issue 4): faster than mpremote cp, >= 3x faster than ampy put,
unchanged re-deploy < 1 s. `python -m host_tools.bench.deploy_bench` prints
the result as JSON; bench_deploy() returns it as a dict.
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.boards import load_board
from host_tools.link import deploy
from host_tools.virtual_badge import VirtualBadge

BAUD = 115200
DEFAULT_BOARD = "cloudpin_ref"


def _tool(name):
    return str(Path(sys.executable).parent / name)


def _empty(badge):
    """Power the badge off, empty its flash (keeping nothing), power it on
    idle at the REPL (there is no main.py)."""
    badge.unplug()
    for p in badge.root.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    badge.replug()
    if not badge.wait_repl(30):
        raise RuntimeError("the virtual badge did not reach its REPL")


def _stage(files, folder):
    for path, data in files.items():
        out = folder / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return folder


def _run(cmd, cwd):
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd[:3]), proc.stdout[-2000:], proc.stderr[-2000:]))
    return time.monotonic() - t


def _check(badge, files, method):
    got = {}
    for path in files:
        p = badge.root / path
        got[path] = p.read_bytes() if p.exists() else None
    bad = sorted(p for p in files if got[p] != files[p])
    if bad:
        raise RuntimeError("%s left %d file(s) wrong on the badge: %s" % (method, len(bad), ", ".join(bad[:5])))


def bench_deploy(board=DEFAULT_BOARD, baud=BAUD, progress=None):
    """Returns {seconds: {...}, ratios: {...}, targets: {...}, files, bytes}."""
    say = progress or (lambda msg: None)
    board = load_board(board)
    with tempfile.TemporaryDirectory(prefix="cloudpin-deploy-bench-") as tmp:
        tmp = Path(tmp)
        badge = VirtualBadge(tmp / "badge", baud=baud, board=board["name"])
        badge.start()
        try:
            badge.wait_repl(30)
            arch = "x64"  # the virtual badge's CPU, as deploy picks it itself
            files = deploy.build(board, arch)
            stage = _stage(files, tmp / "stage")
            seconds = {}

            say("cloudpin deploy (empty badge)")
            _empty(badge)
            r = deploy.deploy_port(badge.port, board, baud=baud)
            if "error" in r:
                raise RuntimeError(r["error"])
            seconds["deploy"] = r["seconds"]
            _check(badge, files, "cloudpin deploy")

            say("cloudpin deploy, nothing changed (the app running)")
            time.sleep(1.0)  # let the restarted app get going, so the deploy has to stop it
            r = deploy.deploy_port(badge.port, board, baud=baud)
            if "error" in r or r["written"]:
                raise RuntimeError("unchanged re-deploy: %s" % r)
            seconds["deploy_unchanged"] = r["seconds"]

            say("mpremote cp -r (empty badge)")
            _empty(badge)
            top = sorted({p.split("/")[0] for p in files})
            seconds["mpremote_cp"] = _run([_tool("mpremote"), "connect", badge.port, "cp", "-r"] + top + [":"],
                                          stage)
            _check(badge, files, "mpremote cp")

            say("ampy put, one file at a time (empty badge)")
            _empty(badge)
            t = 0.0
            ampy = [_tool("ampy"), "--port", badge.port, "--baud", str(baud)]
            for d in sorted({p.rsplit("/", 1)[0] for p in files if "/" in p}):
                t += _run(ampy + ["mkdir", "--exists-okay", d], stage)
            for path in sorted(files):
                t += _run(ampy + ["put", path, path], stage)
            seconds["ampy_put"] = t
            _check(badge, files, "ampy put")
        finally:
            badge.stop()
    ratios = {
        "mpremote_cp_over_deploy": seconds["mpremote_cp"] / seconds["deploy"],
        "ampy_put_over_deploy": seconds["ampy_put"] / seconds["deploy"],
    }
    targets = {
        "faster_than_mpremote_cp": ratios["mpremote_cp_over_deploy"] > 1.0,
        "ampy_put_at_least_3x": ratios["ampy_put_over_deploy"] >= 3.0,
        "unchanged_under_1s": seconds["deploy_unchanged"] < 1.0,
    }
    return {"baud": baud, "board": board["name"], "arch": arch, "files": len(files),
            "bytes": sum(len(v) for v in files.values()),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "ratios": {k: round(v, 2) for k, v in ratios.items()}, "targets": targets}


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--board", default=DEFAULT_BOARD)
    p.add_argument("--baud", type=int, default=BAUD)
    args = p.parse_args(argv)
    result = bench_deploy(args.board, args.baud, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=1))
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Desk benchmarks, on virtual badges paced to 115200 baud running the
current firmware (issue 4's targets):

- one badge: seconds from plug-in (the port appears) to done, through the
  whole interactive desk: hot-plug detection, firmware check, assignment
  (scanned before plugging in), write, read-back, self-test, database, card.
  Target <= 5 s.
- four ports: badges provisioned per second with four ports busy, over the
  same with one port; target >= 3.5x.
- faults: provisionings with random unplugs and tool kills through the
  in-process harness (host_tools/testkit/desk_faults.py), plus a few real virtual
  badges pulled out mid-write and plugged back in; lost and duplicated
  must both be 0.

`python -m host_tools.bench.desk` prints the result as JSON; bench_desk()
returns it as a dict.
"""
import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from host_tools import BOARDS_DIR, FIRMWARE_DIR
from host_tools.desk import db as deskdb
from host_tools.desk import hotplug
from host_tools.desk.badge_io import SerialBadge, firmware_version
from host_tools.desk.db import Accreditation
from host_tools.desk.provision import Desk, bulk_chooser, provision
from host_tools.desk.station import Station
from host_tools.testkit import desk_faults as faults

BAUD = 115200


def badge_folder(root, board="cloudpin_ref", version=None):
    """A badge's flash as a desk finds it: the app (firmware/ as source) and
    /board.json; optionally claiming another VERSION (an outdated badge)."""
    root = Path(root)
    shutil.copytree(FIRMWARE_DIR, root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    shutil.copy(BOARDS_DIR / (board + ".json"), root / "board.json")
    if version is not None:
        init = root / "cloudpin" / "__init__.py"
        init.write_text(init.read_text().replace('VERSION = "%s"' % firmware_version(), 'VERSION = "%s"' % version))
    return root


def new_badge(root, name, baud=BAUD):
    from host_tools.virtual_badge import VirtualBadge

    folder = badge_folder(Path(root) / name)
    return VirtualBadge(folder, baud=baud, link=Path(root) / (name + ".tty"), name=name)


class BadgeProcess:
    """A virtual badge served by its own process, as real hardware is not
    part of the desk's process: the badge's proxy does not compete with the
    desk for the interpreter lock. Driven over stdin: plug, unplug, quit."""

    def __init__(self, root, name, baud=BAUD):
        import subprocess
        import sys

        self.name = name
        self.root = badge_folder(Path(root) / name)
        self.link = Path(root) / (name + ".tty")
        self.proc = subprocess.Popen([sys.executable, "-m", "host_tools.bench.desk", "--serve-badge", str(self.root),
                                      str(self.link), str(baud)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.port = None

    def _cmd(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        if not reply or reply[0] != "ok":
            raise RuntimeError("badge process %s: %r -> %r" % (self.name, cmd, reply))
        return reply[1:]

    def start(self):
        self.port = self._cmd("plug")[0]
        return self

    def unplug(self):
        self._cmd("unplug")
        self.port = None

    def stop(self):
        try:
            self._cmd("quit")
        except (RuntimeError, OSError, ValueError):
            pass
        self.proc.wait(10)


def serve_badge(folder, link, baud):
    import sys

    from host_tools.virtual_badge import VirtualBadge

    vb = VirtualBadge(folder, baud=baud, link=link, name=Path(folder).name)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "plug":
            vb.start()
            print("ok", vb.port, flush=True)
        elif cmd == "unplug":
            vb.unplug()
            print("ok", flush=True)
        elif cmd == "quit":
            vb.stop()
            print("ok", flush=True)
            return
        else:
            print("error unknown", flush=True)
    vb.stop()


def _roster(db, n):
    db.import_roster([Accreditation("B-%04d" % i, "Bench Person %d" % i, "Bench Org", "reporter")
                      for i in range(1, n + 1)])


def _lane(station, badge, count, times, errors):
    """Plug `count` fresh badges one after another into one port."""
    for i in range(count):
        station.handle_line("next")  # scanned while the badge is being plugged in
        t0 = time.monotonic()
        badge.start()
        port_link = str(badge.link)
        deadline = t0 + 60
        while time.monotonic() < deadline:
            rows = {r["port"]: r for r in station.snapshot()[0]}
            r = rows.get(port_link)
            if r is not None and r["state"] == "finished":
                break
            time.sleep(0.02)
        else:
            errors.append("%s: no result within 60 s" % badge.name)
        times.append(time.monotonic() - t0)
        status = r["status"] if r else None
        if status != "done":
            errors.append("%s: %s %s" % (badge.name, status, r["message"] if r else ""))
        badge.unplug()
        # The next badge in this lane is a new one: same port, empty identity.
        (badge.root / ".nvs.json").unlink(missing_ok=True)
        (badge.root / "owner.json").unlink(missing_ok=True)
        t_gone = time.monotonic()
        while time.monotonic() - t_gone < 5 and any(r["port"] == port_link for r in station.snapshot()[0]):
            time.sleep(0.02)


def _desk_run(lanes, per_lane, root):
    """lanes ports, per_lane badges through each; -> (seconds, per-badge times, errors)."""
    db = deskdb.connect(str(Path(root) / "desk.sqlite"))
    _roster(db, lanes * per_lane + 4)
    desk = Desk(db, firmware_version(), Path(root) / "cards", name="bench")
    badges = [BadgeProcess(root, "lane%d" % i) for i in range(lanes)]
    station = Station(db, desk, hotplug.glob_ports(str(Path(root) / "lane*.tty")),
                      lambda port: SerialBadge(port, BAUD), interval=0.1)
    station.start()
    times, errors = [], []
    t0 = time.monotonic()
    threads = [threading.Thread(target=_lane, args=(station, b, per_lane, times, errors)) for b in badges]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.monotonic() - t0
    station.stop()
    for b in badges:
        b.stop()
    db.close()
    return total, times, errors


def bench_one(per_lane=8):
    with tempfile.TemporaryDirectory(prefix="cloudpin-deskbench-") as root:
        total, times, errors = _desk_run(1, per_lane, root)
    return {"plug_to_done_s": round(max(times), 2), "plug_to_done_median_s": round(sorted(times)[len(times) // 2], 2),
            "one_port_badges_per_min": round(60 * per_lane / total, 1), "errors": errors}


def bench_four(per_lane=8, one=None):
    one = one or bench_one(per_lane)
    with tempfile.TemporaryDirectory(prefix="cloudpin-deskbench-") as root:
        total, times, errors = _desk_run(4, per_lane, root)
    four = 60 * 4 * per_lane / total
    return {"four_ports_badges_per_min": round(four, 1),
            "four_vs_one_ratio": round(four / one["one_port_badges_per_min"], 2),
            "errors": errors}


def bench_real_unplugs(rounds=5):
    """Virtual badges pulled out at each step of a provisioning, then plugged
    back in: every one must finish with its accreditation, none twice."""
    from host_tools.desk.provision import STEPS

    steps = [name for name, _, _ in STEPS if name not in ("connect", "assign", "record", "card")]
    lost = dup = done = 0
    with tempfile.TemporaryDirectory(prefix="cloudpin-deskbench-") as root:
        db = deskdb.connect(str(Path(root) / "desk.sqlite"))
        _roster(db, rounds + 2)
        desk = Desk(db, firmware_version(), Path(root) / "cards", name="bench")
        for i in range(rounds):
            vb = new_badge(root, "pull%d" % i).start()
            at = steps[i % len(steps)]

            def pull(step, msg="", vb=vb, at=at):
                if step == at and vb.running:
                    vb.unplug()

            first = provision(SerialBadge(vb.port, BAUD), desk, bulk_chooser(db), progress=pull)
            vb.replug()
            again = provision(SerialBadge(vb.port, BAUD), desk, bulk_chooser(db))
            vb.stop()
            if again.status == "done" and (first.acc_id in (None, again.acc_id)):
                done += 1
            else:
                lost += 1
        rows = db.export()
        accs = [r["acc_id"] for r in rows if r["state"] != "void"]
        dup = len(accs) - len(set(accs))
        db.close()
    return {"real_unplug_rounds": rounds, "real_unplug_done": done, "real_unplug_lost": lost,
            "real_unplug_duplicated": dup}


def bench_desk(provisionings=1000, per_lane=8, real_rounds=5):
    result = {"baud": BAUD}
    one = bench_one(per_lane)
    result.update(one)
    four = bench_four(per_lane, one)
    result.update(four)
    result["errors"] = one["errors"] + four["errors"]
    result["faults"] = faults.run(provisionings, seed=int(time.time()) & 0xFFFF)
    result.update(bench_real_unplugs(real_rounds))
    result["targets"] = {
        "plug_to_done_le_5s": result["plug_to_done_s"] <= 5.0,
        "four_ports_ge_3_5x": result["four_vs_one_ratio"] >= 3.5,
        "no_lost_or_duplicated": result["faults"]["lost"] == 0 and result["faults"]["duplicated"] == 0
        and result["real_unplug_lost"] == 0 and result["real_unplug_duplicated"] == 0,
    }
    return result


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.bench.desk", description=__doc__.split("\n\n")[0])
    p.add_argument("--provisionings", type=int, default=1000, help="fault-harness provisionings (default 1000)")
    p.add_argument("--per-lane", type=int, default=8, help="badges through each port (default 8)")
    p.add_argument("--real-rounds", type=int, default=5, help="real virtual badges pulled out mid-way (default 5)")
    p.add_argument("--serve-badge", nargs=3, metavar=("FOLDER", "LINK", "BAUD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_badge:
        folder, link, baud = args.serve_badge
        return serve_badge(folder, link, int(baud))
    print(json.dumps(bench_desk(args.provisionings, args.per_lane, args.real_rounds), indent=1))


if __name__ == "__main__":
    main()

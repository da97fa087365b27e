"""Press-centre desk: give badges to accredited media and take them back.

  cloudpin desk [--roster FILE] [--db URL]       the interactive desk: plug badges in, scan accreditations
  cloudpin desk import --roster FILE             load or update the roster (CSV)
  cloudpin desk provision --port P ... --yes     bulk: next unassigned accreditations, no prompts
  cloudpin desk verify --port P [--json]         read a badge back: identity, owner card, clock, self-test
  cloudpin desk return --port P                  wipe a returned badge and free it for reuse
  cloudpin desk return --acc ID --lost           release a lost badge's accreditation
  cloudpin desk export [--json | --csv]          every assignment (no secrets)
  cloudpin desk event [--utc-offset +HH:MM]      the event's time zone (and key digest) every badge gets

The database (--db) is a file path or sqlite:///path (default ./desk.sqlite),
or postgresql://user@host/db when several desks share one roster.
"""
import argparse
import csv
import contextlib
import json
import logging
import sys
from pathlib import Path

from host_tools.desk import db as deskdb
from host_tools.desk import roster as rosterlib

log = logging.getLogger("cloudpin.desk")

_COMMON = {
    "--db": dict(metavar="URL", help="database: file, sqlite:///path or postgresql://... (default ./desk.sqlite)"),
    "--log": dict(metavar="FILE", help="desk log file (default ./desk.log); never holds secrets"),
}


def _common(p, suppress=False):
    for flag, kw in _COMMON.items():
        p.add_argument(flag, default=argparse.SUPPRESS if suppress else None, **kw)


def _station_args(p, suppress=False):
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    p.add_argument("--roster", metavar="FILE", default=d(None), help="import this roster CSV first")
    p.add_argument("--cards", metavar="DIR", default=d("cards"), help="folder for pairing cards (default ./cards)")
    p.add_argument("--card-format", choices=("png", "pdf"), default=d("png"), help="pairing card format")
    p.add_argument("--baud", type=int, default=d(115200), help="serial speed (default 115200)")
    p.add_argument("--board", default=d("cloudpin_ref"),
                   help="board definition to deploy to outdated badges (default cloudpin_ref)")
    p.add_argument("--no-update", action="store_true", default=d(False),
                   help="report outdated badges instead of deploying the app to them")
    p.add_argument("--desk-name", default=d(None), help="this desk's name in the database (default: host name)")
    p.add_argument("--overwrite-unknown", action="store_true", default=d(False),
                   help="provision a badge that holds someone's identity this database has no live record of "
                   "(written from another desk database); default: refuse until it is returned")


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the usage table above as written
    _common(p)
    _station_args(p)
    p.add_argument("--port", action="append", default=None, metavar="P",
                   help="watch only these ports (repeatable); default: every USB serial port")
    p.add_argument("--watch-glob", metavar="PATTERN", help="watch ports matching a glob (e.g. virtual badges' links)")
    sub = p.add_subparsers(dest="desk_command", metavar="SUBCOMMAND")

    s = sub.add_parser("import", help="load or update the roster from a CSV file")
    s.add_argument("--roster", metavar="FILE", required=True)
    _common(s, True)

    s = sub.add_parser("provision", help="provision the badges on these ports for the next accreditations")
    s.add_argument("--port", action="append", required=True, metavar="P", help="a badge's port (repeatable)")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--json", action="store_true", help="one JSON result per port")
    _common(s, True)
    _station_args(s, True)

    s = sub.add_parser("verify", help="read a badge back: identity, owner card (no secrets), its clock's offset "
                       "from this computer's, self-test")
    s.add_argument("--port", required=True, metavar="P")
    s.add_argument("--json", action="store_true")
    s.add_argument("--baud", type=int, default=argparse.SUPPRESS)
    _common(s, True)

    s = sub.add_parser("return", help="wipe a returned badge's personal data and free it for reuse")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--port", metavar="P", help="the returned badge's port")
    g.add_argument("--acc", metavar="ID", help="with --lost: an accreditation whose badge is lost")
    s.add_argument("--lost", action="store_true", help="the badge is lost: release its accreditation")
    s.add_argument("--cards", metavar="DIR", default=argparse.SUPPRESS)
    s.add_argument("--baud", type=int, default=argparse.SUPPRESS)
    _common(s, True)

    s = sub.add_parser("event", help="show or set the event's time zone; every badge gets it with the event key",
                       description="Every badge this database provisions gets the event's key (one random 16-byte "
                       "key, made with the database's first badge and kept in it; it authenticates the tap "
                       "handshake) and the event's time zone (daily counters roll over at its midnight). The time "
                       "zone defaults to this computer's when the first badge is written; set it before that. "
                       "Once badges hold it, it cannot change.")
    s.add_argument("--utc-offset", metavar="+HH:MM",
                   help="the event's UTC offset: +HH:MM, -HH:MM, +H or minutes east of UTC (e.g. +02:00 for CEST)")
    s.add_argument("--json", action="store_true", help="print it as JSON")
    _common(s, True)

    s = sub.add_parser("export", help="print every assignment (no secrets)")
    f = s.add_mutually_exclusive_group()
    f.add_argument("--json", action="store_true")
    f.add_argument("--csv", action="store_true")
    _common(s, True)


def _setup_log(args):
    path = Path(getattr(args, "log", None) or "desk.log")
    log.setLevel(logging.INFO)
    if not any(getattr(h, "baseFilename", None) == str(path.resolve()) for h in log.handlers):
        try:
            h = logging.FileHandler(path, encoding="utf-8")
        except OSError as e:
            print("cannot write the desk log %s: %s" % (path, e.strerror), file=sys.stderr)
            return
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(h)


def _refuse(message, status):
    """A command that does nothing says why, on stderr and in desk.log."""
    print(message, file=sys.stderr)
    log.warning("refused: %s", message)
    return status


def _badge_chatter_to_stderr():
    """mpremote prints what a silent or garbled badge sent (b'') to stdout
    before it raises; stdout is the commands' JSON and results only."""
    return contextlib.redirect_stdout(sys.stderr)


def _open_db(args):
    return deskdb.connect(getattr(args, "db", None))


def _import(db, path):
    entries = rosterlib.read(path)
    added, updated, same = db.import_roster(entries)
    boxes = _undrawable(entries)
    if boxes:  # imported all the same: only their printed pairing cards lack a font
        text = ("%d of the roster's people have characters no pairing-card font draws (their cards would show "
                "boxes): %s" % (len(boxes), "; ".join(boxes[:10]) + ("; ..." if len(boxes) > 10 else "")))
        print("warning: " + text, file=sys.stderr)
        log.warning("roster %s: %s", path, text)
    return "roster %s: %d new, %d updated, %d unchanged (%d in the database)" % (
        path, added, updated, same, db.counts()["roster"])


def _undrawable(entries):
    """'ACC-ID: U+xxxx ...' for each entry whose card text has characters
    none of the card's fonts has."""
    from host_tools.desk import card

    out = []
    for e in entries:
        missing = sorted({c for text in (e.name, e.organisation, e.role) if text for c in card.missing_glyphs(text)})
        if missing:
            out.append("%s: %s" % (e.acc_id, " ".join("U+%04X" % ord(c) for c in missing[:5])))
    return out


def _desk(args, db):
    import socket

    from host_tools.desk.badge_io import deploy_updater, firmware_version
    from host_tools.desk.provision import Desk

    updater = None if args.no_update else deploy_updater(args.board)
    return Desk(db, firmware_version(), args.cards, updater=updater, name=args.desk_name or socket.gethostname(),
                card_format=args.card_format, overwrite_unknown=args.overwrite_unknown)


def run(args):
    _setup_log(args)
    command = getattr(args, "desk_command", None) or "desk"
    try:
        return _COMMANDS[command](args)
    except deskdb.DeskDBError as e:
        print("database: %s" % e, file=sys.stderr)
        log.error("database: %s", e)
        return 1
    except rosterlib.RosterError as e:
        print(e, file=sys.stderr)
        print("Nothing was imported: fix these lines and import again.", file=sys.stderr)
        log.warning("roster refused (nothing imported): %s", "; ".join(e.problems))
        return 1


def _run_import(args):
    db = _open_db(args)
    try:
        print(_import(db, args.roster))
    finally:
        db.close()
    return 0


def _serial_badge(args, port):
    from host_tools.desk.badge_io import SerialBadge

    return SerialBadge(port, getattr(args, "baud", 115200))


def _host_clock_refusal():
    """Badges take their clock from this computer's: refuse one that is plainly wrong."""
    from host_tools.desk import clock

    problem = clock.host_problem()
    return _refuse(problem, 2) if problem else None


def _run_provision(args):
    from host_tools.desk.provision import Outcome, bulk_chooser, provision
    from host_tools.ports.pool import crashed, each_port

    refused = _host_clock_refusal()
    if refused is not None:
        return refused
    db = _open_db(args)
    try:
        if args.roster:
            print(_import(db, args.roster), file=sys.stderr)
        if not args.yes:
            if not sys.stdin.isatty():
                return _refuse("refusing to provision without confirmation: add --yes", 2)
            answer = input("Provision the badges on %s for the next %d unassigned accreditations? [y/N] "
                           % (", ".join(args.port), len(args.port)))
            if answer.strip().lower() not in ("y", "yes"):
                return _refuse("provisioning on %s not confirmed: nothing done" % ", ".join(args.port), 1)
        desk = _desk(args, db)
        with _badge_chatter_to_stderr():
            results = each_port(args.port, lambda port: provision(_serial_badge(args, port), desk, bulk_chooser(db)),
                                lambda port, e: Outcome("failed", port, message=crashed(port, e)), name="desk")
        for port in args.port:
            out = results[port]
            if args.json:
                print(json.dumps({"port": port, "status": out.status, "ok": out.ok, "badge_id": out.badge_id,
                                  "acc_id": out.acc_id, "name": out.name, "gen": out.gen,
                                  "card": str(out.card) if out.card else None, "message": out.message}))
            else:
                who = " %s (%s)" % (out.acc_id, out.name) if out.acc_id else ""
                print("%s:%s %s" % (port, who, out.message))
        return 0 if all(r.ok for r in results.values()) else 1
    finally:
        db.close()


def _run_verify(args):
    from host_tools.desk import clock as deskclock
    from host_tools.desk.badge_io import BadgeError, BadgeGone

    badge = _serial_badge(args, args.port)
    try:
        with _badge_chatter_to_stderr():
            badge.connect()
            st = badge.inspect()
            result = {"port": args.port}
            result.update(st.public())
            result["selftest"] = badge.selftest() if st.complete else None
            result["clock"] = deskclock.read(badge) if st.complete else None
    except (BadgeGone, BadgeError) as e:
        print(str(e), file=sys.stderr)
        log.warning("verify %s: %s", args.port, e)
        return 1
    finally:
        with _badge_chatter_to_stderr():
            badge.close()
    if getattr(args, "db", None) and st.badge_id:
        db = _open_db(args)
        try:
            live = db.live_for_badge(st.badge_id)
            event = db.event()
            result["database"] = None if live is None else {
                "acc_id": live.acc_id, "state": live.state, "gen": live.id, "consistent": st.holds(live),
                "event": st.has_event(event)}
        finally:
            db.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_verify(result)
    problems = []
    if result["selftest"] is None:
        problems.append("self-test not run (no CloudPin app)")
    elif not result["selftest"].get("ok"):
        problems.append("self-test failed")
    if st.provisioned and result["clock"] is not None and not result["clock"]["set"]:
        problems.append("its clock was never set (or its battery ran flat): plug it into the desk "
                        "(cloudpin desk provision --port %s) to set it" % args.port)
    if st.provisioned and not st.social:
        problems.append("no event key or time zone: meet and greet is off (return it and provision it again)")
    if "database" in result:
        if (result["database"] or {}).get("consistent") is False:
            problems.append("the database's assignment does not match the badge")
        elif st.social and (result["database"] or {}).get("event") is False:
            problems.append("its event key or time zone is not this database's event")
        elif result["database"] is None and st.provisioned:
            problems.append("the badge holds an identity this database has no live assignment for")
    if result["clock"] is not None:
        c = result["clock"]
        log.info("verify %s badge=%s clock %+d ms from this computer's (round trip %d ms), set by %s", args.port,
                 result["badge_id"], c["offset_ms"], c["rtt_ms"], c["set"] or "nobody")
    for p in problems:
        print("%s: %s" % (args.port, p), file=sys.stderr)
    if problems:
        log.warning("verify %s badge=%s: %s", args.port, result["badge_id"], "; ".join(problems))
        return 1
    return 0


def _print_verify(r):
    print("port      %s" % r["port"])
    print("firmware  %s" % (r["firmware"] or "none (no CloudPin app)"))
    print("badge     %s" % (r["badge_id"] or "no id yet"))
    state = "provisioned (gen %s)" % r["prov_gen"] if r["provisioned"] else "not provisioned"
    print("identity  %s" % state)
    if r["social"]:
        print("event     key %s..., %s" % (r["event_digest"][:12], deskdb.format_utc_offset(r["utc_offset"])))
    elif r["provisioned"]:
        print("event     none: meet and greet off")
    o = r.get("owner")
    if o:
        parts = [o["name"], o["organisation"], o["role"], " ".join(o["handles"])]
        print("owner     %s: %s" % (o["acc"], ", ".join(p for p in parts if p)))
    c = r.get("clock")
    if c:
        from host_tools.desk.clock import describe

        print("clock     %s, %+d ms from this computer's (round trip %d ms); %s" % (
            describe(c["utc_ms"]), c["offset_ms"], c["rtt_ms"],
            "set by the %s" % c["set"] if c["set"] else "NEVER SET"))
    st = r.get("selftest")
    if st:
        for k in ("sensor", "ble", "storage"):
            print("%-9s %s %s" % (k, "ok  " if st[k]["ok"] else "FAIL", st[k]["detail"]))
    if "database" in r:
        d = r["database"]
        print("database  %s" % ("no live assignment" if d is None else "%s %s (gen %d)%s%s" % (
            d["acc_id"], d["state"], d["gen"], "" if d["consistent"] else ": DOES NOT MATCH THE BADGE",
            "" if d["event"] or not r["social"] else ": ANOTHER EVENT'S KEY OR TIME ZONE")))


def _run_event(args):
    minutes = None
    if args.utc_offset is not None:
        try:
            minutes = deskdb.parse_utc_offset(args.utc_offset)
        except deskdb.DeskDBError as e:
            return _refuse("--utc-offset: %s" % e, 2)
    db = _open_db(args)
    try:
        if minutes is not None:
            try:
                event = db.set_utc_offset(minutes)
            except deskdb.DeskDBError as e:
                return _refuse(str(e), 1)
            log.info("event time zone set to %s", deskdb.format_utc_offset(event.utc_offset))
        else:
            event = db.event()
        if args.json:
            print(json.dumps({"utc_offset": event.utc_offset, "event_digest": event.digest}))
        else:
            print("event time zone %s (daily counters roll over at its midnight)" % deskdb.format_utc_offset(
                event.utc_offset))
            print("event key       %s... (SHA-256; the key itself never leaves the database but to badges)"
                  % event.digest[:16])
    finally:
        db.close()
    return 0


def _run_return(args):
    from host_tools.desk.provision import return_badge

    db = _open_db(args)
    try:
        if args.acc:
            if not args.lost:
                return _refuse("--acc releases a lost badge: add --lost (a badge at hand is returned with --port)",
                               2)
            live = db.live_for_acc(args.acc)
            if live is None:
                return _refuse("%s has no badge in the database: nothing marked lost" % args.acc, 1)
            db.end(live.id, "lost")
            log.info("badge %s of %s marked lost", live.badge_id, args.acc)
            print("%s: badge %s marked lost; %s can be given a new badge" % (args.acc, live.badge_id[:8], args.acc))
            return 0
        with _badge_chatter_to_stderr():
            out = return_badge(_serial_badge(args, args.port), db, getattr(args, "cards", "cards"))
        who = " %s (%s)" % (out.acc_id, out.name) if out.acc_id else ""
        print("%s:%s %s" % (args.port, who, out.message), file=sys.stdout if out.ok else sys.stderr)
        return 0 if out.ok else 1
    finally:
        db.close()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A text cell that a spreadsheet will not run as a formula: one starting
    with = + - @ tab or CR gets a leading apostrophe (OWASP, CSV injection).
    Roster text comes from outside and a desk opens the export in Excel."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _run_export(args):
    db = _open_db(args)
    try:
        rows = db.export()
    finally:
        db.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    elif args.csv:
        w = csv.writer(sys.stdout)
        keys = ("gen", "acc_id", "name", "organisation", "role", "handles", "badge_id", "state", "desk",
                "created_at", "done_at", "ended_at")
        w.writerow(keys)
        for r in rows:
            w.writerow([spreadsheet_safe(" ".join(r[k]) if k == "handles" else r[k]) for k in keys])
    else:
        for r in rows:
            print("%-6s %-12s %-28s %-16s %-9s %s" % (r["gen"], r["acc_id"], r["name"][:28], r["badge_id"],
                                                     r["state"], r["done_at"] or r["created_at"]))
        print("%d assignments" % len(rows))
    return 0


def _run_desk(args):
    from host_tools.desk import hotplug, ui
    from host_tools.desk.station import Station

    refused = _host_clock_refusal()
    if refused is not None:
        return refused
    db = _open_db(args)
    try:
        if args.roster:
            print(_import(db, args.roster))
        counts = db.counts()
        if not counts["roster"]:
            print("The roster is empty: start with `cloudpin desk --roster FILE` (a CSV export from "
                  "accreditation).", file=sys.stderr)
            return 1
        if args.watch_glob:
            lister = hotplug.glob_ports(args.watch_glob)
        elif args.port:
            lister = hotplug.fixed_ports(args.port)
        else:
            lister = hotplug.usb_serial_ports
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        station = Station(db, _desk(args, db), lister, lambda port: _serial_badge(args, port),
                          on_message=None if interactive else print)
        print("%d accreditations, %d without a badge yet. Cards go to %s/." % (
            counts["roster"], counts["unassigned"], args.cards))
        station.start()
        try:
            if interactive:
                ui.run_live(station)
            else:
                ui.run_plain(station)
        except KeyboardInterrupt:
            station.stop()
        return 0
    finally:
        db.close()


_COMMANDS = {"desk": _run_desk, "import": _run_import, "provision": _run_provision, "verify": _run_verify,
             "return": _run_return, "export": _run_export, "event": _run_event}

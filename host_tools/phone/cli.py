"""The wearer's phone, from a computer: pair with a pin and read or change
what its owner may (docs/phone-api.md), through this computer's Bluetooth
adapter (bleak), or with --air through the emulated air of virtual badges
running on this machine (`cloudpin virtual-badge`, `make demo`).

  cloudpin phone pair --secret S | --card card.png    check the secret with the pin, remember it
  cloudpin phone info [--json]                        firmware, battery, badge id
  cloudpin phone profile [--json]                     the owner card
  cloudpin phone profile set --name N [--organisation O] [--role R] [--handle H ...]
  cloudpin phone friends [--json]                     every friend, with their latest stats
  cloudpin phone stats [--json]                       today's (the pin's date) and the event's counts
  cloudpin phone designs [--json]                     unlocked designs, the one shown
  cloudpin phone design SPORT                         show that design
  cloudpin phone watch [--json] [--for S]             friends made, updates, unlocks as they happen

The pin answers only while its phone window is open: double-tap it (the window
stays open 60 s) before a command. The secret comes from --secret (the
card's key in base32, 32 hex digits, or the whole QR text), --card (a
picture of the card) or the file `pair` wrote (--state, default
~/.config/cloudpin/phone.json, readable by you only). From Python the same
client also runs on the emulated air: host_tools.phone.transports.connect_air.

Virtual badges: add --air to any command (`cloudpin phone pair --card
card.png --air`, then `cloudpin phone stats --json --air`, `cloudpin phone
design athletics --air`: --air last, or it takes the next word for its
SOCKET). The air hub is --air SOCKET if given, else $CLOUDPIN_AIR, else
every farm running here (their sockets cloudpin-air-*.sock in the
temporary folder: the pin is looked for on each). Pairing keeps the secret
in the same --state file as over Bluetooth: each later command connects
again and proves it, as on a real pin. The pin answers in its phone window
only: --tap badge-1 double-taps that virtual badge first, as its wearer
would (three touches 0.8 s apart, through the farm as `cloudpin
virtual-badge tap --solo` sends one), and again while no window is heard
within --timeout.

Exit status: 0 done, 1 the pin or the radio said no (one line on stderr),
2 bad arguments.
"""
import argparse
import base64
import datetime
import json
import os
import sys
import time
from pathlib import Path

from host_tools.phone import client as cl

DEFAULT_STATE = Path.home() / ".config" / "cloudpin" / "phone.json"


def _common(suppress=False):
    """The options every command takes (suppress: for a nested command, so
    that its defaults do not undo what was given before it)."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_mutually_exclusive_group()
    g.add_argument("--secret", metavar="S", default=d(None),
                   help="the card's secret: base32 key, 32 hex digits or the QR text")
    g.add_argument("--card", metavar="PNG", default=d(None), help="a picture of the pairing card (its QR code is read)")
    common.add_argument("--state", metavar="FILE", default=d(str(DEFAULT_STATE)),
                        help="where pair keeps the secret (default %s)" % DEFAULT_STATE)
    common.add_argument("--address", metavar="ADDR", default=d(None), help="connect to this device instead of "
                        "looking for the pin's phone window (the proofs still say whether it is your pin)")
    common.add_argument("--air", nargs="?", const="", default=d(None), metavar="SOCKET",
                        help="talk to virtual badges on this machine's emulated air instead of Bluetooth (the hub: "
                        "SOCKET, else $CLOUDPIN_AIR, else every farm running here)")
    common.add_argument("--tap", metavar="BADGE", default=d(None),
                        help="with --air: first double-tap this virtual badge (name, port or link, as `cloudpin "
                        "virtual-badge tap` takes) to open its phone window, as its wearer would")
    common.add_argument("--timeout", type=float, default=d(10.0), metavar="S",
                        help="seconds to find the pin and for each answer (default 10)")
    common.add_argument("--json", action="store_true", default=d(False), help="print JSON on stdout")
    return common


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    common = _common()
    sub = p.add_subparsers(dest="phone_command", metavar="COMMAND")
    sub.add_parser("pair", parents=[common], help="check the secret with the pin and remember it")
    sub.add_parser("info", parents=[common], help="firmware version, battery, badge id")
    prof = sub.add_parser("profile", parents=[common], help="show the owner card, or `profile set ...`")
    psub = prof.add_subparsers(dest="profile_command", metavar="set")
    ps = psub.add_parser("set", parents=[_common(True)], help="change the owner card's fields given")
    ps.add_argument("--name")
    ps.add_argument("--organisation")
    ps.add_argument("--role")
    ps.add_argument("--handle", action="append", metavar="H",
                    help="a social handle (repeat for each; replaces the list)")
    ps.add_argument("--no-handles", action="store_true", help="remove every handle")
    sub.add_parser("friends", parents=[common], help="every friend with their latest stats")
    sub.add_parser("stats", parents=[common], help="today's steps and friends, the event's totals")
    sub.add_parser("designs", parents=[common], help="unlocked designs and the one shown")
    d = sub.add_parser("design", parents=[common], help="show an unlocked design")
    d.add_argument("sport", help="its sport id (e.g. athletics) or index")
    w = sub.add_parser("watch", parents=[common], help="print events as they happen")
    w.add_argument("--for", dest="for_s", type=float, default=0, metavar="S", help="stop after S seconds (default: Ctrl-C)")


def _secret(args):
    """(badge id or None, key, where it came from)."""
    if args.secret:
        return cl.parse_secret(args.secret) + ("--secret",)
    if args.card:
        return cl.parse_secret(cl.read_card_qr(args.card)) + ("--card",)
    path = Path(args.state)
    try:
        doc = json.loads(path.read_text())
        key = base64.b32decode(doc["secret"])
    except FileNotFoundError:
        raise cl.PhoneClientError("no secret: give --secret or --card, or run `cloudpin phone pair` first")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise cl.PhoneClientError("cannot read the secret from %s: %s" % (path, e))
    if len(key) != 16:
        raise cl.PhoneClientError("%s holds no 16-byte secret" % path)
    return doc.get("badge_id"), key, str(path)


def _remember(path, badge_id, key):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a secret: the owner only
    with os.fdopen(fd, "w") as f:
        json.dump({"badge_id": badge_id, "secret": base64.b32encode(key).decode()}, f)
    os.replace(tmp, path)


def _air_address(text):
    try:
        addr = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        addr = b""
    if len(addr) != 6:
        raise cl.PhoneClientError("--address: give the pin's address as six hex bytes (aa:bb:cc:dd:ee:ff)")
    return addr


TAP_GAP_S = 0.8  # between touches: past one's tap window, within the role's double tap (DOUBLE_TAP_MS 1 s)
TAPS = 3  # a dozing pin may miss the first touch (its click engine wakes it): the next two make the double tap
TAP_WAIT_S = 5.0  # for the window after the touches, before tapping again


def _double_tap(badge, path):
    from host_tools.vbadge import tap

    print("double-tapping %s..." % badge, file=sys.stderr)
    for k in range(TAPS):
        try:
            tap.request([badge], solo=True, air=path)
        except tap.TapError as e:
            raise cl.PhoneClientError("--tap: %s" % e)
        if k < TAPS - 1:
            time.sleep(TAP_GAP_S)


def connect(args, key):
    air = getattr(args, "air", None)
    if getattr(args, "tap", None) and air is None:
        raise cl.PhoneClientError("--tap double-taps a virtual badge: give --air too")
    if air is not None:
        from host_tools.air.remote import find_hubs
        from host_tools.phone.transports import NotInRange, connect_hub

        paths = find_hubs(air or None)
        address = _air_address(args.address) if args.address else None
        if args.tap and len(paths) > 1:  # each farm names its badges badge-1...: which one's to touch?
            raise cl.PhoneClientError("--tap: %d virtual badge farms are running here: give --air with the socket of "
                                      "the one to tap (%s)" % (len(paths), ", ".join(paths)))
        print("looking for the pin on the air of %s (double-tap it to open its phone window)..." % ", ".join(paths),
              file=sys.stderr)
        if not args.tap:
            return cl.PinClient(connect_hub(paths, key, args.timeout, address), key, args.timeout)
        # a loaded host's badge VM may not feel a touch (its FIFO overran): tap again, as a wearer does
        end = time.monotonic() + args.timeout
        while True:
            _double_tap(args.tap, paths[0])
            left = end - time.monotonic()
            try:
                return cl.PinClient(connect_hub(paths, key, min(TAP_WAIT_S, max(left, 0.5)), address), key,
                                    args.timeout)
            except NotInRange:
                if left <= TAP_WAIT_S:
                    raise
    from host_tools.phone.transports import Bleak

    print("looking for the pin (double-tap it to open its phone window)...", file=sys.stderr)
    return cl.PinClient(Bleak.connect(key, args.timeout, args.address), key, args.timeout)


def _out(args, data, text):
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        print(text)


def _friend_line(f):
    c = f["card"]
    who = " / ".join(x for x in (c["name"], c["organisation"], c["role"]) if x)
    stats = "" if f["latest"] is None else "  %d steps, %d friends (at %s)" % (
        f["latest"][0], f["latest"][1], time.strftime("%H:%M", time.localtime(f["latest"][2])))
    return "%4d  %s%s%s" % (f["slot"], who, ("  " + " ".join(c["handles"])) if c["handles"] else "", stats)


def _event_line(e):
    if e["event"] == "friend":
        return "new friend: " + _friend_line(e["friend"]).strip()
    if e["event"] == "update":
        return "friend %d: %d steps, %d friends" % (e["slot"], e["steps"], e["made"])
    if e["event"] == "design":
        return "design %d unlocked" % e["index"]
    if e["event"] == "battery":
        return "battery %d%%%s" % (e["percent"], " (low)" if e["low"] else "")
    return "event %s" % e


def _command(args, c, badge, key):
    cmd = args.phone_command
    if cmd == "pair":
        info = c.info()
        if badge is not None and info["badge_id"] is not None and info["badge_id"] != badge:
            raise cl.PhoneClientError("this pin is badge %s, the card is for badge %s" % (info["badge_id"], badge))
        _remember(args.state, info["badge_id"], key)
        _out(args, info, "paired with badge %s (firmware %s); secret kept in %s" % (
            info["badge_id"], info["version"], args.state))
    elif cmd == "info":
        i = c.info()
        _out(args, i, "badge %s, firmware %s, battery %s" % (
            i["badge_id"], i["version"], "unknown" if i["battery"] is None else "%d%%%s" % (
                i["battery"], " (low)" if i["battery_low"] else "")))
    elif cmd == "profile":
        if args.profile_command == "set":
            handles = [] if args.no_handles else args.handle
            if (args.name, args.organisation, args.role, handles) == (None, None, None, None):
                raise cl.PhoneClientError("profile set: give at least one of --name --organisation --role --handle")
            card = c.set_card(args.name, args.organisation, args.role, handles)
        else:
            card = c.card()
        _out(args, card, "\n".join("%-12s %s" % (k, ", ".join(v) if isinstance(v, list) else v)
                                   for k, v in card.items()))
    elif cmd == "friends":
        fr = c.friends()
        _out(args, fr, "\n".join(_friend_line(f) for f in fr) or "no friends yet")
    elif cmd == "stats":
        s = c.stats()
        # the pin's local date (days since 1970-01-01 in the event's time zone; 0: a pin with no clock)
        s["date"] = (datetime.date(1970, 1, 1) + datetime.timedelta(days=s["day"])).isoformat() if s["day"] else None
        # an ESP32's RTC starts at 2000-01-01 and nothing set it (the desk does not; friends' clock sync may)
        unset = ", by a pin clock never set" if s["date"] and s["date"] < "2001" else ""
        _out(args, s, "today%s: %d steps, %d new friends; event: %d steps, %d friends" % (
            " (%s%s)" % (s["date"], unset) if s["date"] else "", s["steps_today"], s["friends_today"],
            s["steps_total"], s["friends"]))
    elif cmd == "designs":
        d = c.designs()
        del d["index"]
        _out(args, d, "shown: %s\nunlocked: %s" % (d["selected"] or "none", ", ".join(d["unlocked"]) or "none yet"))
    elif cmd == "design":
        shown = c.select_design(args.sport)
        _out(args, {"selected": shown}, "showing %s" % shown)
    elif cmd == "watch":
        end = time.monotonic() + args.for_s if args.for_s else None
        while end is None or time.monotonic() < end:
            e = c.next_event(1.0 if end is None else max(0.0, min(1.0, end - time.monotonic())))
            if e is not None:
                print(json.dumps(e, ensure_ascii=False) if args.json else _event_line(e), flush=True)


def run(args, connect=connect):
    if not getattr(args, "phone_command", None):
        print("cloudpin phone: give a command (see cloudpin phone --help)", file=sys.stderr)
        return 2
    try:
        badge, key, _ = _secret(args)
        with connect(args, key) as c:
            c.pair()
            _command(args, c, badge, key)
    except (cl.PhoneClientError, ConnectionError, TimeoutError) as e:
        print("cloudpin phone: %s" % e, file=sys.stderr)
        return 1
    return 0

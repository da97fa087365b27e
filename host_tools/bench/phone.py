"""The phone service from a provisioned virtual badge over the emulated air
(host_tools/phone/vpin.py: the pin's own firmware in its VM; the reference
client on a host Central): seconds to find the pin's window and connect, to
pair, to the first friend page and to the whole list. Wall-clock times on
the hub's real-time air (30 ms connection interval, 4 packets per event,
ATT MTU 23: 20-byte fragments), so the machine's load adds to them.

  cloudpin bench phone [--friends N]     JSON on stdout
"""
import json
import tempfile
import time
from pathlib import Path

FRIENDS = 1000


def bench_phone(friends=FRIENDS, progress=None):
    from host_tools.air import Central
    from host_tools.bench.desk import badge_folder
    from host_tools.phone import vpin
    from host_tools.phone.client import PinClient
    from host_tools.phone.transports import connect_air
    from host_tools.virtual_badge import VirtualBadgeFarm

    say = progress or (lambda m: None)
    with tempfile.TemporaryDirectory(prefix="cloudpin-bench-phone-") as tmp:
        say("phone: provisioning a virtual badge with %d friends..." % friends)
        vpin.provision(badge_folder(Path(tmp) / "badge-1"), friends, friend_after_ms=3600 * 1000)
        with VirtualBadgeFarm(1, tmp) as farm, Central(farm.air, "phone") as central:
            t0 = time.monotonic()
            t = connect_air(central, vpin.KEY, 120)
            t1 = time.monotonic()
            c = PinClient(t, vpin.KEY, 120).pair()
            t2 = time.monotonic()
            pages = c.friend_pages()
            total, first = next(pages)
            t3 = time.monotonic()
            got, n_pages = len(first), 1
            for _, page in pages:
                got += len(page)
                n_pages += 1
            t4 = time.monotonic()
            c.close()
    if got != friends or total != friends:
        raise RuntimeError("read %d of %d friends (the pin said %d)" % (got, friends, total))
    return {"friends": friends, "pages": n_pages, "first_page_friends": len(first),
            "boot_find_connect_s": round(t1 - t0, 2), "pair_s": round(t2 - t1, 2),
            "first_page_s": round(t3 - t2, 2), "all_friends_s": round(t4 - t2, 2),
            "friends_per_s": round(friends / (t4 - t2), 1),
            "link": "emulated air, real time: 30 ms interval, 4 packets/event, 20-byte fragments"}


def add_arguments(p):
    p.add_argument("--friends", type=int, default=FRIENDS, help="friends on the pin (default %(default)s, at most 1024)")


def run(args):
    import sys

    if not 1 <= args.friends <= 1024:
        print("error: --friends: 1..1024 (the friend list's bound)", file=sys.stderr)
        return 2
    print(json.dumps(bench_phone(args.friends, lambda m: print(m, file=sys.stderr)), indent=1))
    return 0

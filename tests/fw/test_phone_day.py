# The day the phone service reports on a pin without an event pack (no
# daily counters: those come with the designs): the pin's local date, from
# its clock and the time zone the desk provisioned, as the app builds the
# service (cloudpin.phone.setup), not day 0.
import os

from appkit import app_pin
# Compiled here, before the app fills the heap: the pin loads these as .mpy
# (deploy), the VM test from source, and compiling them beside a running app
# failed for want of one contiguous block depending on the checkout's path
# lengths. This test is about the day, not the heap (test_bench_heap is).
from cloudpin.phone import backend as _backend, service as _service  # noqa: F401
from cpsim.world import World

_DAY_S = 86400
_T0 = 20786 * _DAY_S + 84600  # 2026-11-29 23:30 UTC: already the 30th at the event (appkit: UTC+1)


def test_a_pin_without_an_event_pack_reports_its_local_day():
    w = World()
    root = os.getcwd()
    try:
        dev, app, lines = app_pin(w, root, "day", 1, _T0, card=True, status_every_ms=600000)
        assert app.designs is None and getattr(app, "daily", None) is None  # no pack: no daily counters
        w.use(dev)
        svc = app.phone._make_service()  # what the first double tap builds
        day, steps, made, total, friends = svc.backend.stats()
    finally:
        os.chdir(root)
    assert day == 20787, (day, lines)
    assert (steps, made, total, friends) == (0, 0, 0, 0)

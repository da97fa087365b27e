"""`cloudpin desk`: the press-centre desk. Badges plugged into USB ports are
checked, given to the next accreditation scanned, written, read back,
self-tested and recorded; a pairing card is printed for the wearer.

Modules: db (roster and assignments, SQLite or PostgreSQL), roster (CSV
import), badge_io (one badge over its serial port), provision (the per-badge
state machine), station (the interactive desk: hot-plug, scans, workers),
hotplug, ui, card, cli. Its benchmark is host_tools/bench/desk.py; the fake badge
and fault-injection harness its tests use are in host_tools/testkit/.
"""

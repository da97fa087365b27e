# Per-pin accounting in simulated time (cpsim.accounting): what the power
# model and the crowd simulator read.
from cpsim.clock import SimClock
from cpsim.world import World


def test_exclusive_states_add_up_to_elapsed_time():
    w = World(SimClock())
    acct = w.device().acct
    acct.state("cpu", "active")
    w.advance(3)
    acct.state("cpu", "lightsleep")
    w.advance(10)
    acct.state("cpu", "lightsleep")  # same state: the interval goes on
    w.advance(5)
    acct.state("cpu", "active")
    w.advance(2)
    snap = acct.snapshot()
    assert snap["time_us"] == {"cpu.active": 5000, "cpu.lightsleep": 15000}, snap
    assert acct.get_state("cpu") == "active"
    assert acct.get_state("radio") is None
    # The open interval stays open after a snapshot.
    w.advance(1)
    assert acct.snapshot()["time_us"]["cpu.active"] == 6000


def test_counters_and_bulk_time_are_per_device():
    w = World(SimClock())
    a = w.device().acct
    b = w.device().acct
    a.count("tx")
    a.count("tx", 2)
    b.count("rx")
    a.add_us("radio.scan", 1500)
    assert a.snapshot() == {"time_us": {"radio.scan": 1500}, "counts": {"tx": 3}}
    assert b.snapshot() == {"time_us": {}, "counts": {"rx": 1}}

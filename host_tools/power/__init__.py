"""`cloudpin power`: the energy model of a pin's day (docs/power.md).

    from host_tools import power
    reports = power.run(power.load("scenarios/press-day.json"), ["cloudpin_ref"])
"""
from host_tools.power.day import DayError, load, run, validate

__all__ = ["load", "validate", "run", "DayError"]

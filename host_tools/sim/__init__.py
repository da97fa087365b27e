"""`cloudpin sim`: scenarios of many pins, each running the real firmware
app, on one simulated clock in one process (docs/sim.md).

As a Python API:

    from host_tools import sim
    result = sim.run_file("scenarios/quiet-pair.json")   # or sim.simulate(sim.validate({...}))
    print(result["pins"]["p001"]["steps"], result["metrics"]["taps"]["recall"])
"""
from host_tools.sim.runner import SimError, build, run_file, simulate, summary, walk_recordings
from host_tools.sim.scenario import ScenarioError, load, validate

__all__ = ["load", "validate", "simulate", "run_file", "build", "summary", "walk_recordings",
           "ScenarioError", "SimError"]

"""Why the tap detector missed a touch (host_tools/bench/tapwhy.py): each
labelled touch gets the rule that dropped it."""
import numpy as np

from host_tools.bench import tapgen, tapwhy

ODR = 400


def _set(tmp_path, events):
    """A still recording at 400 Hz with (t_ms, [(offset samples, g on x)])
    pulses laid on it, each labelled as a touch in taps.csv."""
    n = ODR * 6
    xyz = np.zeros((n, 3))
    xyz[:, 2] = 1.0
    for t_ms, pulses in events:
        k = int(t_ms * ODR / 1000)
        for off, g in pulses:
            xyz[k + off, 0] += g
    folder = tmp_path / "set"
    folder.mkdir()
    tapgen.write_recording(folder / "still.csv", np.arange(n) * 1000.0 / ODR, xyz)
    with (folder / "taps.csv").open("w") as f:
        f.write("file,t_ms,tau_ms,dv,mount,vertical\n")
        for t_ms, _ in events:
            f.write("still.csv,%.1f,0.500,0.1000,hand,0.0\n" % t_ms)
    return folder


def test_each_touch_gets_found_or_the_rule_that_dropped_it(tmp_path):
    folder = _set(tmp_path, [
        (1000, [(0, 3.0)]),  # a clean touch
        (2000, [(0, 0.5)]),  # under the threshold: no event at all
        (3000, [(0, 3.0)] + [(i, 0.9) for i in range(1, 12)]),  # stays up 30 ms: too long
        (4000, [(-8, 0.5), (0, 3.0)]),  # a weak knock 20 ms before it: the same step's
    ])
    [(rows, hours)] = tapwhy.explain_folder(folder, ODR)
    why = {round(r["t_ms"]): r["why"] for r in rows}
    assert why == {1000: "found", 2000: "none", 3000: "long", 4000: "veto_pre"}, why
    assert abs(hours - 6 / 3600) < 1e-6
    s = tapwhy.summarise(rows, hours)
    assert s["found"] == 1 and s["missed_by_verdict"] == {"none": 1, "long": 1, "veto_pre": 1}
    # a sweep runs each detector setting on the same samples
    [_, (rows2, _)] = tapwhy.explain_folder(folder, ODR, variants=(None, {"pre_mg": 0, "near_pct": 50}))
    assert {round(r["t_ms"]): r["why"] for r in rows2}[4000] == "found"

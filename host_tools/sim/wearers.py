"""Wearers who answer "tap again" (a scenario's optional `wearers`).

The issue's design: when a pin cannot tell whom it touched it signals "tap
again" (as Bump did in crowded rooms) rather than guess, and the wearers
touch again. Without `wearers` the simulator's wearers never respond (every
shipped scenario). With it, when a pin of a touching pair logs `tap again`
within PROMPT_MS of that pair's touch and the pair is not friends, the same
two wearers touch again `tap_again_after_s` later (a new touch: new draws of
the tap model, the pair face to face again), at most `tries` times for each
touch the scenario lists. A prompt is laid at the pin's latest touch before
it; a pair neither of whose pins prompted (both detectors missed the touch:
nothing told the wearers) is not touched again.

What "intended" and "made" mean does not change: `made` counts the pairs
whose FIRST touch made the friendship (committed before any re-touch of
it). Re-touches are reported apart: `retaps` (touches the wearers added),
`made_after_prompt` (intended touches missed at first and made by a
re-touch), `made_with_prompts_share` and the time from the first touch to
the friendship for those pairs.
"""

PROMPT_MS = 6000  # a "tap again" this long after a touch is about it (the handshake gives up within ~3 s)
LEAD_MS = 1300  # a touch's reach starts 1.2 s before its contact: it cannot be laid sooner than this


class Wearers:
    def __init__(self, cfg, taps, logs, keys, duration_ms, end_margin_ms=3000):
        """cfg: the scenario's `wearers`; taps: its intended touches; logs:
        {pin id: social.PinLog} (read as they grow); keys: provision.Keys."""
        self.after_ms = int(round(cfg["tap_again_after_s"] * 1000))
        self.tries = cfg["tries"]
        self.logs = logs
        self.keys = keys
        self.last_ms = duration_ms - end_margin_ms  # a re-touch the run would cut is not laid
        # every touch so far: (t_ms, a, b, index of the intended touch it repeats)
        self.touches = [(t["t_ms"], t["a"], t["b"], k) for k, t in enumerate(taps)]
        self.retaps = []  # {"t_ms", "a", "b", "of"}: of = the intended touch's index
        self._read = {pid: 0 for pid in logs}
        self._answered = set()  # touches (their index in self.touches) already answered
        self.past_end = 0  # prompts whose re-touch the run would have cut (metrics: retaps_past_end)

    def _friends(self, a, b):
        fa, fb = self.keys.fk[a][:4].hex(), self.keys.fk[b][:4].hex()
        return any(k == fb for k, _ in self.logs[a].commits) and any(k == fa for k, _ in self.logs[b].commits)

    def after(self, now_ms):
        """Read the prompts logged up to now_ms; returns the new touches
        [(t_ms, a, b)] the wearers will make (each at least LEAD_MS away)."""
        new = []
        for pid, lg in self.logs.items():
            prompts = lg.tap_again[self._read[pid]:]
            self._read[pid] = len(lg.tap_again)
            for p in prompts:
                t = p["t_ms"]
                mine = [i for i, (tt, a, b, _) in enumerate(self.touches) if pid in (a, b) and tt <= t < tt + PROMPT_MS]
                if not mine:
                    continue  # a knock, or an old touch: nobody to touch again
                i = max(mine, key=lambda i: self.touches[i][0])
                if i in self._answered:
                    continue  # the partner's prompt for the same touch
                self._answered.add(i)
                _, a, b, of = self.touches[i]
                if self._friends(a, b) or sum(1 for r in self.retaps if r["of"] == of) >= self.tries:
                    continue
                when = max(t + self.after_ms, now_ms + LEAD_MS)
                if when > self.last_ms:
                    self.past_end += 1
                    continue
                self.touches.append((when, a, b, of))
                self.retaps.append({"t_ms": when, "a": a, "b": b, "of": of})
                new.append((when, a, b))
        return new

# What one pin's hardware did, in simulated time: how long each part spent in
# each state and how many of each countable thing happened. The power model
# turns these into currents; the crowd simulator reports them per pin.
#
# A state group is exclusive ("cpu" is "active", "idle" or "lightsleep"; the
# radio's "radio" is "off", "idle", "adv", "scan", "conn", ...): switching it
# closes the previous state's interval at the clock's current time. Counters
# are plain integers (packets sent, received, lost to collision, reports
# dropped, flash bytes written, ...). Nothing here allocates once every group
# and counter has been seen, so the sensor and radio paths may call it freely.

# group -> {state: "group.state"}, for every pin of the process: each key made
# once (a concatenation or a slice a state change allocated in the VM).
_KEYS = {}


class Accounting:
    def __init__(self, clock):
        self.clock = clock
        self.totals = {}  # "group.state" -> microseconds spent, closed intervals
        self.current = {}  # group -> [state key, since_us, state]
        self.counts = {}  # name -> int

    def state(self, group, state):
        """Put `group` in `state` from now on (closing its previous state)."""
        now = self.clock.now_us()
        cur = self.current.get(group)
        if cur is not None and cur[2] == state:
            return
        keys = _KEYS.get(group)
        if keys is None:
            keys = _KEYS[group] = {}
        key = keys.get(state)
        if key is None:
            key = keys[state] = group + "." + state
        if cur is None:
            self.current[group] = [key, now, state]
            return
        self.totals[cur[0]] = self.totals.get(cur[0], 0) + now - cur[1]
        cur[0] = key
        cur[1] = now
        cur[2] = state

    def get_state(self, group):
        cur = self.current.get(group)
        return None if cur is None else cur[2]

    def add_us(self, key, us):
        """Credit `us` to "group.state" in bulk (steady state accounted at once)."""
        self.totals[key] = self.totals.get(key, 0) + us

    def count(self, name, n=1):
        self.counts[name] = self.counts.get(name, 0) + n

    def snapshot(self):
        """{"time_us": {"group.state": us}, "counts": {name: n}} up to now,
        open intervals included (they stay open)."""
        now = self.clock.now_us()
        t = dict(self.totals)
        for cur in self.current.values():
            t[cur[0]] = t.get(cur[0], 0) + now - cur[1]
        return {"time_us": t, "counts": dict(self.counts)}

"""Meet and greet as the simulator reports it: what each pin's firmware
logged (the `meet`, `updates` and `designs` lines, a contract with the
firmware: docs/sim.md) and what its friend store holds at the end, turned
into friendships, half-committed ones and the scenario's metrics.

Lines read (`LEVEL TICKS_MS LOGGER MESSAGE`, cloudpin.log):

  I t meet friend slot=<n> fk=<8hex> t_ms=<n>      committed a friend
  I t meet pending slot=<n> fk=<8hex>              stored, not yet committed
  I t meet reconciled fk=<8hex>                    a pending friend committed later
  W t meet tap again reason=<word>                 the wearer is asked to tap again
  I t meet radio_on_ms=<n>                         one tap window's radio on-time
  I t updates friend slot=<n> steps=<n> made=<n>   a friend's stats stored
  I t designs unlocked sport=<id> t_ms=<n>         a design unlocked

Anything else, and any of these with a missing or malformed field, is
ignored (counted in `unparsed`): a firmware bug shows as a missing number in
the output, not as a crash of the simulator.
"""


def _fields(words):
    out = {}
    for w in words:
        k, eq, v = w.partition("=")
        if eq:
            out[k] = v
    return out


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _hex8(v):
    if v is None or len(v) != 8:
        return None
    try:
        int(v, 16)
    except ValueError:
        return None
    return v.lower()


class PinLog:
    """What one pin's meet, updates and designs lines said."""

    def __init__(self):
        self.commits = []  # (fk8, t_ms): friend lines and reconciled lines
        self.pending = []  # (fk8, t_ms)
        self.slots = {}  # slot -> fk8, from friend and pending lines
        self.tap_again = []  # {"t_ms", "reason"}
        self.radio_on = []  # ms, one per tap window
        self.updates = []  # (slot, steps, made, t_ms)
        self.unlocked = []  # {"sport", "t_ms"}
        self.unparsed = 0

    def feed(self, line):
        """Take one log line; True if it was one of ours."""
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[2] not in ("meet", "updates", "designs"):
            return False
        t = _int(parts[1])
        words = parts[3].split()
        if words[0] == parts[2]:  # "meet friend ..." logged by the "meet" logger itself
            words = words[1:]
        if t is None or not self._take(parts[2], t, words):
            self.unparsed += 1
        return True

    def _take(self, who, t, words):
        f = _fields(words)
        head = " ".join(w for w in words if "=" not in w)
        if who == "meet":
            if head == "friend":
                slot, fk, when = _int(f.get("slot")), _hex8(f.get("fk")), _int(f.get("t_ms"))
                if slot is None or fk is None or when is None:
                    return False
                self.slots[slot] = fk
                self.commits.append((fk, when))
                return True
            if head == "pending":
                slot, fk = _int(f.get("slot")), _hex8(f.get("fk"))
                if slot is None or fk is None:
                    return False
                self.slots[slot] = fk
                self.pending.append((fk, t))
                return True
            if head == "reconciled":
                fk = _hex8(f.get("fk"))
                if fk is None:
                    return False
                self.commits.append((fk, t))
                return True
            if head == "tap again" and f.get("reason"):
                self.tap_again.append({"t_ms": t, "reason": f["reason"]})
                return True
            if head == "" and "radio_on_ms" in f:
                ms = _int(f["radio_on_ms"])
                if ms is None or ms < 0:
                    return False
                self.radio_on.append(ms)
                return True
            return False
        if who == "updates":
            slot, steps, made = _int(f.get("slot")), _int(f.get("steps")), _int(f.get("made"))
            if head != "friend" or slot is None or steps is None or made is None:
                return False
            self.updates.append((slot, steps, made, t))
            return True
        when = _int(f.get("t_ms"))
        if head != "unlocked" or not f.get("sport") or when is None:
            return False
        self.unlocked.append({"sport": f["sport"], "t_ms": when})
        return True

    def first_commit(self, fk8, after_ms):
        """Earliest time this pin committed the friend key at or after `after_ms`."""
        times = [t for k, t in self.commits if k == fk8 and t >= after_ms]
        return min(times) if times else None


def store_keys(friends):
    """{slot: first 8 hex digits of the friend key} of a friends.Friends
    store, read from flash (None: the pin has no store)."""
    if friends is None:
        return None
    out = {}
    buf = bytearray(48)
    for slot in range(1024):
        if friends.keys(slot, buf):
            out[slot] = bytes(buf[:4]).hex()
    return out


def _percentile(sorted_vals, q):
    """Nearest-rank percentile (q in 0..100) of a sorted list, None if empty."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, -(-q * len(sorted_vals) // 100) - 1))
    return sorted_vals[int(k)]


def _name(keys, fk8):
    pid = keys.pin_of(fk8)
    return pid if pid is not None else "?" + fk8


def analyse(taps, logs, stores, keys, retaps=None):
    """Friendships and metrics from every pin's log (`logs`: {pin id:
    PinLog}) and friend store (`stores`: {pin id: {slot: fk8} or None}).

    Returns (friendships, half_committed, per_pin, metrics, missed taps);
    per_pin holds each pin's friends (committed, and still in its store),
    pending ones, updates_from_friends (with updates_received, a count per
    friend), radio_on_ms, tap_again and unlocked.
    A friend key that belongs to no pin of the scenario (an attacker's, or
    garbage) shows as "?<8hex>" and counts as wrong.
    retaps: the touches wearers added when a pin asked them to tap again
    (host_tools/sim/wearers.py; None: the scenario has no wearers). A touch
    is made only by a friendship committed before its first re-touch; the
    rest go in the separate `made_after_prompt` metrics."""
    ids = list(logs)
    friends_of, pending_of = {}, {}
    for pid in ids:
        lg = logs[pid]
        committed = set(k for k, _ in lg.commits)
        held = set(k for k, _ in lg.pending)
        st = stores.get(pid)
        if st is not None:  # flash is the truth: a commit the store lost does not count
            held |= set(st.values())
            committed &= set(st.values())
        friends_of[pid] = sorted(set(_name(keys, k) for k in committed))
        pending_of[pid] = sorted(set(_name(keys, k) for k in held - committed))
    intended = {}
    for t in taps:
        intended.setdefault(frozenset((t["a"], t["b"])), []).append(t["t_ms"])

    # every pair where at least one side committed: mutual, or half
    friendships, half, wrong = [], [], []
    seen = set()
    for a in ids:
        for b in friends_of[a]:
            pair = frozenset((a, b))
            if pair in seen:
                continue
            seen.add(pair)
            if b in logs and a in friends_of[b]:
                ta = logs[a].first_commit(keys.fk[b][:4].hex(), 0)
                tb = logs[b].first_commit(keys.fk[a][:4].hex(), 0)
                lo, hi = sorted((a, b))
                friendships.append({"a": lo, "b": hi, "t_ms": max(ta, tb)})
            else:
                half.append({"committed": a, "not": b,
                             "pending": b in logs and a in pending_of[b]})
            if pair not in intended:
                wrong.append(sorted(pair))
    friendships.sort(key=lambda f: (f["t_ms"], f["a"], f["b"]))

    retap_at = {}  # intended touch index -> its first re-touch
    for r in retaps or ():
        retap_at[r["of"]] = min(r["t_ms"], retap_at.get(r["of"], r["t_ms"]))
    made_ms, missed, prompted_ms = [], [], []
    for k, t in enumerate(taps):
        a, b = t["a"], t["b"]
        ta = logs[a].first_commit(keys.fk[b][:4].hex(), t["t_ms"])
        tb = logs[b].first_commit(keys.fk[a][:4].hex(), t["t_ms"])
        ok = ta is not None and tb is not None and b in friends_of[a] and a in friends_of[b]
        if ok and (k not in retap_at or max(ta, tb) < retap_at[k]):
            made_ms.append(max(ta, tb) - t["t_ms"])
        else:
            missed.append(t)
            if ok:
                prompted_ms.append(max(ta, tb) - t["t_ms"])

    per_pin = {}
    windows = 0
    radio_total = 0
    for pid in ids:
        lg = logs[pid]
        st = stores.get(pid)
        slot_fk = dict(lg.slots)
        if st is not None:
            slot_fk.update(st)
        ups, counts = {}, {}
        for slot, steps, made, t in lg.updates:
            fk = slot_fk.get(slot)
            who = _name(keys, fk) if fk else "?slot%d" % slot
            ups[who] = {"steps": steps, "made": made, "t_ms": t}
            counts[who] = counts.get(who, 0) + 1
        windows += len(lg.radio_on)
        radio_total += sum(lg.radio_on)
        per_pin[pid] = {"friends": friends_of[pid], "pending": pending_of[pid], "updates_from_friends": ups,
                        "updates_received": counts,  # how many windows brought each friend's update
                        "radio_on_ms": sum(lg.radio_on), "tap_windows": len(lg.radio_on),
                        "tap_again": lg.tap_again, "unlocked": lg.unlocked}
        if lg.unparsed:
            per_pin[pid]["unparsed_lines"] = lg.unparsed

    made_ms.sort()
    n_taps = len(taps)
    metrics = {
        "intended_taps": n_taps,
        "made": len(made_ms),
        "missed": len(missed),
        "wrong": len(wrong),
        "wrong_pairs": wrong,
        "half_committed": len(half),
        "made_share": round(len(made_ms) / n_taps, 4) if n_taps else None,
        "tap_to_friendship_ms": {"median": _percentile(made_ms, 50), "p95": _percentile(made_ms, 95),
                                 "max": made_ms[-1] if made_ms else None},
        "tap_again": sum(len(lg.tap_again) for lg in logs.values()),
        "tap_windows": windows,
        "radio_on_ms_per_tap": round(radio_total / windows, 1) if windows else None,
        "friendships": len(friendships),
    }
    if retaps is not None:  # wearers who answer "tap again": apart, never mixed into `made`
        prompted_ms.sort()
        metrics.update({
            "retaps": len(retaps),
            "made_after_prompt": len(prompted_ms),
            "made_with_prompts_share": round((len(made_ms) + len(prompted_ms)) / n_taps, 4) if n_taps else None,
            "tap_to_friendship_after_prompt_ms": {"median": _percentile(prompted_ms, 50),
                                                  "p95": _percentile(prompted_ms, 95),
                                                  "max": prompted_ms[-1] if prompted_ms else None},
        })
    missed_out = [{"t_ms": t["t_ms"], "a": t["a"], "b": t["b"]} for t in missed]
    return friendships, half, per_pin, metrics, missed_out

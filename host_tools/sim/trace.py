"""Why did an intended tap not become a friendship? (`cloudpin sim --trace`)

Follows every pin's tap handshake from inside the simulation, without a
line of firmware changed: while a run lasts, the firmware's own TapMatch,
Meet and RadioOwner methods are wrapped (the pins run in this process) and
each call is recorded for the pin bound at that moment. After the run,
`explain()` turns the records into one entry per intended tap:

  {"t_ms", "a", "b", "made", "cause",
   "pins": {id: {"detected_ms", "radio_up_ms", "choose", "decide", "tap_again",
                 "partner": {"frames", "best_loss_db", "est_ms", "named_us"},
                 "others": [{"pin", "frames", "best_loss_db", "est_ms"}, ...]}}}

`detected_ms` is the tap the pin's firmware reported (None: the detector
missed it), `radio_up_ms` when its radio was on for that tap, `partner` the
TAP frames it heard from its partner during that window (accepted by the
tap-time window, best path loss, earliest tap-time estimate after its own
tap, whether the last one named it), `partner_refused` the partner's frames
TapMatch refused (frames, best loss, earliest estimate: too far when first
heard, or outside the tap-time window), `others` the three nearest other
tappers it heard, `choose`/`decide` the pins TapMatch picked (or a reason),
`tap_again` the reason it gave the wearer, `radio` its receiver's counters
from the window's start to its choice (rx_packets, lost_collision,
lost_busy, lost_weak, reports_dropped: every sender's, not only the
partner's). `cause` is one word for the
whole tap: made, not_detected (a pin's detector missed the touch),
not_heard (no frame of its partner reached a pin's TapMatch), refused
(they reached it and it refused every one), or the first "tap again"
reason. Frames are named by the RID each pin had when its window opened.
The runner adds what the simulator made of the touch (runner._trace_touches):
"touch": {"mounts", "tau_ms", "dv_m_s"} (the one contact both pins felt) and
per pin "partner_m", the pair's radio distance when its radio came up.
"""
import time as _time

_N_OTHERS = 3
_ORDER = ("not_detected", "not_heard", "refused")  # the first cause in a tap's chain wins
# the pin's receiver counters (cpsim/radio.py, docs/radio.md "Accounting")
_COUNTS = ("radio.rx_packets", "radio.lost_collision", "radio.lost_busy", "radio.lost_weak", "radio.reports_dropped")


class Tracer:
    def __init__(self):
        self.records = {}  # pin id -> [(t_ms, what, ...)]
        self.rids = {}  # RID bytes -> pin id
        self._undo = []

    # --- recording ---------------------------------------------------------
    def _pin(self):
        from cpsim import world

        d = world._state["device"]
        return None if d is None else d.name

    def _now(self):
        from cpsim import world

        w = world.active_world()
        return w.clock.now_ms() if w is not None else 0

    def _counts(self):
        from cpsim import world

        d = world._state["device"]
        c = d.acct.counts if d is not None else {}
        return {k: c.get(k, 0) for k in _COUNTS}

    def _rec(self, *what):
        p = self._pin()
        if p is not None:
            self.records.setdefault(p, []).append((self._now(),) + what)

    def _wrap(self, cls, name, make):
        orig = cls.__dict__[name]
        setattr(cls, name, make(orig))
        self._undo.append((cls, name, orig))

    def install(self):
        """Wrap the firmware's handshake methods (until remove())."""
        from cloudpin.ble import radio
        from cloudpin.social import meet, tapmatch
        from cpsim import world as world_mod

        tr = self

        def seen(orig):
            def f(m, frame, rssi, t_rx, addr_type, addr):
                ok = orig(m, frame, rssi, t_rx, addr_type, addr)
                tr._rec("seen", bytes(frame.rid), ok, frame.tx_power - rssi,
                        _time.ticks_diff(t_rx, m.t_tap) - frame.tap_age_ms, bytes(frame.peer) == bytes(m.my_rid[:4]))
                return ok
            return f

        def pick(what):
            def wrap(orig):
                def f(m):
                    c = orig(m)
                    tr._rec(what, bytes(m.rid(c)) if c >= 0 else tapmatch.REASONS.get(c, str(c)))
                    if what == "choose":
                        tr._rec("counts", tr._counts())
                    return c
                return f
            return wrap

        def tap(orig):
            async def f(mt, t_tap):
                tr.rids[bytes(mt.adv_frames.rid)] = tr._pin()
                d = world_mod._state["device"]  # its tap on simulated time (its ticks drift: cpsim.slowclock)
                tr._rec("window", t_tap - d.clock_err_us // 1000 if t_tap is not None and d is not None else t_tap)
                tr._rec("counts", tr._counts())
                return await orig(mt, t_tap)
            return f

        def again(orig):
            def f(mt, reason):
                tr._rec("again", reason)
                return orig(mt, reason)
            return f

        def acquire(orig):
            async def f(owner, name):
                r = await orig(owner, name)
                tr._rec("up", name)
                return r
            return f

        self._wrap(tapmatch.TapMatch, "seen", seen)
        self._wrap(tapmatch.TapMatch, "choose", pick("choose"))
        self._wrap(tapmatch.TapMatch, "decide", pick("decide"))
        self._wrap(meet.Meet, "_tap", tap)
        self._wrap(meet.Meet, "_again", again)
        self._wrap(radio.RadioOwner, "acquire", acquire)
        return self

    def remove(self):
        while self._undo:
            cls, name, orig = self._undo.pop()
            setattr(cls, name, orig)

    # --- explaining ----------------------------------------------------------
    def _window(self, pin, t_ms):
        """The records of pin's tap window for a tap injected at t_ms."""
        recs = self.records.get(pin, [])
        start = None
        for i, r in enumerate(recs):
            if r[1] == "window" and -150 <= r[2] - t_ms <= 150:
                start = i
                break
        if start is None:
            return None
        out = [recs[start]]
        for r in recs[start + 1:]:
            if r[1] == "window":
                break
            out.append(r)
        up = None
        for r in recs[:start + 1]:
            if r[1] == "up" and r[2] == "meet":
                up = r[0]
        return up, out

    def _name(self, rid):
        return self.rids.get(rid, rid.hex())

    def explain(self, taps, friends_of, missed=()):
        """One entry per intended tap (module doc); friends_of(pin) -> ids;
        `missed`: taps the metrics count as missed although the pair are
        friends now (made by a re-touch after "tap again", host_tools/sim/wearers.py):
        their entry tells why the first touch failed."""
        gone = set((t["t_ms"], t["a"], t["b"]) for t in missed)
        out = []
        for t in taps:
            made = t["b"] in friends_of(t["a"]) and (t["t_ms"], t["a"], t["b"]) not in gone
            entry = {"t_ms": t["t_ms"], "a": t["a"], "b": t["b"], "made": made, "pins": {}}
            causes = []
            for me, other in ((t["a"], t["b"]), (t["b"], t["a"])):
                w = self._window(me, t["t_ms"])
                if w is None:
                    entry["pins"][me] = {"detected_ms": None}
                    causes.append("not_detected")
                    continue
                up, recs = w
                heard = {}
                refused = {"frames": 0, "best_loss_db": None, "est_ms": None}
                counts = []
                p = {"detected_ms": recs[0][2], "radio_up_ms": up, "choose": None, "decide": None, "tap_again": None}
                for r in recs:
                    if r[1] == "seen":
                        name = self._name(r[2])
                        h = heard.setdefault(name, {"frames": 0, "best_loss_db": None, "est_ms": None, "named_us": False})
                        if not r[3]:
                            if name != other:
                                continue
                            h = refused  # the partner's frames TapMatch refused (too far when new, another moment)
                        h["frames"] += 1
                        h["best_loss_db"] = r[4] if h["best_loss_db"] is None else min(h["best_loss_db"], r[4])
                        h["est_ms"] = r[5] if h["est_ms"] is None else min(h["est_ms"], r[5])
                        if r[3]:
                            h["named_us"] = r[6]
                    elif r[1] in ("choose", "decide"):
                        p[r[1]] = self._name(r[2]) if isinstance(r[2], bytes) else r[2]
                    elif r[1] == "again":
                        p["tap_again"] = r[2]
                    elif r[1] == "counts":
                        counts.append(r[2])
                p["partner"] = heard.pop(other, {"frames": 0, "best_loss_db": None, "est_ms": None, "named_us": False})
                p["partner_refused"] = refused
                if len(counts) >= 2:  # what its receiver did from the window's start to the choice
                    p["radio"] = {k[6:]: counts[1][k] - counts[0][k] for k in _COUNTS}
                others = sorted(({"pin": k, **v} for k, v in heard.items() if v["frames"]),
                                key=lambda o: o["best_loss_db"])
                p["others"] = others[:_N_OTHERS]
                entry["pins"][me] = p
                if not p["partner"]["frames"]:
                    causes.append("refused" if refused["frames"] else "not_heard")
                elif p["tap_again"]:
                    causes.append(p["tap_again"])
            causes.sort(key=lambda c: _ORDER.index(c) if c in _ORDER else len(_ORDER))
            entry["cause"] = "made" if entry["made"] else (causes[0] if causes else "unknown")
            out.append(entry)
        return out

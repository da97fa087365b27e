# Friends keep each other's clocks (docs/clock.md). The pin's UTC comes from
# its RTC, which light sleep runs on the RC slow clock: thousands of ppm off,
# and differently on every pin (ESP-IDF System Time; esp-idf #6030 measured
# +3,380 ppm). Friend-update windows (social/updates.py) open at the same UTC
# instants on every pin for 2 s, so after minutes two friends no longer meet.
#
# Each friend's 2-second UPDATE burst carries, in its encrypted block's salt,
# the friend's clock as the burst began (UTC ms mod 2^22: only friends read
# it). A pin scans a little before and after its own burst and notes when it
# first and last heard each friend (ms from its own burst's start): where the
# friend's burst began on our clock (place()) against the friend's clock then
# is how far apart the two clocks are. After a window the
# pin steps its RTC toward the median of its friends and itself (one hostile
# or broken friend among honest ones moves nobody; alone with one friend,
# both move halfway and meet), at most MAX_STEP_MS a window, and learns its
# own rate (ppm) from the steps it keeps needing, applied before each window
# (settle). It widens its scan by the error its clock may have gathered
# since it last heard a friend, beyond what a plain window tolerates
# (widen_ms). The block also says whether its
# sender is synced: a new pin (or one alone for LOST_MS) takes its synced
# friends' time whole, and right after a tap makes a friend both pins open
# an extra window together (updates.py), so a newcomer whose clock is far
# off still meets its friends. Backwards steps never cross a quarter hour,
# so a correction cannot take the clock back over midnight (daily counters,
# bus.DAY).
#
# What it keeps (rate, last sync) survives a reset in a small store.Store
# document; the RTC itself survives every reset but a power-on.
import time

from micropython import const

from cloudpin.social.advert import SALT_PHASE, SALT_SET, SALT_SYNCED
from cloudpin.store import Store

MAX_STEP_MS = const(2500)  # a window's correction at most (a hostile friend moves us this much, once)
MAX_PPM = const(20000)  # the rate learnt at most: 2%, four times the RC's worst cited error
RATE_MIN_MS = 120000  # learn the rate over at least this long since the last agreement
K_RATE = 2  # rate gain 1/K_RATE of what the step says (noise: +-50 ms a window is +-170 ppm)
U_FREE_PPM = const(10000)  # the error two pins' RCs may gather, rate unknown (two of +-5,000 ppm)
U_LOCKED_PPM = const(2000)  # ... once the rate is learnt (the wearer's warmth moves it)
MAX_WIDEN_MS = const(3000)  # scan margin each side of the burst, at most
TOLERANCE_MS = const(1500)  # two bursts this far apart still overlap enough to place each other: no margin
LOST_MS = 1800000  # no friend heard for 30 minutes: lost, search only now and then
SEARCH_EVERY = const(12)  # lost: one widened window in twelve (an hour), the rest plain
FRESH_WINDOWS = const(3)  # ... but the three after a tap made a friend all widened
_CLIP_MS = const(150)  # a burst edge this close to our scan's edge was cut by it
_QUARTER_MS = const(900000)
PATH = "clock.json"
LEAD_MS = const(9000)  # wake this early before a window (a rate step of up to 6 s, then the margin)
SETTLE_MS = const(30000)  # between windows, take out the learnt rate this often
# The window after a tap made a friend: both pins felt the same touch, so
# each bursts _MET_AFTER_MS after it on its own ticks (tapmatch holds the two
# taps within 130 ms; two RC clocks move < 25 ms apart in 4.5 s), past the
# handshake (tap to friendship p95 1.4 s, a responder serves 2.5 s) and
# before a next round of touches 7 s on (scenarios/mixer.json), scanning
# MET_PRE_MS before the burst and MET_POST_MS after it: 3 s of radio, where
# a window timed from each pin's own commit (seconds apart) scanned 3 s each
# side (8 s). A pin later than that (its first friend's module loads 3 s
# after the commit) bursts at once.
_MET_AFTER_MS = const(4500)
MET_PRE_MS = const(500)
MET_POST_MS = const(500)
_QUEUE = const(16)  # friends heard in a window (updates._QUEUE)


def place(first, last, pre, window, post, adv_ms):
    """Where a friend's burst began, ms from the start of ours, from when
    we first and last heard it (both ms from the start of our burst,
    negative while we scanned before it); our scan ran from -pre to
    window + post and its burst is window long. A report comes on average
    half an advertising interval after a burst starts and before it ends."""
    lat = adv_ms // 2
    a0 = first - lat if first > _CLIP_MS - pre else None  # we heard it start
    a1 = last + lat - window if last < window + post - _CLIP_MS else None  # we heard it end
    if a0 is None:
        # neither edge inside our scan: its burst spanned all of it, so the
        # two began within _CLIP_MS (our scan is never shorter than a burst)
        return (first + last - window) // 2 if a1 is None else a1
    return a0 if a1 is None else (a0 + a1) // 2


_F_SYNCED = const(1)  # heard(): a friend's flags
_F_SET = const(2)


def wrap(d):
    """A difference of two clock phases (advert.SALT_PHASE), as -2^21 .. 2^21-1 ms
    (+-35 minutes: friends are recognised at most an epoch and a half apart,
    advert.epochs_held)."""
    d &= SALT_PHASE
    return d - 0x400000 if d >= 0x200000 else d


def _sort(vals, n):
    for i in range(1, n):  # insertion sort: n <= 16, no allocation
        v = vals[i]
        j = i - 1
        while j >= 0 and vals[j] > v:
            vals[j + 1] = vals[j]
            j -= 1
        vals[j + 1] = v


def _median(vals, n):
    """Median of vals[0:n] (sorts them)."""
    _sort(vals, n)
    return (vals[(n - 1) // 2] + vals[n // 2]) // 2


def median(vals, n):
    """Median of vals[0:n] and 0 (our own clock's vote); sorts vals[0:n]."""
    _sort(vals, n)
    # with our 0 among them: n + 1 values
    k = n + 1
    lo = _kth(vals, n, (k - 1) // 2)
    hi = _kth(vals, n, k // 2)
    return (lo + hi) // 2


def _kth(vals, n, k):
    # the k-th smallest of sorted vals[0:n] with one 0 inserted
    zeros_before = 0
    while zeros_before < n and vals[zeros_before] < 0:
        zeros_before += 1
    if k < zeros_before:
        return vals[k]
    if k == zeros_before:
        return 0
    return vals[k - 1]


def _check(doc):
    r, t, n = doc["rate"], doc["t"], doc["n"]
    if not (isinstance(r, int) and -MAX_PPM <= r <= MAX_PPM and isinstance(n, int) and n >= 0
            and (t is None or isinstance(t, int))):
        raise ValueError("clock state out of range")
    return doc


def _unload_clockset():
    # read at start-up and when a friend sets us: its heap back meanwhile (an
    # M5StickC Plus with its designs has about 3 KB to spare: docs/heap.md)
    import cloudpin

    cloudpin.unload(cloudpin, ("clockset",))


class ClockSync:
    def __init__(self, clock, path=PATH, log=None, set_path=None):
        """clock: now_ms() (UTC ms since 1970) and step(ms) (RtcClock).
        set_path: where cloudpin.clockset keeps whether the clock was set
        (the app: clockset.PATH; None: unset, and not kept)."""
        self.clock = clock
        self.log = log
        self._set_path = set_path
        self.src = None  # who set our clock: "desk", "friend" (cloudpin.clockset) or None: unset
        resume = None
        if set_path:
            from cloudpin import clockset

            self.src, resume = clockset.state(clock.now_ms(), set_path, log)
            _unload_clockset()
        self._store = Store(path, _check, log) if path else None
        doc = self._store.load() if self._store else None
        self.rate = doc["rate"] if doc else 0  # ppm the RTC runs fast in the pin's duty cycle
        self.t_sync = doc["t"] if doc else None  # UTC ms of the last window a friend was heard
        self.n = doc["n"] if doc else 0  # windows with a friend heard
        self.t_ref = self.t_sync  # UTC ms the rate was last applied at
        self.lost = 0  # lost windows since the last search
        self.fresh = 0  # windows to search whole after a new friend, while not synced
        self.steps = 0  # corrections made (ms in total: stepped_ms)
        self.stepped_ms = 0
        self._deltas = [0] * _QUEUE  # friends' clocks minus ours, in a window
        self._flags = bytearray(_QUEUE)  # ... and whether each said it was synced
        self._nd = 0
        self._w = (0, 0, 0, 0, 0)  # the window: pre, length, post, advertising interval, our clock (phase)
        if resume is not None:
            # A power-on took the RTC back to 2000 (the battery ran flat): go on
            # from the last time this pin knew, its last agreement with a friend
            # or when it was set. Still unset; if it was off for only minutes,
            # its friends are within reach and a set one sets it again.
            if self.t_sync is not None and self.t_sync > resume:
                resume = self.t_sync
            self._step(resume - clock.now_ms())
            self.t_sync = self.t_ref = None  # no agreement on this clock yet
            self.fresh = FRESH_WINDOWS  # search the next windows whole, as after a tap
            if log is not None:
                log.warning("clock unset since a power-on: resumed from %d" % resume)

    # --- the update service's wait and window (social/updates.py) -------------
    async def cycle(self, svc):
        """Up to and through svc's next window, in step with our friends: a
        tap's new friend gets a window of its own at once (both pins open
        one, whatever their clocks say, so a newcomer learns its friend's
        time); else the learnt rate comes out LEAD_MS early and the window
        scans the margin our clock may need."""
        now = svc.now_ms()
        nxt = svc.next_window_ms(now)
        if nxt - now > LEAD_MS and await self._until(svc, nxt - LEAD_MS):
            self.met()
            burst = time.ticks_add(svc._met_tap, _MET_AFTER_MS)
            wait = time.ticks_diff(burst, time.ticks_ms()) - MET_PRE_MS
            if wait > 0:
                await svc.sleep_ms(wait)
            svc._met = False
            pre = time.ticks_diff(burst, time.ticks_ms())
            pre = MET_PRE_MS if pre > MET_PRE_MS else pre if pre > 0 else 0
            await svc.window(None, pre, MET_POST_MS, clock_only=True)
            return
        self.settle()
        margin = self.widen_ms()
        now = svc.now_ms()
        if nxt - margin - now > 0:
            await svc.sleep_ms(nxt - margin - now)
        now = svc.now_ms()
        pre = nxt - now if nxt > now else 0  # late (a step forward): scan from now
        await svc.window(nxt, margin if pre > margin else pre, margin)

    async def _until(self, svc, utc_ms):
        # Wait until our clock reads utc_ms, a second at a time (the light
        # sleeper wakes as often anyway); True early if a tap made a friend.
        while True:
            if svc._met:
                return True
            self.settle(SETTLE_MS)  # the learnt rate, a little at a time, for every user of the RTC
            left = utc_ms - svc.now_ms()
            if left <= 0:
                return False
            await svc.sleep_ms(left if left < 1000 else 1000)

    def begin(self, pre, window, post, adv_ms, c0):
        """A window's reports are about to be read: ours ran so (c0: our
        clock at our burst's start, the phase we sent)."""
        self._w = (pre, window, post, adv_ms, c0)
        self._nd = 0

    def heard(self, block, q, o):
        """A friend of this window: its decrypted block (the salt: its clock
        then, with the synced bit) and, at q[o:o + 4], when we first and
        last heard it (ms from our burst + 32768, big-endian u16s)."""
        pre, window, post, adv_ms, c0 = self._w
        if self._nd >= _QUEUE:
            return
        c = (block[5] << 16) | (block[6] << 8) | block[7]
        first = ((q[o] << 8) | q[o + 1]) - 32768
        last = ((q[o + 2] << 8) | q[o + 3]) - 32768
        a = place(first, last, pre, window, post, adv_ms)
        self._deltas[self._nd] = wrap(c - c0) - a
        self._flags[self._nd] = (_F_SYNCED if c & SALT_SYNCED else 0) | (_F_SET if c & SALT_SET else 0)
        self._nd += 1

    def end(self):
        """After the window: step toward what we heard. True if we did."""
        if not self._nd:
            return False
        self.observe(self._deltas, self._flags, self._nd)
        self._nd = 0
        return True

    def now_ms(self):
        return self.clock.now_ms()

    def _step(self, ms):
        if ms:
            self.clock.step(ms)
            self.steps += 1
            self.stepped_ms += ms if ms > 0 else -ms
            if self.t_ref is not None:
                self.t_ref += ms

    def guard(self, now, ms):
        """ms, or less of it if stepping back would cross a quarter hour
        (local midnight is on one in every time zone in use)."""
        if ms < 0:
            floor = now - now % _QUARTER_MS
            if now + ms < floor:
                ms = floor - now
        return ms

    def settle(self, every_ms=0):
        """Take out what the learnt rate says the RTC gained since the last
        correction (before a window, and every every_ms between them, so
        every user of the RTC sees friends' time). Returns the step (ms)."""
        now = self.clock.now_ms()
        if self.t_ref is None or not self.rate:
            self.t_ref = now
            return 0
        if now - self.t_ref < every_ms:
            return 0
        ms = self.guard(now, -((now - self.t_ref) * self.rate // 1000000))
        self.t_ref = now
        self._step(ms)
        return ms

    def met(self):
        """A tap made a friend: until we agree with someone, search the
        next few windows whole (if the window after the tap missed, the
        friend is still seconds away, not minutes)."""
        self.fresh = FRESH_WINDOWS

    def widen_ms(self):
        """Scan margin each side of our burst in the next window."""
        now = self.clock.now_ms()
        if self.t_sync is None or now - self.t_sync > LOST_MS:
            if self.fresh:
                self.fresh -= 1
                return MAX_WIDEN_MS
            self.lost += 1
            if self.lost < SEARCH_EVERY:
                return 0
            self.lost = 0
            return MAX_WIDEN_MS
        u = U_LOCKED_PPM if self.n >= 3 else U_FREE_PPM
        ms = (now - self.t_sync) * u // 1000000 - TOLERANCE_MS  # radio time is the budget (docs/clock.md)
        return 0 if ms < 0 else MAX_WIDEN_MS if ms > MAX_WIDEN_MS else ms

    def lost_once(self):
        """In step with a friend once, but none heard for LOST_MS."""
        return self.t_sync is not None and self.clock.now_ms() - self.t_sync >= LOST_MS

    def synced(self):
        """Has this pin agreed with a friend lately (its UPDATE frames say so)?"""
        return self.t_sync is not None and self.clock.now_ms() - self.t_sync < LOST_MS

    def observe(self, deltas, flags, n):
        """After a window: deltas[0:n] are the friends' clocks minus ours
        (ms), flags[0:n] what each friend said (_F_SYNCED, _F_SET; both
        reordered in place). Steps the RTC and learns the rate; returns the
        step (ms).

        Set clocks first: a pin whose clock was set heeds only friends
        whose clocks were (one never set reads 2000-01-01 after a power-on:
        it comes to us, never we to it); a pin whose clock was never set
        takes the median of its set friends whole and is set from then on
        ("friend"). Among the friends heeded, a synced pin heeds only synced
        ones: the median of theirs and its own, at most MAX_STEP_MS
        (newcomers come to it, not it to them). A pin not synced (new, or
        alone for LOST_MS) takes the synced friends' median whole, or with
        none, meets the others halfway."""
        k = 0
        for i in range(n):  # the friends whose clocks were set first
            if flags[i] & _F_SET:
                deltas[k], deltas[i] = deltas[i], deltas[k]
                flags[k], flags[i] = flags[i], flags[k]
                k += 1
        if self.src is not None:
            n = k  # set: the others are not heard
        elif k:
            return self._adopt(_median(deltas, k))
        ns = 0
        for i in range(n):  # the synced friends first
            if flags[i] & _F_SYNCED:
                deltas[ns], deltas[i] = deltas[i], deltas[ns]
                flags[ns], flags[i] = flags[i], flags[ns]
                ns += 1
        was = self.synced()
        if was:
            if not ns:
                return 0
            med = median(deltas, ns)
            med = MAX_STEP_MS if med > MAX_STEP_MS else -MAX_STEP_MS if med < -MAX_STEP_MS else med
        elif ns:
            med = _median(deltas, ns)
        elif n:
            med = median(deltas, n)
        else:
            return 0
        now = self.clock.now_ms()
        if was and self.n:
            # behind the others by med over the time since we last agreed: our
            # clock is that much slow (its rate, after the correction, too fast)
            dt = now - self.t_sync
            if dt >= RATE_MIN_MS:  # over seconds (the window after a tap) the edges' noise is all it would see
                r = self.rate - med * 1000000 // (dt * K_RATE)
                self.rate = MAX_PPM if r > MAX_PPM else -MAX_PPM if r < -MAX_PPM else r
        ms = self.guard(now, med)
        self._step(ms)
        self.t_sync = now + ms
        self.t_ref = self.t_sync
        self.n += 1
        self.lost = 0
        self.fresh = 0
        if self.log is not None:
            self.log.info("step=%d rate=%d friends=%d synced=%d" % (ms, self.rate, n, ns))
        if self._store is not None:
            try:
                self._store.save({"rate": self.rate, "t": self.t_sync, "n": self.n})
            except OSError:
                pass  # a full flash: the clock still works, it just starts again after a reset
        return ms


    def _adopt(self, ms):
        """Our clock was never set and a set friend's is ms ahead: take it
        whole (no quarter-hour guard: the days an unset clock counted were
        never the event's), and keep that it is set now."""
        self._step(ms)
        now = self.clock.now_ms()
        self.t_sync = self.t_ref = now
        self.n += 1
        self.lost = self.fresh = 0
        self.src = "friend"
        if self._set_path:
            try:
                from cloudpin import clockset

                clockset.mark(now, "friend", self._set_path, self.log)
            except (OSError, ValueError, MemoryError):
                pass  # a full flash, a friend's clock before the firmware's year, no heap: set until a power-on
            _unload_clockset()
        if self.log is not None:
            self.log.info("step=%d set by a friend" % ms)
        return ms


def for_app(rtc, log):
    """The app's ClockSync (cloudpin.app, with its first friend): the pin's
    RTC (machine.RTC), its state and whether it was set kept on flash. Here,
    not in the app, so that its names are interned only with a friend."""
    from cloudpin import clockset

    return ClockSync(RtcClock(rtc), log=log, set_path=clockset.PATH)


class RtcClock:
    """UTC ms of a machine.RTC, and stepping it (settimeofday on the chip)."""

    def __init__(self, rtc):
        self.rtc = rtc

    def now_ms(self):
        from cloudpin.date import utc_ms

        return utc_ms(self.rtc)

    def step(self, ms):
        from cloudpin.date import set_utc_ms

        set_utc_ms(self.rtc, self.now_ms() + ms)

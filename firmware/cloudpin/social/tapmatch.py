# Who did we just tap? Collects the TAP frames heard during a tap window and
# picks a partner only when the evidence says so; otherwise "tap again".
# Pure (no radio): meet.py feeds it decoded, MAC-checked frames from the
# scanner's IRQ handler. Rules and the numbers behind them:
# docs/meet-and-greet.md, "Tap handshake".
#
# A partner must
#   1. have tapped when we did: its tap time on our clock, receive time -
#      tap age, within [-EARLY_MS, LATE_MS] of ours. Early: both detectors'
#      worst error (1.9 ms each, docs/taps.md) plus a millisecond of tick
#      rounding at each end. Late: the age in a frame is as old as the frame
#      (refreshed every REFRESH_MS) plus the time it takes to reach our
#      handler; the estimate is never early for that reason, so the window
#      is lopsided. The earliest estimate over a pin's frames is kept (the
#      freshest frame is the best one);
#   2. be within arm's length: path loss (its TX power - RSSI) at most
#      TOUCH_LOSS_DB (the radio is up 250 ms after the contact, when the
#      wearers are stepping back); or, once it names us, at most
#      _NAMED_LOSS_DB: it chose us, so it heard the same link (one mean both
#      ways) within TOUCH_LOSS_DB by its best packet, and two best packets of
#      one near link differ by up to 3 dB of fading;
#   3. be clearly closer than every other pin that may have tapped at the
#      same time: MARGIN_DB less loss than each. "May have" is wide
#      (LATE_MS + REFRESH_MS) and losses are each pin's best packet: both
#      err towards "tap again", never towards a wrong partner;
#   4. name us: its frame's `peer` is the start of our RID (mutual).
# A tapper whose latest frame names another pin has chosen that pin (and
# will accept only it): it is neither a partner nor in the way, unless it
# is our choice already (then decide() says whom it names).
# A pin heard only later than LATE_MS over _LATE_FRAMES frames or more
# tapped at another moment: it is in the way only while few of its frames
# are in (a partner's estimate passes LATE_MS only when all its frames
# are the last of their refresh and late to the handler; frames go every
# ADV_MS, two or three per refresh, so of three one is near a refresh).
import time

from micropython import const

from cloudpin.social.advert import PEER_LEN, RID_LEN

REFRESH_MS = const(100)  # the advertiser re-encodes the tap age this often
EARLY_MS = const(5)
LATE_MS = const(130)  # REFRESH_MS + 30 ms of report latency and task jitter
TOUCH_LOSS_DB = const(50)
MARGIN_DB = const(10)
MAX_CANDIDATES = const(8)
_LATE_FRAMES = const(3)  # (inlined: the M5's one-pin share has no bytes to spare)
_NEAR_LOSS_DB = const(60)  # TOUCH_LOSS_DB + MARGIN_DB: weaker pins cannot change a choice
# TOUCH_LOSS_DB + the 99th percentile of the difference between two sides'
# best of 5-9 packets on a near link (Rician K = 10 dB, docs/radio.md): 2.6-3.2 dB
_NAMED_LOSS_DB = const(53)

# choose()/decide() results below zero: why the wearer must tap again
ALONE = const(-1)  # nobody tapped with us at touching distance
CROWDED = const(-2)  # another tapper within the margin, or too many near us
ONE_SIDED = const(-3)  # our choice did not name us (yet, or named another)
CHANGED = const(-4)  # the choice no longer holds with what was heard since
REASONS = {ALONE: "alone", CROWDED: "crowded", ONE_SIDED: "one_sided", CHANGED: "changed"}

_FAR = const(1000)  # "no estimate yet"


class TapMatch:
    """One per pin, made once; start() at each tap. seen() runs per scan
    result in IRQ context and allocates nothing."""

    def __init__(self, my_rid):
        self.my_rid = my_rid  # the advertiser's RID buffer (it rotates in place)
        n = MAX_CANDIDATES
        self.rids = bytearray(n * RID_LEN)
        self.peers = bytearray(n * PEER_LEN)
        self.addrs = bytearray(n * 6)
        self.addr_types = bytearray(n)
        self.est = [0] * n  # earliest tap-time estimate, ms after our tap
        self.loss = [0] * n  # best (lowest) path loss heard, dB
        self.frames = [0] * n
        self.count = 0
        self.overflow = False
        self.t_tap = 0
        self.chosen = -1

    def start(self, t_tap_ms):
        self.t_tap = t_tap_ms
        self.count = 0
        self.overflow = False
        self.chosen = -1

    def _find(self, rid):
        rids = self.rids
        for c in range(self.count):
            o = c * RID_LEN
            i = 0
            while i < RID_LEN and rids[o + i] == rid[i]:
                i += 1
            if i == RID_LEN:
                return c
        return -1

    def seen(self, frame, rssi, t_rx_ms, addr_type, addr):
        """A TAP frame whose MAC checked, heard at `t_rx_ms` (ticks_ms)
        with `rssi` from `addr`. Returns False if it cannot matter."""
        est = time.ticks_diff(t_rx_ms, self.t_tap) - frame.tap_age_ms
        if est < -EARLY_MS or est > LATE_MS + REFRESH_MS:
            return False  # tapped at another moment (or replayed late)
        loss = frame.tx_power - rssi
        rid = frame.rid
        i = 0
        while i < RID_LEN and rid[i] == self.my_rid[i]:
            i += 1
        if i == RID_LEN:
            return False  # our own RID: not a partner (a clone, or an echo)
        c = self._find(rid)
        if c < 0:
            # A pin already kept is followed whatever its loss now (its
            # wearer steps back after the touch and its `peer` comes later);
            # a new one only if it is near enough to matter.
            if loss > _NEAR_LOSS_DB:
                return False  # too far to be chosen or to stand in the way
            if self.count == MAX_CANDIDATES:
                self.overflow = True
                return False
            c = self.count
            self.count += 1
            o = c * RID_LEN
            for i in range(RID_LEN):
                self.rids[o + i] = rid[i]
            self.est[c] = _FAR
            self.loss[c] = _FAR
            self.frames[c] = 0
        if est < self.est[c]:
            self.est[c] = est
        if loss < self.loss[c]:
            self.loss[c] = loss
        o = c * PEER_LEN
        for i in range(PEER_LEN):
            self.peers[o + i] = frame.peer[i]  # the latest frame's choice
        o = c * 6
        for i in range(6):
            self.addrs[o + i] = addr[i]
        self.addr_types[c] = addr_type
        self.frames[c] += 1
        return True

    def _taken(self, c):
        """Does c's latest frame name a pin other than us?"""
        if c == self.chosen:
            return False
        o = c * PEER_LEN
        named = other = False
        for i in range(PEER_LEN):
            p = self.peers[o + i]
            if p:
                named = True
            if p != self.my_rid[i]:
                other = True
        return named and other

    def _best(self):
        """Index of the one pin the rules allow, or a reason (< 0)."""
        best = -1
        for c in range(self.count):
            if self.est[c] <= LATE_MS and not self._taken(c) and (
                    self.loss[c] <= TOUCH_LOSS_DB or self.loss[c] <= _NAMED_LOSS_DB and self.names_us(c)):
                if best < 0 or self.loss[c] < self.loss[best]:
                    best = c
        if best < 0:
            return CROWDED if self.overflow else ALONE
        if self.overflow:
            return CROWDED
        for c in range(self.count):  # everyone kept may have tapped with us
            if c != best and self.loss[c] < self.loss[best] + MARGIN_DB and not self._taken(c) \
                    and (self.est[c] <= LATE_MS or self.frames[c] < _LATE_FRAMES):  # else: another moment
                return CROWDED
        return best

    def choose(self):
        """Pick the partner to name in our TAP frames (its index), or a
        reason. Call once the window has heard enough (meet.py)."""
        c = self._best()
        self.chosen = c if c >= 0 else -1
        return c

    def names_us(self, c):
        o = c * PEER_LEN
        for i in range(PEER_LEN):
            if self.peers[o + i] != self.my_rid[i]:
                return False
        return True

    def decide(self):
        """After choose(): the partner's index if the choice still holds and
        the partner names us, else a reason."""
        if self.chosen < 0:
            return ALONE
        c = self._best()
        if c < 0:
            return c
        if c != self.chosen:
            return CHANGED
        if not self.names_us(c):
            return ONE_SIDED
        return c

    def rid(self, c):
        return memoryview(self.rids)[c * RID_LEN:(c + 1) * RID_LEN]

    def addr(self, c):
        return memoryview(self.addrs)[c * 6:(c + 1) * 6]

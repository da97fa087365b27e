# Friend updates (issue 9 item 5): without a tap, friends near each other
# learn each other's steps and friends made today. Every pin opens a short
# window at the same UTC instants (every PERIOD_S, WINDOW_MS long), switches
# the radio on, advertises its UPDATE frame (advert.Advertiser: the RID and
# the stats block only friends can read) and scans. A report whose RID a
# friend uses (advert.Recognizer) is queued in IRQ context without
# allocating; after the window each queued friend's block is decrypted once
# (read_stats), stored (friends.update) and published (bus.UPDATE).
# Non-friends see a RID and a block they cannot read or link across epochs.
# Window length and period against the power budget: docs/ble.md.
# With a ClockSync (social/clocksync.py, made with the pin's first friend)
# the pin also keeps its clock with its friends': the ClockSync runs the wait
# and the window (a margin scanned before and after our burst), the IRQ side
# notes when each friend was first and last heard, and after the window the
# RTC steps toward the friends'.
import asyncio
import time

from micropython import const

from cloudpin import bus as topics
from cloudpin.ble.advertiser import PHONE, UPDATES
from cloudpin.date import utc_ms  # noqa: F401 (the app and services take the UTC clock from here too)
from cloudpin.ble.radio import RadioError
from cloudpin.social import advert

PERIOD_S = const(300)  # a window every 5 minutes, on the UTC clock
WINDOW_MS = const(2000)
ADV_INTERVAL_MS = const(100)
SCAN_INTERVAL_US = const(100000)
SCAN_WINDOW_US = const(100000)  # all the time: in a 300-pin hall half-time scanning stored 75-80% of near friends, full 91-92% (bench updates)
_QUEUE = const(16)  # friends read per window at most (more wait for the next one)
_ENTRY = const(29)  # friend slot u16 | which epoch u8 | RID 6 | block 16 | first, last heard u16 (ms + 32768)
_T_BIAS = const(32768)  # first/last heard: ms from our burst's start, stored + this
MET_DELAY_MS = const(3000)  # the window after a tap made a friend: after the handshake (a responder serves 2.5 s)
# A periodic window of a lost pin (in step with its friends once, but none
# heard for clocksync.LOST_MS: its plain windows meet only friends whose
# clocks happen to agree) that hears no UPDATE frame at all (friend or
# stranger) in the first QUIET_MS of its burst stops scanning there: nobody
# near has a window open with ours. Its burst goes on to the end, so a
# friend whose clock runs behind still hears it and steps toward us. A
# synced pin, or one that never was (a new friend's clock being brought
# in), scans its whole window (a friend's clock may be up to TOLERANCE_MS
# off), and a busy air (the hall) never ends early. (docs/power.md)
QUIET_MS = const(500)
_SLICE_MS = const(1000)  # a pin that will keep time with friends looks for a new one this often (the light sleeper wakes as often anyway)


class UpdatesService:
    name = "updates"

    def __init__(self, owner, friends, friend_key, tap_key, log, bus, now_ms, stats,
                 period_s=PERIOD_S, window_ms=WINDOW_MS, recognizer=None, adv_ms=ADV_INTERVAL_MS,
                 scan_window_us=SCAN_WINDOW_US, sync=None, make_sync=None):
        """now_ms(): UTC milliseconds since 1970 (the pin's clock); stats(unix_s)
        -> (steps today, friends made today). `recognizer` may be shared with
        the tap handshake (one 16 KB table per pin); this service rebuilds
        it every half epoch and when the friend count changes. `sync`: a
        clocksync.ClockSync on the same clock as now_ms, or None (the
        clock is left alone); `make_sync()` makes one once the pin has a
        friend (the app: a pin with none never loads the module)."""
        self.owner = owner
        self.friends = friends
        self.log = log
        self.bus = bus
        self.now_ms = now_ms
        self.stats = stats
        self.period_s = period_s
        self.window_ms = window_ms
        self.adv_ms = adv_ms
        self.scan_window_us = scan_window_us
        self.codec = advert.Advertiser(friend_key, tap_key)
        # The friend table (a 4 KB piece per 256 friends, 16 KB at the
        # bound): made at the first window with a friend (_prepare) and grown
        # with the list; a pin with no friends never needs it (docs/heap.md).
        self.recognizer = recognizer
        self._built_count = -1
        self.sleep_ms = asyncio.sleep_ms  # the app gives the light sleeper's (cloudpin.power)
        self.windows = 0  # windows run
        self.skipped = 0  # windows skipped: radio would not start, or the air was taken (a tap)
        self.idle = 0  # windows not opened: no friends yet
        self.heard = 0  # reports of a friend's UPDATE frame in windows (before the per-window limit)
        self.stored = 0
        self.quiet = 0  # windows that stopped scanning early: nobody's UPDATE frame on the air
        self._air = 0  # UPDATE frames heard this window, anyone's (IRQ side)
        # what the IRQ side fills; all made once
        self._frame = advert.Frame()
        self._queue = bytearray(_QUEUE * _ENTRY)
        self._n = 0
        self._seen = bytearray(advert.MAX_FRIENDS // 8)  # friends queued this window
        self._read = advert.Frame()
        self._keys = bytearray(48)
        self._out = bytearray(16)
        self._c0 = 0  # our clock at our burst's start, UTC ms mod 2^24 (the block's salt)
        self.sync = sync
        self._make_sync = make_sync
        self._t0 = 0  # ticks_ms of our burst's start (the IRQ side times reports from it)
        self._met = False  # a tap just made a friend: open a window with it now (bus.FRIEND)
        self._met_at = 0  # ... at this ticks_ms
        self._met_tap = 0  # ... whose tap's touch was at this ticks_ms (bus.MET; else the commit's)
        self._no_heap = False  # the clock's module did not fit: plain windows until the next one
        if bus is not None and (sync is not None or make_sync is not None):
            bus.subscribe(topics.FRIEND, self._on_friend)
            bus.subscribe(topics.MET, self._on_met)
        self.synced = 0  # windows after which the clock was corrected

    # --- IRQ side: one scan report --------------------------------------------
    def on_report(self, addr_type, addr, adv_type, rssi, adv_data):
        """Decode, look up, queue: allocates nothing (the scan hot path)."""
        f = self._frame
        if advert.decode(adv_data, f) != advert.KIND_UPDATE:
            return
        self._air += 1
        table = self.recognizer
        if table is None:
            return
        ref = table.lookup(f.rid)
        if ref < 0:
            return
        self.heard += 1
        slot = ref >> 1
        bit = 1 << (slot & 7)
        t = (time.ticks_diff(time.ticks_ms(), self._t0) + _T_BIAS) & 0xFFFF  # a window is seconds long
        q = self._queue
        if self._seen[slot >> 3] & bit:
            # one read per friend per window (its AES object costs heap); the
            # last time it was heard moves on (where its burst ended)
            for k in range(self._n):
                o = k * _ENTRY
                if q[o] == slot >> 8 and q[o + 1] == slot & 0xFF:
                    q[o + 27] = t >> 8
                    q[o + 28] = t & 0xFF
                    return
            return
        if self._n >= _QUEUE:
            return
        self._seen[slot >> 3] |= bit
        o = self._n * _ENTRY
        q[o] = slot >> 8
        q[o + 1] = slot & 0xFF
        q[o + 2] = ref & 1
        for i in range(advert.RID_LEN):
            q[o + 3 + i] = f.rid[i]
        for i in range(16):
            q[o + 9 + i] = f.block[i]
        q[o + 25] = q[o + 27] = t >> 8
        q[o + 26] = q[o + 28] = t & 0xFF
        self._n += 1

    # --- task side -------------------------------------------------------------
    def next_window_ms(self, now_ms):
        """UTC ms of the next window's start (the next multiple of the period)."""
        p = self.period_s * 1000
        return (now_ms // p + 1) * p

    async def run(self):
        while True:
            sync = self.sync
            if sync is None and self._make_sync is not None and self.friends.count and not self._no_heap:
                # with the first friend (or friends from before a reset): the
                # clock's module, once a tap's handshake is over (its heap back)
                await self.met_delay()
                import gc

                gc.collect()
                try:
                    sync = self.sync = self._make_sync()
                except MemoryError:
                    self._no_heap = True  # plain windows; tried again after the next one
                    self.log.warning("clock sync off: no heap")
            if sync is not None:
                await sync.cycle(self)  # social/clocksync.py: the wait, the window, in step with friends
                continue
            now = self.now_ms()
            left = self.next_window_ms(now) - now
            if self._make_sync is not None and left > _SLICE_MS:
                await self.sleep_ms(_SLICE_MS)  # no friend yet: a tap may make one (then its clock's window)
                continue
            await self.sleep_ms(left)
            await self.window()
            self._no_heap = False

    def _on_friend(self, slot, t_ms):
        self._met = True
        self._met_at = time.ticks_ms()
        self._met_tap = t_ms  # a reconciled friend: from the commit (a tap's MET follows at once)

    def _on_met(self, slot, t_tap):
        self._met_tap = t_tap  # the touch: clocksync's window after it is timed from it

    async def met_delay(self):
        """Until MET_DELAY_MS after the tap's friendship (its handshake over)."""
        left = MET_DELAY_MS - time.ticks_diff(time.ticks_ms(), self._met_at)
        if self._met and left > 0:
            await self.sleep_ms(left)

    def _prepare(self, unix_s):
        """Keys for this window: the RID of this epoch, the friends' RIDs of
        the two epochs held. Done before the radio starts (the rebuild of
        1,024 friends takes ~0.6 s on the chip)."""
        epoch = advert.epoch_of(unix_s)
        if epoch != self.codec.epoch:
            self.codec.rotate(epoch)
            self.owner.new_address()  # the address changes with the RID
        table = self.recognizer
        if table is None:
            import gc

            gc.collect()
            table = self.recognizer = advert.Recognizer(self.friends.count)  # MemoryError: skipped, tried again
        table.reserve(self.friends.count)  # another 4 KB piece past 256 friends (MemoryError: as above)
        held = advert.epochs_held(unix_s)
        if held != table.epochs or self.friends.count != self._built_count:
            table.build(held, self.friends.rid_keys())
            self._built_count = self.friends.count

    async def window(self, at_ms=None, pre=0, post=0, clock_only=False):
        """One update window, from now: advertise and scan for window_ms,
        then read and store what friends sent. at_ms: the UTC instant it is
        for (default now); pre, post: ms scanned before and after our burst.
        clock_only: the window after a tap, for the clock; friends' stats
        are kept from the periodic windows only (a whole number of periods
        apart)."""
        t_ms = self.now_ms() if at_ms is None else at_ms
        unix_s = t_ms // 1000
        if not self.friends.count:
            self.idle += 1  # friendships are mutual: nobody listens for us, nobody to hear
            return
        try:
            self._prepare(unix_s)
        except MemoryError:
            self.skipped += 1
            self.log.warning("update window skipped: no heap for the friend table")
            return
        steps, made = self.stats(unix_s)
        adv, scan = self.owner.advertiser(), self.owner.scanner()
        try:
            await self.owner.acquire("updates")
        except RadioError:
            self.skipped += 1  # the owner logged why; the next window tries again
            return
        try:
            if adv.advertising and not adv.holds(PHONE) or scan.scanning or "meet" in self.owner.users:
                self.skipped += 1  # a tap window holds the air: it has priority (the phone window gives way)
                return
            self.windows += 1
            cuts = scan.cuts  # a tap window may take the scanner over (ble/scanner.py)
            self._n = 0
            self._air = 0
            for i in range(len(self._seen)):
                self._seen[i] = 0
            self._t0 = time.ticks_add(time.ticks_ms(), pre)
            scan.start(self.on_report, pre + self.window_ms + post, SCAN_INTERVAL_US, self.scan_window_us)
            if pre:
                await self.sleep_ms(pre)
            # The block's 24-bit salt is our clock as the burst starts (UTC ms
            # mod 2^22, whether we are synced and whether our clock was set):
            # it differs every window, as a salt must, and tells a friend where
            # our clock stood when its scan heard us begin (social/clocksync.py).
            c = self._c0 = self.now_ms() & advert.SALT_PHASE
            sync = self.sync
            if sync is not None:
                if sync.synced():
                    c |= advert.SALT_SYNCED
                if sync.src is not None:
                    c |= advert.SALT_SET
            adv.start(self.codec.update(steps, made, c), self.adv_ms, prio=UPDATES)
            self._t0 = time.ticks_ms()
            if post:
                await self.sleep_ms(self.window_ms)
                adv.stop(UPDATES)
            elif not pre and not clock_only and self.sync is not None and self.sync.lost_once():
                await self.sleep_ms(QUIET_MS)
                if not self._air and scan.scanning and scan.cuts == cuts and "meet" not in self.owner.users:
                    scan.stop()  # an empty air: our burst alone to its end (never a tap's scan, which takes ours)
                    self.quiet += 1
                    post = QUIET_MS - self.window_ms  # (our scan ended there: edges after it are not heard)
                    await self.sleep_ms(self.window_ms - QUIET_MS)
                    adv.stop(UPDATES)
            await scan.done(self.window_ms + (post if post > 0 else 0) + 1000)
            adv.stop(UPDATES)  # ours only: a tap that came meanwhile keeps its frames
        except OSError as e:
            self.log.warning("update window: %r" % (e,))
            adv.stop(UPDATES)
        finally:
            self.owner.release("updates")
        # A scan cut short (a tap took the scanner) would place friends'
        # bursts wrongly (clocksync.place reads an edge where it ended): its
        # stats are good, its timing is not.
        self._store(unix_s, pre, post, clock_only, scan.cuts == cuts)

    def _store(self, unix_s, pre=0, post=0, clock_only=False, clock=True):
        """Read each queued friend's block with its stats key; keep and
        publish what checks out. `unix_s` is the window's start, so one
        friend's updates are a whole number of periods apart. clock: the
        window's timing is whole (feed the clock's sync)."""
        import cryptolib

        q = self._queue
        f = self._read
        table = self.recognizer
        if table is None:
            return
        epochs = table.epochs
        sync = self.sync if clock else None
        if sync is not None:
            sync.begin(pre, self.window_ms, post, self.adv_ms, self._c0)
        for k in range(self._n):
            o = k * _ENTRY
            slot = (q[o] << 8) | q[o + 1]
            for i in range(advert.RID_LEN):
                f.rid[i] = q[o + 3 + i]
            for i in range(16):
                f.block[i] = q[o + 9 + i]
            if not self.friends.keys(slot, self._keys):
                continue
            aes = cryptolib.aes(bytes(self._keys[32:48]), 1)
            v = advert.read_stats(aes, f, epochs[q[o + 2]], self._out)
            if v < 0:
                continue  # a stranger whose RID shares 28 bits with a friend's, or a forgery
            steps, made = v >> 16, v & 0xFFFF
            if sync is not None:
                sync.heard(self._out, q, o + 25)  # its clock (the salt) and when we first and last heard it
            if not clock_only and self.friends.update(slot, steps, made, unix_s):
                self.stored += 1
                self.log.info("friend slot=%d steps=%d made=%d" % (slot, steps, made))
                if self.bus is not None:
                    self.bus.publish(topics.UPDATE, slot, steps, made, unix_s)
        self._n = 0
        if sync is not None and sync.end():  # stepped toward its friends (it logs: "clock")
            self.synced += 1

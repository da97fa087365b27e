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
import asyncio
import os

from micropython import const

from cloudpin import bus as topics
from cloudpin.ble.advertiser import PHONE, UPDATES
from cloudpin.ble.radio import RadioError
from cloudpin.social import advert

PERIOD_S = const(300)  # a window every 5 minutes, on the UTC clock
WINDOW_MS = const(2000)
ADV_INTERVAL_MS = const(100)
SCAN_INTERVAL_US = const(100000)
SCAN_WINDOW_US = const(100000)  # all the time: in a 300-pin hall half-time scanning stored 75-80% of near friends, full 91-92% (bench updates)
_QUEUE = const(16)  # friends read per window at most (more wait for the next one)
_ENTRY = const(25)  # friend slot u16 | which epoch u8 | RID 6 | block 16


def utc_ms(rtc):
    """UTC milliseconds since 1970 from a machine.RTC (the ESP32's datetime()
    is (year, month, day, weekday, hour, minute, second, microsecond), its
    epoch 2000 or 1970 by build: the civil date does not care)."""
    y, m, d, _, hh, mm, ss, us = rtc.datetime()
    # days from civil (H. Hinnant's algorithm), 1970-01-01 = 0
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return ((days * 86400 + hh * 3600 + mm * 60 + ss) * 1000) + us // 1000


class UpdatesService:
    name = "updates"

    def __init__(self, owner, friends, friend_key, tap_key, log, bus, now_ms, stats,
                 period_s=PERIOD_S, window_ms=WINDOW_MS, recognizer=None, adv_ms=ADV_INTERVAL_MS,
                 scan_window_us=SCAN_WINDOW_US):
        """now_ms(): UTC milliseconds since 1970 (the pin's clock); stats(unix_s)
        -> (steps today, friends made today). `recognizer` may be shared with
        the tap handshake (one 16 KB table per pin); this service rebuilds
        it every half epoch and when the friend count changes."""
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
        # what the IRQ side fills; all made once
        self._frame = advert.Frame()
        self._queue = bytearray(_QUEUE * _ENTRY)
        self._n = 0
        self._seen = bytearray(advert.MAX_FRIENDS // 8)  # friends queued this window
        self._read = advert.Frame()
        self._keys = bytearray(48)
        self._out = bytearray(16)
        self._salt = bytearray(3)

    # --- IRQ side: one scan report --------------------------------------------
    def on_report(self, addr_type, addr, adv_type, rssi, adv_data):
        """Decode, look up, queue: allocates nothing (the scan hot path)."""
        f = self._frame
        if advert.decode(adv_data, f) != advert.KIND_UPDATE:
            return
        table = self.recognizer
        if table is None:
            return
        ref = table.lookup(f.rid)
        if ref < 0:
            return
        self.heard += 1
        slot = ref >> 1
        bit = 1 << (slot & 7)
        if self._seen[slot >> 3] & bit or self._n >= _QUEUE:
            return  # one read per friend per window (its AES object costs heap)
        self._seen[slot >> 3] |= bit
        q = self._queue
        o = self._n * _ENTRY
        q[o] = slot >> 8
        q[o + 1] = slot & 0xFF
        q[o + 2] = ref & 1
        for i in range(advert.RID_LEN):
            q[o + 3 + i] = f.rid[i]
        for i in range(16):
            q[o + 9 + i] = f.block[i]
        self._n += 1

    # --- task side -------------------------------------------------------------
    def next_window_ms(self, now_ms):
        """UTC ms of the next window's start (the next multiple of the period)."""
        p = self.period_s * 1000
        return (now_ms // p + 1) * p

    async def run(self):
        while True:
            now = self.now_ms()
            await self.sleep_ms(self.next_window_ms(now) - now)
            await self.window()

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

    async def window(self):
        """One update window, from now: advertise and scan for window_ms,
        then read and store what friends sent."""
        t_ms = self.now_ms()
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
        salt = self._salt
        salt[0:3] = os.urandom(3)
        data = self.codec.update(steps, made, (salt[0] << 16) | (salt[1] << 8) | salt[2])
        adv, scan = self.owner.advertiser(), self.owner.scanner()
        try:
            await self.owner.acquire("updates")
        except RadioError:
            self.skipped += 1  # the owner logged why; the next window tries again
            return
        try:
            if adv.advertising and not adv.holds(PHONE) or scan.scanning:
                self.skipped += 1  # a tap window holds the air: it has priority (the phone window gives way)
                return
            self.windows += 1
            self._n = 0
            for i in range(len(self._seen)):
                self._seen[i] = 0
            adv.start(data, self.adv_ms, prio=UPDATES)
            scan.start(self.on_report, self.window_ms, SCAN_INTERVAL_US, self.scan_window_us)
            await scan.done(self.window_ms + 1000)
            adv.stop(UPDATES)  # ours only: a tap that came meanwhile keeps its frames
        except OSError as e:
            self.log.warning("update window: %r" % (e,))
            adv.stop(UPDATES)
        finally:
            self.owner.release("updates")
        self._store(unix_s)

    def _store(self, unix_s):
        """Read each queued friend's block with its stats key; keep and
        publish what checks out. `unix_s` is the window's start, so one
        friend's updates are a whole number of periods apart."""
        import cryptolib

        q = self._queue
        f = self._read
        table = self.recognizer
        if table is None:
            return
        epochs = table.epochs
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
            if self.friends.update(slot, steps, made, unix_s):
                self.stored += 1
                self.log.info("friend slot=%d steps=%d made=%d" % (slot, steps, made))
                if self.bus is not None:
                    self.bus.publish(topics.UPDATE, slot, steps, made, unix_s)
        self._n = 0

"""Attackers on the hall's air for `cloudpin sim` (docs/sim.md, "Attackers").

Each attacker is a device of the World with an emulated `bluetooth.BLE`
(the same radio, timing and limits as a pin's: one advertising set, the
fastest legacy interval 20 ms, half-duplex), driven by a Python model
instead of the firmware. None of them holds the event key.

  replay     listens all the time; re-sends every advertisement of ours it
             heard, REPLAY_DELAYS_MS later (each delay once), and follows
             connections in range (a sniffer, as an nRF or Ubertooth sniffer
             does): every GATT write it overhears is replayed, in order, over
             a connection of its own to a pin advertising our frames (the
             original server preferred), at most REPLAY_TARGETS times a session.
  spoof      listens; for SPOOF_WINDOW_MS after hearing a pin's TAP frame it
             advertises TAP-shaped frames claiming that pin's tap moment
             (its tap age, aged as time passes), naming that pin as its peer
             (a mutual choice) and a low TX power so its RSSI reads as
             touching; its RID and MAC are random (no key).
  tap_storm  from the start, a new TAP-shaped frame every 20 ms (a new
             random RID, a fresh tap age, random peer and MAC): a flood of
             tappers for every pin nearby.

Frames are built with the firmware's own codec (cloudpin.social.advert) so
they have exactly the pins' shape; what no key can give (the MAC) is random.
"""
import heapq
import random

_IRQ_SCAN_RESULT = 5
_IRQ_PERIPHERAL_CONNECT = 7
_IRQ_PERIPHERAL_DISCONNECT = 8
_IRQ_GATTC_WRITE_DONE = 17

KINDS = ("replay", "spoof", "tap_storm")
SCAN_US = 30000  # listen all the time: 30 ms windows every 30 ms
ADV_ITVL_US = 20000  # the fastest legacy advertising interval (Core spec Vol 6 Part B 4.4.2.2.1)
TICK_MS = 20  # the model acts once per advertising interval
REPLAY_DELAYS_MS = (1000, 5000)  # each heard advertisement re-sent this long after
REPLAY_BACKLOG = 400  # advertisements waiting; the oldest dropped beyond
SESSION_GAP_MS = 1000  # a connection's writes with no new one for this long: a session
REPLAY_TARGETS = 2  # connections per recorded session (original server first)
TARGET_FRESH_MS = 300  # a pin heard advertising this recently is advertising now
CONNECT_MS = 1000  # gap_connect's scan for the target
SPOOF_WINDOW_MS = 1500  # how long after a tap the spoofer claims it
SPOOF_TX_DBM = -30  # the TX power a spoofer claims: its RSSI then reads as touching
_PAYLOAD = 7  # our payload's offset in the 31-byte advertisement (after Flags and the MSD header)


class Attacker:
    """What every model shares: the radio, listening, frame shapes, counts."""

    def __init__(self, spec, dev, seed):
        from cloudpin.social import advert

        self.spec = spec
        self.dev = dev
        self.clock = dev.world.clock
        self.rng = random.Random("%d:attacker:%s" % (seed, spec["id"]))
        self.advert = advert
        self.frame = advert.Frame()
        # any keys make a TAP frame of the right shape; the MAC is replaced
        self._shape = advert.Advertiser(self._bytes(16), self._bytes(16))
        self._shape.rotate(0)
        self.ble = None
        self.counts = {"heard": 0, "heard_tap": 0, "sent": 0}

    def _bytes(self, n):
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def now_ms(self):
        return self.clock.now_us() // 1000

    def start(self):
        import bluetooth

        self.ble = bluetooth.BLE()
        self.ble.active(True)
        self.ble.irq(self._irq)
        self.listen()

    def listen(self):
        self.ble.gap_scan(0, SCAN_US, SCAN_US, False)

    def _irq(self, event, data):
        if event == _IRQ_SCAN_RESULT:
            addr_type, addr, adv_type, rssi, adv = data
            adv = bytes(adv)  # the memoryview dies when the handler returns
            kind = self.advert.decode(adv, self.frame)
            if kind >= 0:
                self.counts["heard"] += 1
                if kind == self.advert.KIND_TAP:
                    self.counts["heard_tap"] += 1
                self.heard(adv, kind, addr_type, bytes(addr), adv_type)
        else:
            self.event(event, data)

    def heard(self, adv, kind, addr_type, addr, adv_type):
        pass

    def event(self, event, data):
        pass

    def tap_frame(self, rid, age_ms, peer, tx_dbm):
        """A TAP-shaped advertisement: the codec's layout with this RID, age,
        peer and claimed TX power, and a random MAC."""
        adv = bytearray(self._shape.tap(age_ms, peer, tx_dbm))
        adv[_PAYLOAD + 1:_PAYLOAD + 7] = rid
        adv[_PAYLOAD + 14:_PAYLOAD + 24] = self._bytes(10)
        return bytes(adv)

    def send(self, adv, connectable=True):
        self.ble.gap_advertise(ADV_ITVL_US, adv, connectable=connectable)
        self.counts["sent"] += 1

    def quiet(self):
        self.ble.gap_advertise(None)

    async def run(self):
        import asyncio

        self.start()
        while True:
            await asyncio.sleep_ms(TICK_MS)
            self.tick(self.now_ms())

    def tick(self, now):
        pass

    def report(self):
        out = {"kind": self.spec["kind"]}
        out.update(self.counts)
        return out


class Replay(Attacker):
    def __init__(self, spec, dev, seed):
        super().__init__(spec, dev, seed)
        self.queue = []  # (due ms, n, adv bytes, connectable)
        self.n = 0
        self.advertising = False
        self.seen = {}  # (addr_type, addr) of a pin advertising our frames -> last heard ms
        self.sessions = {}  # id(link) -> session
        self.done = []  # sessions to replay
        self.conn = None  # the replay under way
        self.counts.update({"sniffed_writes": 0, "sessions": 0, "connects": 0, "replayed_writes": 0,
                            "writes_accepted": 0})

    def start(self):
        super().start()
        self.dev.world.radio.sniffers.append(self.sniffed)

    def heard(self, adv, kind, addr_type, addr, adv_type):
        now = self.now_ms()
        if adv_type == 0:
            self.seen[(addr_type, addr)] = now
        for d in REPLAY_DELAYS_MS:
            self.n += 1
            heapq.heappush(self.queue, (now + d, self.n, adv, adv_type == 0))
        while len(self.queue) > REPLAY_BACKLOG:
            self.queue.remove(max(self.queue))  # the newest waits longest: drop it
            heapq.heapify(self.queue)

    def sniffed(self, link, side, h, data):
        client = link.ends[1 - side]
        radio = self.dev.world.radio
        if self.ble is not None and (client is self.ble or link.ends[side] is self.ble):
            return  # its own replays
        if not radio.hears(client._dev, self.dev):
            return  # out of its range
        now = self.now_ms()
        s = self.sessions.get(id(link))
        if s is None:
            s = self.sessions[id(link)] = {"addr": link.addrs[side], "writes": [], "last": now, "tried": set()}
        s["writes"].append((h, data))
        s["last"] = now
        self.counts["sniffed_writes"] += 1

    def tick(self, now):
        for key in [k for k, s in self.sessions.items() if now - s["last"] >= SESSION_GAP_MS]:
            self.done.append(self.sessions.pop(key))
            self.counts["sessions"] += 1
        if self.conn is None:
            self._replay_session(now)
            self._replay_advert(now)

    def _replay_advert(self, now):
        if self.queue and self.queue[0][0] <= now:
            _, _, adv, connectable = heapq.heappop(self.queue)
            self.send(adv, connectable)
            self.advertising = True
        elif self.advertising:
            self.quiet()
            self.advertising = False

    def _target(self, s, now):
        fresh = [a for a, t in self.seen.items() if now - t <= TARGET_FRESH_MS and a not in s["tried"]]
        if not fresh:
            return None
        return s["addr"] if s["addr"] in fresh else fresh[0]

    def _replay_session(self, now):
        for s in self.done:
            if now - s["last"] < REPLAY_DELAYS_MS[0]:
                continue
            addr = self._target(s, now)
            if addr is None:
                continue
            s["tried"].add(addr)
            if len(s["tried"]) >= REPLAY_TARGETS:
                self.done.remove(s)
            if self.advertising:
                self.quiet()
                self.advertising = False
            try:
                self.ble.gap_connect(addr[0], addr[1], CONNECT_MS)
            except OSError:
                self.listen()
                return
            self.conn = {"handle": None, "writes": list(s["writes"]), "addr": addr}
            return

    def event(self, event, data):
        c = self.conn
        if c is None:
            return
        if event == _IRQ_PERIPHERAL_CONNECT:
            c["handle"] = data[0]
            self.counts["connects"] += 1
            self._next_write()
        elif event == _IRQ_GATTC_WRITE_DONE:
            if data[2] == 0:
                self.counts["writes_accepted"] += 1
            self._next_write()
        elif event == _IRQ_PERIPHERAL_DISCONNECT:
            self.conn = None
            self.listen()

    def _next_write(self):
        c = self.conn
        try:
            if c["writes"]:
                h, data = c["writes"].pop(0)
                self.ble.gattc_write(c["handle"], h, data, 1)
                self.counts["replayed_writes"] += 1
            else:
                self.ble.gap_disconnect(c["handle"])
        except OSError:
            self.conn = None
            self.listen()


class Spoof(Attacker):
    def __init__(self, spec, dev, seed):
        super().__init__(spec, dev, seed)
        self.victims = {}  # victim RID -> [tap moment (ms, on the attacker's clock), fake RID]
        self.counts["victims"] = 0

    def heard(self, adv, kind, addr_type, addr, adv_type):
        if kind != self.advert.KIND_TAP:
            return
        f = self.frame
        rid = bytes(f.rid)
        tapped = self.now_ms() - f.tap_age_ms
        if rid not in self.victims:
            self.victims[rid] = [tapped, self._bytes(6)]
            self.counts["victims"] += 1

    def tick(self, now):
        for rid in [r for r, v in self.victims.items() if now - v[0] > 2 * SPOOF_WINDOW_MS]:
            del self.victims[rid]  # long past: a new tap of that RID starts afresh
        live = [(t, rid, fake) for rid, (t, fake) in self.victims.items() if 0 <= now - t <= SPOOF_WINDOW_MS]
        if not live:
            if self.counts["sent"]:
                self.quiet()
            return
        t, rid, fake = max(live)  # the latest tap
        self.send(self.tap_frame(fake, now - t, rid[:4], SPOOF_TX_DBM))


class TapStorm(Attacker):
    def tick(self, now):
        peer = self._bytes(4) if self.rng.random() < 0.5 else None
        self.send(self.tap_frame(self._bytes(6), self.rng.randrange(0, 200), peer,
                                 self.rng.randrange(-20, 1)))


MODELS = {"replay": Replay, "spoof": Spoof, "tap_storm": TapStorm}


def place(world, specs, seed):
    """Put every attacker of a validated scenario on the world's air and
    start its model; returns them (for report())."""
    out = []
    for spec in specs:
        dev = world.device(spec["id"])
        dev.ble_start_us = 0  # its radio is up before the scene: not a pin starting NimBLE
        world.radio.set_position(dev, spec["x"], spec["y"], None)
        if spec["tx_dbm"] is not None:
            world.radio.set_tx_power(dev, spec["tx_dbm"])
        a = MODELS[spec["kind"]](spec, dev, seed)
        world.start(dev, a.run())
        out.append(a)
    return out

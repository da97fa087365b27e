"""Ways to reach a pin's phone service, each moving fragments for
host_tools.phone.client.PinClient: send(fragment), recv(timeout) -> fragment
or None, fragment_size, close().

  Loopback  a PhoneService in this process (tests, the desk's self-test of a
            service object, benchmarks of the pin's own work)
  Air       a virtual badge on the emulated air (host_tools/air Central in
            the hub's process, or RemoteCentral from another: connect_hub)
  Bleak     a real pin through this computer's Bluetooth adapter (bleak,
            imported only when used)
"""
import collections
import time

from host_tools.phone import fw

p = fw.protocol()

DEFAULT_FRAGMENT = 20  # ATT_MTU 23 - 3: what every link carries without an MTU exchange


class NotInRange(ConnectionError):
    """No window of this pin (or no device at the address) was heard."""

    def __init__(self, address=None):
        ConnectionError.__init__(
            self, "no pin answering to this secret is in range: double-tap the pin to open its phone window and "
            "come closer (if it is open and close, the secret is wrong)" if address is None
            else "no device at %s is in range" % (address.hex(":") if isinstance(address, bytes) else address))


class Loopback:
    """Straight into a cloudpin.phone.service.PhoneService as connection
    `handle`; its answers come back in fragments of `fragment_size`."""

    def __init__(self, service, handle=1, fragment_size=DEFAULT_FRAGMENT, now_ms=None):
        self.service = service
        self.handle = handle
        self.fragment_size = fragment_size
        self._now_ms = now_ms or (lambda: int(time.monotonic() * 1000) & ((1 << 30) - 1))
        self._q = collections.deque()
        service.connect(handle)

    def send(self, frag):
        ans = self.service.write(self.handle, frag, self._now_ms())
        if ans is not None:
            self.push(ans)

    def push(self, msg):
        """A whole message from the pin (an answer, or an event the test made)."""
        self._q.extend(p.fragments(msg, self.fragment_size))

    def recv(self, timeout):
        return self._q.popleft() if self._q else None

    def close(self):
        self.service.disconnect(self.handle)


class Air:
    """A virtual badge on the emulated air, through a host Central
    (host_tools/air) in this process: finds the pin's characteristics by
    UUID, writes fragments with response, takes notifications."""

    fragment_size = DEFAULT_FRAGMENT  # the hub exchanges no MTU
    leave = None  # called after the link closes (connect_hub: the central leaves the hub)

    def __init__(self, conn, timeout=10.0):
        self.conn = conn
        self.timeout = timeout
        self.rx = conn.discover(p.RX_UUID, timeout)
        self.tx = conn.discover(p.TX_UUID, timeout)

    def send(self, frag):
        self.conn.write(self.rx, frag, True, self.timeout)

    def recv(self, timeout):
        return self.conn.wait_notification(self.tx, timeout)

    def close(self):
        try:
            if self.conn.connected:
                self.conn.disconnect()
        finally:
            if self.leave is not None:
                self.leave()


def _scan_for(central, match, timeout):
    # only what this scan hears: a report from an earlier scan may be of a
    # window that has ended, or of an address the pin no longer advertises
    start = time.monotonic()
    central.scan()
    try:
        return central.wait_for(lambda ad: ad.t >= start and ad.adv_type == 0 and match(ad.data), timeout)
    finally:
        central.stop_scan()


def find_on_air(central, key, timeout):
    """The advertisement of the pin holding `key` in its phone window
    (host_tools.air Advert), or None."""
    return _scan_for(central, lambda data: p.is_mine(data, key), timeout)


def find_any_on_air(central, timeout):
    """The first phone-window advertisement heard, whoever's (what a
    browser's chooser lists: the proofs tell the owner's pin later)."""
    return _scan_for(central, lambda data: p.beacon_fields(data) is not None, timeout)


def connect_air(central, key, timeout=10.0, address=None):
    """An Air transport to the pin holding `key` (or the one at `address`:
    then the proofs tell whether it is that pin)."""
    if address is None:
        ad = find_on_air(central, key, timeout)
        if ad is None:
            raise NotInRange()
        address = ad.addr
    return Air(central.connect(address, timeout), timeout)


def connect_hub(paths, key, timeout=10.0, address=None):
    """connect_air from another process than the air hubs' (`cloudpin phone
    --air`): joins each hub of `paths` (host_tools.air.remote.find_hubs) as
    a station of its own, looks for the pin on all of them at once, and
    stays on the one that hears it (leaving it when the transport closes)."""
    from host_tools.air.remote import RemoteCentral

    centrals = []
    try:
        for path in paths:
            try:
                centrals.append(RemoteCentral(path, timeout=timeout))
            except ConnectionError:
                if len(paths) == 1:
                    raise
                # a farm that ended meanwhile: the others may hold the pin
        start = time.monotonic()
        if address is None:
            match = lambda ad: ad.adv_type == 0 and p.is_mine(ad.data, key)  # noqa: E731
        else:
            match = lambda ad: ad.adv_type == 0 and ad.addr == address  # noqa: E731
        for c in list(centrals):
            try:
                c.scan()
            except ConnectionError:
                if len(paths) == 1:
                    raise
                centrals.remove(c)  # ended meanwhile
                c.close()
        found, seen = None, [0] * len(centrals)
        while found is None and time.monotonic() - start < timeout:
            for k, c in enumerate(centrals):
                ads = c.adverts()
                found = next((ad for ad in ads[seen[k]:] if ad.t >= start and match(ad)), None)
                seen[k] = len(ads)
                if found is not None:
                    central = c
                    break
            else:
                time.sleep(0.02)
        for c in centrals:
            c.stop_scan()
        if found is None:
            raise NotInRange(address)
        centrals.remove(central)
        try:
            t = Air(central.connect(found.addr, max(0.1, timeout - (time.monotonic() - start)), found.addr_type),
                    timeout)
        except BaseException:
            central.close()
            raise
        t.leave = central.close
        return t
    finally:
        for c in centrals:
            c.close()


def beacon_from_bleak(manufacturer_data):
    """The beacon's AD structure rebuilt from bleak's {company: payload}
    (bleak parses the advertisement; protocol.is_mine reads raw bytes)."""
    payload = manufacturer_data.get(p.COMPANY_ID)
    if payload is None:
        return b""
    return bytes((len(payload) + 3, 0xFF, p.COMPANY_ID & 0xFF, p.COMPANY_ID >> 8)) + bytes(payload)


class Bleak:
    """A real pin through this computer's adapter. bleak is asyncio; this
    runs its loop in a thread so PinClient stays plain calls. Use
    Bleak.connect(key, timeout, address=None)."""

    def __init__(self, loop, client, timeout):
        import queue

        self._loop = loop
        self.client = client
        self.timeout = timeout
        self._q = queue.Queue()
        mtu = getattr(client, "mtu_size", 23) or 23
        self.fragment_size = max(DEFAULT_FRAGMENT, min(mtu - 3, 244))  # the pin's RX holds 256 bytes
        self._run(client.start_notify(p.TX_UUID, lambda _char, data: self._q.put(bytes(data))))

    def _run(self, coro, timeout=None):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout or self.timeout + 5)

    @classmethod
    def connect(cls, key, timeout=10.0, address=None):
        import asyncio
        import threading

        try:
            from bleak import BleakClient, BleakScanner
        except ImportError as e:
            raise ConnectionError("Bluetooth needs the bleak package (make install): %s" % e)
        # The platform's own loop on real time, whatever loop policy the
        # process set (the emulator's gives a simulated-time loop while a
        # simulated world is bound: a real adapter never waits on that clock).
        loop = asyncio.DefaultEventLoopPolicy().new_event_loop()
        threading.Thread(target=loop.run_forever, name="bleak", daemon=True).start()

        async def find():
            if address is not None:
                return await BleakScanner.find_device_by_address(address, timeout=timeout)
            return await BleakScanner.find_device_by_filter(
                lambda dev, ad: p.is_mine(beacon_from_bleak(ad.manufacturer_data), key), timeout=timeout)

        async def open_client():
            dev = await find()
            if dev is None:
                return None
            client = BleakClient(dev, timeout=timeout)
            await client.connect()
            return client

        try:
            client = asyncio.run_coroutine_threadsafe(open_client(), loop).result(timeout * 2 + 5)
        except Exception as e:  # bleak's errors differ by platform (BleakError, DBus, OSError)
            loop.call_soon_threadsafe(loop.stop)
            raise ConnectionError("Bluetooth: %s" % (e or type(e).__name__))
        if client is None:
            loop.call_soon_threadsafe(loop.stop)
            raise NotInRange(address)
        return cls(loop, client, timeout)

    def send(self, frag):
        self._run(self.client.write_gatt_char(p.RX_UUID, frag, response=True))

    def recv(self, timeout):
        import queue

        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        try:
            self._run(self.client.disconnect())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)

"""A host-side station on the shared air: what the phone client and tests use
to see (and be seen by) virtual badges. It scans and advertises as a pin
would (through the hub's radio: same collisions, fading, RSSI); connecting
to a badge is not carried over the hub yet."""
import threading
import time
from collections import namedtuple

Advert = namedtuple("Advert", "addr_type addr adv_type rssi data t")


class Central:
    def __init__(self, hub, name="central"):
        self.hub = hub
        self.name = name
        self._cond = threading.Condition()
        self._adverts = []
        self._peer = hub.join(name, self._deliver)

    def _deliver(self, atype, addr, kind, rssi, data):
        with self._cond:
            self._adverts.append(Advert(atype, addr, kind, rssi, data, time.monotonic()))
            self._cond.notify_all()

    def scan(self, interval_us=30000, window_us=30000, active=False):
        """Listen (default: all the time, as a phone in the foreground does)."""
        if not 0 < window_us <= interval_us:
            raise ValueError("scan window must be positive and at most the interval")
        self.hub.stop_scan(self._peer)
        self.hub.scan(self._peer, interval_us, window_us, active)

    def stop_scan(self):
        self.hub.stop_scan(self._peer)

    def advertise(self, adv_data, interval_us=100000, resp_data=b"", connectable=False,
                  addr=b"\xc0\x00\x00\x00\x00\x01", addr_type=1):
        """Advertise adv_data (legacy: at most 31 bytes) from `addr`; None stops."""
        if adv_data is None:
            self.hub.stop_adv(self._peer)
            return
        if len(adv_data) > 31 or len(resp_data) > 31 or len(addr) != 6:
            raise ValueError("legacy advertising data is at most 31 bytes, an address 6")
        self.hub.advertise(self._peer, int(interval_us), addr_type, addr, 0 if connectable else 2, adv_data,
                           resp_data)

    def adverts(self):
        """Every report received so far, oldest first."""
        with self._cond:
            return list(self._adverts)

    def wait_for(self, match, timeout=10.0):
        """The first report for which match(advert) is true, waiting up to
        `timeout` seconds for it; None if none came."""
        end = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for a in self._adverts[seen:]:
                    if match(a):
                        return a
                seen = len(self._adverts)
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def close(self):
        self.hub.leave(self.name, self._peer)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""Ways to reach a pin's phone service, each moving fragments for
host_tools.phone.client.PinClient: send(fragment), recv(timeout) -> fragment
or None, fragment_size, close().

  Loopback  a PhoneService in this process (tests, the desk's self-test of a
            service object, benchmarks of the pin's own work)
  Air       a virtual badge on the emulated air (host_tools/air Central)
  Bleak     a real pin through this computer's Bluetooth adapter (bleak,
            imported only when used)
"""
import collections
import time

from host_tools.phone import fw

p = fw.protocol()

DEFAULT_FRAGMENT = 20  # ATT_MTU 23 - 3: what every link carries without an MTU exchange


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

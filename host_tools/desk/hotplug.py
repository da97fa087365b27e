"""USB serial hot-plug: poll the list of ports and report the ones that
appeared and disappeared. Polling pyserial's list_ports works the same on
Linux, macOS and Windows and needs no udev rules; two polls a second is
quicker than a badge boots.

The port lister is injectable: tests and virtual badges (ptys, which
list_ports does not show) pass their own.
"""
import glob
import os
import threading

from host_tools.ports.usb import usb_serial_ports


def fixed_ports(paths):
    """A lister for the given ports: each counts as plugged in while it exists."""
    paths = list(paths)
    return lambda: [p for p in paths if os.path.exists(p)]


def glob_ports(pattern):
    """A lister for every path matching `pattern` (e.g. virtual badges' links)."""
    return lambda: sorted(glob.glob(pattern))


class PortWatcher:
    def __init__(self, lister=usb_serial_ports, interval=0.5):
        self.lister = lister
        self.interval = interval
        self.present = set()

    def poll(self):
        """-> (added, removed) since the last poll, each sorted."""
        try:
            now = set(self.lister())
        except OSError:  # a port vanishing mid-scan: try again next poll
            return [], []
        added = sorted(now - self.present)
        removed = sorted(self.present - now)
        self.present = now
        return added, removed

    def run(self, stop, on_added, on_removed):
        """Poll until the `stop` Event is set, calling back on every change."""
        while not stop.is_set():
            added, removed = self.poll()
            for port in removed:
                on_removed(port)
            for port in added:
                on_added(port)
            stop.wait(self.interval)

    def start(self, stop, on_added, on_removed):
        t = threading.Thread(target=self.run, args=(stop, on_added, on_removed), name="desk-hotplug", daemon=True)
        t.start()
        return t

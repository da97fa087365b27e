# A touch put into a running virtual badge's accelerometer from outside
# (`cloudpin virtual-badge tap`, the demo): the farm writes the touch's
# acceleration as a t_ms,x,y,z CSV (gravity-free, in g, from the tap bench's
# model: host_tools/vbadge/tap.py) into the badge folder and the air hub
# sends this VM a T frame (cpsim/airclient.py) naming it and the wall-clock
# instant (time.time_ns(), CLOCK_REALTIME: the same in every process of the
# host) its first row is felt at. Two badges tapped by one command feel their
# touches at the same instant, however late each VM reads its frame.
#
# The touch is added on top of the badge's own source (its looped walk, or
# a pin lying still), read forward from the file two rows at a time
# (cpsim.recording.Recording): nothing per sample but the sensor's own reads.
import time

from cpsim.recording import Recording

TOUCH_DIR = "/.touch"  # in the badge folder; kept off the pin's filesystem (vbadge/boot_shim.py)


class Touched:
    """`base` (the model's acceleration source) plus touches. Several may be
    in flight at once: a double tap's second touch is announced (LEAD ahead)
    before its first is felt, and must not replace it."""

    FILES = 4  # at most this many touches pending (the farm writes 4 files in turn: vbadge/tap.py)

    def __init__(self, base, model):
        self.base = base
        self.model = model  # the sensor model: its clock and t0_us place a touch in source time
        self._touches = []  # [Recording, at_us, end_us]: at_us is the source time of the file's t = 0
        self._v = [0, 0, 0]

    def inject(self, path, at_ns, length_us):
        """Feel the touch in `path` from wall-clock time at_ns on; False (and
        a warning) if the file cannot be replayed."""
        m = self.model
        lead_us = (at_ns - time.time_ns()) // 1000
        try:
            touch = Recording(path)
        except (OSError, ValueError) as e:
            m.device.note("warn", "tap %s not replayed: %s" % (path, e))
            return False
        if len(self._touches) >= self.FILES:  # its file is about to be rewritten
            self._touches.pop(0)[0].close()
        at = m.clock.now_us() - m.t0_us + lead_us
        self._touches.append([touch, at, at + length_us])
        return True

    def mean_ug(self, t0_us, t1_us, out, j):
        self.base.mean_ug(t0_us, t1_us, out, j)
        touches = self._touches
        i = 0
        while i < len(touches):
            tr, at, end = touches[i]
            if t0_us >= end:
                tr.close()
                touches.pop(i)
                continue
            i += 1
            if t1_us <= at:
                continue
            v = self._v
            tr.mean_ug(t0_us - at, t1_us - at, v, 0)
            out[j] += v[0]
            out[j + 1] += v[1]
            out[j + 2] += v[2]


def touchable(dev):
    """The Touched on dev's accelerometer, put between the model and its
    source on the first tap (the model keeps its own source until then);
    None for a board without one."""
    t = getattr(dev, "touch", None)
    if t is None:
        for bus in dev.i2c_models.values():
            for m in bus.values():
                if hasattr(getattr(m, "source", None), "mean_ug"):
                    t = m.source = Touched(m.source, m)
        dev.touch = t
    return t


def frame(air, b, i, n):
    """T at_ns(8 LE) length_ms(2 LE) name: feel TOUCH_DIR/name from at_ns."""
    ble = air._ble
    if ble is None:
        return
    t = touchable(ble._dev)
    if t is None:
        ble._dev.note("warn", "tap: this badge has no accelerometer to feel it")
        return
    at = int.from_bytes(bytes(b[i + 2:i + 10]), "little")
    length = b[i + 10] | b[i + 11] << 8
    t.inject(TOUCH_DIR + "/" + bytes(b[i + 12:i + 1 + n]).decode(), at, length * 1000)

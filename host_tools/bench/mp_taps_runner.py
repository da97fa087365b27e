# Runs inside the MicroPython VM (unix port) for `cloudpin bench taps`: feeds
# the firmware tap detector a recording and prints what it detects.
# Usage: micropython mp_taps_runner.py SAMPLES.bin ODR_HZ [PARAMS_JSON [SEAMS]]
#   SAMPLES.bin: little-endian int16 milli-g, interleaved x, y, z per sample,
#   sample i at t = round(i * 1000 / ODR) ms.
#   SEAMS: comma-separated sample indices where another recording begins (a
#   day of one pin: the bench's windows one after another). There the
#   detector is reset() as after a FIFO overrun: it forgets the signal (no
#   step between two recordings is read as a knock) and keeps what a pin
#   keeps all day (the impulse log, waiting candidates, the rattle context).
# Prints "TAP t_ms strength_mg" per tap, "SEAM sample suspects cancels
# contexts" before each seam (the counts so far), then "DONE samples taps
# suspects cancels contexts" (the candidates that waited for their company,
# and those of them the company after them vetoed: what a radio started on
# suspicion costs; the candidates the rattle context dropped).
import gc
import json
import sys
from array import array

from cloudpin.taps import TapDetector

_CHUNK = 256  # samples per read: 1.5 KB, the VM heap is small


def main():
    path = sys.argv[1]
    odr = int(sys.argv[2])
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    seams = [int(a) for a in sys.argv[4].split(",") if a] if len(sys.argv) > 4 else []
    seams.append(-1)
    si = 0
    det = TapDetector(odr, **params)
    buf = array("h", bytearray(6 * _CHUNK))
    i = 0
    seen = 0
    gc.collect()
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            j = 0
            end = n // 2
            while j < end:
                if i == seams[si]:
                    print("SEAM", i, det.suspects, det.cancels, det.contexts)
                    det.reset()
                    si += 1
                if det.feed(buf[j], buf[j + 1], buf[j + 2], (i * 1000 + (odr >> 1)) // odr):
                    print("TAP", det.tap_ms, det.tap_mg)
                    seen += 1
                j += 3
                i += 1
    print("DONE", i, seen, det.suspects, det.cancels, det.contexts)


main()

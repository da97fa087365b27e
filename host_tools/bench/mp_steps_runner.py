# Runs INSIDE the MicroPython VM: feeds binary recordings to the firmware step
# counter and prints one result line per recording.
# Usage: micropython mp_steps_runner.py MANIFEST
# MANIFEST lines: "ODR_HZ PATH"; PATH holds int16 little-endian mg x,y,z
# triples. Output lines: "RESULT INDEX STEPS".
import sys

from cloudpin.steps import StepCounter

_CHUNK = 32  # samples per read: one LIS3DH FIFO's worth


def count_file(path, odr):
    sc = StepCounter(odr)
    buf = bytearray(6 * _CHUNK)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            sc.feed_fifo(buf, n // 6)
    return sc.steps


def main():
    with open(sys.argv[1]) as f:
        jobs = [line.split(" ", 1) for line in f.read().splitlines() if line]
    for i, (odr, path) in enumerate(jobs):
        print("RESULT %d %d" % (i, count_file(path, float(odr))))


main()

# time.time() on simulated time: the running pin's RTC (seconds since
# 2000-01-01, the ESP32 port's epoch), from 2000-01-01 at t = 0 or from where
# the RTC was set; real time outside a run. And each pin's files in its own
# flash folder (Device.flash_dir) while its code runs.
import os
import time

from cpsim.world import World

_2021_07_23 = 7873 * 86400  # 2021-07-23 00:00 UTC in seconds since 2000-01-01


async def _clock(out):
    import asyncio

    out.append(time.time())
    await asyncio.sleep_ms(2500)
    out.append(time.time())
    await asyncio.sleep_ms(1000)
    out.append(time.time())


def test_time_reads_the_running_pins_rtc():
    w = World()
    a, b = w.device("a"), w.device("b")
    b.rtc_offset_us = _2021_07_23 * 1000000 + 600000  # set by the desk: 0.6 s into the day
    ta, tb = [], []
    w.start(a, _clock(ta))
    w.start(b, _clock(tb))
    w.run_for(4000)
    assert ta == [0, 2, 3], ta  # an RTC never set starts at 2000-01-01
    assert tb == [_2021_07_23, _2021_07_23 + 3, _2021_07_23 + 4], tb
    assert time.time() > 1.7e9  # outside the run: the host's clock


async def _files(name, out):
    import asyncio

    with open("note.txt", "w") as f:
        f.write(name)
    await asyncio.sleep_ms(10)
    with open("note.txt") as f:
        out.append(f.read())


def test_each_pin_keeps_its_files_in_its_own_flash_folder():
    home = os.getcwd()
    for d in ("flash_a", "flash_b"):
        try:
            os.mkdir(d)
        except OSError:
            pass
    w = World()
    a, b = w.device("a"), w.device("b")
    a.flash_dir, b.flash_dir = home + "/flash_a", home + "/flash_b"
    got = []
    w.start(a, _files("a", got))
    w.start(b, _files("b", got))
    w.run_for(100)
    assert sorted(got) == ["a", "b"], got
    assert os.getcwd() == home
    with open("flash_b/note.txt") as f:
        assert f.read() == "b"

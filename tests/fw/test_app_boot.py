# What only the boot needs is dropped once the app is built
# (cloudpin.app._drop_boot_modules): the board file's validator and the
# identity reader give their heap back, since nothing the app keeps (board
# layer, drivers, services) holds them; an import later loads them again.
import gc
import sys

from cloudpin import app as app_mod
from cloudpin import board as board_layer
from cloudpin.log import Logger
from cpsim.world import World

_BOARD = {
    "name": "t", "chip": "ESP32", "mcu": "ESP32-PICO-D4", "flash_size": "4MB",
    "i2c": {"bus": 0, "scl": 22, "sda": 21, "freq": 400000},
    "accel": {"type": "lis3dh", "address": 24, "int1": 34, "int2": 39, "odr": 50, "range_g": 4, "tap_odr": 400},
}


def _boot():
    w = World()
    w.use(w.device("p"))
    from cloudpin import boardspec

    board = boardspec.validate(dict(_BOARD))
    boardspec = None
    return board_layer.build(board, Logger("b", sink=[].append), wdt_timeout_ms=0)


def test_boot_only_modules_are_dropped_and_load_again():
    hw = _boot()
    assert "cloudpin.boardspec" in sys.modules and "cloudpin.identity" in sys.modules
    app_mod._drop_boot_modules()
    assert "cloudpin.boardspec" not in sys.modules and "cloudpin.identity" not in sys.modules
    from cloudpin import boardspec

    assert boardspec.MOTION_MAX_HZ == 1000 and hw.nvs is not None


def test_mp_the_dropped_modules_give_their_heap_back():
    hw = _boot()  # once: the board layer, drivers and emulator are loaded
    app_mod._drop_boot_modules()
    gc.collect()
    before = gc.mem_alloc()
    hw = _boot()
    loaded = gc.mem_alloc() - before
    app_mod._drop_boot_modules()
    kept = gc.mem_alloc() - before
    assert loaded > 15000 and kept < 4000, (loaded, kept)  # boardspec alone is ~15 KB here
    hw = None

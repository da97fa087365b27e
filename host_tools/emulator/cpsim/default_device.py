# The device a process gets when it never built a World: the firmware booted
# in a virtual badge VM. Environment:
#   CLOUDPIN_EMU_BOARD      board JSON (boards/*.json): real time (WallClock),
#                           and its I2C wiring, accelerometer and battery
#   CLOUDPIN_EMU_RECORDING  t_ms,x,y,z CSV the accelerometer replays (looped);
#                           without it the pin lies still (1 g on z + noise)
#   CLOUDPIN_NVS_FILE       JSON file esp32.NVS is loaded from and commits to
#   CLOUDPIN_RESET_CAUSE    machine.reset_cause() of this boot (the badge sets
#                           it when it restarts the VM after a reset)
# A reset (machine.reset(), deepsleep(), soft_reset(), WDT expiry) of this
# device exits the process with status 64 + machine reset cause, so whoever
# runs the VM can boot it again.
import json
import os

from cpsim.clock import WallClock
from cpsim.world import World


def _env(name):
    v = os.getenv(name)
    return v if v else None


def build(board_path=None, recording=None, nvs_file=None):
    board_path = board_path or _env("CLOUDPIN_EMU_BOARD")
    world = World(WallClock() if board_path else None)
    dev = world.device("default")
    nvs_file = nvs_file or _env("CLOUDPIN_NVS_FILE")
    if nvs_file:
        import esp32

        dev.nvs_file = nvs_file
        dev.nvs = esp32.load(nvs_file)
    cause = _env("CLOUDPIN_RESET_CAUSE")
    if cause:
        dev.reset_cause = int(cause)
    if board_path:
        with open(board_path) as f:
            board = json.load(f)
        fit(dev, board, recording or _env("CLOUDPIN_EMU_RECORDING"))
        dev.on_reset = _exit
    return dev


def fit(dev, board, recording=None):
    """Put the hardware a board file describes on `dev` (unknown keys ignored)."""
    i2c = board.get("i2c") or {}
    bus = i2c.get("bus", 0)
    if "scl" in i2c and "sda" in i2c:
        dev.wire_i2c(bus, i2c["scl"], i2c["sda"])
    accel = board.get("accel") or {}
    if accel.get("type") == "lis3dh":
        from cpsim.lis3dh import LIS3DH
        from cpsim.recording import Recording

        source = Recording(recording, loop=True) if recording else None
        dev.attach_i2c(bus, LIS3DH(source, address=accel.get("address", 0x18),
                                   int1=accel.get("int1"), int2=accel.get("int2")))
    bat = board.get("battery") or {}
    if "adc_pin" in bat:
        # A charged LiPo (3.9 V) behind the board's divider, in microvolts.
        dev.adc_values[bat["adc_pin"]] = int(3900000 / bat.get("divider", 2.0))
    return dev


def _exit(cause):
    raise SystemExit(64 + cause)

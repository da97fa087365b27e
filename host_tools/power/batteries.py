"""Battery capacity per board name (mAh) and where the figure comes from,
and the cell's discharge curve: the board file's (battery.curve_mv, which
the pin's board layer hands cloudpin.battery) or, for a board that gives
none, cloudpin.battery's CURVE_MV: one copy each, so the level a pin
reports and the model's figures agree. None: the board has no battery
(runs from USB)."""
import sys

from host_tools import FIRMWARE_DIR

if str(FIRMWARE_DIR) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_DIR))
from cloudpin.battery import CURVE_MV, LOW_PCT, curve_mv, curve_percent  # noqa: E402

BATTERIES = {
    # Issue 12's target: the reference CloudPin pin carries a 150 mAh LiPo.
    "cloudpin_ref": (150.0, "issue 12: reference pin, 150 mAh LiPo cell"),
    # M5Stack's M5StickC Plus documentation: built-in 120 mAh battery (also
    # the README of m5stack/M5StickC-Plus: "the battery capacity is 120mAh").
    "m5stickc_plus": (120.0, "M5Stack docs, M5StickC Plus: 120 mAh @ 3.7 V LiPo"),
    # ESP32-DevKitC: no battery connector; USB powered.
    "devkitc_mpu6050": (None, "ESP32-DevKitC: no battery, USB powered"),
}

__all__ = ["BATTERIES", "battery", "cell", "CURVE_MV", "LOW_PCT", "curve_mv", "curve_percent", "hours_to"]


def battery(board):
    """(mAh or None, source) for a board name; unknown boards have none."""
    return BATTERIES.get(board, (None, "no battery figure for board %r" % board))


def cell(spec):
    """(what the cell is, its curve) for a loaded board spec: the board
    file's battery.cell and battery.curve_mv, else cloudpin.battery's."""
    bat = spec.get("battery") or {}
    curve = bat.get("curve_mv")
    return (bat.get("cell") or "a small single-cell LiPo's published profile at 50 mA: Dialog Semiconductor's "
            "190 mAh PH12YT (cloudpin.battery.CURVE_MV)",
            tuple(curve) if curve else CURVE_MV)


def hours_to(pct_left, avg_ma, mah):
    """Hours from full until pct_left % of the charge is left, at avg_ma."""
    if not mah or avg_ma <= 0:
        return None
    return mah * (100 - pct_left) / 100.0 / avg_ma

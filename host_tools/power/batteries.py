"""Battery capacity per board name (mAh) and where the figure comes from.
None: the board has no battery (runs from USB)."""

BATTERIES = {
    # Issue 12's target: the reference CloudPin pin carries a 150 mAh LiPo.
    "cloudpin_ref": (150.0, "issue 12: reference pin, 150 mAh LiPo cell"),
    # M5Stack's M5StickC Plus documentation: built-in 120 mAh battery.
    "m5stickc_plus": (120.0, "M5Stack docs, M5StickC Plus: 120 mAh @ 3.7 V LiPo"),
    # ESP32-DevKitC: no battery connector; USB powered.
    "devkitc_mpu6050": (None, "ESP32-DevKitC: no battery, USB powered"),
}


def battery(board):
    """(mAh or None, source) for a board name; unknown boards have none."""
    return BATTERIES.get(board, (None, "no battery figure for board %r" % board))

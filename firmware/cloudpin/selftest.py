# The pin's self-test, run by the desk over the REPL after provisioning:
# sensor present, BLE comes up, storage writable. Returns a dict the host
# reads with one eval. It builds the hardware through the board layer
# without a watchdog: an ESP32 WDT cannot be stopped once started, and the
# desk may keep the pin at the REPL for a while.
import os

from cloudpin.log import Logger

_TMP = "selftest.tmp"


def _sensor(hw, lines):
    # The board layer's driver checks WHO_AM_I when it is built; a missing or
    # wrong chip shows up as the "accel" fault with the reason in the log.
    if hw.accel is not None and "accel" not in hw.faults:
        return {"ok": True, "detail": hw.board["accel"]["type"]}
    return {"ok": False, "detail": (lines[-1] if lines else "accelerometer missing")[:120]}


def _ble(hw):
    ble = hw.ble
    if ble is None:
        return {"ok": False, "detail": "bluetooth unavailable"}
    try:
        was = ble.active()
        ble.active(True)
        ok = bool(ble.active())
        if not was:
            ble.active(False)
    except OSError as e:
        return {"ok": False, "detail": "active(True) failed: %r" % (e,)}
    return {"ok": ok, "detail": "radio up" if ok else "radio did not come up"}


def _storage(path):
    data = os.urandom(64) if hasattr(os, "urandom") else bytes(range(64))
    try:
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            back = f.read()
        os.remove(path)
    except OSError as e:
        return {"ok": False, "detail": "%r" % (e,)}
    if back != data:
        return {"ok": False, "detail": "read back differs"}
    detail = "ok"
    try:
        st = os.statvfs("/" if path[0] == "/" else ".")
        detail = "%d KB free of %d KB" % (st[0] * st[3] // 1024, st[0] * st[2] // 1024)
    except (OSError, AttributeError):
        pass
    return {"ok": True, "detail": detail}


def run(board_path="board.json", tmp_path=_TMP):
    """{"sensor": {ok, detail}, "ble": {...}, "storage": {...}, "ok": bool}"""
    from cloudpin import board as board_layer
    from cloudpin.boardspec import BoardError

    lines = []
    log = Logger("selftest", sink=lines.append)
    result = {}
    try:
        board = board_layer.load_board_file(board_path)
        hw = board_layer.build(board, log, wdt_timeout_ms=0, with_ble=True)
    except (BoardError, OSError, ValueError, ImportError, MemoryError) as e:
        hw = None
        result["sensor"] = {"ok": False, "detail": ("board: %s" % (e,))[:120]}
        result["ble"] = {"ok": False, "detail": "not tested: no board"}
    if hw is not None:
        result["sensor"] = _sensor(hw, lines)
        result["ble"] = _ble(hw)
    result["storage"] = _storage(tmp_path)
    result["ok"] = result["sensor"]["ok"] and result["ble"]["ok"] and result["storage"]["ok"]
    return result

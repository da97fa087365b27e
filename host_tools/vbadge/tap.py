"""Tapping running virtual badges: two wearers touching their pins together
(or one pin knocked, --solo), felt by the badges' accelerometers.

`cloudpin virtual-badge tap badge-1 badge-2` asks the farm serving those
badges (through its air hub's socket) to tap them at the same instant. The
farm draws the touch from the tap bench's model (host_tools/bench/tapmodel:
contact pulse, ringing, recoil, the reach and withdrawal; the same touches
`cloudpin sim` puts into its pins, two pins sharing one contact:
touch_csvs()), synthesises each badge's at the rate its board runs its
sensor at, writes it as a gravity-free t_ms,x,y,z CSV into the badge
folder (.touch/, off the pin's filesystem) and tells each VM, over its air
connection, the wall-clock instant the touch begins (cpsim/touch.py adds it
to what the accelerometer feels). The contact comes LEAD later: far enough
ahead that the sensor model has not read those samples early, and that both
VMs have heard of it, however busy.

A badge hears taps from power-on: its boot joins the air
(cpsim.resident.power_on, host_tools/vbadge/boot_shim.py).
"""
import glob
import json
import os
import socket
import tempfile
import time

import numpy as np

from host_tools.boards import boardspec
from host_tools.vbadge.boot_shim import TOUCH_NAME as TOUCH_DIR  # in the badge folder; the VM reads /.touch/N.csv
FILES = 4  # touch files per badge, used in turn (a VM may still read the last)
LOOKAHEAD_SAMPLES = 64  # the LIS3DH model reads up to this many samples early (cpsim/lis3dh.py _AHEAD)
MARGIN_MS = 400  # for VMs slow to read their air socket on a loaded machine
SOCKET_GLOB = "cloudpin-air-*.sock"  # where farms' hubs listen (host_tools/air/hub.py)


class TapError(Exception):
    """A tap that cannot be delivered; the message says why."""


def touch_csvs(boards, rng, solo=False):
    """The touches of badges tapped together, one touch_csv() per board in
    `boards` (loaded board dicts). Two pins touched together are one contact,
    as `cloudpin sim`'s pins are (motionsrc.pair_draws: one duration, equal
    and opposite impulse): the badges touch in pairs in the order named, the
    1st with the 2nd, the 3rd with the 4th; a last odd one, or each with
    `solo`, feels a touch of its own."""
    from host_tools.sim.motionsrc import pair_draws

    draws = [None] * len(boards)
    for k in range(0, 0 if solo else len(boards) - 1, 2):
        draws[k], draws[k + 1] = pair_draws(rng, rng)
    return [touch_csv(b, rng, solo, p) for b, p in zip(boards, draws)]


def touch_csv(board, rng, solo=False, p=None):
    """One touch for a badge of `board` (a loaded board dict): (CSV text,
    ms from its first row to the contact, its length in ms); drawn from rng,
    or `p` (one pin's of a pair: touch_csvs())."""
    from host_tools.sim.motionsrc import touch_rows

    rate = float(boardspec.motion_rate(board["accel"]))
    lo, rows, _ = touch_rows(rate, rng, solo, p=p)
    period_ms = 1000.0 / rate
    lines = ["t_ms,x,y,z", "0,0,0,0"]  # silent before and after: the file's edges are held
    for k, r in enumerate(rows):
        lines.append("%.3f,%.6f,%.6f,%.6f" % ((k + 1) * period_ms, r[0] / 1e6, r[1] / 1e6, r[2] / 1e6))
    end = (len(rows) + 1) * period_ms
    lines.append("%.3f,0,0,0" % end)
    return "\n".join(lines) + "\n", (1 - lo) * period_ms, end


def lead_ms(board):
    """How far ahead of now a touch may begin: past the sensor model's look-ahead."""
    rate = float(boardspec.motion_rate(board["accel"]))
    return LOOKAHEAD_SAMPLES * 1000.0 / rate + MARGIN_MS


def write_touch(root, k, text):
    folder = os.path.join(str(root), TOUCH_DIR)
    os.makedirs(folder, exist_ok=True)
    name = "%d.csv" % (k % FILES)
    tmp = os.path.join(folder, name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(folder, name))  # a VM never reads half a file
    return name


def frame(at_ns, length_ms, name):
    """The hub-to-VM T frame's payload (cpsim/touch.py reads it)."""
    n = int(round(length_ms))
    return b"T" + int(at_ns).to_bytes(8, "little") + bytes((n & 0xFF, n >> 8)) + name.encode()


def seed_rng(seed=None):
    return np.random.default_rng(seed)


# --- the command, from another process -----------------------------------------------
def request(targets, solo=False, air=None, timeout=10.0):
    """Ask the farm serving `targets` (names, ports or links) to tap them
    together; its answer {"tapped": [...], "contact_at": unix time}. With
    `air`, that hub's socket; otherwise every farm running on this machine is
    asked and the one that knows every target does it. TapError if none."""
    socks = [air] if air else sorted(glob.glob(os.path.join(tempfile.gettempdir(), SOCKET_GLOB)))
    if not socks:
        raise TapError("no virtual badges are running (start them with `cloudpin virtual-badge --count 2`)")
    asked = []
    for path in socks:
        try:
            answer = _ask(path, {"tap": list(targets), "solo": bool(solo)}, timeout)
        except OSError as e:
            if air:
                raise TapError("cannot reach the air hub at %s: %s" % (air, e.strerror or e)) from None
            continue  # a farm that ended without removing its socket, or not ours
        if answer.get("ok"):
            return answer
        asked.append(answer.get("error", "refused"))
    if not asked:
        raise TapError("no running virtual badge farm answers (its sockets: %s)" % ", ".join(socks))
    raise TapError("; ".join(sorted(set(asked))))


def _ask(path, command, timeout):
    payload = b"U" + json.dumps(command, separators=(",", ":")).encode()
    if len(payload) > 255:
        raise TapError("too many or too long targets for one tap")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(bytes((len(payload),)) + payload)
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if buf and len(buf) >= 1 + buf[0]:
                reply = buf[1:1 + buf[0]]
                if reply[:1] == b"u":
                    return json.loads(reply[1:].decode())
                buf = buf[1 + buf[0]:]
                continue
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    raise OSError(0, "no answer")

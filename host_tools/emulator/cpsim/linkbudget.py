# What one packet's power is at a receiver, in tenths of a dBm (small ints:
# cheap, and nothing is allocated for them in the VM). The radio (cpsim.radio)
# asks gain() once per pair and position change, and adds a fade per packet.
#
#   mean = tx_dbm - PL(d) - 2 * WORN_LOSS_DB - POLARISATION_DB
#          - body(a facing away from b) - body(b facing away from a) + shadow(pair)
#   packet = mean + fade (per packet, from a table indexed by a hash)
#
# Sources (each constant below repeats which):
# - PL(d): free space (Friis, 40.2 dB at 1 m and 2.44 GHz) up to 1 m, then
#   log-distance with exponent PATH_LOSS_EXPONENT = 3.0, ITU-R P.1238's
#   distance power loss coefficient N = 30 for offices at 2.4 GHz (people and
#   furniture; free space is 2.0). Below MIN_DISTANCE_M the pins are in each
#   other's near field and Friis no longer holds: the loss stops falling there.
# - tx_dbm: +3 dBm, the classic ESP32 controller's default BLE TX power
#   (ESP-IDF esp_bt.h, ESP_PWR_LVL_P3). MicroPython has no call to change it,
#   so it is a property of the Device (`ble_tx_dbm`), i.e. of the board.
# - WORN_LOSS_DB: a small PCB antenna's efficiency (~ -3 dB) plus detuning
#   and absorption next to the body (~ -4 dB): an estimate, per end.
#   POLARISATION_DB: 3 dB, the average loss between randomly oriented linear
#   antennas. Together they put two facing pins 1 m apart at about -54 dBm.
# - body(): BODY_LOSS_DB = 15 dB when a torso is squarely between (on-body
#   2.4 GHz measurements report 10-20 dB of body shadowing, e.g. Hall & Hao,
#   "Antennas and Propagation for On-Body Communication Systems", 2006),
#   scaled by (1 - cos(angle)) / 2 from the wearer's facing: 0 in front,
#   half at the side. A pin with facing None (on a table, a phone in a hand)
#   has no body loss.
# - shadow(pair): log-normal, SHADOW_SIGMA_DB = 6 dB per pair (Rappaport,
#   Wireless Communications, 3-14 dB indoors; P.1238 gives 8-10 dB for
#   offices with walls, a hall has none), fixed for the pair from a hash of
#   (seed, pair), shrinking linearly below 1 m (nothing stands between two
#   pins that touch).
# - fade: per packet (each packet is on another channel or ~100 ms later,
#   beyond the coherence of either). Rician with K = 10 dB below 1 m, K = 6 dB
#   in line of sight, Rayleigh (K = 0) when a body blocks (> 6 dB of body
#   loss): the usual on-body channel models (IEEE 802.15.6 CM3/CM4).
import math

PATH_LOSS_1M_DB = 40.2  # Friis at 1 m, 2.44 GHz: 20 * log10(4 * pi / lambda)
PATH_LOSS_EXPONENT = 3.0  # ITU-R P.1238, office, 2.4 GHz (N = 30)
MIN_DISTANCE_M = 0.03  # near field below about lambda / 4 (12.3 cm / 4)
TX_DBM = 3  # ESP-IDF esp_bt.h: ESP32 default ESP_PWR_LVL_P3
WORN_LOSS_DB = 7.0  # per end: antenna efficiency + body proximity (estimate)
POLARISATION_DB = 3.0
BODY_LOSS_DB = 15.0  # torso between: 10-20 dB measured at 2.4 GHz
SHADOW_SIGMA_DB = 6.0
BLOCKED_DB = 6.0  # body loss above which the link counts as blocked (Rayleigh)

_M = 0xFFFFFFFF


def mix(x):
    """A 32-bit integer hash (lowbias32): the noise of the model comes from
    hashes of (seed, pair, packet), so it is the same whatever order pairs and
    packets are looked at in, under CPython and MicroPython alike."""
    x &= _M
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M
    x ^= x >> 16
    return x


def _gaussian_grid():
    # 256 standard normal values, stratified: Box-Muller over a 16 x 16 grid
    out = []
    for i in range(16):
        r = math.sqrt(-2.0 * math.log((i + 0.5) / 16))
        for j in range(16):
            out.append((r, 2 * math.pi * (j + 0.5) / 16))
    return out


def _tables():
    grid = _gaussian_grid()
    gauss = [int(round(10 * r * math.cos(t))) for r, t in grid]  # N(0, 1) in tenths
    fades = []
    for k_db in (10.0, 6.0, None):
        k = 0.0 if k_db is None else 10 ** (k_db / 10)
        los = math.sqrt(k / (k + 1))
        nlos = math.sqrt(1 / (k + 1) / 2)
        t = []
        for r, a in grid:
            i = los + nlos * r * math.cos(a)
            q = nlos * r * math.sin(a)
            p = i * i + q * q
            t.append(int(round(100 * math.log10(p if p > 1e-6 else 1e-6))))  # tenths of a dB
        fades.append(t)
    return gauss, fades


GAUSS10, FADES = _tables()  # GAUSS10: N(0, 1) x 10; FADES: near, line of sight, blocked
FADE_MAX = max(max(t) for t in FADES)  # tenths of a dB


class LinkBudget:
    def __init__(self, seed):
        self.seed = seed
        self.path_loss_exponent = PATH_LOSS_EXPONENT
        self.shadow_sigma_db = SHADOW_SIGMA_DB
        self.body_loss_db = BODY_LOSS_DB

    def gain(self, xa, ya, fa, ia, xb, yb, fb, ib):
        """(gain10, fade table) of the pair a-b: the mean power one receives
        from the other is its TX power plus gain10 (tenths of a dB). x, y in
        metres, f the wearer's facing (radians) or None, i a station id."""
        dx = xb - xa
        dy = yb - ya
        dt = math.sqrt(dx * dx + dy * dy)
        d = dt if dt > MIN_DISTANCE_M else MIN_DISTANCE_M
        if d <= 1.0:
            pl = PATH_LOSS_1M_DB + 20.0 * math.log10(d)
            near = d
        else:
            pl = PATH_LOSS_1M_DB + 10.0 * self.path_loss_exponent * math.log10(d)
            near = 1.0
        body = self._body(fa, dx, dy, dt) + self._body(fb, -dx, -dy, dt)
        if ia > ib:
            ia, ib = ib, ia
        g = GAUSS10[mix(self.seed * 0x9E3779B1 + ia * 65599 + ib) & 255]
        shadow = g * self.shadow_sigma_db * near / 10.0
        db = -pl - 2 * WORN_LOSS_DB - POLARISATION_DB - body + shadow
        table = FADES[0] if d < 1.0 else (FADES[2] if body > BLOCKED_DB else FADES[1])
        return int(round(10 * db)), table

    def _body(self, f, dx, dy, d):
        if f is None or d <= 0.0:
            return 0.0
        c = (dx * math.cos(f) + dy * math.sin(f)) / d  # cos(angle off facing)
        return self.body_loss_db * (1.0 - c) / 2.0


# Packet error rate near the sensitivity edge. The ESP32 datasheet gives
# -97 dBm sensitivity for BLE at 30.8% PER (the Core spec's reference:
# Vol 6 Part A 4.1, BER 0.1% on 37-byte packets). Below that the error rate
# climbs over a few dB (GFSK's waterfall): PER = 1 / (1 + exp((P - P50) / W))
# with W = 1 dB and P50 set so that PER(-97 dBm) = 30.8%. PER_TABLE[i] is
# the PER x 1024 at (PER_LO + i) dBm; above the table, 0; below, 1.
# W has no measured source: the datasheet gives one point of the curve. For
# comparison, a non-coherent binary FSK receiver in white noise (BER =
# 0.5 exp(-Eb/N0 / 2), the textbook formula) over the 296-bit reference
# packet goes from 10% to 90% PER in about 2.4 dB; this logistic takes 4.4 dB
# (-95.6 to -100 dBm). So it loses more just above the sensitivity and
# decodes more below it (90% PER at -100 dBm, about -98.6 in theory) than an
# ideal receiver would (docs/issues-status.md, #8 notes).
SENSITIVITY_DBM = -97
PER_W_DB = 1.0
PER_LO = -106
PER_HI = -88


def _per_table():
    p50 = SENSITIVITY_DBM - PER_W_DB * math.log(1 / 0.308 - 1)
    return [int(round(1024 / (1 + math.exp((x - p50) / PER_W_DB)))) for x in range(PER_LO, PER_HI + 1)]


PER_TABLE = _per_table()


def lost_to_noise(p10, h):
    """Is a packet received at p10 (tenths of a dBm) lost, for hash bits h?"""
    if p10 >= PER_HI * 10:
        return False
    if p10 < PER_LO * 10:
        return True
    return (h & 1023) < PER_TABLE[(p10 - PER_LO * 10) // 10]

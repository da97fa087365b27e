# Register model of the TDK InvenSense MPU-6886 (datasheet DS-000193 rev 1.1):
# the MPU-6050 model plus what differs for the drivers: WHO_AM_I 0x19,
# ACCEL_CONFIG2, the 1 kHz sample clock only with 0 < DLPF_CFG < 7, FIFO
# frames with the temperature always beside the accelerometer, CONFIG
# FIFO_MODE (stop when full), the FIFO watermark: FIFO_WM_TH1/2 (bytes;
# nonzero enables the interrupt), FIFO_WM_INT_STATUS.FIFO_WM_INT (cleared on
# read), and the wake-on-motion engine (below). See cpsim/mpu6050.py for
# timing and the INT pin.
#
# Wake-on-motion (DS-000193 "Wake-on-Motion Interrupt" and its register
# descriptions: ACCEL_WOM_X/Y/Z_THR 0x20-0x22, INT_ENABLE/INT_STATUS bits
# 7:5, ACCEL_INTEL_CTRL 0x69; the same engine as its siblings ICM-20602/
# 20609/20689, which TDK's own Linux driver runs as "a threshold test on
# accel value comparing actual sample with previous one", 4 mg per LSB,
# inv_mpu6050 "add WoM (Wake-on-Motion) sensor", 2024): with
# ACCEL_INTEL_EN and ACCEL_INTEL_MODE set, each output sample of an axis is
# compared with the one before it, at the output rate (so the same
# threshold is a rate of change that scales with the rate); the axis fires
# when |difference| > THR x 4 mg (8 bits: 4 to 1020 mg; never on the first
# sample after the engine starts, which has nothing to compare with). The
# axes enabled in INT_ENABLE (WOM_X/Y/Z_INT_EN) are ORed (WOM_TH_MODE = 0)
# or ANDed (1); their INT_STATUS bits WOM_X/Y/Z_INT rise at that sample and,
# with LATCH_INT_EN, hold the INT pin until INT_STATUS is read. The engine
# works on the samples the FIFO gets, so it sees what the chip's own
# low-pass leaves of a jolt. The FIFO runs on meanwhile (FIFO_MODE = 0:
# the oldest frames are overwritten; 128 frames of 8 bytes are kept).
# Not modelled: OUTPUT_LIMIT, low-power (cycle) mode's own timing.
#
# Cost: the engine's edges depend on the data, so while it is armed the
# model reads up to _AHEAD samples from the source early (a stage it then
# takes them from in order, so a Recording is only read forward) and plans
# one clock event at the first sample past the threshold, or at the end of
# the stage to look further: a dozing pin costs an event per _AHEAD samples.
from cpsim import mpu6050
from cpsim.mpu6050 import (CONFIG, GYRO_CONFIG, SMPLRT_DIV, FIFO_EN, ACCEL_XOUT_H, TEMP_OUT_H, GYRO_XOUT_H,
                           ACCEL_CONFIG, INT_ENABLE, INT_PIN_CFG, LATCH_INT_EN, PWR_MGMT_1, PWR_MGMT_2)

ACCEL_WOM_X_THR = 0x20  # Y, Z at 0x21, 0x22
ACCEL_CONFIG2 = 0x1D
ACCEL_INTEL_CTRL = 0x69  # ACCEL_INTEL_EN ACCEL_INTEL_MODE - - - - OUTPUT_LIMIT WOM_TH_MODE
ACCEL_INTEL_EN = 0x80
ACCEL_INTEL_MODE = 0x40  # compare each sample with the previous one
WOM_TH_MODE = 0x01  # 1: AND of the enabled axes
WOM_INT = 0xE0  # INT_ENABLE WOM_X/Y/Z_INT_EN, INT_STATUS WOM_X/Y/Z_INT
WOM_MG_PER_LSB = 4
_AHEAD = 64  # samples the engine's look-ahead may read early: no more than a virtual badge's touch lead allows (vbadge/tap.py LOOKAHEAD_SAMPLES)
_STAGE_REGS = (SMPLRT_DIV, CONFIG, ACCEL_CONFIG, ACCEL_CONFIG2, PWR_MGMT_1, PWR_MGMT_2)
FIFO_WM_INT_STATUS = 0x39
FIFO_WM_TH1 = 0x60
FIFO_WM_TH2 = 0x61
FIFO_WM_INT = 0x40
FIFO_MODE = 0x40  # CONFIG: 1 = stop writing when full
ACCEL_FIFO_EN = 0x08
GYRO_FIFO_EN = 0x10


class MPU6886(mpu6050.MPU6050):
    WHO_AM_I_VALUE = 0x19
    PWR_MGMT_1_RESET = 0x41  # asleep, auto clock (as its sibling ICM-20602)
    TEMP_RAW = 0  # 25 degC: TEMP_OUT / 326.8 + 25

    def __init__(self, source=None, int_pin=None, t0_us=None, address=None):
        self._stage = [0] * (3 * _AHEAD)  # digits of samples read early, in order
        self._st_n = 0  # how many, from ring offset _st_h, the first taken at _st_t
        self._st_h = 0
        self._st_t = 0
        self._prev = [0, 0, 0]  # the last sample the engine saw...
        self._prev_t = None  # ...and when (None: the next has nothing to compare with)
        mpu6050.MPU6050.__init__(self, source, int_pin, t0_us, address)

    def _reset(self):
        mpu6050.MPU6050._reset(self)
        self.wm_status = False
        self._st_n = 0
        self._prev_t = None

    def period_us(self):
        dlpf = self.regs[CONFIG] & 0x07
        if 1 <= dlpf <= 6 and not self.regs[GYRO_CONFIG] & 0x03:
            return 1000 * (1 + self.regs[SMPLRT_DIV])
        return 125  # 8 kHz, divider not applied

    def frame_layout(self):
        en = self.regs[FIFO_EN]
        out = []
        if en & ACCEL_FIFO_EN:
            out.append((ACCEL_XOUT_H, 6))
        if en & (ACCEL_FIFO_EN | GYRO_FIFO_EN):
            out.append((TEMP_OUT_H, 2))
        if en & GYRO_FIFO_EN:
            out.append((GYRO_XOUT_H, 6))
        return out

    def _stop_when_full(self):
        return bool(self.regs[CONFIG] & FIFO_MODE)

    def watermark_bytes(self):
        return ((self.regs[FIFO_WM_TH1] & 0x03) << 8) | self.regs[FIFO_WM_TH2]

    def _frame_written(self):
        th = self.watermark_bytes()
        if th and self._count >= th:
            self.wm_status = True
            self._fired = True

    def read_reg(self, reg):
        if reg == FIFO_WM_INT_STATUS:
            v = FIFO_WM_INT if self.wm_status else 0
            self.wm_status = False
            return v
        return mpu6050.MPU6050.read_reg(self, reg)

    def _clear_status(self):
        mpu6050.MPU6050._clear_status(self)
        self.wm_status = False

    def _int_sources(self):
        wm = 0x100 if self.wm_status and self.watermark_bytes() else 0
        return mpu6050.MPU6050._int_sources(self) | wm | (self.status & self.regs[INT_ENABLE] & WOM_INT)

    def _fifo_event_us(self, en):
        t = mpu6050.MPU6050._fifo_event_us(self, en)
        th = self.watermark_bytes()
        frame = self.frame_size()
        if th and frame:
            need = th - self._count
            frames = 1 if need <= 0 else (need + frame - 1) // frame
            tw = self._next_us + (frames - 1) * self.period_us()
            t = tw if t is None or tw < t else t
        return t

    # --- wake-on-motion -------------------------------------------------------------
    def wom_armed(self):
        r = self.regs
        return (r[ACCEL_INTEL_CTRL] & (ACCEL_INTEL_EN | ACCEL_INTEL_MODE) == ACCEL_INTEL_EN | ACCEL_INTEL_MODE
                and self.running())

    def _wom_fires(self, px, py, pz, g, j):
        """INT_STATUS WOM bits the sample g[j:j + 3] raises after (px, py, pz)."""
        r = self.regs
        en = r[INT_ENABLE] & WOM_INT
        if not en:
            return 0
        # |d digits| x fs_mg / 32768 > THR x 4 mg, in integers
        fs_mg = 2000 << ((r[ACCEL_CONFIG] >> 3) & 3)
        hit = 0
        d = g[j] - px
        if en & 0x80 and (d if d >= 0 else -d) * fs_mg > r[ACCEL_WOM_X_THR] * WOM_MG_PER_LSB * 32768:
            hit |= 0x80
        d = g[j + 1] - py
        if en & 0x40 and (d if d >= 0 else -d) * fs_mg > r[ACCEL_WOM_X_THR + 1] * WOM_MG_PER_LSB * 32768:
            hit |= 0x40
        d = g[j + 2] - pz
        if en & 0x20 and (d if d >= 0 else -d) * fs_mg > r[ACCEL_WOM_X_THR + 2] * WOM_MG_PER_LSB * 32768:
            hit |= 0x20
        if r[ACCEL_INTEL_CTRL] & WOM_TH_MODE and hit != en:
            return 0
        return hit

    def _take(self, t_us, period, g, j):
        if self._st_n and self._st_t == t_us:
            st = self._stage
            h = self._st_h
            g[j], g[j + 1], g[j + 2] = st[h], st[h + 1], st[h + 2]
            self._st_h = (h + 3) % (3 * _AHEAD)
            self._st_n -= 1
            self._st_t += period
        else:
            self._st_n = 0
            self._digits(t_us, period, g, j)
        if not self.wom_armed():
            self._prev_t = None
            return
        prev = self._prev
        if self._prev_t == t_us - period:
            bits = self._wom_fires(prev[0], prev[1], prev[2], g, j)
            if bits:
                self._raise(bits)
        prev[0], prev[1], prev[2] = g[j], g[j + 1], g[j + 2]
        self._prev_t = t_us

    def _wom_ahead(self):
        """Time of the first sample from _next_us on that the engine fires
        at, staging up to _AHEAD samples; else the last staged one's (an
        event there looks further)."""
        period = self.period_us()
        t0 = self._next_us
        if not self._st_n or self._st_t != t0:
            self._st_n = 0
            self._st_h = 0
            self._st_t = t0
        st = self._stage
        size = 3 * _AHEAD
        have = self._prev_t == t0 - period
        px, py, pz = self._prev
        for k in range(_AHEAD):
            j = (self._st_h + 3 * k) % size
            if k >= self._st_n:
                self._digits(t0 + k * period, period, st, j)
                self._st_n = k + 1
            if have and self._wom_fires(px, py, pz, st, j):
                return t0 + k * period
            have = True
            px, py, pz = st[j], st[j + 1], st[j + 2]
        return t0 + (_AHEAD - 1) * period

    def write_reg(self, reg, value):
        if reg in _STAGE_REGS:
            self._st_n = 0  # staged digits were for the old rate or scale
        mpu6050.MPU6050.write_reg(self, reg, value)

    def _next_event_us(self):
        t = mpu6050.MPU6050._next_event_us(self)
        if self.int_pin is None or self._next_us is None or not self.wom_armed():
            return t
        if not self.regs[INT_ENABLE] & WOM_INT:
            return t
        if self.regs[INT_PIN_CFG] & LATCH_INT_EN and self._int_sources():
            return None  # held until the status is read
        tw = self._wom_ahead()
        return tw if t is None or tw < t else t

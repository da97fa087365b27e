# ST LIS3DH accelerometer, register level (datasheet DocID17530; click engine
# per application note AN3308), fed by an acceleration source (recording.py).
#
# Modelled: WHO_AM_I, CTRL_REG1-6 (ODR, LPen/HR resolution, FS, BDU, BLE,
# FIFO_EN, HP filter for output (FDS) and click (HPCLICK), INT routing and
# polarity), STATUS_REG, OUT_X/Y/Z (left-justified two's complement), the
# 32-level FIFO (bypass / FIFO / stream / stream-to-FIFO, watermark, overrun,
# FIFO_SRC), the single-click engine (CLICK_CFG/SRC/THS, TIME_LIMIT/LATENCY)
# and INT1/INT2 lines driving the device's GPIOs. Not modelled: the inertial
# interrupt generators (INT1_CFG..INT2_DURATION stay plain registers), double
# click, activity/sleep, self-test, ADC/temperature, reference/autoreset HP modes.
#
# Cost: samples are computed when something looks (a register access) or at
# clock events planned for the exact sample at which an INT line can change
# (watermark, overrun: one event per interrupt; data-ready and click: one per
# sample). A sensor nobody looks at costs nothing.
from array import array

from cpsim import gpio
from cpsim.i2cdev import I2CDeviceModel
from cpsim.recording import Rest

_WHO_AM_I = 0x0F
_CTRL_REG0 = 0x1E
_CTRL_REG1 = 0x20
_CTRL_REG2 = 0x21
_CTRL_REG3 = 0x22
_CTRL_REG4 = 0x23
_CTRL_REG5 = 0x24
_CTRL_REG6 = 0x25
_REFERENCE = 0x26
_STATUS_REG = 0x27
_OUT_X_L = 0x28
_OUT_Z_H = 0x2D
_FIFO_CTRL = 0x2E
_FIFO_SRC = 0x2F
_INT1_SRC = 0x31
_INT2_SRC = 0x35
_CLICK_CFG = 0x38
_CLICK_SRC = 0x39
_CLICK_THS = 0x3A
_TIME_LIMIT = 0x3B
_TIME_LATENCY = 0x3C

_READ_ONLY = (0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, _WHO_AM_I, _STATUS_REG,
              0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, _FIFO_SRC, _INT1_SRC, _INT2_SRC, _CLICK_SRC)

# CTRL_REG1 ODR codes 0-7 (Hz); 8 is 1.6 kHz (low-power only), 9 is 1.344 kHz
# (5.376 kHz in low-power mode).
_ODR = (0, 1, 10, 25, 50, 100, 200, 400)
# mg per digit of the right-justified value, per FS (2/4/8/16 g): table 4.
_SENS_HR = (1, 2, 4, 12)
_SENS_NORMAL = (4, 8, 16, 48)
_SENS_LP = (16, 32, 64, 192)
# Threshold LSB in mg per FS, as for INT1_THS (the click threshold shares it).
_THS_MG = (16, 32, 62, 186)

_BYPASS = 0
_FIFO = 1
_STREAM = 2
_STREAM_TO_FIFO = 3
_DEPTH = 32


class LIS3DH(I2CDeviceModel):
    address = 0x18

    def __init__(self, source=None, sa0=0, int1=None, int2=None, t0_us=None, address=None):
        """source: .mean(t0_ms, t1_ms) -> (x, y, z) in g (Recording, Rest);
        sa0: level of the SA0 pin (address 0x18 or 0x19); int1/int2: GPIO
        numbers of the device the INT lines are wired to; t0_us: sim time of
        the source's t = 0 (default: when attached)."""
        I2CDeviceModel.__init__(self, address if address is not None else 0x18 | (sa0 & 1))
        self.source = source if source is not None else Rest()
        self.int1 = int1
        self.int2 = int2
        self.t0_us = t0_us
        self._fifo = array("h", [0] * (3 * _DEPTH))
        self._cur = array("h", [0, 0, 0])  # last sample (bypass output)
        self._shown = array("h", [0, 0, 0])  # last sample popped from the FIFO
        self._ev = None
        self._lines = [None, None]  # levels last driven on INT1 / INT2
        self.samples = 0  # samples produced so far (for tests and benchmarks)
        self._power_on()

    def _power_on(self):
        regs = self.regs
        for i in range(len(regs)):
            regs[i] = 0
        regs[_WHO_AM_I] = 0x33
        regs[_CTRL_REG0] = 0x10
        regs[_CTRL_REG1] = 0x07
        self._head = 0
        self._count = 0
        self._hp_in = [0.0, 0.0, 0.0]
        self._hp_out = [0.0, 0.0, 0.0]
        self._hp_fresh = True
        self._status = 0
        self._bdu_hold = None
        self._click_state = 0
        self._click_start = 0
        self._click_axis = 0
        self._click_hold = 0
        self._click_src = 0
        self._click_int = False
        self._odr_hz = 0
        self._t_base = 0
        self._k = 1

    def attach(self, device):
        I2CDeviceModel.attach(self, device)
        now = self.clock.now_us()
        if self.t0_us is None:
            self.t0_us = now
        self._t_base = now
        self._update_lines()

    # --- configuration ------------------------------------------------------------
    def _bits(self):
        if self.regs[_CTRL_REG1] & 0x08:
            return 8
        return 12 if self.regs[_CTRL_REG4] & 0x08 else 10

    def _fs(self):
        return (self.regs[_CTRL_REG4] >> 4) & 3

    def _odr_of(self, ctrl1):
        code = ctrl1 >> 4
        lp = ctrl1 & 0x08
        if code < 8:
            return _ODR[code]
        if code == 8:
            return 1600 if lp else 0
        if code == 9:
            return 5376 if lp else 1344
        return 0

    def _fifo_mode(self):
        if not self.regs[_CTRL_REG5] & 0x40:
            return _BYPASS
        return self.regs[_FIFO_CTRL] >> 6

    def _per_sample(self):
        # INT sources that can change on any sample need a look at each one.
        return (self.regs[_CLICK_CFG] & 0x15 or self.regs[_CTRL_REG3] & 0x18
                or self._fifo_mode() == _STREAM_TO_FIFO)

    def _t(self, k):
        return self._t_base + k * 1000000 // self._odr_hz

    # --- time -------------------------------------------------------------------------
    def _sync(self):
        """Produce every sample due up to now."""
        if not self._odr_hz:
            return
        now = self.clock.now_us()
        if self._t(self._k) > now:
            return
        lazy = not self._per_sample()
        fifo_mode = self._fifo_mode() == _FIFO
        if lazy and not fifo_mode:
            # Only the last FIFO's worth matters (plus a settle for the HP filter).
            last = (now - self._t_base) * self._odr_hz // 1000000
            if last - self._k > 2 * _DEPTH:
                self._k = last - 2 * _DEPTH
        while True:
            t = self._t(self._k)
            if t > now:
                break
            if lazy and fifo_mode and self._count == _DEPTH:
                # A full FIFO in FIFO mode takes nothing more: skip to now.
                self._k = (now - self._t_base) * self._odr_hz // 1000000
                while self._t(self._k) <= now:
                    self._k += 1
                break
            self._sample(t)
            self._k += 1
            self._update_lines()

    def _plan(self):
        clock = self.clock
        if self._ev is not None:
            clock.cancel(self._ev)
            self._ev = None
        if not self._odr_hz or (self.int1 is None and self.int2 is None):
            return
        k = None
        if self._per_sample():
            k = self._k
        else:
            ctrl3 = self.regs[_CTRL_REG3]
            mode = self._fifo_mode()
            fth = self.regs[_FIFO_CTRL] & 0x1F
            n = self._count
            if mode != _BYPASS:
                if ctrl3 & 0x04 and n <= fth:
                    k = self._k + fth - n
                if ctrl3 & 0x02 and n < _DEPTH:
                    k2 = self._k + _DEPTH - 1 - n
                    k = k2 if k is None or k2 < k else k
        if k is not None:
            self._ev = clock.call_at(self._t(k), self._on_event)

    def _on_event(self):
        self._ev = None
        self._sync()
        self._update_lines()
        self._plan()

    # --- one output sample ----------------------------------------------------------
    def _sample(self, t_us):
        self.samples += 1
        regs = self.regs
        period_ms = 1000.0 / self._odr_hz
        t1 = (t_us - self.t0_us) / 1000.0
        g = self.source.mean(t1 - period_ms, t1)
        ctrl2 = regs[_CTRL_REG2]
        hp = None
        if ctrl2 & 0x0C:  # FDS (output) or HPCLICK (click) use the high-pass
            hp = self._highpass(g, (ctrl2 >> 4) & 3)
        out = hp if ctrl2 & 0x08 else g
        bits = self._bits()
        fs = self._fs()
        sens = (_SENS_LP if bits == 8 else _SENS_HR if bits == 12 else _SENS_NORMAL)[fs]
        top = (1 << (bits - 1)) - 1
        shift = 16 - bits
        en = regs[_CTRL_REG1]
        cur = self._cur
        for i in range(3):
            if en & (1 << i):
                d = int(round(out[i] * 1000.0 / sens))
                d = top if d > top else -top - 1 if d < -top - 1 else d
                cur[i] = d << shift
            else:
                cur[i] = 0
        if self._status & 0x08:
            self._status |= 0xF0  # overrun: previous set was never read
        self._status |= 0x0F
        self._fifo_push()
        if regs[_CLICK_CFG] & 0x15:
            self._click((hp if ctrl2 & 0x04 else g), fs)
        elif self._click_hold:
            self._click_hold = 0
            if not regs[_CLICK_THS] & 0x80:
                self._click_int = False

    def _highpass(self, g, hpcf):
        # First-order high-pass, cut-off ODR/50, /100, /200, /400 for HPCF 0-3
        # (the datasheet's table, rounded to a ratio of the ODR).
        fc_ratio = (50.0, 100.0, 200.0, 400.0)[hpcf]
        a = 1.0 / (1.0 + 6.2832 / fc_ratio)
        hin, hout = self._hp_in, self._hp_out
        if self._hp_fresh:
            # Start settled on the first sample (as after a REFERENCE read),
            # not with a step from zero that would look like a click.
            self._hp_fresh = False
            for i in range(3):
                hin[i] = g[i]
                hout[i] = 0.0
        for i in range(3):
            hout[i] = a * (hout[i] + g[i] - hin[i])
            hin[i] = g[i]
        return hout

    def _fifo_push(self):
        mode = self._fifo_mode()
        if mode == _STREAM_TO_FIFO:
            trig = self._lines_active()[1 if self.regs[_FIFO_CTRL] & 0x20 else 0]
            mode = _FIFO if trig else _STREAM
        if mode == _BYPASS:
            return
        if self._count == _DEPTH:
            if mode == _FIFO:
                return  # FIFO mode stops collecting when full
            self._head = (self._head + 1) % _DEPTH  # stream: drop the oldest
            self._count -= 1
        j = 3 * ((self._head + self._count) % _DEPTH)
        f, c = self._fifo, self._cur
        f[j] = c[0]
        f[j + 1] = c[1]
        f[j + 2] = c[2]
        self._count += 1

    def _click(self, d, fs):
        regs = self.regs
        if self._click_hold:
            # Latency window after a click: nothing new is detected; a
            # non-latched INT stays asserted for this long (AN3308).
            self._click_hold -= 1
            if not self._click_hold and not regs[_CLICK_THS] & 0x80:
                self._click_int = False
            return
        ths = (regs[_CLICK_THS] & 0x7F) * _THS_MG[fs] / 1000.0
        if ths <= 0:
            return
        cfg = regs[_CLICK_CFG]
        over = 0
        for i in range(3):
            if cfg & (1 << (2 * i)) and (d[i] > ths or d[i] < -ths):
                over = (i + 1) | (0x08 if d[i] < 0 else 0)
                break
        k = self._k
        state = self._click_state
        if state == 0:
            if over:
                self._click_state = 1
                self._click_start = k
                self._click_axis = over
        elif state == 1:
            if not over:
                self._click_state = 0
                if k - self._click_start <= (regs[_TIME_LIMIT] & 0x7F):
                    axis = self._click_axis
                    self._click_src = 0x40 | 0x10 | (1 << ((axis & 3) - 1)) | (axis & 0x08)
                    self._click_int = True
                    self._click_hold = max(1, regs[_TIME_LATENCY])
            elif k - self._click_start > (regs[_TIME_LIMIT] & 0x7F):
                self._click_state = 2  # too long for a click: wait for it to end
        elif not over:
            self._click_state = 0

    # --- INT lines ---------------------------------------------------------------------
    def _lines_active(self):
        regs = self.regs
        c3 = regs[_CTRL_REG3]
        n = self._count
        a1 = bool((c3 & 0x80 and self._click_int)
                  or (c3 & 0x04 and n > (regs[_FIFO_CTRL] & 0x1F) and self._fifo_mode() != _BYPASS)
                  or (c3 & 0x02 and n >= _DEPTH)
                  or (c3 & 0x18 and self._status & 0x08))
        a2 = bool(regs[_CTRL_REG6] & 0x80 and self._click_int)
        return a1, a2

    def _update_lines(self):
        if self.device is None:
            return
        pol = 1 if self.regs[_CTRL_REG6] & 0x02 else 0  # INT_POLARITY: active low
        act = self._lines_active()
        for i, pin in ((0, self.int1), (1, self.int2)):
            if pin is None:
                continue
            level = (1 if act[i] else 0) ^ pol
            if self._lines[i] != level:
                self._lines[i] = level
                gpio.drive(self.device, pin, level)

    # --- bus side ------------------------------------------------------------------------
    def autoinc(self, reg):
        # The sub-address increments only with its MSB set; in FIFO use the
        # pointer wraps from OUT_Z_H back to OUT_X_L, so one burst of 6*N
        # bytes empties N samples.
        if not reg & 0x80:
            return reg
        r = reg & 0x7F
        if r == _OUT_Z_H and self.regs[_CTRL_REG5] & 0x40:
            return 0x80 | _OUT_X_L
        return 0x80 | ((r + 1) & 0x7F)

    def read_burst(self, reg, n):
        self._sync()
        out = I2CDeviceModel.read_burst(self, reg, n)
        self._update_lines()
        self._plan()
        return out

    def write_burst(self, reg, data):
        self._sync()
        I2CDeviceModel.write_burst(self, reg, data)
        self._update_lines()
        self._plan()

    def read_reg(self, reg):
        reg &= 0x7F
        if _OUT_X_L <= reg <= _OUT_Z_H:
            return self._read_out(reg)
        if reg == _STATUS_REG:
            return self._status
        if reg == _REFERENCE:
            self._hp_fresh = True  # reading REFERENCE resets the high-pass filter
        if reg == _FIFO_SRC:
            n = self._count
            fth = self.regs[_FIFO_CTRL] & 0x1F
            v = n if n < 31 else 31
            if n > fth and self._fifo_mode() != _BYPASS:
                v |= 0x80
            if n >= _DEPTH:
                v |= 0x40
            if n == 0:
                v |= 0x20
            return v
        if reg == _CLICK_SRC:
            v = self._click_src
            self._click_src = 0
            if self.regs[_CLICK_THS] & 0x80:
                self._click_int = False  # latched INT: cleared by reading CLICK_SRC
            return v
        return self.regs[reg]

    def _read_out(self, reg):
        axis = (reg - _OUT_X_L) >> 1
        high = reg & 1
        if self._fifo_mode() != _BYPASS:
            if self._count:
                j = 3 * self._head
                f, s = self._fifo, self._shown
                s[0] = f[j]
                s[1] = f[j + 1]
                s[2] = f[j + 2]
            v = self._shown[axis]
            if reg == _OUT_Z_H and self._count:
                self._head = (self._head + 1) % _DEPTH
                self._count -= 1
        else:
            src = self._cur
            if self.regs[_CTRL_REG4] & 0x80:  # BDU: hold the set until the MSB is read
                if self._bdu_hold is None:
                    self._bdu_hold = array("h", src)
                src = self._bdu_hold
                if high:
                    self._bdu_hold = None
            v = src[axis]
        if high:
            self._status &= ~(0x11 << axis) & 0xFF
            if not self._status & 0x07:
                self._status = 0
        if self.regs[_CTRL_REG4] & 0x40:  # BLE: big-endian in HR mode
            high ^= 1
        return (v >> 8) & 0xFF if high else v & 0xFF

    def write_reg(self, reg, value):
        reg &= 0x7F
        if reg in _READ_ONLY:
            return
        regs = self.regs
        if reg == _CTRL_REG1:
            odr = self._odr_of(value)
            if odr != self._odr_hz:
                self._odr_hz = odr
                self._t_base = self.clock.now_us()
                self._k = 1
                self._hp_fresh = True
        elif reg == _CTRL_REG5 and value & 0x80:
            self._power_on()  # BOOT: reload the trimming and default registers
            return
        elif reg == _FIFO_CTRL and (value >> 6) == _BYPASS:
            self._head = 0
            self._count = 0  # bypass mode resets the FIFO
        elif reg == _CTRL_REG5 and not value & 0x40:
            self._head = 0
            self._count = 0
        regs[reg] = value & 0xFF

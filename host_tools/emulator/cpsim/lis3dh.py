# ST LIS3DH accelerometer, register level (datasheet DocID17530; click engine
# per application note AN3308), fed by an acceleration source (recording.py).
#
# Modelled: WHO_AM_I, CTRL_REG1-6 (ODR, LPen/HR resolution, FS, BDU, BLE,
# FIFO_EN, HP filter for output (FDS) and click (HPCLICK), INT routing and
# polarity), STATUS_REG, OUT_X/Y/Z (left-justified two's complement), the
# 32-level FIFO (bypass / FIFO / stream / stream-to-FIFO, watermark, overrun,
# FIFO_SRC), the single-click engine (CLICK_CFG/SRC/THS, TIME_LIMIT/LATENCY),
# the two inertial interrupt generators IA1/IA2 in their OR and AND modes
# (INTx_CFG/SRC/THS/DURATION, below) and INT1/INT2 lines driving the device's
# GPIOs. Not modelled: 6D/4D recognition (an INTx_CFG with 6D set never
# fires), double click, activity/sleep (ACT_THS/ACT_DUR), self-test,
# ADC/temperature, reference/autoreset HP modes.
#
# Inertial generators (datasheet DocID17530 8.19-8.26, AN3308 sections 6-7):
# each axis event compares the absolute value of the axis (high-passed when
# CTRL_REG2.HP_IA1/HP_IA2 is set, the same filter the click engine uses)
# with INTx_THS, whose LSB is 16/32/62/186 mg at 2/4/8/16 g: a high event is
# |a| > THS, a low event |a| < THS. AOI = 0 ORs the enabled events, AOI = 1
# ANDs them. The combination must hold on more than INTx_DURATION samples in
# a row (1 LSB = 1/ODR) before IA rises. Not latched (CTRL_REG5.LIR_INTx = 0)
# IA falls on the first sample the combination fails; latched, IA and the
# INTx_SRC flags of the event stay until INTx_SRC is read. IA1/IA2 reach
# INT1 through CTRL_REG3.I1_IA1/I1_IA2 and INT2 through CTRL_REG6.I2_IA1/I2_IA2.
#
# Cost. Samples are computed when something looks (a register access) or at a
# clock event planned for the exact sample at which an INT line changes
# (watermark, overrun, data-ready, click). Nothing else runs, and a sensor
# nobody looks at costs nothing. The click engine's edges depend on the data,
# so _plan() runs a copy of it ahead of time (the look-ahead) on samples it
# reads from the source early and keeps in a small stage until their time
# comes; one event then covers up to _AHEAD samples of a quiet pin. On a
# virtual badge's real time the plan waits until the CPU does (clock.soon):
# there its look-ahead took a loaded host 25-60 ms, and the CPU woken by the
# watermark it had just raised drained the FIFO only after it (overrun). The
# sample path is integer arithmetic on preallocated buffers: in the VM a float or a
# tuple is a heap object, and this runs at 400 Hz in the firmware's heap.
from array import array

from micropython import const

from cpsim import gpio
from cpsim.clock import Event
from cpsim.i2cdev import I2CDeviceModel
from cpsim.recording import Rest

_WHO_AM_I = const(0x0F)
_CTRL_REG0 = const(0x1E)
_CTRL_REG1 = const(0x20)
_CTRL_REG2 = const(0x21)
_CTRL_REG3 = const(0x22)
_CTRL_REG4 = const(0x23)
_CTRL_REG5 = const(0x24)
_CTRL_REG6 = const(0x25)
_REFERENCE = const(0x26)
_STATUS_REG = const(0x27)
_OUT_X_L = const(0x28)
_OUT_Z_H = const(0x2D)
_FIFO_CTRL = const(0x2E)
_FIFO_SRC = const(0x2F)
_INT1_CFG = const(0x30)
_INT1_SRC = const(0x31)
_INT2_SRC = const(0x35)
_CLICK_CFG = const(0x38)
_CLICK_SRC = const(0x39)
_CLICK_THS = const(0x3A)
_TIME_LIMIT = const(0x3B)
_TIME_LATENCY = const(0x3C)

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
# First-order high-pass, cut-off ODR/50, /100, /200, /400 for HPCF 0-3 (the
# datasheet's table, rounded to a ratio of the ODR): y = a * (y + x - x_prev)
# with a = 1 / (1 + 2 pi / ratio), as a 16-bit fraction.
_HP_A = tuple(int(65536 / (1 + 6.2832 / r) + 0.5) for r in (50, 100, 200, 400))
_HP_FRAC = const(4)  # extra bits of the high-pass output below 1 ug

_BYPASS = const(0)
_FIFO = const(1)
_STREAM = const(2)
_STREAM_TO_FIFO = const(3)
_DEPTH = const(32)
_AHEAD = const(64)  # samples the look-ahead may read early (the stage's size)

# The high-pass filter and the click engine's state, one list of ints so that
# the look-ahead can run a copy: indices.
_HIN = const(0)  # 0-2: last input per axis (ug)
_HOUT = const(3)  # 3-5: last output per axis (ug << _HP_FRAC)
_FRESH = const(6)  # nonzero: the next sample restarts the filter settled
_STATE = const(7)  # click: 0 idle, 1 over the threshold, 2 over it for too long
_START = const(8)  # sample number the threshold was crossed at
_AXIS = const(9)  # axis 1-3 of that crossing | 0x08 if negative
_HOLD = const(10)  # samples of the latency window left after a click
_SRC = const(11)  # CLICK_SRC of the last click
# Inertial generator g (0: IA1, 1: IA2) at _IA + 3 * g: samples in a row the
# combination held, IA (0/1), INTx_SRC's event flags
_IA = const(12)
_NDET = const(18)
# What one click-engine step did (_click_step).
_CLICKED = const(1)
_HOLD_OVER = const(2)


class LIS3DH(I2CDeviceModel):
    address = 0x18

    def __init__(self, source=None, sa0=0, int1=None, int2=None, t0_us=None, address=None):
        """source: .mean_ug(t0_us, t1_us, out, j) (Recording, Rest), or any
        .mean(t0_ms, t1_ms) -> (x, y, z) in g (at a heap cost per sample);
        sa0: level of the SA0 pin (address 0x18 or 0x19); int1/int2: GPIO
        numbers of the device the INT lines are wired to; t0_us: sim time of
        the source's t = 0 (default: when attached)."""
        I2CDeviceModel.__init__(self, address if address is not None else 0x18 | (sa0 & 1))
        self.source = source if source is not None else Rest()
        self._ug = hasattr(self.source, "mean_ug")
        self.int1 = int1
        self.int2 = int2
        self.t0_us = t0_us
        self._fifo = array("h", [0] * (3 * _DEPTH))
        self._cur = array("h", [0, 0, 0])  # last sample (bypass output)
        self._shown = array("h", [0, 0, 0])  # last sample popped from the FIFO
        self._held = array("h", [0, 0, 0])  # BDU: the set being read
        # Stage: source values (ug) of samples read ahead, a ring of _AHEAD.
        # A source in g also keeps its floats, which the output rounds as
        # it always did (ug would round a value like 0.7 g differently).
        self._stage = array("i", bytes(4 * 3 * _AHEAD))
        self._stage_g = None if self._ug else [0.0] * (3 * _AHEAD)
        self._det = [0] * _NDET
        self._ahead = [0] * _NDET  # the look-ahead's copy of _det
        self._ev = None
        self._ev_t = -1
        self._on_event_cb = Event(self._on_event)  # re-armed in place: no record per event
        self._plan_cb = self._plan  # (a bound method made once: clock.soon takes it at every bus access)
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
        det = self._det
        for i in range(_NDET):
            det[i] = 0
        det[_FRESH] = 1
        self._status = 0
        self._bdu = False
        self._click_src = 0
        self._click_int = False
        self._odr_hz = 0
        self._period_us = 0
        self._t_base = 0
        self._k = 1
        self._st_head = 0  # ring slot of the oldest staged sample
        self._st_k = 0  # its sample number
        self._st_n = 0  # samples staged
        self._ahead_ok = False  # _ahead holds the engine's state before sample _ahead_k
        self._ahead_k = 0
        self._ahead_hit = -1  # sample number of a click the look-ahead found
        self._configure()

    def _configure(self):
        """Cache what the sample path needs from the registers."""
        regs = self.regs
        c1 = regs[_CTRL_REG1]
        c4 = regs[_CTRL_REG4]
        fs = (c4 >> 4) & 3
        bits = 8 if c1 & 0x08 else (12 if c4 & 0x08 else 10)
        self._sens = (_SENS_LP if bits == 8 else _SENS_HR if bits == 12 else _SENS_NORMAL)[fs]
        self._div = 1000 * self._sens  # ug per digit
        self._top = (1 << (bits - 1)) - 1
        self._shift = 16 - bits
        self._ths = (regs[_CLICK_THS] & 0x7F) * _THS_MG[fs] * 1000
        # the converter's range (12-bit steps at this full scale), in ug
        self._sat_hi = 2047 * _SENS_HR[fs] * 1000
        self._sat_lo = -2048 * _SENS_HR[fs] * 1000
        self._ia_ths1 = (regs[_INT1_CFG + 2] & 0x7F) * _THS_MG[fs] * 1000
        self._ia_ths2 = (regs[_INT1_CFG + 6] & 0x7F) * _THS_MG[fs] * 1000
        # generators running (any axis event enabled), and those wired to a line
        ia = (1 if regs[_INT1_CFG] & 0x3F else 0) | (2 if regs[_INT1_CFG + 4] & 0x3F else 0)
        self._ia_on = ia
        routed = 0
        if self.int1 is not None:
            routed |= (regs[_CTRL_REG3] >> 6 & 1) | (regs[_CTRL_REG3] >> 4 & 2)
        if self.int2 is not None:
            routed |= (regs[_CTRL_REG6] >> 6 & 1) | (regs[_CTRL_REG6] >> 4 & 2)
        self._ia_watch = ia & routed
        self._hp_a = _HP_A[(regs[_CTRL_REG2] >> 4) & 3]
        self._mode = regs[_FIFO_CTRL] >> 6 if regs[_CTRL_REG5] & 0x40 else _BYPASS
        self._ahead_ok = False

    def attach(self, device):
        I2CDeviceModel.attach(self, device)
        now = self.clock.now_us()
        if self.t0_us is None:
            self.t0_us = now
        self._t_base = now
        self._update_lines()

    # --- configuration ------------------------------------------------------------
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

    def _t(self, k):
        return self._t_base + k * 1000000 // self._odr_hz

    # --- time -------------------------------------------------------------------------
    def _sync(self):
        """Produce every sample due up to now."""
        if not self._odr_hz:
            return
        now = self.clock.now_us()
        k = self._k
        if self._t(k) > now:
            return
        last = (now - self._t_base) * self._odr_hz // 1000000
        while self._t(last + 1) <= now:
            last += 1
        regs = self.regs
        mode = self._mode
        per_sample = mode == _STREAM_TO_FIFO  # the FIFO follows the INT lines
        # The click engine, the inertial generators, and data-ready's filter
        # history need every sample.
        every = (per_sample or regs[_CLICK_CFG] & 0x15 or self._det[_HOLD] or regs[_CTRL_REG3] & 0x18
                 or self._ia_on)
        # Samples whose output nobody can see any more: in stream and bypass
        # mode only the last FIFO's worth (plus a settle for the high-pass).
        out_from = last - 2 * _DEPTH if mode == _STREAM or mode == _BYPASS else k
        if not every and out_from > k:
            k = out_from
        while k <= last:
            if mode == _FIFO and self._count == _DEPTH and not every:
                k = last + 1  # a full FIFO in FIFO mode takes nothing more
                break
            self._k = k
            self._sample(k, k >= out_from)
            k += 1
            if per_sample:
                self._k = k
                self._update_lines()
        self._k = k
        self._update_lines()

    def _plan(self):
        """One clock event, at the first sample that can change a wired INT
        line; none while the lines can only change on a bus transaction."""
        k = self._plan_k()
        t = self._t(k) if k >= 0 else -1
        if t == self._ev_t and self._ev is not None:
            return
        clock = self.clock
        if self._ev is not None:
            clock.cancel(self._ev)
            self._ev = None
        self._ev_t = t
        if t >= 0:
            self._ev = clock.call_at(t, self._on_event_cb)

    def _plan_k(self):
        if not self._odr_hz or (self.int1 is None and self.int2 is None):
            return -1
        k = self._k
        mode = self._mode
        if mode == _STREAM_TO_FIFO:
            return k
        regs = self.regs
        det = self._det
        latched = regs[_CLICK_THS] & 0x80
        clicks = regs[_CLICK_CFG] & 0x15
        click_int = self._click_int
        # When a non-latched click INT ends: the last latency sample, or the
        # next one if the engine was switched off meanwhile.
        hold_end = -1
        if click_int and not latched and det[_HOLD]:
            hold_end = k + det[_HOLD] - 1 if clicks else k
        best = -1
        # An inertial generator wired to a line, running: its edges depend on
        # the data (a latched IA already up only falls on a bus read)
        look = self._ia_watch and not self._ia_held()
        if self.int1 is not None:
            c3 = regs[_CTRL_REG3]
            n = self._count
            fth = regs[_FIFO_CTRL] & 0x1F
            fifo = mode != _BYPASS
            # Sources that stay active until a bus transaction clears them.
            if not ((c3 & 0x04 and fifo and n > fth) or (c3 & 0x02 and n >= _DEPTH)
                    or (c3 & 0x18 and self._status & 0x08)
                    or (c3 & 0x80 and click_int and (latched or not det[_HOLD]))
                    or (c3 & 0x40 and det[_IA + 1] and regs[_CTRL_REG5] & 0x08)
                    or (c3 & 0x20 and det[_IA + 4] and regs[_CTRL_REG5] & 0x02)):
                if c3 & 0x80 and click_int:
                    best = hold_end
                else:
                    if c3 & 0x04 and fifo:
                        best = _earlier(best, k + fth - n)
                    if c3 & 0x02 and fifo:
                        best = _earlier(best, k + _DEPTH - 1 - n)
                    if c3 & 0x18:
                        best = k
                    look = look or (c3 & 0x80 and clicks)
        if self.int2 is not None and regs[_CTRL_REG6] & 0x80:
            if click_int:
                best = _earlier(best, hold_end)
            elif clicks:
                look = True
        if look:
            limit = k + _AHEAD - 1
            if 0 <= best < limit:
                limit = best
            hit = self._look_ahead(limit)
            # Without a click by `limit`, wake there to look further.
            best = _earlier(best, hit if hit >= 0 else self._ahead_k - 1)
        return best

    def _ia_held(self):
        """Every watched inertial generator is latched and up: nothing but a
        bus read changes what they drive."""
        det, c5, w = self._det, self.regs[_CTRL_REG5], self._ia_watch
        return not ((w & 1 and not (det[_IA + 1] and c5 & 0x08))
                    or (w & 2 and not (det[_IA + 4] and c5 & 0x02)))

    def _on_event(self):
        self._ev = None
        self._ev_t = -1
        self._sync()
        self._update_lines()
        self.clock.soon(self._plan_cb)

    # --- stage: source values read ahead of their time --------------------------------
    def _staged(self, k):
        """Ring offset (3 * slot) of sample k's source values, reading the
        source up to k if needed; -1 if k is further ahead than the stage
        holds. Drop the samples before k first (_drop_staged)."""
        if not self._st_n:
            self._st_head = 0
            self._st_k = k
        d = k - self._st_k
        if d < 0:
            self._st_n = 0
            self._st_head = 0
            self._st_k = k
            d = 0
        if d >= _AHEAD:
            return -1
        while self._st_n <= d:
            slot = (self._st_head + self._st_n) % _AHEAD
            self._read_source(self._st_k + self._st_n, 3 * slot)
            self._st_n += 1
        return 3 * ((self._st_head + d) % _AHEAD)

    def _drop_staged(self, k):
        """Forget staged samples up to and including k."""
        d = k + 1 - self._st_k
        if d <= 0 or not self._st_n:
            return
        if d >= self._st_n:
            self._st_n = 0
            return
        self._st_head = (self._st_head + d) % _AHEAD
        self._st_k += d
        self._st_n -= d

    def _read_source(self, k, j):
        t1 = self._t(k) - self.t0_us
        if self._ug:
            st = self._stage
            self.source.mean_ug(t1 - self._period_us, t1, st, j)
            # The A/D converter saturates at the full scale, and every engine
            # (high-pass, click, inertial) works on its digital output
            # (datasheet figure 1, block diagram): a 10 g knock is 4 g to them.
            # (unrolled: a loop's cost per sample shows on a real-time badge)
            hi = self._sat_hi
            if st[j] > hi or st[j + 1] > hi or st[j + 2] > hi or st[j] < -hi or st[j + 1] < -hi or st[j + 2] < -hi:
                self._saturate(st, j)
        else:
            self._read_g(t1, j)

    def _saturate(self, st, j):
        hi, lo = self._sat_hi, self._sat_lo
        for i in range(j, j + 3):
            v = st[i]
            st[i] = hi if v > hi else lo if v < lo else v

    def _read_g(self, t1, j):
        t1 = t1 / 1000.0
        g = self.source.mean(t1 - 1000.0 / self._odr_hz, t1)
        st, sg = self._stage, self._stage_g
        for i in range(3):
            sg[j + i] = g[i]
            v = int(round(g[i] * 1000000))
            st[j + i] = self._sat_lo if v < self._sat_lo else self._sat_hi if v > self._sat_hi else v

    # --- one output sample ----------------------------------------------------------
    def _sample(self, k, output):
        """Sample number k at its time: high-pass and click engine always,
        the output registers and FIFO if `output`."""
        self.samples += 1
        if self._st_n and self._st_k == k:
            j = 3 * self._st_head
        else:
            self._drop_staged(k - 1)
            j = self._staged(k)
        ctrl2 = self.regs[_CTRL_REG2]
        if ctrl2 & 0x0F:  # FDS (output), HPCLICK (click), HP_IA2/HP_IA1 use the high-pass
            self._highpass(self._det, j)
        if output:
            self._output(j, ctrl2 & 0x08)
        self._click(k, j, ctrl2 & 0x04)
        if self._ia_on:
            self._inertial(self._det, j)
        # Sample k is the stage's oldest: done with it.
        self._st_head = (self._st_head + 1) % _AHEAD
        self._st_k += 1
        self._st_n -= 1

    def _click(self, k, j, filtered):
        # (apart from _sample, and few locals: a frame small enough for the C
        # stack, py/objfun.c VM_MAX_STATE_ON_STACK; a larger one is taken from
        # the heap at every call, the badge VM's garbage at every sample)
        det = self._det
        if self.regs[_CLICK_CFG] & 0x15:
            k = self._click_step(det, k, j, filtered)
            if k == _CLICKED:
                self._click_src = det[_SRC]
                self._click_int = True
            elif k == _HOLD_OVER and not self.regs[_CLICK_THS] & 0x80:
                self._click_int = False
        elif det[_HOLD]:
            det[_HOLD] = 0
            if not self.regs[_CLICK_THS] & 0x80:
                self._click_int = False

    def _output(self, j, filtered):
        if filtered:
            self._convert(self._det, _HOUT, _HP_FRAC)
        elif self._ug:
            self._convert(self._stage, j, 0)
        else:
            self._convert_g(j)
        if self._status & 0x08:
            self._status |= 0xF0  # overrun: previous set was never read
        self._status |= 0x0F
        self._fifo_push()

    def _convert(self, src, base, sh):
        # src[base:base + 3] >> sh (ug) into the output registers, each axis
        # in a call of its own (few locals: frames on the C stack, as _click)
        en = self.regs[_CTRL_REG1]
        cur = self._cur
        cur[0] = self._digits(src[base] >> sh) if en & 1 else 0
        cur[1] = self._digits(src[base + 1] >> sh) if en & 2 else 0
        cur[2] = self._digits(src[base + 2] >> sh) if en & 4 else 0

    def _digits(self, v):
        """ug / (ug per digit), rounded half to even as round() does, within
        the output's range, shifted into place."""
        div = self._div
        d = v // div
        v -= d * div
        if 2 * v > div or (2 * v == div and d & 1):
            d += 1
        v = self._top
        d = v if d > v else -v - 1 if d < -v - 1 else d
        return d << self._shift

    def _convert_g(self, j):
        en = self.regs[_CTRL_REG1]
        cur = self._cur
        top = self._top
        low = -top - 1
        shift = self._shift
        sg, sens = self._stage_g, self._sens
        for i in range(3):
            d = int(round(sg[j + i] * 1000.0 / sens))
            d = top if d > top else low if d < low else d
            cur[i] = d << shift if en & (1 << i) else 0

    def _highpass(self, s, j):
        st = self._stage
        if s[_FRESH]:
            # Start settled on the first sample (as after a REFERENCE read),
            # not with a step from zero that would look like a click.
            s[_FRESH] = 0
            s[0], s[1], s[2] = st[j], st[j + 1], st[j + 2]
            s[3] = s[4] = s[5] = 0
            return
        a = self._hp_a
        g = st[j]
        s[3] = (a * (s[3] + ((g - s[0]) << _HP_FRAC))) >> 16
        s[0] = g
        g = st[j + 1]
        s[4] = (a * (s[4] + ((g - s[1]) << _HP_FRAC))) >> 16
        s[1] = g
        g = st[j + 2]
        s[5] = (a * (s[5] + ((g - s[2]) << _HP_FRAC))) >> 16
        s[2] = g

    def _click_step(self, s, k, j, filtered):
        """One sample through the single-click engine with state s; returns
        _CLICKED (CLICK_SRC in s[_SRC]), _HOLD_OVER or 0. (Its variables are
        reused: few locals keep its frame on the C stack, as in _click.)"""
        hold = s[_HOLD]
        if hold:
            # Latency window after a click: nothing new is detected; a
            # non-latched INT stays asserted for this long (AN3308).
            s[_HOLD] = hold - 1
            return _HOLD_OVER if hold == 1 else 0
        if self._ths <= 0:
            return 0
        j = self._over(s, j, filtered)
        hold = s[_STATE]
        if hold == 0:
            if j:
                s[_STATE] = 1
                s[_START] = k
                s[_AXIS] = j
        elif hold == 1:
            if not j:
                s[_STATE] = 0
                if k - s[_START] <= (self.regs[_TIME_LIMIT] & 0x7F):
                    j = s[_AXIS]
                    s[_SRC] = 0x40 | 0x10 | (1 << ((j & 3) - 1)) | (j & 0x08)
                    j = self.regs[_TIME_LATENCY]
                    s[_HOLD] = j if j > 1 else 1
                    return _CLICKED
            elif k - s[_START] > (self.regs[_TIME_LIMIT] & 0x7F):
                s[_STATE] = 2  # too long for a click: wait for it to end
        elif not j:
            s[_STATE] = 0
        return 0

    def _over(self, s, j, filtered):
        """The first enabled axis over the click threshold: 1-3, | 0x08 if
        negative; 0 if none."""
        if filtered:
            x = s[3] >> _HP_FRAC
            y = s[4] >> _HP_FRAC
            z = s[5] >> _HP_FRAC
        else:
            s = self._stage
            x = s[j]
            y = s[j + 1]
            z = s[j + 2]
        j = self._ths
        filtered = self.regs[_CLICK_CFG]
        if filtered & 0x01 and (x > j or x < -j):
            return 0x09 if x < 0 else 1
        if filtered & 0x04 and (y > j or y < -j):
            return 0x0A if y < 0 else 2
        if filtered & 0x10 and (z > j or z < -j):
            return 0x0B if z < 0 else 3
        return 0

    def _inertial(self, s, j):
        """One sample through both inertial generators with state s; returns
        bit g set where generator g's IA changed."""
        ch = 0
        if self._ia_on & 1 and self._ia_step(s, j, 0):
            ch = 1
        if self._ia_on & 2 and self._ia_step(s, j, 1):
            ch |= 2
        return ch

    def _ia_step(self, s, j, g):
        # (few locals, as _click_step)
        regs = self.regs
        cfg = regs[_INT1_CFG + 4 * g]
        if regs[_CTRL_REG2] & (1 << g):  # HP_IA1 / HP_IA2
            ev = self._events(s[3] >> _HP_FRAC, s[4] >> _HP_FRAC, s[5] >> _HP_FRAC, g)
        else:
            st = self._stage
            ev = self._events(st[j], st[j + 1], st[j + 2], g)
        b = _IA + 3 * g
        ev &= cfg & 0x3F
        if cfg & 0x40:
            held = False  # 6D / 4D recognition: not modelled, never fires
        elif cfg & 0x80:
            held = ev == cfg & 0x3F  # AND of the enabled events
        else:
            held = ev != 0
        if held:
            if s[b] < 255:
                s[b] += 1
            held = s[b] > (regs[_INT1_CFG + 4 * g + 3] & 0x7F)
        else:
            s[b] = 0
        if regs[_CTRL_REG5] & (0x08 >> (2 * g)):  # LIR_INT1 / LIR_INT2: latched
            if s[b + 1] or not held:
                return False
            s[b + 1] = 1
            s[b + 2] = ev
            return True
        s[b + 2] = ev
        if (1 if held else 0) == s[b + 1]:
            return False
        s[b + 1] = 1 if held else 0
        return True

    def _events(self, x, y, z, g):
        """INTx_SRC's event flags (ZH ZL YH YL XH XL) of one sample (ug)."""
        t = self._ia_ths2 if g else self._ia_ths1
        e = 0
        if x > t or x < -t:
            e = 0x02
        elif -t < x < t:
            e = 0x01
        if y > t or y < -t:
            e |= 0x08
        elif -t < y < t:
            e |= 0x04
        if z > t or z < -t:
            e |= 0x20
        elif -t < z < t:
            e |= 0x10
        return e

    def _look_ahead(self, limit):
        """Run a copy of the click engine over the samples after now, up to
        `limit` at most (and as far as the stage holds): the sample number
        of the first click, or -1. What it has covered stays valid until a
        register write: the real engine will see the same samples."""
        a = self._ahead
        if not self._ahead_ok or self._ahead_k < self._k:
            det = self._det
            for i in range(_NDET):
                a[i] = det[i]
            self._ahead_ok = True
            self._ahead_k = self._k
            self._ahead_hit = -1
        if self._ahead_hit >= self._k:
            return self._ahead_hit
        self._drop_staged(self._k - 1)
        ctrl2 = self.regs[_CTRL_REG2]
        k = self._ahead_k
        while k <= limit:
            j = self._staged(k)
            if j < 0:
                break
            if ctrl2 & 0x0F:
                self._highpass(a, j)
            step = self._click_step(a, k, j, ctrl2 & 0x04)
            if self._ia_on and self._inertial(a, j) & self._ia_watch:
                step = _CLICKED  # a watched IA edge: an event there as for a click
            k += 1
            if step == _CLICKED:
                self._ahead_k = k
                self._ahead_hit = k - 1
                return k - 1
        self._ahead_k = k
        return -1

    def _fifo_push(self):
        mode = self._mode
        if mode == _STREAM_TO_FIFO:
            mode = _FIFO if self._active(1 if self.regs[_FIFO_CTRL] & 0x20 else 0) else _STREAM
        if mode == _BYPASS:
            return
        n = self._count
        if n == _DEPTH:
            if mode == _FIFO:
                return  # FIFO mode stops collecting when full
            self._head = (self._head + 1) % _DEPTH  # stream: drop the oldest
            n -= 1
        self._count = n + 1
        n = 3 * ((self._head + n) % _DEPTH)
        f = self._fifo
        c = self._cur
        f[n] = c[0]
        f[n + 1] = c[1]
        f[n + 2] = c[2]

    # --- INT lines ---------------------------------------------------------------------
    def _active(self, line):
        """Whether INT1 (line 0) or INT2 (line 1) is asserted, before polarity."""
        regs = self.regs
        det = self._det
        if line:
            c6 = regs[_CTRL_REG6]
            return bool((c6 & 0x80 and self._click_int) or (c6 & 0x40 and det[_IA + 1])
                        or (c6 & 0x20 and det[_IA + 4]))
        c3 = regs[_CTRL_REG3]
        n = self._count
        return bool((c3 & 0x80 and self._click_int)
                    or (c3 & 0x40 and det[_IA + 1]) or (c3 & 0x20 and det[_IA + 4])
                    or (c3 & 0x04 and n > (regs[_FIFO_CTRL] & 0x1F) and self._mode != _BYPASS)
                    or (c3 & 0x02 and n >= _DEPTH)
                    or (c3 & 0x18 and self._status & 0x08))

    def _update_lines(self):
        if self.device is None:
            return
        pol = 1 if self.regs[_CTRL_REG6] & 0x02 else 0  # INT_POLARITY: active low
        if self.int1 is not None:
            self._drive(0, self.int1, (1 if self._active(0) else 0) ^ pol)
        if self.int2 is not None:
            self._drive(1, self.int2, (1 if self._active(1) else 0) ^ pol)

    def _drive(self, i, pin, level):
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
        if reg == 0x80 | _OUT_X_L and n and not n % 6 and self._mode != _BYPASS:
            out = self._read_frames(n)
        else:
            out = I2CDeviceModel.read_burst(self, reg, n)
        self._update_lines()
        self.clock.soon(self._plan_cb)
        return out

    def _read_frames(self, n):
        """The FIFO drain, n // 6 whole frames from OUT_X_L: what read_reg()
        gives byte by byte (the pointer wraps at OUT_Z_H), a frame at a time."""
        out = self.read_buffer(n)
        f, s = self._fifo, self._shown
        swap = 1 if self.regs[_CTRL_REG4] & 0x40 else 0  # BLE
        for j in range(0, n, 6):
            if self._count:
                h = 3 * self._head
                s[0], s[1], s[2] = f[h], f[h + 1], f[h + 2]
                self._head = (self._head + 1) % _DEPTH
                self._count -= 1
            for i in range(3):
                v = s[i]
                out[j + 2 * i + swap] = v & 0xFF
                out[j + 2 * i + 1 - swap] = (v >> 8) & 0xFF
        self._status = 0  # all three high bytes read
        self.pointer = 0x80 | _OUT_X_L
        return out

    def write_burst(self, reg, data, start=0):
        self._sync()
        I2CDeviceModel.write_burst(self, reg, data, start)
        self._update_lines()
        self.clock.soon(self._plan_cb)

    def read_reg(self, reg):
        reg &= 0x7F
        if _OUT_X_L <= reg <= _OUT_Z_H:
            return self._read_out(reg)
        if reg == _STATUS_REG:
            return self._status
        if reg == _REFERENCE:
            self._det[_FRESH] = 1  # reading REFERENCE resets the high-pass filter
            self._ahead_ok = False
        if reg == _FIFO_SRC:
            n = self._count
            fth = self.regs[_FIFO_CTRL] & 0x1F
            v = n if n < 31 else 31
            if n > fth and self._mode != _BYPASS:
                v |= 0x80
            if n >= _DEPTH:
                v |= 0x40
            if n == 0:
                v |= 0x20
            return v
        if reg == _INT1_SRC or reg == _INT2_SRC:
            b = _IA + (3 if reg == _INT2_SRC else 0)
            det = self._det
            v = det[b + 2] | (0x40 if det[b + 1] else 0)
            if self.regs[_CTRL_REG5] & (0x08 if reg == _INT1_SRC else 0x02) and det[b + 1]:
                # latched: the read clears IA (and the line) and lets the
                # flags refresh from the next sample on
                det[b + 1] = 0
                det[b + 2] = 0
                self._ahead_ok = False
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
        if self._mode != _BYPASS:
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
                held = self._held
                if not self._bdu:
                    self._bdu = True
                    held[0], held[1], held[2] = src[0], src[1], src[2]
                src = held
                if high:
                    self._bdu = False
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
                self._period_us = 1000000 // odr if odr else 0
                self._t_base = self.clock.now_us()
                self._k = 1
                self._st_n = 0  # staged samples were for the old sample times
                self._det[_FRESH] = 1
        elif reg == _CTRL_REG4 and (value ^ regs[_CTRL_REG4]) & 0x30:
            self._st_n = 0  # samples read ahead were saturated at the old full scale
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
        self._configure()


def _earlier(a, b):
    """The earlier of two sample numbers, -1 meaning none."""
    if a < 0:
        return b
    return a if b < 0 or a < b else b



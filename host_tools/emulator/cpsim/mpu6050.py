# Register model of the InvenSense MPU-6050 (RM-MPU-6000A-00 rev 4.2) as the
# accelerometer drivers use it: WHO_AM_I, PWR_MGMT_1/2 (sleep, cycle, reset),
# SMPLRT_DIV, CONFIG, ACCEL_CONFIG, INT_PIN_CFG, INT_ENABLE, INT_STATUS,
# FIFO_EN, USER_CTRL (FIFO_EN, FIFO_RESET), FIFO_COUNTH/L, FIFO_R_W, the
# big-endian ACCEL/TEMP/GYRO output registers, a 1024-byte FIFO that drops
# its oldest bytes on overflow, and the INT pin.
#
# Samples fall on the sim clock (every sample period from when the rate was
# set) from `source`, as the LIS3DH model takes it: mean_ug(t0_us, t1_us, out,
# j) in integer micro-g (cpsim.recording.Recording, Rest; the mean over one
# sample period is the chip's anti-alias filter), or, at a heap cost per
# sample, mean(t0_ms, t1_ms) -> (x, y, z) in g or a plain callable(t_ms) ->
# (x, y, z). Time t is since t0_us (default: when the model is attached).
# Nothing runs per sample: due samples are made when a transaction touches
# the chip, and one clock event is scheduled only for the next sample that
# can change the INT pin. A crowd of pins costs one event per watermark each.
# The sample path is integer arithmetic into preallocated buffers: in the VM
# it shares the firmware's heap, where the chip itself allocates nothing.
from cpsim import gpio
from cpsim.clock import Event
from cpsim.i2cdev import I2CDeviceModel
from cpsim.recording import Rest

SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
FIFO_EN = 0x23
INT_PIN_CFG = 0x37
INT_ENABLE = 0x38
INT_STATUS = 0x3A
ACCEL_XOUT_H = 0x3B
TEMP_OUT_H = 0x41
GYRO_XOUT_H = 0x43
USER_CTRL = 0x6A
PWR_MGMT_1 = 0x6B
PWR_MGMT_2 = 0x6C
FIFO_COUNTH = 0x72
FIFO_COUNTL = 0x73
FIFO_R_W = 0x74
WHO_AM_I = 0x75

# bits
DEVICE_RESET = 0x80
SLEEP = 0x40
CYCLE = 0x20
INT_LEVEL = 0x80  # INT_PIN_CFG: 1 = active low
LATCH_INT_EN = 0x20
INT_RD_CLEAR = 0x10
FIFO_OFLOW = 0x10  # INT_ENABLE / INT_STATUS
DATA_RDY = 0x01
USER_FIFO_EN = 0x40
FIFO_RESET = 0x04
ACCEL_FIFO_EN = 0x08

FIFO_SIZE = 1024
PULSE_US = 50  # INT pulse width when LATCH_INT_EN = 0 (RM 4.15)
_WAKE_US = (800000, 200000, 50000, 25000)  # LP_WAKE_CTRL 1.25, 5, 20, 40 Hz


class MPU6050(I2CDeviceModel):
    address = 0x68
    WHO_AM_I_VALUE = 0x68
    PWR_MGMT_1_RESET = 0x40  # asleep after power-on (RM 4.28)
    TEMP_RAW = -3920  # 25 degC: TEMP_OUT / 340 + 36.53 (RM 4.18)

    def __init__(self, source=None, int_pin=None, t0_us=None, address=None):
        I2CDeviceModel.__init__(self, address)
        self.source = source if source is not None else Rest()
        self._ug = hasattr(self.source, "mean_ug")
        self._mean = getattr(self.source, "mean", None)
        self._in = [0, 0, 0]  # one sample from the source (ug)
        self.int_pin = int_pin  # GPIO of the Device the INT line is wired to
        self.t0_us = t0_us
        self.samples = 0  # samples made since power-on (for tests)
        self._fifo = bytearray(FIFO_SIZE)
        self._event = None
        self._event_t = None
        self._on_event_cb = Event(self._on_event)  # re-armed in place: no record per event
        self._schedule_cb = self._schedule  # (made once: clock.soon takes it at every bus access)
        self._pulse_end = 0
        self._pin_level = None
        self._fired = False  # an enabled interrupt event happened
        self._reset()

    # --- power-on / DEVICE_RESET ------------------------------------------------
    def _reset(self):
        for i in range(len(self.regs)):
            self.regs[i] = 0
        self.regs[PWR_MGMT_1] = self.PWR_MGMT_1_RESET
        self.regs[WHO_AM_I] = self.WHO_AM_I_VALUE
        self.status = 0  # INT_STATUS bits
        self._head = 0
        self._count = 0
        self._last_byte = 0
        self._next_us = None
        self._layout = ()  # (register, bytes) pairs of one FIFO frame
        self._frame = 0

    def attach(self, device):
        I2CDeviceModel.attach(self, device)
        if self.t0_us is None:
            self.t0_us = self._now()
        self._restart()
        self._update_pin()

    # --- timing -------------------------------------------------------------------
    def running(self):
        return not self.regs[PWR_MGMT_1] & (SLEEP | DEVICE_RESET)

    def period_us(self):
        """Time between two samples with the current registers."""
        if self.regs[PWR_MGMT_1] & CYCLE:
            return _WAKE_US[self.regs[PWR_MGMT_2] >> 6]
        dlpf = self.regs[CONFIG] & 0x07
        base = 1000 if 1 <= dlpf <= 6 else 125  # 1 kHz, or the 8 kHz gyro rate
        return base * (1 + self.regs[SMPLRT_DIV])

    def _now(self):
        return self.clock.now_us()

    def _restart(self):
        """Timing registers changed: the next sample is one period from now."""
        if self.device is None:
            return
        self._next_us = self._now() + self.period_us() if self.running() else None

    def catch_up(self):
        """Make every sample due by now."""
        if self._next_us is None or self.device is None:
            return
        now = self._now()
        if self._next_us > now:
            return
        period = self.period_us()
        due = (now - self._next_us) // period + 1
        # Only the last FIFO_SIZE bytes of a long gap survive in the FIFO:
        # skip the samples nobody can observe, but keep the overflow.
        keep = FIFO_SIZE // 6 + 2
        if due > keep:
            skip = due - keep
            self._next_us += skip * period
            self.samples += skip
            if self._fifo_on() and self.frame_size():
                self._raise(FIFO_OFLOW)
        while self._next_us <= now:
            self._sample(self._next_us, period)
            self._next_us += period

    # --- one sample ---------------------------------------------------------------
    def _raw(self, g):
        """g (float) -> output digits, as the chip rounds them."""
        fs = 2 << ((self.regs[ACCEL_CONFIG] >> 3) & 3)
        v = int(round(g * 32768 / fs))
        return -32768 if v < -32768 else (32767 if v > 32767 else v)

    def _take(self, t_us, period, g, j):
        """The sample taken at t_us (its x, y, z digits into g[j:j + 3])."""
        self._digits(t_us, period, g, j)

    def _digits(self, t_us, period, g, j):
        """Source -> output digits of the sample at t_us, as the chip rounds
        them (the mean over one sample period: its anti-alias filter)."""
        r = self.regs
        t = t_us - self.t0_us
        if self._ug:
            self.source.mean_ug(t - period, t, g, j)
            # digits = ug * 32768 / (fs * 10^6), rounded half to even as round()
            den = 1000000 << ((r[ACCEL_CONFIG] >> 3) & 3)
            for i in range(j, j + 3):
                q = (g[i] << 14) // den
                rem = (g[i] << 14) - q * den
                if 2 * rem > den or (2 * rem == den and q & 1):
                    q += 1
                g[i] = -32768 if q < -32768 else (32767 if q > 32767 else q)
        else:
            t_ms = t / 1000.0
            if self._mean is not None:
                x, y, z = self._mean(t_ms - period / 1000.0, t_ms)
            else:
                x, y, z = self.source(t_ms)
            g[j], g[j + 1], g[j + 2] = self._raw(x), self._raw(y), self._raw(z)

    def _sample(self, t_us, period):
        r = self.regs
        g = self._in
        self._take(t_us, period, g, 0)
        i = ACCEL_XOUT_H
        for a in range(3):
            v = g[a] & 0xFFFF
            r[i] = v >> 8
            r[i + 1] = v & 0xFF
            i += 2
        t = self.TEMP_RAW & 0xFFFF
        r[TEMP_OUT_H] = t >> 8
        r[TEMP_OUT_H + 1] = t & 0xFF
        self.samples += 1
        self._raise(DATA_RDY)
        if self._fifo_on():
            for reg, n in self._layout:
                for a in range(reg, reg + n):
                    self._push(r[a])
            self._frame_written()

    def frame_layout(self):
        """[(first register, bytes)] written to the FIFO per sample, in
        register order (RM 4.7): accel, temp, gyro x, y, z."""
        en = self.regs[FIFO_EN]
        out = []
        if en & ACCEL_FIFO_EN:
            out.append((ACCEL_XOUT_H, 6))
        if en & 0x80:
            out.append((TEMP_OUT_H, 2))
        for bit, reg in ((0x40, GYRO_XOUT_H), (0x20, GYRO_XOUT_H + 2), (0x10, GYRO_XOUT_H + 4)):
            if en & bit:
                out.append((reg, 2))
        return out

    def frame_size(self):
        return self._frame

    def _framing(self):
        """FIFO_EN changed: cache the frame layout the sample path pushes."""
        self._layout = tuple(self.frame_layout())
        self._frame = sum(n for _, n in self._layout)

    def _frame_written(self):
        pass

    # --- FIFO ---------------------------------------------------------------------
    def _fifo_on(self):
        return bool(self.regs[USER_CTRL] & USER_FIFO_EN)

    def _stop_when_full(self):
        return False

    def _push(self, b):
        if self._count == FIFO_SIZE:
            self._raise(FIFO_OFLOW)
            if self._stop_when_full():
                return
            self._head = (self._head + 1) % FIFO_SIZE  # oldest byte lost
            self._count -= 1
        self._fifo[(self._head + self._count) % FIFO_SIZE] = b
        self._count += 1

    def _pop(self):
        if not self._count:
            return self._last_byte  # RM 4.31: an empty FIFO repeats the last byte
        b = self._fifo[self._head]
        self._head = (self._head + 1) % FIFO_SIZE
        self._count -= 1
        self._last_byte = b
        return b

    @property
    def fifo_count(self):
        return self._count

    # --- registers ----------------------------------------------------------------
    def autoinc(self, reg):
        # A burst on FIFO_R_W keeps popping the FIFO.
        return reg if reg == FIFO_R_W else (reg + 1) & 0xFF

    def read_burst(self, reg, n):
        if reg != FIFO_R_W:
            return I2CDeviceModel.read_burst(self, reg, n)
        # The FIFO drain: _pop() n times, without a register lookup per byte.
        out = self.read_buffer(n)
        f = self._fifo
        head, count, b = self._head, self._count, self._last_byte
        for i in range(n):
            if count:  # RM 4.31: an empty FIFO repeats the last byte
                b = f[head]
                head = (head + 1) % FIFO_SIZE
                count -= 1
            out[i] = b
        self._head, self._count, self._last_byte = head, count, b
        self.pointer = FIFO_R_W
        return out

    def i2c_read(self, n):
        self.catch_up()
        out = I2CDeviceModel.i2c_read(self, n)
        if self.regs[INT_PIN_CFG] & INT_RD_CLEAR:
            self._clear_status()
        self._settle()
        return out

    def i2c_write(self, data):
        self.catch_up()
        I2CDeviceModel.i2c_write(self, data)
        self._settle()

    def _settle(self):
        # The line first; the next event is planned when the CPU waits
        # (clock.soon: on a virtual badge's real time, the MPU-6886's
        # wake-on-motion look-ahead must not delay the CPU's answer to it).
        self._update_pin()
        if self.device is not None:
            self.clock.soon(self._schedule_cb)

    def read_reg(self, reg):
        if reg == FIFO_R_W:
            return self._pop()
        if reg == FIFO_COUNTH:
            return self._count >> 8
        if reg == FIFO_COUNTL:
            return self._count & 0xFF
        if reg == INT_STATUS:
            v = self.status & 0xFF
            self.status = 0
            return v
        return self.regs[reg]

    def _raise(self, bits):
        self.status |= bits
        if bits & self.regs[INT_ENABLE]:
            self._fired = True

    def _clear_status(self):
        """INT_RD_CLEAR = 1: any read clears every status bit."""
        self.status = 0

    def write_reg(self, reg, value):
        if reg == WHO_AM_I:
            return
        if reg == FIFO_R_W:
            self._push(value)
            return
        if reg == PWR_MGMT_1 and value & DEVICE_RESET:
            self._reset()
            self._restart()
            return
        if reg == USER_CTRL and value & FIFO_RESET:
            self._head = self._count = 0
            value &= ~FIFO_RESET  # self-clearing
        self.regs[reg] = value
        if reg in self.TIMING_REGS:
            self._restart()
        elif reg == FIFO_EN:
            self._framing()

    TIMING_REGS = (SMPLRT_DIV, CONFIG, PWR_MGMT_1, PWR_MGMT_2)

    # --- INT pin ------------------------------------------------------------------
    def _int_sources(self):
        """Status bits that are enabled onto the INT pin."""
        return self.status & self.regs[INT_ENABLE] & (FIFO_OFLOW | DATA_RDY)

    def _update_pin(self):
        if self.int_pin is None or self.device is None:
            return
        cfg = self.regs[INT_PIN_CFG]
        if cfg & LATCH_INT_EN:
            active = bool(self._int_sources())
        else:
            active = self._now() < self._pulse_end
        level = (0 if active else 1) if cfg & INT_LEVEL else (1 if active else 0)
        if level != self._pin_level:
            self._pin_level = level
            gpio.drive(self.device, self.int_pin, level)

    def _next_event_us(self):
        """Earliest future sample that can raise the INT pin, or the end of a
        pulse; None if nothing can change it."""
        if self.int_pin is None or self._next_us is None:
            return self._pulse_end if self._pulse_end > self._now() else None
        latched = self.regs[INT_PIN_CFG] & LATCH_INT_EN
        if latched and self._int_sources():
            return None  # held until the status is read
        t = None
        en = self.regs[INT_ENABLE]
        if en & DATA_RDY:
            t = self._next_us
        elif self._fifo_on():
            t = self._fifo_event_us(en)
        if not latched and self._pulse_end > self._now():
            t = self._pulse_end if t is None or self._pulse_end < t else t
        return t

    def _fifo_event_us(self, en):
        frame = self.frame_size()
        if not (en & FIFO_OFLOW) or not frame:
            return None
        frames = (FIFO_SIZE - self._count) // frame + 1  # the frame that overflows
        return self._next_us + (frames - 1) * self.period_us()

    def _schedule(self):
        if self.device is None:
            return
        t = self._next_event_us()
        if self._event is not None:
            if t == self._event_t:
                return
            self.clock.cancel(self._event)
            self._event = None
        if t is not None:
            self._event_t = t
            self._event = self.clock.call_at(t, self._on_event_cb)

    def _on_event(self):
        self._event = None
        self._fired = False
        self.catch_up()
        if self._fired and not self.regs[INT_PIN_CFG] & LATCH_INT_EN:
            self._pulse_end = self._now() + PULSE_US
        self._fired = False
        self._settle()

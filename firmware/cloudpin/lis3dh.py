# ST LIS3DH driver (datasheet DocID17530, application note AN3308): FIFO in
# stream mode with the watermark on INT1, ODR/range/mode, the hardware
# click engine routed to INT1 or INT2, and inertial interrupt generator 1 as
# a wake-on-motion on INT1. Register names are the datasheet's.
#
# The FIFO keeps only the 10 most significant bits of each axis (ST forum,
# confirmed by ST staff), so high-resolution mode buys nothing while the FIFO
# is in use and costs the same current as normal mode (datasheet table 12):
# normal mode is the default; low-power mode (8 bit) halves the current.
from micropython import const
from cloudpin import accel, rates

_WHO_AM_I = const(0x0F)
_LIS3DH_ID = const(0x33)
_CTRL_REG1 = const(0x20)  # ODR3..0 LPen Zen Yen Xen
_CTRL_REG2 = const(0x21)  # HPM1 HPM0 HPCF2 HPCF1 FDS HPCLICK HP_IA2 HP_IA1
_CTRL_REG3 = const(0x22)  # I1_CLICK I1_IA1 I1_IA2 I1_ZYXDA I1_321DA I1_WTM I1_OVERRUN -
_CTRL_REG4 = const(0x23)  # BDU BLE FS1 FS0 HR ST1 ST0 SIM
_CTRL_REG5 = const(0x24)  # BOOT FIFO_EN - - LIR_INT1 D4D_INT1 LIR_INT2 D4D_INT2
_CTRL_REG6 = const(0x25)  # I2_CLICK I2_IA1 I2_IA2 I2_BOOT I2_ACT - INT_POLARITY -
_REFERENCE = const(0x26)
_OUT_X_L = const(0x28)
_FIFO_CTRL_REG = const(0x2E)  # FM1 FM0 TR FTH4..0
_FIFO_SRC_REG = const(0x2F)  # WTM OVRN_FIFO EMPTY FSS4..0
_INT1_CFG = const(0x30)  # AOI 6D ZHIE ZLIE YHIE YLIE XHIE XLIE
_INT1_SRC = const(0x31)  # - IA ZH ZL YH YL XH XL
_INT1_THS = const(0x32)
_INT1_DURATION = const(0x33)
_CLICK_CFG = const(0x38)  # - - ZD ZS YD YS XD XS
_CLICK_SRC = const(0x39)  # - IA DClick SClick Sign Z Y X
_CLICK_THS = const(0x3A)  # LIR_Click Ths6..0
_TIME_LIMIT = const(0x3B)
_TIME_LATENCY = const(0x3C)
_TIME_WINDOW = const(0x3D)

_AUTO_INC = const(0x80)  # sub-address MSB: auto-increment (datasheet 6.1.1)
_XYZ_EN = const(0x07)
_LPEN = const(0x08)
_BDU = const(0x80)
_HR = const(0x08)
_FIFO_EN = const(0x40)
_FM_STREAM = const(0x80)
_I1_CLICK = const(0x80)
_I1_WTM = const(0x04)
_I1_IA1 = const(0x40)
_HP_IA1 = const(0x01)
_LIR_INT1 = const(0x08)
_HIGH_XYZ = const(0x2A)  # ZHIE YHIE XHIE, OR-combined (AOI = 0, 6D = 0)
_I2_CLICK = const(0x80)
_HPCLICK = const(0x04)
_LIR_CLICK = const(0x80)
_WTM = const(0x80)
_OVRN_FIFO = const(0x40)
_IA = const(0x40)

NORMAL = const(0)  # 10 bit
LOW_POWER = const(1)  # 8 bit
HIGH_RES = const(2)  # 12 bit (output registers only; the FIFO keeps 10)

# mg per digit for FS = 2, 4, 8, 16 g (datasheet table 4) and the right shift
# that turns the left-justified 16-bit word into digits, per mode.
_SENS = ((4, 8, 16, 48), (16, 32, 64, 192), (1, 2, 4, 12))
_SHIFT = (6, 8, 4)
# CLICK_THS / INTx_THS LSB in mg for FS = 2, 4, 8, 16 g (datasheet 8.22).
_THS_MG = (16, 32, 62, 186)
_FS = (2, 4, 8, 16)


class LIS3DH(accel.FifoAccel):
    FIFO_REG = _OUT_X_L | _AUTO_INC  # with the FIFO on, bursts wrap 0x2D -> 0x28
    FRAME = 6
    HAS_CLICK = True
    HAS_WATERMARK_IRQ = True
    HAS_MOTION_WAKE = True
    FULL_FRAMES = 32  # OVRN_FIFO is set with 32 unread; the next ODR tick drops the oldest

    def __init__(self, i2c, address=0x18, mode=NORMAL):
        accel.check_id(i2c, address, _WHO_AM_I, _LIS3DH_ID, "LIS3DH")
        accel.FifoAccel.__init__(self, i2c, address)
        self.mode = mode
        self._fs = 0
        self._odr_code = 0
        self._ctrl2 = 0
        self._ctrl3 = 0
        self._ctrl5 = 0
        self._ctrl6 = 0  # INT_POLARITY = 0: both INT pins active high
        self._click = None  # (threshold_mg, limit_ms, latency_ms, window_ms, cfg, pin)
        self._motion = None  # (threshold_mg, duration_ms) of the wake-on-motion
        self._pending_click = 0
        for reg in (_CTRL_REG2, _CTRL_REG3, _CTRL_REG5, _CTRL_REG6, _CLICK_CFG, _INT1_CFG, _FIFO_CTRL_REG):
            self._write8(reg, 0)
        self.set_range(2)
        self.set_odr(50)

    # --- configuration --------------------------------------------------------
    def set_odr(self, hz):
        """The supported rate nearest to hz (rates.sensor_rate, which the
        board layer and check-board use too); returns it (also in .odr)."""
        lp = self.mode == LOW_POWER
        self.odr = rates.sensor_rate("lis3dh", hz, lp)
        i = (rates.LIS3DH_ODRS_LP if lp else rates.LIS3DH_ODRS_NORMAL).index(self.odr)
        # CTRL_REG1 ODR code (datasheet table 31): the tables' order, except
        # that normal mode's 1344 Hz is code 9 (code 8 is low-power only).
        self._odr_code = i + 1 if lp or i < 7 else 9
        self._write_ctrl1()
        self._apply_click()
        self._apply_motion()
        return self.odr

    def set_range(self, g):
        if g not in _FS:
            raise ValueError("LIS3DH range must be 2, 4, 8 or 16 g")
        self._fs = _FS.index(g)
        self.range_g = g
        self._write_ctrl4()
        self._apply_click()
        self._apply_motion()
        return g

    def set_mode(self, mode):
        self.mode = mode
        self._write_ctrl4()
        self.set_odr(self.odr)

    def _write_ctrl1(self):
        lp = _LPEN if self.mode == LOW_POWER else 0
        self._write8(_CTRL_REG1, (self._odr_code << 4) | lp | _XYZ_EN)

    def _write_ctrl4(self):
        hr = _HR if self.mode == HIGH_RES else 0
        self._write8(_CTRL_REG4, _BDU | (self._fs << 4) | hr)

    def power_down(self):
        """ODR = 0: power-down mode (0.5 uA typ.); set_odr() wakes it."""
        self._write8(_CTRL_REG1, _XYZ_EN)

    # --- FIFO -----------------------------------------------------------------
    def enable_fifo(self, watermark=16):
        """Stream mode; INT1 rises once `watermark` samples (1..32) are stored.
        WTM is set when the FIFO holds more than FTH samples (AN3308: "up to
        FTH+1" samples at its rise), hence FTH = watermark - 1."""
        wm = max(1, min(32, watermark))
        self.watermark = wm
        self._ctrl5 |= _FIFO_EN
        self._write8(_CTRL_REG5, self._ctrl5)
        self._write8(_FIFO_CTRL_REG, 0)  # bypass mode empties the FIFO
        self._write8(_FIFO_CTRL_REG, _FM_STREAM | (wm - 1))
        self._ctrl3 |= _I1_WTM
        self._write8(_CTRL_REG3, self._ctrl3)
        return wm

    def watermark_irq(self, on):
        """Route the FIFO watermark to INT1 or not. Off, the FIFO goes on
        filling in stream mode (the oldest samples drop) and INT1 stays low:
        the CPU sleeps until something else wakes it (docs/power.md)."""
        if on:
            self._ctrl3 |= _I1_WTM
        else:
            self._ctrl3 &= ~_I1_WTM
        self._write8(_CTRL_REG3, self._ctrl3)

    def disable_fifo(self):
        self._ctrl3 &= ~_I1_WTM
        self._write8(_CTRL_REG3, self._ctrl3)
        self._write8(_FIFO_CTRL_REG, 0)
        self._ctrl5 &= ~_FIFO_EN
        self._write8(_CTRL_REG5, self._ctrl5)

    def _level(self):
        src = self._read8(_FIFO_SRC_REG)
        if src & _OVRN_FIFO:
            # FSS has 5 bits: a full FIFO (32 samples) shows OVRN_FIFO; in
            # stream mode its oldest sample goes at the next ODR tick.
            self.overruns += 1
            return 32
        return src & 0x1F

    def _convert(self, buf, frames, out, pos):
        accel.le16_to_mg(buf, frames * 3, out, pos, _SHIFT[self.mode], _SENS[self.mode][self._fs])

    # --- interrupts -------------------------------------------------------------
    def int1_source(self):
        """accel.WATERMARK / OVERRUN / CLICK flags of what is pending. A click
        routed to INT1 is remembered for read_click()."""
        flags = 0
        src = self._read8(_FIFO_SRC_REG)
        if src & _WTM:
            flags |= accel.WATERMARK
        if src & _OVRN_FIFO:
            flags |= accel.OVERRUN
        if self._ctrl3 & _I1_CLICK:
            c = self._read8(_CLICK_SRC)
            if c & _IA:
                self._pending_click = c
        if self._pending_click:
            flags |= accel.CLICK
        return flags

    def clear_interrupt(self):
        """WTM clears itself as the FIFO drains; a latched click clears when
        CLICK_SRC is read."""
        self._pending_click = 0
        self._read8(_CLICK_SRC)

    # --- click engine -----------------------------------------------------------
    def enable_click(self, threshold_mg, time_limit_ms, latency_ms, window_ms,
                     single=True, double=False, axes="xyz", pin=1):
        """Arm the click engine. threshold in mg (high-passed, per axis), times
        in ms; converted to register units for the current ODR and range, and
        re-converted when either changes. pin: 1 (shared with the FIFO
        watermark: not latched) or 2 (latched until read_click())."""
        cfg = 0
        for a in axes:
            bit = "xyz".index(a) * 2
            if single:
                cfg |= 1 << bit
            if double:
                cfg |= 2 << bit
        self._click = (threshold_mg, time_limit_ms, latency_ms, window_ms, cfg, pin)
        self._ctrl2 |= _HPCLICK
        self._write8(_CTRL_REG2, self._ctrl2)
        self._read8(_REFERENCE)  # resets the high-pass filter (HPM normal mode)
        if pin == 2:
            self._ctrl6 |= _I2_CLICK
            self._ctrl3 &= ~_I1_CLICK
        else:
            self._ctrl3 |= _I1_CLICK
            self._ctrl6 &= ~_I2_CLICK
        self._write8(_CTRL_REG6, self._ctrl6)
        self._write8(_CTRL_REG3, self._ctrl3)
        self._apply_click()
        return self.click_registers()

    def disable_click(self):
        self._click = None
        self._write8(_CLICK_CFG, 0)
        self._ctrl3 &= ~_I1_CLICK
        self._ctrl6 &= ~_I2_CLICK
        self._write8(_CTRL_REG3, self._ctrl3)
        self._write8(_CTRL_REG6, self._ctrl6)

    def click_registers(self):
        """(CLICK_THS, TIME_LIMIT, TIME_LATENCY, TIME_WINDOW) for the armed click."""
        if self._click is None:
            return None
        mg, lim, lat, win, _, pin = self._click
        ths = max(1, min(127, (mg + _THS_MG[self._fs] // 2) // _THS_MG[self._fs]))
        if pin == 2:
            ths |= _LIR_CLICK
        return (ths, _ticks(lim, self.odr, 127), _ticks(lat, self.odr, 255), _ticks(win, self.odr, 255))

    def _apply_click(self):
        click = self._click
        regs = self.click_registers()
        if click is None or regs is None:
            return
        self._write8(_CLICK_THS, regs[0])
        self._write8(_TIME_LIMIT, regs[1])
        self._write8(_TIME_LATENCY, regs[2])
        self._write8(_TIME_WINDOW, regs[3])
        self._write8(_CLICK_CFG, click[4])

    # --- wake on motion (inertial interrupt generator 1) --------------------------
    def enable_motion(self, threshold_mg, duration_ms):
        """Set up IA1 as a wake-on-motion: any axis of the high-passed data
        (the click engine's filter) beyond threshold_mg for longer than
        duration_ms, latched on INT1 until read_motion(). Armed and routed
        only by motion_irq(True) (the FIFO watermark shares INT1). Returns
        (INT1_THS, INT1_DURATION) for the current range and rate."""
        self._motion = (threshold_mg, duration_ms)
        self._ctrl2 |= _HP_IA1
        self._write8(_CTRL_REG2, self._ctrl2)
        self._ctrl5 |= _LIR_INT1
        self._write8(_CTRL_REG5, self._ctrl5)
        return self._apply_motion()

    def motion_registers(self):
        """(INT1_THS, INT1_DURATION) of the wake-on-motion, or None."""
        if self._motion is None:
            return None
        mg, ms = self._motion
        return (max(1, min(127, (mg + _THS_MG[self._fs] // 2) // _THS_MG[self._fs])), _ticks(ms, self.odr, 127))

    def _apply_motion(self):
        regs = self.motion_registers()
        if regs is not None:
            self._write8(_INT1_THS, regs[0])
            self._write8(_INT1_DURATION, regs[1])
        return regs

    def motion_irq(self, on):
        """Arm IA1 and give it INT1 in the watermark's place (on), or disarm
        it and give INT1 back to the watermark (watermark_irq). Arming
        clears an old latched event first, so only motion from now on
        raises INT1."""
        if on:
            self._write8(_INT1_CFG, _HIGH_XYZ)
            self._read8(_INT1_SRC)
            self._ctrl3 = (self._ctrl3 & ~_I1_WTM) | _I1_IA1
        else:
            self._ctrl3 = (self._ctrl3 & ~_I1_IA1) | _I1_WTM
        self._write8(_CTRL_REG3, self._ctrl3)
        if not on:
            self._write8(_INT1_CFG, 0)

    def read_motion(self):
        """Whether IA1 saw motion since it was armed or last read; reading
        INT1_SRC releases the latched INT1."""
        return bool(self._read8(_INT1_SRC) & _IA)

    def read_click(self):
        """Reads CLICK_SRC (which clears it). None, or (axis, sign, double):
        axis 'x'/'y'/'z', sign +1/-1, double True for a double click."""
        fresh = self._read8(_CLICK_SRC)
        c = self._pending_click or fresh
        self._pending_click = 0
        if not c & _IA:
            return None
        axis = "x" if c & 1 else ("y" if c & 2 else "z")
        return (axis, -1 if c & 0x08 else 1, bool(c & 0x20))


def _ticks(ms, odr, top):
    """ms -> register units of 1/ODR, rounded, clamped to 0..top."""
    return max(0, min(top, (ms * odr + 500) // 1000))

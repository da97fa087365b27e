# InvenSense MPU-6050 driver (Register Map RM-MPU-6000A-00 rev 4.2, Product
# Specification PS-MPU-6000A-00 rev 3.4), accelerometer only: gyroscopes in
# standby, accelerometer x,y,z into the 1024-byte FIFO, read in bursts from
# FIFO_R_W. Register names are the register map's.
#
# What the chip cannot do, said plainly:
# - No FIFO watermark interrupt. Its INT sources are DATA_RDY (one wake-up per
#   sample, which defeats the FIFO) and FIFO_OFLOW (data already lost). So the
#   app drains the FIFO on a timer every poll_ms(); the INT line is wired to
#   FIFO_OFLOW as an alarm that the app fell behind.
# - 1024 is not a multiple of the 6-byte frame: after an overflow the FIFO no
#   longer starts on a frame boundary, so the driver resets it (RM 4.31: "the
#   oldest data will be lost") and counts the overrun.
# - Tap and step detection exist only inside the DMP firmware blob; the app
#   uses the software tap detector instead.
# Current (PS 6.3): accelerometer only 500 uA; cycle mode (<= 40 Hz, see
# set_odr) 10/20/70/140 uA at 1.25/5/20/40 Hz; sleep 5 uA.
from micropython import const
from cloudpin import accel
# The rate arithmetic is shared with the board layer and check-board.
from cloudpin.rates import mpu_divider as divider, mpu_rate as rate

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)  # - - EXT_SYNC_SET[2:0] DLPF_CFG[2:0]
_ACCEL_CONFIG = const(0x1C)  # XA_ST YA_ST ZA_ST AFS_SEL[1:0] - - -
_FIFO_EN = const(0x23)  # TEMP_FIFO_EN XG YG ZG ACCEL SLV2 SLV1 SLV0
_INT_PIN_CFG = const(0x37)  # INT_LEVEL INT_OPEN LATCH_INT_EN INT_RD_CLEAR ...
_INT_ENABLE = const(0x38)  # - - - FIFO_OFLOW_EN I2C_MST_INT_EN - - DATA_RDY_EN
_INT_STATUS = const(0x3A)  # - - - FIFO_OFLOW_INT I2C_MST_INT - - DATA_RDY_INT
_USER_CTRL = const(0x6A)  # - FIFO_EN I2C_MST_EN I2C_IF_DIS - FIFO_RESET ...
_PWR_MGMT_1 = const(0x6B)  # DEVICE_RESET SLEEP CYCLE - TEMP_DIS CLKSEL[2:0]
_PWR_MGMT_2 = const(0x6C)  # LP_WAKE_CTRL[1:0] STBY_XA YA ZA XG YG ZG
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)

_ACCEL_FIFO_EN = const(0x08)
_LATCH_INT_EN = const(0x20)
_FIFO_OFLOW = const(0x10)  # same bit in INT_ENABLE and INT_STATUS
_DATA_RDY = const(0x01)
_USER_FIFO_EN = const(0x40)
_FIFO_RESET = const(0x04)
_SLEEP = const(0x40)
_CYCLE = const(0x20)
_TEMP_DIS = const(0x08)
_STBY_G = const(0x07)  # STBY_XG | STBY_YG | STBY_ZG
_FIFO_SIZE = const(1024)

# Accelerometer bandwidth (Hz) of DLPF_CFG 1..6 (RM 4.3); 1 kHz sample clock.
_DLPF_BW = (184, 94, 44, 21, 10, 5)
# Cycle mode wake-up rates (LP_WAKE_CTRL 0..3, RM 4.29).
_WAKE_HZ = (1.25, 5, 20, 40)
_FS = (2, 4, 8, 16)


def low_pass(bandwidths, odr, scale=1):
    """Filter setting 1..len(bandwidths) with the widest band below half the
    output rate (anti-aliasing); `bandwidths` are Hz * scale, widest first."""
    for i in range(len(bandwidths)):
        if bandwidths[i] * 2 <= odr * scale:
            return i + 1
    return len(bandwidths)


class MPU6050(accel.FifoAccel):
    NAME = "MPU6050"
    ID = 0x68
    FIFO_REG = _FIFO_R_W  # the register pointer stays on FIFO_R_W in a burst
    FRAME = 6  # ACCEL_XOUT_H..ACCEL_ZOUT_L, big-endian
    HAS_CLICK = False
    HAS_WATERMARK_IRQ = False  # see the top of this file
    _CLKSEL = 0  # internal 8 MHz oscillator: the gyros stay off

    def __init__(self, i2c, address=0x68):
        accel.check_id(i2c, address, _WHO_AM_I, self.ID, self.NAME)
        accel.FifoAccel.__init__(self, i2c, address)
        self.cycle = False
        self._fs_mg = 2000
        self._int_enable = 0
        self._write8(_PWR_MGMT_1, self._CLKSEL)  # wake from the power-on sleep
        self._write8(_INT_ENABLE, 0)
        self._write8(_FIFO_EN, 0)
        self._write8(_USER_CTRL, 0)
        # Active high, push-pull, held until INT_STATUS is read: the ESP32 sees
        # one rising edge per event and the driver clears it on every drain.
        self._write8(_INT_PIN_CFG, _LATCH_INT_EN)
        self.set_range(2)
        self.set_odr(50)

    # --- configuration ------------------------------------------------------------
    def set_odr(self, hz, cycle=False):
        """Accelerometer-only rate 1000/(1+SMPLRT_DIV) Hz nearest to hz, with the
        low-pass below half of it; returns the rate in use (.odr). cycle=True
        selects cycle mode (wake, sample, sleep) at the smallest of 1.25, 5,
        20, 40 Hz >= hz: 70-140 uA instead of 500 uA, but the register map does
        not say that the FIFO is filled in cycle mode: unverified on hardware."""
        if cycle:
            code = 0
            while code < 3 and _WAKE_HZ[code] < hz:
                code += 1
            if _WAKE_HZ[code] < hz:
                raise ValueError("MPU6050 cycle mode runs at 40 Hz at most")
            self._write8(_PWR_MGMT_1, _CYCLE | _TEMP_DIS | self._CLKSEL)
            self._write8(_PWR_MGMT_2, (code << 6) | _STBY_G)
            self.cycle = True
            self.odr = _WAKE_HZ[code]
            return self.odr
        div = divider(hz)
        self.odr = rate(div)
        self._write8(_CONFIG, low_pass(_DLPF_BW, self.odr))
        self._write8(_SMPLRT_DIV, div)
        self._write8(_PWR_MGMT_1, self._CLKSEL)
        self._write8(_PWR_MGMT_2, _STBY_G)
        self.cycle = False
        return self.odr

    def set_range(self, g):
        if g not in _FS:
            raise ValueError("%s range must be 2, 4, 8 or 16 g" % self.NAME)
        self._write8(_ACCEL_CONFIG, _FS.index(g) << 3)
        self.range_g = g
        self._fs_mg = g * 1000
        return g

    def power_down(self):
        """SLEEP: about 5 uA; set_odr() wakes it."""
        self._write8(_PWR_MGMT_1, _SLEEP | self._CLKSEL)

    # --- FIFO -----------------------------------------------------------------------
    def enable_fifo(self, watermark=25):
        """Accelerometer frames into the FIFO; `watermark` sets poll_ms()."""
        self.watermark = max(1, min(_FIFO_SIZE // self.FRAME - 1, watermark))
        self._write8(_FIFO_EN, _ACCEL_FIFO_EN)
        self._reset_fifo()
        return self.watermark

    def disable_fifo(self):
        self._write8(_USER_CTRL, 0)
        self._write8(_FIFO_EN, 0)

    def _reset_fifo(self):
        # FIFO_RESET acts while FIFO_EN is 0, then clears itself (RM 4.27).
        self._write8(_USER_CTRL, _FIFO_RESET)
        self._write8(_USER_CTRL, _USER_FIFO_EN)

    def _level(self):
        flags = self._status()
        self.i2c.readfrom_mem_into(self.address, _FIFO_COUNTH, self._b2)
        count = ((self._b2[0] & 0x1F) << 8) | self._b2[1]
        # More bytes than whole frames fit means part of a frame was dropped.
        if flags & accel.OVERRUN or count > _FIFO_SIZE - _FIFO_SIZE % self.FRAME:
            self.overruns += 1
            if _FIFO_SIZE % self.FRAME:
                self._reset_fifo()
                return 0
        return count // self.FRAME

    def _convert(self, buf, frames, out, pos):
        accel.be16_to_mg(buf, frames, self.FRAME, out, pos, self._fs_mg)

    # --- interrupts -------------------------------------------------------------
    def _status(self):
        """Read (and so clear) INT_STATUS; accel flags."""
        st = self._read8(_INT_STATUS)
        flags = 0
        if st & _FIFO_OFLOW:
            flags |= accel.OVERRUN
        if st & _DATA_RDY:
            flags |= accel.DATA_READY
        return flags

    def int1_source(self):
        return self._status()

    def clear_interrupt(self):
        self._status()

    def attach_irq(self, pin, handler):
        """INT on FIFO overflow (MPU6050: the app is late, see the top of this
        file); the MPU6886 also raises it at the watermark (FIFO_WM_TH)."""
        self._int_enable |= _FIFO_OFLOW
        self._write8(_INT_ENABLE, self._int_enable)
        return accel.FifoAccel.attach_irq(self, pin, handler)

# TDK InvenSense MPU-6886 driver (the M5StickC Plus IMU; datasheet DS-000193
# rev 1.1), accelerometer only. The register map is the MPU-6050's plus an
# accelerometer filter register and a FIFO watermark, so this is the MPU6050
# driver with those differences. Register names are the datasheet's.
#
# - Gyroscopes in standby (PWR_MGMT_2), accelerometer in low-noise mode.
# - FIFO_EN.ACCEL_FIFO_EN writes accelerometer AND temperature: 8-byte frames
#   (ACCEL_XOUT_H..ACCEL_ZOUT_L, TEMP_OUT_H, TEMP_OUT_L); 1024 = 128 frames,
#   so an overflow (oldest data replaced, CONFIG.FIFO_MODE = 0) keeps frames
#   aligned.
# - Watermark: FIFO_WM_TH (10 bits, in bytes) > 0 enables the watermark
#   interrupt; its status is FIFO_WM_INT_STATUS.FIFO_WM_INT, cleared on read
#   (as InvenSense's own Linux driver uses it for the sibling ICM-20602).
# - No tap engine and no DMP: taps come from the software detector.
# - Wake-on-motion (DS-000193 "Wake-on-Motion Interrupt"; ACCEL_WOM_X/Y/Z_THR,
#   ACCEL_INTEL_CTRL, INT_ENABLE/INT_STATUS bits 7:5): with ACCEL_INTEL_EN and
#   ACCEL_INTEL_MODE the chip compares each output sample of each axis with
#   the one before it ("a threshold test on accel value comparing actual
#   sample with previous one", TDK's Linux driver inv_mpu6050), 4 mg a step,
#   and raises INT when any axis moved more: a rate of change, so the same
#   threshold is 4x as sensitive at 125 Hz as at 500 Hz. It runs on the
#   samples the FIFO gets, in low-noise mode: the FIFO goes on filling while
#   the CPU sleeps. It shares the one INT pin with the watermark, so the doze
#   (motion.py) switches INT between the two (motion_irq).
from micropython import const
from cloudpin import accel
from cloudpin.mpu6050 import MPU6050, divider, low_pass, rate

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)  # - FIFO_MODE EXT_SYNC_SET[2:0] DLPF_CFG[2:0]
_ACCEL_CONFIG2 = const(0x1D)  # - - DEC2_CFG[1:0] ACCEL_FCHOICE_B A_DLPF_CFG[2:0]
_ACCEL_WOM_X_THR = const(0x20)  # Y, Z at 0x21, 0x22: 4 mg a step
_INT_ENABLE = const(0x38)  # WOM_X/Y/Z_INT_EN - FIFO_OFLOW_EN ...
_INT_STATUS = const(0x3A)  # WOM_X/Y/Z_INT - FIFO_OFLOW_INT ...
_ACCEL_INTEL_CTRL = const(0x69)  # ACCEL_INTEL_EN ACCEL_INTEL_MODE - - - - OUTPUT_LIMIT WOM_TH_MODE
_FIFO_WM_INT_STATUS = const(0x39)  # - FIFO_WM_INT - - - - - -
_FIFO_WM_TH1 = const(0x60)  # FIFO_WM_TH[9:8]
_FIFO_WM_TH2 = const(0x61)  # FIFO_WM_TH[7:0]
_PWR_MGMT_1 = const(0x6B)  # DEVICE_RESET SLEEP CYCLE GYRO_STANDBY TEMP_DIS CLKSEL
_PWR_MGMT_2 = const(0x6C)  # - - STBY_XA STBY_YA STBY_ZA STBY_XG STBY_YG STBY_ZG

_FIFO_WM_INT = const(0x40)
_FIFO_OFLOW_INT = const(0x10)
_DATA_RDY_INT = const(0x01)
_WOM_INT = const(0xE0)  # all three axes, in INT_ENABLE and INT_STATUS
# ACCEL_INTEL_EN | ACCEL_INTEL_MODE (compare with the previous sample);
# WOM_TH_MODE 0: any enabled axis (OR)
_INTEL_ON = const(0xC0)
_FIFO_OFLOW_EN = const(0x10)
_STBY_G = const(0x07)
_DLPF_CFG_1KHZ = const(1)  # SMPLRT_DIV applies only with 0 < DLPF_CFG < 7

# Accelerometer 3-dB bandwidth x10 of A_DLPF_CFG 1..6 (datasheet table 17).
_A_DLPF_BW10 = (2181, 990, 448, 212, 102, 51)


class MPU6886(MPU6050):
    NAME = "MPU6886"
    ID = 0x19
    FRAME = 8
    HAS_WATERMARK_IRQ = True
    HAS_MOTION_WAKE = True
    _CLKSEL = 1  # auto: internal oscillator while the gyros are off

    def set_odr(self, hz, cycle=False):
        """Rate 1000/(1+SMPLRT_DIV) Hz nearest to hz, accelerometer low-pass
        below half of it; returns the rate in use (.odr)."""
        if cycle:
            raise ValueError("MPU6886: accelerometer low-power cycling is not supported by this driver")
        div = divider(hz)
        self.odr = rate(div)
        self._write8(_CONFIG, _DLPF_CFG_1KHZ)
        self._write8(_SMPLRT_DIV, div)
        self._write8(_ACCEL_CONFIG2, low_pass(_A_DLPF_BW10, self.odr, 10))
        self._write8(_PWR_MGMT_1, self._CLKSEL)
        self._write8(_PWR_MGMT_2, _STBY_G)
        self.cycle = False
        return self.odr

    def enable_fifo(self, watermark=25):
        """Accelerometer frames into the FIFO; INT rises at `watermark` frames.
        (No disable_fifo of its own: with the FIFO off nothing reaches the
        watermark.)"""
        wm = MPU6050.enable_fifo(self, watermark)
        nbytes = wm * self.FRAME
        self._write8(_FIFO_WM_TH1, (nbytes >> 8) & 0x03)
        self._write8(_FIFO_WM_TH2, nbytes & 0xFF)
        return wm

    def _status(self):
        # FIFO_WM_INT_STATUS and INT_STATUS are adjacent: one 2-byte burst.
        self.i2c.readfrom_mem_into(self.address, _FIFO_WM_INT_STATUS, self._b2)
        wm, st = self._b2[0], self._b2[1]
        flags = accel.WATERMARK if wm & _FIFO_WM_INT else 0
        if st & _FIFO_OFLOW_INT:
            flags |= accel.OVERRUN
        if st & _DATA_RDY_INT:
            flags |= accel.DATA_READY
        return flags

    # --- wake on motion -------------------------------------------------------------
    def enable_motion(self, threshold_mg, duration_ms=0):
        """Set the wake-on-motion threshold: an axis whose sample differs
        from the one before by more than threshold_mg (rounded to the 4 mg
        step, 4..1020 mg). The engine has no duration: duration_ms is
        ignored (the doze passes 0). Armed and given INT only by
        motion_irq(True). Returns the ACCEL_WOM_X/Y/Z_THR value."""
        ths = max(1, min(255, (threshold_mg + 2) // 4))
        for reg in range(_ACCEL_WOM_X_THR, _ACCEL_WOM_X_THR + 3):
            self._write8(reg, ths)
        return ths

    def motion_irq(self, on):
        """Arm the engine and give it INT in the watermark's place (on): the
        FIFO then runs on, overwriting its oldest frames (CONFIG.FIFO_MODE
        0: the last 128 kept, 256 ms at 500 Hz), its overflow no alarm. Off:
        the engine stops and INT is the watermark's and the overflow's
        again. Arming reads INT_STATUS first, so only motion from now on
        raises INT."""
        nbytes = 0 if on else self.watermark * self.FRAME
        self._write8(_FIFO_WM_TH1, (nbytes >> 8) & 0x03)
        self._write8(_FIFO_WM_TH2, nbytes & 0xFF)
        if on:
            self._read8(_INT_STATUS)
        self._write8(_ACCEL_INTEL_CTRL, _INTEL_ON if on else 0)
        self._write8(_INT_ENABLE, _WOM_INT if on else self._int_enable)

    def read_motion(self):
        """Whether the engine fired since it was armed or last read. Reading
        INT_STATUS releases INT and clears its other flags too: a FIFO
        overflow flagged there (a doze's, by design) is counted here, as
        _level() would have."""
        st = self._read8(_INT_STATUS)
        if st & _FIFO_OFLOW_INT:
            self.overruns += 1
        return bool(st & _WOM_INT)

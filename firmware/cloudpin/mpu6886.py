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
from micropython import const
from cloudpin import accel
from cloudpin.mpu6050 import MPU6050, divider, low_pass, rate

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)  # - FIFO_MODE EXT_SYNC_SET[2:0] DLPF_CFG[2:0]
_ACCEL_CONFIG2 = const(0x1D)  # - - DEC2_CFG[1:0] ACCEL_FCHOICE_B A_DLPF_CFG[2:0]
_INT_ENABLE = const(0x38)
_FIFO_WM_INT_STATUS = const(0x39)  # - FIFO_WM_INT - - - - - -
_FIFO_WM_TH1 = const(0x60)  # FIFO_WM_TH[9:8]
_FIFO_WM_TH2 = const(0x61)  # FIFO_WM_TH[7:0]
_PWR_MGMT_1 = const(0x6B)  # DEVICE_RESET SLEEP CYCLE GYRO_STANDBY TEMP_DIS CLKSEL
_PWR_MGMT_2 = const(0x6C)  # - - STBY_XA STBY_YA STBY_ZA STBY_XG STBY_YG STBY_ZG

_FIFO_WM_INT = const(0x40)
_FIFO_OFLOW_INT = const(0x10)
_DATA_RDY_INT = const(0x01)
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
        """Accelerometer frames into the FIFO; INT rises at `watermark` frames."""
        wm = MPU6050.enable_fifo(self, watermark)
        nbytes = wm * self.FRAME
        self._write8(_FIFO_WM_TH1, (nbytes >> 8) & 0x03)
        self._write8(_FIFO_WM_TH2, nbytes & 0xFF)
        return wm

    def disable_fifo(self):
        self._write8(_FIFO_WM_TH1, 0)
        self._write8(_FIFO_WM_TH2, 0)
        MPU6050.disable_fifo(self)

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

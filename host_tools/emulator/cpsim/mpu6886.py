# Register model of the TDK InvenSense MPU-6886 (datasheet DS-000193 rev 1.1):
# the MPU-6050 model plus what differs for the drivers: WHO_AM_I 0x19,
# ACCEL_CONFIG2, the 1 kHz sample clock only with 0 < DLPF_CFG < 7, FIFO
# frames with the temperature always beside the accelerometer, CONFIG
# FIFO_MODE (stop when full), and the FIFO watermark: FIFO_WM_TH1/2 (bytes;
# nonzero enables the interrupt), FIFO_WM_INT_STATUS.FIFO_WM_INT (cleared on
# read). See cpsim/mpu6050.py for timing and the INT pin.
from cpsim import mpu6050
from cpsim.mpu6050 import CONFIG, GYRO_CONFIG, SMPLRT_DIV, FIFO_EN, ACCEL_XOUT_H, TEMP_OUT_H, GYRO_XOUT_H

ACCEL_CONFIG2 = 0x1D
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

    def _reset(self):
        mpu6050.MPU6050._reset(self)
        self.wm_status = False

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
        return mpu6050.MPU6050._int_sources(self) | wm

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

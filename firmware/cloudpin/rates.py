# The rates each accelerometer can run at, so the drivers, the board layer
# and `cloudpin check-board` (through cloudpin.boardspec, which re-exports
# them) agree on the rate the app really gets. Apart from boardspec, which
# only the boot needs (the app drops it once the board is built: heap), as
# the drivers need these all day. Pure logic: no hardware imports.

# LIS3DH CTRL_REG1 ODR codes 1..7 (datasheet table 31); code 9 is 1344 Hz in
# normal mode and 5376 Hz in low-power mode, code 8 1600 Hz (low-power only).
LIS3DH_ODRS = (1, 10, 25, 50, 100, 200, 400)
LIS3DH_ODRS_NORMAL = LIS3DH_ODRS + (1344,)
LIS3DH_ODRS_LP = LIS3DH_ODRS + (1600, 5376)
# The app's pipeline: the step counter takes 5..1000 Hz (cloudpin/steps.py).
MOTION_MAX_HZ = 1000


def mpu_divider(hz):
    """MPU-6050/6886 SMPLRT_DIV giving the rate nearest to hz from the 1 kHz
    sample clock."""
    return max(0, min(255, int(1000 / hz + 0.5) - 1))


def mpu_rate(div):
    """Output rate of the 1 kHz clock divided by 1 + div: an int when exact."""
    return 1000 // (div + 1) if 1000 % (div + 1) == 0 else 1000 / (div + 1)


def nearest(rates, hz):
    """The rate in `rates` (ascending) nearest to hz; the lower one on a tie."""
    best = rates[0]
    for r in rates:
        if abs(r - hz) < abs(best - hz):
            best = r
    return best


def sensor_rate(kind, hz, low_power=False):
    """The rate an accelerometer of type `kind` really runs at when asked for
    hz: what its driver's set_odr() programs and returns."""
    if kind == "lis3dh":
        return nearest(LIS3DH_ODRS_LP if low_power else LIS3DH_ODRS_NORMAL, hz)
    return mpu_rate(mpu_divider(hz))


def requested_rate(accel):
    """The rate the app asks of the sensor: the tap rate where the board has
    one (a tap lasts a few ms), else the step rate."""
    return accel.get("tap_odr") or accel["odr"]


def motion_rate(accel):
    """The rate the app runs the sensor of a validated `accel` section at."""
    return sensor_rate(accel["type"], requested_rate(accel))

# One path from a board file (boards/*.json) to emulated parts on a Device:
# the virtual badge (default_device.py) and in-process simulations fit every
# board the same way. Models load only when a board has the part, so a VM
# pays heap only for what its board carries (cpsim/resident.py).
#
#   i2c      the bus on its SCL/SDA pins
#   accel    LIS3DH, MPU6886 or MPU6050 model, INT lines on the board's pins,
#            feeling `source` (an acceleration source: cpsim/recording.py),
#            or replaying `recording` (t_ms,x,y,z CSV, looped), or lying still
#   battery  adc: a LiPo at 3.9 V behind the board's divider on the ADC pin;
#            axp192: the AXP192's battery voltage. With the board's
#            battery.internal_mohm the cell sags under the pin's load at
#            each read (Cell); without, it reads 3.9 V.
#   power    AXP192 at its address (battery ADC, LDO2 backlight, LDO3 logic)
#   led      its pins accounted as "led" on/off (cpsim.gpio.account_led)
#   display  ST7789 on its SPI host, selected by its CS pin, D/C on its pin;
#            with display_path its memory lives in that file (no VM heap)
# Fields it does not know are left alone: the validator (boardspec) judges.
from cpsim import gpio

BATTERY_MV = 3900


def fit(dev, board, recording=None, display_path=None, source=None, curve=None):
    """Put the hardware `board` describes on `dev`; returns {part: model}.
    curve: the cell's discharge curve for a board file that gives none
    (cloudpin.battery.CURVE_MV, which the caller imports: the emulator keeps
    no copy); with one, the cell's charge can be set (Cell.left), without
    one it rests at BATTERY_MV."""
    parts = {}
    i2c = board.get("i2c") or {}
    bus = i2c.get("bus", 0)
    if "scl" in i2c and "sda" in i2c:
        dev.wire_i2c(bus, i2c["scl"], i2c["sda"])
    accel = board.get("accel") or {}
    if accel.get("type") in ("lis3dh", "mpu6886", "mpu6050"):
        parts["accel"] = dev.attach_i2c(bus, _accel(accel, recording, source, dev))
    power = board.get("power") or {}
    if power.get("type") == "axp192":
        from cpsim.axp192 import AXP192

        parts["power"] = dev.attach_i2c(bus, AXP192(BATTERY_MV, address=power.get("address", 0x34)))
    bat = board.get("battery") or {}
    cell = None
    if bat.get("internal_mohm"):
        curve = tuple(bat["curve_mv"]) if bat.get("curve_mv") else curve
        cell = parts["cell"] = Cell(dev, bat, _left_at(BATTERY_MV, curve) if curve else None, curve)
    if bat.get("type", "adc") == "adc" and "adc_pin" in bat:
        # The firmware's default too: no divider field, no divider.
        div = bat.get("divider") or 1.0
        dev.adc_values[bat["adc_pin"]] = int(BATTERY_MV * 1000 / div) if cell is None else \
            (lambda t_ms: int(cell.mv() * 1000 / div))
    elif cell is not None and "power" in parts:
        parts["power"].battery_mv = lambda t_ms: cell.mv()
    led = board.get("led") or {}
    if led.get("pins"):
        dev.led_pins = {p: bool(led.get("active_low")) for p in led["pins"]}
        gpio.account_led(dev)
    disp = board.get("display") or {}
    if disp.get("type") == "st7789":
        parts["display"] = _display(dev, disp, display_path)
        if "power" in parts:
            # On the M5StickC Plus the AXP192's LDO2 feeds the backlight.
            axp, lcd = parts["power"], parts["display"]
            axp.on_output = lambda a: lcd.set_backlight(a.backlight)
            lcd.set_backlight(axp.backlight)
    return parts


class Cell:
    """The board's LiPo as the pin's ADC sees it: its terminal voltage is the
    open-circuit voltage at the charge left less I_now x R_internal, where
    the curve (the board's battery.curve_mv, else the one fit() was given)
    is the terminal voltage at the load it was measured at (curve_ma):
    mv = curve(left) - (I_now - curve_ma) x R; a cell without a curve
    rests at BATTERY_MV (the curve's reading at curve_ma) instead. I_now is the pin's load at
    the read, from its accounting: the CPU running the reading code
    (read_ma), the radio receiving (radio_ma: a scan is listening), the
    screen awake and lit (screen_ma); figures from the board file
    (host_tools/power/currents.py's, which tests/test_power.py holds them
    to: the VM cannot import host_tools). Advertising and a connection's
    events are on air well under 1 % of the time: left out, as are the
    LED and the sensor (< 21 mA, lit 2 s at boot; < 0.5 mA).
    left: percent of charge left, an int or a callable(t_ms) (with a curve)."""

    def __init__(self, dev, bat, left, curve=None):
        self.dev = dev
        self.left = left
        self.curve = curve
        self.mohm = bat.get("internal_mohm", 0)
        self.curve_ma = bat.get("curve_ma", 0)
        self.read_ma = bat.get("read_ma", 0)
        self.radio_ma = bat.get("radio_ma", 0)
        self.screen_ma = bat.get("screen_ma", 0)

    def load_ma(self):
        a = self.dev.acct
        ma = self.read_ma
        if a.get_state("radio_scan") == "on":
            ma += self.radio_ma
        if a.get_state("display") == "awake" and a.get_state("backlight") == "on":
            ma += self.screen_ma
        return ma

    def mv(self):
        if self.curve is None:  # no curve: it rests where fit() put it
            rest = BATTERY_MV
        else:
            left = self.left
            if callable(left):
                left = left(self.dev.world.clock.now_ms())
            rest = _mv_at(left, self.curve)
        return rest - int((self.load_ma() - self.curve_ma) * self.mohm) // 1000


# The cell model's own curve arithmetic: the emulator does not import the
# firmware (a virtual badge's VM has no cloudpin on its path while the
# emulator loads), so it is held equal to cloudpin.battery's curve_mv and
# curve_percent by tests/fw/test_power_battery_load.py; the curves
# themselves are the board file's or the caller's (fit's curve).


def _mv_at(pct, c):
    """The curve's volts at pct % left, linear between its 5 % points."""
    if pct >= 100:
        return c[0]
    if pct <= 0:
        return c[-1]
    i = (100 - pct) // 5
    lo = 100 - 5 * (i + 1)
    return c[i + 1] + (c[i] - c[i + 1]) * (pct - lo) // 5


def _left_at(mv, c):
    """The percent left at which the curve reads mv (the cell at rest at
    BATTERY_MV), interpolated as the firmware reads it."""
    if mv >= c[0]:
        return 100
    if mv <= c[-1]:
        return 0
    i = 1
    while c[i] > mv:
        i += 1
    return 100 - 5 * i + 5 * (mv - c[i]) // (c[i - 1] - c[i])


def _accel(cfg, recording, source, dev):
    if source is None and recording:
        from cpsim.recording import Recording

        # With the device, a recording it cannot read holds still and says so.
        source = Recording(recording, loop=True, device=dev)
    kind = cfg["type"]
    if kind == "lis3dh":
        from cpsim.lis3dh import LIS3DH

        return LIS3DH(source, address=cfg.get("address", 0x18), int1=cfg.get("int1"), int2=cfg.get("int2"))
    if kind == "mpu6886":
        from cpsim.mpu6886 import MPU6886 as cls
    else:
        from cpsim.mpu6050 import MPU6050 as cls
    return cls(source, int_pin=cfg.get("int1"), address=cfg.get("address", 0x68))


def _display(dev, cfg, path):
    from cpsim.machine_spi import attach_spi
    from cpsim.st7789 import ST7789

    spi = cfg.get("spi") or {}
    lcd = ST7789(cfg["cs"], cfg["dc"], cfg["width"], cfg["height"], cfg.get("x_offset", 0), cfg.get("y_offset", 0),
                 path=path, panel_inverts=bool(cfg.get("invert")), sck=spi.get("sck"), mosi=spi.get("mosi"),
                 rst=cfg.get("rst"))
    return attach_spi(dev, spi.get("bus", 1), lcd)

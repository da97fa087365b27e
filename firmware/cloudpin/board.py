# The board layer: reads the board definition (/board.json, from boards/) and
# builds the hardware objects the app is handed. The only firmware module that
# constructs machine.* objects, so a test or the crowd simulator can build a
# pin from emulated parts instead.
import json


def load_board_file(path="board.json"):
    """Read and validate the board file; raises boardspec.BoardError.
    (boardspec is imported here, not at the top: only the boot needs it,
    and the app drops it afterwards, cloudpin.app.main.)"""
    from cloudpin import boardspec

    try:
        with open(path) as f:
            board = json.load(f)
    except OSError:
        raise boardspec.BoardError("board file %s not found" % path)
    except ValueError:
        raise boardspec.BoardError("board file %s is not valid JSON" % path)
    return boardspec.validate(board)


class Hardware:
    """Everything the app touches, resolved: the app never reads the board
    file for hardware facts. Absent parts are None; `faults` names the parts
    that failed to come up, for the self-test."""

    def __init__(self, board, i2c=None, accel=None, accel_int=None, led=None, button=None,
                 battery=None, wdt=None, ble=None, faults=None, nvs=None, accel_rate=None,
                 accel_int2=None, display=None, power=None, rtc=None):
        self.board = board
        self.i2c = i2c
        self.accel = accel  # driver object (cloudpin.lis3dh / mpu6886 / mpu6050)
        # The rate the sensor really runs at (what its set_odr() returned): the
        # step counter and tap detector must count time in its samples.
        self.accel_rate = accel_rate
        self.accel_int = accel_int  # machine.Pin wired to the sensor's INT1
        self.accel_int2 = accel_int2  # machine.Pin on INT2 (the click engine's line), or None
        self.display = display  # cloudpin.display.Screen (lit when the wearer looks), or None
        self.power = power  # cloudpin.axp192.AXP192 power chip, or None
        self.led = led
        self.button = button
        self.battery = battery
        self.wdt = wdt
        self.ble = ble
        self.nvs = nvs  # esp32.NVS of the identity namespace
        self.rtc = rtc  # machine.RTC: the wall clock (UTC), set by the desk
        self.faults = faults if faults is not None else []


def build(board, log, wdt_timeout_ms=8000, with_ble=True):
    """Build the Hardware for a validated board dict; never raises for a dead part."""
    import machine

    faults = []
    c = board["i2c"]
    i2c = machine.I2C(c["bus"], scl=machine.Pin(c["scl"]), sda=machine.Pin(c["sda"]), freq=c["freq"])
    a = board["accel"]
    accel_int = machine.Pin(a["int1"], machine.Pin.IN)
    accel_int2 = machine.Pin(a["int2"], machine.Pin.IN) if a.get("int2") is not None else None
    accel, accel_rate = _accel(i2c, a, log)
    if accel is None:
        faults.append("accel")
    led = None
    cfg = board.get("led")
    if cfg:
        from cloudpin.led import Led

        led = Led([machine.Pin(p, machine.Pin.OUT) for p in cfg["pins"]], cfg.get("active_low", False))
    button = None
    cfg = board.get("button")
    if cfg:
        if cfg.get("active_low", True):
            button = machine.Pin(cfg["pin"], machine.Pin.IN, machine.Pin.PULL_UP)
        else:
            button = machine.Pin(cfg["pin"], machine.Pin.IN)
    power = None
    cfg = board.get("power")
    if cfg and cfg["type"] == "axp192":
        try:
            from cloudpin.axp192 import AXP192

            power = AXP192(i2c, cfg["address"])
        except (OSError, ValueError) as e:
            faults.append("power")
            log.error("power chip axp192 at 0x%02x: %r" % (cfg["address"], e))
    display = None
    cfg = board.get("display")
    if cfg:
        display = _display(machine, cfg, power, log)
        if display is None:
            faults.append("display")
    battery = None  # after the display: a lit screen's load sags the cell (cloudpin.battery)
    cfg = board.get("battery")
    if cfg and (cfg["type"] == "adc" or power is not None):
        from cloudpin.battery import AdcBattery

        # The cell's sag below its curve (cloudpin.battery): the CPU awake
        # against the curve's own load, and the lit screen's. The keys sit in
        # a constant tuple: stored as strings, not interned as names.
        r, awake, curve_ma, lit = [cfg.get(k, 0) for k in ("internal_mohm", "read_ma", "curve_ma", "screen_ma")]
        sag = (int((awake - curve_ma) * r) // 1000, int(lit * r) // 1000)
        if cfg["type"] == "adc":
            adc = machine.ADC(machine.Pin(cfg["adc_pin"]), atten=machine.ADC.ATTN_11DB)
            curve = cfg.get("curve_mv")  # the cell's own discharge curve (cloudpin.battery)
            battery = AdcBattery(adc, cfg.get("divider", 1.0), cfg["empty_mv"], cfg["full_mv"],
                                 tuple(curve) if curve else None, sag, display)
        else:  # the AXP192 measures its battery (none if it did not answer)
            battery = AdcBattery(power, 1.0, cfg.get("empty_mv", 3300), cfg.get("full_mv", 4200), None, sag, display)
    ble = None
    if with_ble:
        try:
            import bluetooth

            # Created early: ble.active(True) can fail once the heap is
            # fragmented (micropython #14293). The radio itself stays off
            # except in the app's short windows.
            ble = bluetooth.BLE()
        except (ImportError, OSError) as e:
            faults.append("ble")
            log.error("bluetooth unavailable: %r" % (e,))
    nvs = None
    try:
        from cloudpin import identity

        nvs = identity.open_nvs()
    except (ImportError, OSError) as e:
        faults.append("nvs")
        log.error("nvs unavailable: %r" % (e,))
    wdt = machine.WDT(timeout=wdt_timeout_ms) if wdt_timeout_ms else None
    return Hardware(board, i2c, accel, accel_int, led, button, battery, wdt, ble, faults, nvs,
                    accel_rate, accel_int2, display, power, machine.RTC())


def _display(machine, cfg, power, log):
    """The board's ST7789 screen, powered and initialised (lit); None with
    the reason logged when it cannot be (a bad bus)."""
    try:
        from cloudpin.display import Screen
        from cloudpin.st7789 import ST7789

        if power is not None:
            power.lcd_power(True)  # LDO3 logic and LDO2 backlight before talking to it
        s = cfg["spi"]
        spi = machine.SPI(s["bus"], s.get("baudrate", 20000000), sck=machine.Pin(s["sck"]),
                          mosi=machine.Pin(s["mosi"]))
        out = machine.Pin.OUT
        rst = machine.Pin(cfg["rst"], out, value=1) if cfg.get("rst") is not None else None
        lcd = ST7789(spi, machine.Pin(cfg["cs"], out, value=1), machine.Pin(cfg["dc"], out, value=0), rst,
                     cfg["width"], cfg["height"], cfg.get("x_offset", 0), cfg.get("y_offset", 0),
                     bool(cfg.get("invert")))
        lcd.init()
        return Screen(lcd, power)
    except (ImportError, OSError, ValueError) as e:
        log.error("display %s: %r" % (cfg["type"], e))
        return None


def _accel(i2c, cfg, log):
    """(driver, rate it runs at) for the board's accelerometer, programmed at
    the app's rate; (None, None) with the reason logged when the chip does
    not answer or cannot be configured."""
    from cloudpin import rates

    try:
        from cloudpin.accel import make_accel

        drv = make_accel(i2c, cfg)
        rate = drv.set_odr(rates.requested_rate(cfg))
        if not 5 <= rate <= rates.MOTION_MAX_HZ:
            raise ValueError("runs at %s Hz, outside the app's 5..%d Hz" % (rate, rates.MOTION_MAX_HZ))
        return drv, rate
    except (OSError, ValueError) as e:
        log.error("accelerometer %s at 0x%02x: %r" % (cfg["type"], cfg["address"], e))
        return None, None


def wdt_keeper(wdt, period_ms=1000):
    """A hardware timer that feeds `wdt` on its own, for when the app stops
    (Ctrl-C to the REPL): an ESP32 watchdog cannot be stopped once started.
    Returns the Timer (keep it referenced; deinit() stops the feeding)."""
    import machine

    timer = machine.Timer(0)
    timer.init(period=period_ms, mode=machine.Timer.PERIODIC, callback=lambda t: wdt.feed())
    return timer

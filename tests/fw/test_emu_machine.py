# The emulated `machine` module behaves like MicroPython's ESP32 port, on the
# simulated clock of a cpsim World.
import errno
from fwcheck import raises as _raises


def _world():
    from cpsim.world import World

    w = World()
    return w, w.device("a")


def test_pin_constants_are_the_esp32_ports():
    import machine

    assert (machine.Pin.IN, machine.Pin.OUT, machine.Pin.OPEN_DRAIN) == (1, 3, 7)
    assert (machine.Pin.PULL_UP, machine.Pin.PULL_DOWN) == (2, 1)
    assert (machine.Pin.IRQ_RISING, machine.Pin.IRQ_FALLING) == (1, 2)
    assert (machine.Pin.WAKE_LOW, machine.Pin.WAKE_HIGH) == (4, 5)
    assert not hasattr(machine.Pin, "IRQ_LOW_LEVEL")  # not on the ESP32 port
    assert (machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET,
            machine.DEEPSLEEP_RESET, machine.SOFT_RESET) == (1, 2, 3, 4, 5)


def test_pin_numbers_and_input_only_pins():
    import machine

    _world()
    for bad in (20, 24, 28, 40, -1):
        _raises(ValueError, machine.Pin, bad)
    _raises(ValueError, machine.Pin, 34, machine.Pin.OUT)
    assert machine.Pin(34, machine.Pin.IN).value() == 0
    assert machine.Pin(5) is machine.Pin(5)


def test_pin_output_pull_and_open_drain():
    import machine
    from cpsim import gpio

    w, dev = _world()
    led = machine.Pin(25, machine.Pin.OUT, value=1)
    assert led.value() == 1 and gpio.level(dev, 25) == 1
    led.off()
    assert led() == 0
    led.toggle()
    assert led.value() == 1
    btn = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP)
    assert btn.value() == 1
    gpio.drive(dev, 0, 0)
    assert btn.value() == 0
    od = machine.Pin(4, machine.Pin.OPEN_DRAIN, value=1)
    assert od.value() == 1
    gpio.drive(dev, 4, 0)  # another chip pulls the shared line low
    assert od.value() == 0


def test_pin_irq_fires_on_edges_at_sim_time():
    import machine
    from cpsim import gpio

    w, dev = _world()
    seen = []
    p = machine.Pin(35, machine.Pin.IN)
    irq = p.irq(lambda pin: seen.append((pin, pin.value(), w.clock.now_ms())), machine.Pin.IRQ_RISING)
    w.clock.call_later_ms(7, lambda: gpio.drive(dev, 35, 1))
    w.clock.call_later_ms(9, lambda: gpio.drive(dev, 35, 0))
    w.clock.call_later_ms(12, lambda: gpio.drive(dev, 35, 1))
    w.advance(20)
    assert seen == [(p, 1, 7), (p, 1, 12)], seen
    assert irq.trigger() == machine.Pin.IRQ_RISING
    p.irq(lambda pin: seen.append("f"), machine.Pin.IRQ_FALLING)
    gpio.drive(dev, 35, 0)
    assert seen[-1] == "f"
    p.irq(None)
    gpio.drive(dev, 35, 1)
    gpio.drive(dev, 35, 0)
    assert len(seen) == 3


def test_disable_irq_defers_pin_handlers():
    import machine
    from cpsim import gpio

    w, dev = _world()
    seen = []
    machine.Pin(13, machine.Pin.IN).irq(lambda p: seen.append(1))
    state = machine.disable_irq()
    gpio.drive(dev, 13, 1)
    assert seen == []
    machine.enable_irq(state)
    assert seen == [1]


def test_timer_periodic_and_one_shot_follow_the_sim_clock():
    import machine

    w, dev = _world()
    ticks, once = [], []
    t0 = machine.Timer(0)
    t0.init(period=100, mode=machine.Timer.PERIODIC, callback=lambda t: ticks.append(w.clock.now_ms()))
    machine.Timer(1, mode=machine.Timer.ONE_SHOT, period=250, callback=lambda t: once.append(w.clock.now_ms()))
    w.advance(450)
    assert ticks == [100, 200, 300, 400], ticks
    assert once == [250]
    t0.deinit()
    w.advance(500)
    assert len(ticks) == 4 and once == [250]
    _raises(ValueError, machine.Timer, 4)
    assert machine.Timer(2) is machine.Timer(2)
    # Virtual timers run on whole 10 ms FreeRTOS ticks.
    soft = []
    _raises(ValueError, machine.Timer(-1).init, period=5)
    machine.Timer(-1, period=25, callback=lambda t: soft.append(w.clock.now_ms()))
    w.advance(50)
    assert soft == [w.clock.now_ms() - 30, w.clock.now_ms() - 10], soft


def test_wdt_expires_only_when_not_fed():
    import machine

    w, dev = _world()
    wdt = machine.WDT(timeout=1000)
    for _ in range(5):
        w.advance(900)
        wdt.feed()
    assert dev.reset_cause == machine.PWRON_RESET and dev.resets == []
    w.advance(1001)
    assert dev.reset_cause == machine.WDT_RESET
    assert dev.resets == [(5500, machine.WDT_RESET)], dev.resets
    assert machine.reset_cause() == machine.WDT_RESET
    _raises(ValueError, machine.WDT, 1)


def test_reset_and_deepsleep_record_the_cause_and_stop_the_code():
    import machine

    w, dev = _world()
    causes = []
    dev.on_reset = causes.append
    _raises(SystemExit, machine.reset)
    assert machine.reset_cause() == machine.HARD_RESET
    _raises(SystemExit, machine.deepsleep, 3000)
    assert machine.reset_cause() == machine.DEEPSLEEP_RESET
    assert machine.wake_reason() == machine.TIMER_WAKE
    assert w.clock.now_ms() == 3000
    assert causes == [machine.HARD_RESET, machine.DEEPSLEEP_RESET]
    # A soft reboot leaves the ESP32's task watchdog running.
    machine.WDT(timeout=100)
    _raises(SystemExit, machine.soft_reset)
    assert machine.reset_cause() == machine.SOFT_RESET
    w.advance(150)
    assert machine.reset_cause() == machine.WDT_RESET


def test_lightsleep_moves_the_clock_and_holds_callbacks_until_the_wakeup():
    # Outside a running world nothing else runs: the clock moves on. The CPU
    # is halted, so the Timer's callback runs when the pin wakes (once).
    import machine

    w, dev = _world()
    fired = []
    machine.Timer(0, mode=machine.Timer.PERIODIC, period=40, callback=lambda t: fired.append(w.clock.now_ms()))
    machine.lightsleep(100)
    assert w.clock.now_ms() == 100 and fired == [100], fired
    assert machine.wake_reason() == machine.TIMER_WAKE
    assert dev.acct.snapshot()["time_us"]["cpu.lightsleep"] == 100000
    w.advance(30)
    assert fired == [100, 120], fired


def test_a_real_time_light_sleep_wakes_on_a_line_before_the_hardwares_put_off_work():
    # A virtual badge's sleep (WallClock): the event that raises an ext1 wake
    # line also puts its model's bookkeeping off (clock.soon, as the LIS3DH's
    # look-ahead is): the CPU wakes first, as the chip's does within ~1-2 ms
    # of the line; the work runs when the CPU next waits.
    import esp32
    import machine
    from cpsim import gpio
    from cpsim.clock import Event, WallClock
    from cpsim.world import World

    w = World(WallClock())
    dev = w.device("a")
    esp32.wake_on_ext1([machine.Pin(34, machine.Pin.IN)], esp32.WAKEUP_ANY_HIGH)
    done = []

    def line_up():
        gpio.drive(dev, 34, 1)
        w.clock.soon(lambda: done.append("planned"))

    w.clock.call_at(w.clock.now_us() + 3000, Event(line_up))
    machine.lightsleep(5000)
    assert machine.wake_reason() == machine.EXT1_WAKE
    assert done == []  # not between the line and the wake
    gpio.drive(dev, 34, 0)
    machine.lightsleep(1)  # the next wait runs it
    assert done == ["planned"], done


def test_i2c_errors_and_addresses_without_a_chip():
    import machine

    w, dev = _world()
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    assert i2c.scan() == []
    e = _raises(OSError, i2c.readfrom_mem, 0x18, 0x0F, 1)
    assert e.errno == errno.ENODEV == 19
    _raises(ValueError, machine.I2C, 2)


def test_i2c_register_model_behind_hw_and_soft_i2c():
    import machine
    from cpsim.i2cdev import I2CDeviceModel

    w, dev = _world()
    chip = dev.attach_i2c(0, I2CDeviceModel(0x3C))
    dev.wire_i2c(0, 22, 21)
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
    assert i2c.scan() == [0x3C]
    i2c.writeto_mem(0x3C, 0x10, b"\x01\x02\x03")
    assert i2c.readfrom_mem(0x3C, 0x10, 3) == b"\x01\x02\x03"
    buf = bytearray(2)
    i2c.readfrom_mem_into(0x3C, 0x11, buf)
    assert buf == b"\x02\x03"
    assert i2c.writevto(0x3C, (b"\x20", b"\xaa\xbb")) == 3
    assert bytes(chip.regs[0x20:0x22]) == b"\xaa\xbb"
    i2c.writeto(0x3C, b"\x20")
    assert i2c.readfrom(0x3C, 2) == b"\xaa\xbb"
    # The same chip is not on other wires; I2C(0) keeps the pins it was given.
    assert machine.I2C(1).scan() == []
    assert machine.I2C(0).scan() == [0x3C]
    soft = machine.SoftI2C(scl=machine.Pin(22), sda=machine.Pin(21))
    assert soft.scan() == [0x3C]
    soft.start()
    assert soft.write(bytes((0x3C << 1, 0x10))) == 2
    soft.start()
    soft.write(bytes((0x3C << 1 | 1,)))
    out = bytearray(3)
    soft.readinto(out)
    soft.stop()
    assert out == b"\x01\x02\x03"
    chip.nack = True
    _raises(OSError, soft.readfrom, 0x3C, 1)


def test_adc_reads_the_pin_voltage():
    import machine

    w, dev = _world()
    dev.adc_values[35] = 1950000
    adc = machine.ADC(machine.Pin(35), atten=machine.ADC.ATTN_11DB)
    raw = adc.read()
    assert 2030 < raw < 2060, raw  # 1.95 V of a 3.9 V full scale, 12 bits
    assert abs(adc.read_uv() - 1950000) < 2000
    assert adc.read_u16() >> 4 == raw
    adc.atten(machine.ADC.ATTN_0DB)
    assert adc.read() == 4095  # over the 0 dB range
    dev.adc_values[35] = lambda t_ms: 100000 + t_ms * 1000
    w.advance(100)
    assert abs(adc.read_uv() - 200000) < 1000
    _raises(ValueError, machine.ADC, machine.Pin(5))


def test_unique_id_freq_rtc():
    import machine

    w, dev = _world()
    assert machine.unique_id() == bytes(dev.uid) and len(machine.unique_id()) == 6
    assert machine.freq() == 160000000
    machine.freq(240000000)
    assert machine.freq() == 240000000
    _raises(ValueError, machine.freq, 100000000)
    rtc = machine.RTC()
    assert rtc.datetime()[:7] == (2000, 1, 1, 5, 0, 0, 0)
    rtc.datetime((2024, 2, 29, 0, 23, 59, 58, 0))
    w.advance(3000)
    assert rtc.datetime()[:7] == (2024, 3, 1, 4, 0, 0, 1), rtc.datetime()

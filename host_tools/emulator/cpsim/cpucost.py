# What the CPU of a pin would spend, since simulated code takes no simulated
# time. Once a pin's firmware runs (World.start, or asyncio on a SimClock),
# its "cpu" accounting state is "idle", "lightsleep" inside
# machine.lightsleep(), and every piece of work the emulator sees moves an
# estimated cost to "active" (from idle; from light sleep when the pin slept
# all the rest of the time: its sleeps would have started that much later):
#
#   STEP_US    a task resumed by the scheduler: asyncio's bookkeeping, the
#              await/wait_for around it and the code up to the next await
#   IRQ_US     a pin or Timer callback (scheduled soft IRQ) and its flag set
#   SAMPLE_US  an accelerometer sample the firmware reads and processes: 6
#              bytes of FIFO over I2C at 400 kHz (9 bits a byte: 135 us,
#              the CPU waits in the blocking read) plus the motion pipeline.
#              Charged per byte the firmware reads over I2C (SAMPLE_US / 6
#              a byte), so samples a sensor makes that nobody reads (a FIFO
#              left to overflow while the pin dozes) cost nothing, and a
#              register read costs its bytes.
#
# ESTIMATES, not measurements on an ESP32: MicroPython at 160 MHz runs a loop
# that only reads one sample from an array in ~3 us (estimate); the README's
# cost table measures the whole pipeline (steps + software taps) at 29x that
# loop in the VM, so ~90 us a sample; the scheduler and handler figures are
# of the same order as a few hundred bytecodes. Replace them with numbers
# measured on a pin when one is on the bench.
STEP_US = 150  # estimate
IRQ_US = 40  # estimate
SAMPLE_US = 135 + 90  # I2C transfer at 400 kHz + pipeline estimate
_FRAME = 6  # bytes of one x,y,z sample


def begin(dev):
    """Start modelling dev's CPU (idempotent): idle until work is charged."""
    if dev.cpu_src is None:
        dev.cpu_src = True
        dev.cpu_samples = dev.i2c_rx
        dev.acct.state("cpu", "idle")


def _charge(dev, us):
    a = dev.acct
    a.add_us("cpu.active", us)
    # The work comes out of idle time; a pin that slept the rest of the
    # time had none, so what idle lacks comes out of its light sleep.
    idle = a.totals.get("cpu.idle", 0)
    cur = a.current.get("cpu")
    if cur is not None and cur[0] == "cpu.idle":
        idle += a.clock.now_us() - cur[1]
    slept = a.totals.get("cpu.lightsleep", 0)
    if idle >= us or slept <= 0:
        a.add_us("cpu.idle", -us)  # (negative only if the CPU is overloaded)
        return
    if idle > 0:
        a.add_us("cpu.idle", -idle)
        us -= idle
    from_sleep = us if us <= slept else slept
    a.add_us("cpu.lightsleep", -from_sleep)
    if us > from_sleep:
        a.add_us("cpu.idle", from_sleep - us)


def step(dev):
    """A task step of dev ran: charge it and the I2C reads it made."""
    if dev.cpu_src is None:
        return
    n = dev.i2c_rx
    _charge(dev, STEP_US + (n - dev.cpu_samples) * SAMPLE_US // _FRAME)
    dev.cpu_samples = n


def irq(dev):
    if dev.cpu_src is not None:
        _charge(dev, IRQ_US)

# What the CPU of a pin would spend, since simulated code takes no simulated
# time. Once a pin's firmware runs (World.start, or asyncio on a SimClock),
# its "cpu" accounting state is "idle", "lightsleep" inside
# machine.lightsleep(), and every piece of work the emulator sees moves an
# estimated cost from idle to "active":
#
#   STEP_US    a task resumed by the scheduler: asyncio's bookkeeping, the
#              await/wait_for around it and the code up to the next await
#   IRQ_US     a pin or Timer callback (scheduled soft IRQ) and its flag set
#   SAMPLE_US  an accelerometer sample the firmware reads and processes: 6
#              bytes of FIFO over I2C at 400 kHz (9 bits a byte: 135 us,
#              the CPU waits in the blocking read) plus the motion pipeline
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


def begin(dev):
    """Start modelling dev's CPU (idempotent): idle until work is charged."""
    if dev.cpu_src is None:
        dev.cpu_src = [m for bus in dev.i2c_models.values() for m in bus.values() if hasattr(m, "samples")]
        dev.cpu_samples = _samples(dev)
        dev.acct.state("cpu", "idle")


def _samples(dev):
    n = 0
    for m in dev.cpu_src:
        n += m.samples
    return n


def _charge(dev, us):
    a = dev.acct
    a.add_us("cpu.active", us)
    a.add_us("cpu.idle", -us)


def step(dev):
    """A task step of dev ran: charge it and the samples it may have read."""
    if dev.cpu_src is None:
        return
    n = _samples(dev)
    _charge(dev, STEP_US + (n - dev.cpu_samples) * SAMPLE_US)
    dev.cpu_samples = n


def irq(dev):
    if dev.cpu_src is not None:
        _charge(dev, IRQ_US)

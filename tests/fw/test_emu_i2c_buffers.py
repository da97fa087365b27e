# machine.I2C / SoftI2C of the emulator against MicroPython's documented
# semantics (docs/library/machine.I2C.rst, extmod/machine_i2c.c): any
# buffer-protocol object is taken as its raw bytes, return values, errors
# before anything reaches the chip, a transaction started by an IRQ handler
# inside another; and the calls a driver makes with preallocated buffers
# allocate nothing in the VM.
import errno
import gc
from array import array

import machine
from cpsim import gpio
from cpsim.clock import SimClock
from cpsim.i2cdev import I2CDeviceModel
from cpsim.world import World
from fwcheck import raises

ADDR = 0x3C


def _bus(model=None):
    dev = World().device()
    chip = dev.attach_i2c(0, model or I2CDeviceModel(ADDR))
    dev.wire_i2c(0, 22, 21)
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    for r in range(256):
        chip.regs[r] = r ^ 0x5A
    return dev, chip, i2c


def test_return_values_and_memory_addresses():
    dev, chip, i2c = _bus()
    buf = bytearray(3)
    assert i2c.readfrom_mem_into(ADDR, 0x10, buf) is None
    assert buf == bytes((0x10 ^ 0x5A, 0x11 ^ 0x5A, 0x12 ^ 0x5A))
    assert i2c.writeto_mem(ADDR, 0x20, b"\x01\x02") is None
    assert bytes(chip.regs[0x20:0x22]) == b"\x01\x02"
    assert i2c.writeto(ADDR, b"\x30\x07") == 2
    assert chip.regs[0x30] == 7
    assert i2c.writevto(ADDR, (b"\x31", bytearray(b"\x08"), memoryview(b"\x09\x0a")[:1])) == 3
    assert bytes(chip.regs[0x31:0x33]) == b"\x08\x09"
    assert i2c.readfrom_into(ADDR, buf) is None  # from the pointer the last write left
    assert buf == bytes((0x33 ^ 0x5A, 0x34 ^ 0x5A, 0x35 ^ 0x5A))
    assert i2c.readfrom(ADDR, 2) == bytes((0x36 ^ 0x5A, 0x37 ^ 0x5A))
    r = i2c.readfrom_mem(ADDR, 0x40, 2)
    assert type(r) is bytes and r == bytes((0x40 ^ 0x5A, 0x41 ^ 0x5A))
    # A 16-bit memory address goes out most significant byte first: the
    # model takes the first byte as its register pointer.
    # This model has 8-bit registers: 0x00 is its pointer, 0x50 a byte
    # written there, and the read starts after it.
    i2c.readfrom_mem_into(ADDR, 0x0050, buf, addrsize=16)
    assert chip.regs[0x00] == 0x50 and buf == bytes((0x01 ^ 0x5A, 0x02 ^ 0x5A, 0x03 ^ 0x5A)), buf
    i2c.writeto_mem(ADDR, 0x6000, b"\x77", addrsize=16)
    assert chip.regs[0x60] == 0x00 and chip.regs[0x61] == 0x77
    for bad in (0, 4, 12, 40):
        raises(ValueError, i2c.readfrom_mem_into, ADDR, 0x10, buf, addrsize=bad)
        raises(ValueError, i2c.writeto_mem, ADDR, 0x10, buf, addrsize=bad)


def test_buffers_are_taken_as_their_raw_bytes():
    dev, chip, i2c = _bus()
    raw = bytes((0x10 ^ 0x5A, 0x11 ^ 0x5A, 0x12 ^ 0x5A, 0x13 ^ 0x5A))
    h = array("h", [0, 0])
    i2c.readfrom_mem_into(ADDR, 0x10, h)  # 4 bytes, not 2
    assert bytes(h) == raw, (h, raw)
    for dst in (array("B", [0, 0, 0, 0]), memoryview(bytearray(6))[1:5], memoryview(array("h", [0, 0]))):
        i2c.readfrom_mem_into(ADDR, 0x10, dst)
        assert bytes(dst) == raw, (dst, raw)
    i2c.readfrom_into(ADDR, h)
    assert bytes(h) == bytes((0x14 ^ 0x5A, 0x15 ^ 0x5A, 0x16 ^ 0x5A, 0x17 ^ 0x5A))
    i2c.writeto_mem(ADDR, 0x20, array("h", [0x0201, 0x0403]))
    assert bytes(chip.regs[0x20:0x24]) == b"\x01\x02\x03\x04"
    i2c.writeto_mem(ADDR, 0x28, memoryview(bytearray(b"\xaa\xbb\xcc"))[1:])
    assert bytes(chip.regs[0x28:0x2B]) == b"\xbb\xcc" + bytes((0x2A ^ 0x5A,))
    assert i2c.writeto(ADDR, array("h", [0x0930])) == 2
    assert chip.regs[0x30] == 0x09
    assert i2c.writevto(ADDR, (b"\x40", array("h", [0x0605]))) == 3
    assert bytes(chip.regs[0x40:0x42]) == b"\x05\x06"


def test_a_buffer_that_cannot_be_written_is_refused_before_the_chip_sees_anything():
    dev, chip, i2c = _bus()
    chip.pointer = 0x77
    raises(TypeError, i2c.readfrom_mem_into, ADDR, 0x10, b"\x00\x00")
    raises(TypeError, i2c.readfrom_into, ADDR, b"\x00")
    assert chip.pointer == 0x77


def test_missing_chip_raises_enodev_and_leaves_the_buffer_alone():
    dev, chip, i2c = _bus()
    chip.nack = True
    buf = bytearray(b"\x01\x02")
    calls = (
        (i2c.readfrom_mem_into, (ADDR, 0x10, buf)),
        (i2c.readfrom_into, (ADDR, buf)),
        (i2c.writeto_mem, (ADDR, 0x10, buf)),
        (i2c.writeto, (ADDR, buf)),
        (i2c.writevto, (ADDR, (buf, buf))),
        (i2c.readfrom, (ADDR, 2)),
        (i2c.readfrom_mem, (ADDR, 0x10, 2)),
        (i2c.readfrom_mem_into, (0x50, 0x10, buf)),  # nothing at that address
    )
    for fn, args in calls:
        e = raises(OSError, fn, *args)
        assert e.errno == errno.ENODEV, (fn, e)
    assert buf == b"\x01\x02"
    soft = machine.SoftI2C(scl=machine.Pin(22), sda=machine.Pin(21))
    assert raises(OSError, soft.readfrom_mem_into, ADDR, 0x10, buf).errno == errno.ENODEV
    assert soft.scan() == [] and i2c.scan() == []


class _Doorbell(I2CDeviceModel):
    """Writing register 0x01 pulses GPIO 34, mid-transaction."""

    def write_reg(self, reg, value):
        I2CDeviceModel.write_reg(self, reg, value)
        if reg == 0x01:
            gpio.drive(self.device, 34, 1)
            gpio.drive(self.device, 34, 0)


def test_a_transaction_from_an_irq_handler_inside_another_leaves_both_intact():
    # The emulator runs pin IRQ handlers at the edge, inside the transaction
    # that caused it: the handler's own transaction must not reuse the
    # buffer the outer one is still going out of.
    dev, chip, i2c = _bus(_Doorbell(ADDR))
    seen = bytearray(2)

    def handler(pin):
        # As long as the outer write: the same length of buffer.
        i2c.writeto_mem(ADDR, 0x80, b"\xe1\xe2\xe3\xe4")
        i2c.readfrom_mem_into(ADDR, 0x80, seen)

    machine.Pin(34, machine.Pin.IN).irq(handler=handler, trigger=machine.Pin.IRQ_RISING)
    i2c.writeto_mem(ADDR, 0x00, b"\x11\x22\x33\x44")
    assert bytes(chip.regs[0x80:0x84]) == b"\xe1\xe2\xe3\xe4"
    assert seen == b"\xe1\xe2"
    # The outer write went on from its pointer with its own bytes; only
    # the register pointer is shared, as on a real chip.
    assert bytes(chip.regs[0:4]) == b"\x11\x22\x33\x44", bytes(chip.regs[0:4])


class _DueClock(SimClock):
    """A clock with one event falling due at the next poll, as a WallClock
    has when real time has moved on since the last transaction."""

    due = None

    def poll(self):
        fn, self.due = self.due, None
        if fn is not None:
            fn()


def test_a_transaction_run_by_the_poll_before_another_leaves_both_intact():
    dev = World(_DueClock()).device()
    chip = dev.attach_i2c(0, I2CDeviceModel(ADDR))
    for r in range(256):
        chip.regs[r] = r
    i2c = machine.I2C(0)
    inner, outer = bytearray(2), bytearray(2)
    dev.world.clock.due = lambda: i2c.readfrom_mem_into(ADDR, 0x40, inner)
    i2c.readfrom_mem_into(ADDR, 0x10, outer)
    assert (inner, outer) == (b"\x40\x41", b"\x10\x11"), (inner, outer)


def _growth(fn, n=200):
    fn()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        fn()
    return gc.mem_alloc() - before


def test_mp_calls_with_preallocated_buffers_allocate_nothing():
    dev, chip, i2c = _bus()
    soft = machine.SoftI2C(scl=machine.Pin(22), sda=machine.Pin(21))
    b1, b2, b12 = bytearray(1), bytearray(2), bytearray(12)
    views = [memoryview(b12)[:k] for k in (6, 12)]
    vector = (b"\x20", b2)
    calls = {
        "readfrom_mem_into": lambda: i2c.readfrom_mem_into(ADDR, 0x10, b1),
        "readfrom_mem_into view": lambda: i2c.readfrom_mem_into(ADDR, 0x10, views[0]),
        "readfrom_mem_into view 12": lambda: i2c.readfrom_mem_into(ADDR, 0x10, views[1]),
        "readfrom_mem_into addrsize=16": lambda: i2c.readfrom_mem_into(ADDR, 0x10, b2, addrsize=16),
        "readfrom_into": lambda: i2c.readfrom_into(ADDR, b12),
        "writeto_mem": lambda: i2c.writeto_mem(ADDR, 0x20, b1),
        "writeto_mem view": lambda: i2c.writeto_mem(ADDR, 0x20, views[0]),
        "writeto_mem bytes": lambda: i2c.writeto_mem(ADDR, 0x20, b"\x01\x02"),
        "writeto": lambda: i2c.writeto(ADDR, b2),
        "writevto": lambda: i2c.writevto(ADDR, vector),
        "soft readfrom_mem_into": lambda: soft.readfrom_mem_into(ADDR, 0x10, views[0]),
        "soft writeto_mem": lambda: soft.writeto_mem(ADDR, 0x20, b1),
    }
    grown = {}
    for name, fn in calls.items():
        g = _growth(fn)
        if g:
            grown[name] = g
    assert grown == {}, grown

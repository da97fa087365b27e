# What the emulator keeps at run time beside the firmware (cpsim.resident):
# the emulated NimBLE's state with the stack up and a connection through
# discovery, reads, writes and notifications. On the ESP32 all of it is in
# the IDF heap, so a virtual badge holds RUNTIME_BYTES aside for it; the
# emulator must not outgrow that, or the firmware would pay for it.
import gc

import bluetooth
from cpsim import resident
from cpsim.blelog import ble_of
from cpsim.world import World

_SVC = bluetooth.UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E")
_TX = bluetooth.UUID("6E400003-B5A3-F393-E0A9-E50E24DCCA9E")
_RX = bluetooth.UUID("6E400002-B5A3-F393-E0A9-E50E24DCCA9E")


def _drop(event, data):
    pass


def test_mp_the_emulated_stack_fits_the_room_a_badge_keeps_for_it():
    resident.load_all(sim=True, every_board=True)  # its modules: counted apart (resident.load_all)
    w = World()
    a, b = ble_of(w.device("a")), ble_of(w.device("b"))  # made at power-on on a badge
    a.irq(_drop)
    b.irq(_drop)
    gc.collect()
    before = gc.mem_alloc()
    a.active(True)
    b.active(True)
    ((tx, rx),) = a.gatts_register_services(((_SVC, ((_TX, bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY),
                                                     (_RX, bluetooth.FLAG_WRITE))),))
    a.gap_advertise(100000, b"\x02\x01\x06")
    b.gap_scan(300, 30000, 30000)
    w.advance(400)
    b.gap_connect(*a.config("mac"))
    w.advance(200)
    b.config(mtu=200)
    b.gattc_exchange_mtu(0)
    b.gattc_discover_services(0)
    w.advance(200)
    b.gattc_discover_characteristics(0, 1, 0xFFFF)
    w.advance(200)
    b.gattc_write(0, rx, bytes(100), 1)
    b.gattc_read(0, tx)
    a.gatts_notify(0, tx, bytes(100))
    w.advance(300)
    gc.collect()
    per_pin = (gc.mem_alloc() - before) // 2  # two stacks up, each with its side of the link
    print("emulated stack per pin: %d bytes" % per_pin)
    assert 0 < per_pin <= resident.RUNTIME_BYTES, per_pin

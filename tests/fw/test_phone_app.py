# The phone role inside the App (a module of its own: one pin's heap holds
# the app, not the app and the other phone tests' imports): built on a pin
# with a radio owner, its modules loaded only on the first double tap, which
# opens the window (radio on, the owner's beacon advertised) and the radio
# going back to sleep when the window closes.
import gc
import os

from cloudpin import bus as topics
from cpsim.world import World
from test_social_updates import _app


def test_the_app_has_the_phone_role_and_a_double_tap_opens_its_window():
    gc.collect()
    w = World()
    root = os.getcwd()
    try:
        da, a, _ = _app(w, root, "pphone", 1)
        assert a.phone in a.services and a.phone.service is None  # its modules load on the first tap
        w.start(da, a.main())
        w.run_for(1000)
        assert not a.radio.on
        a.bus.publish(topics.TAP, 1000, 1500)
        a.bus.publish(topics.TAP, 1400, 1500)  # a double tap
        w.run_for(2000)
        assert a.radio.on and a.phone.advertising and a.phone.service is not None
        from cloudpin.phone import phoneside

        assert phoneside.is_mine(bytes(da.ble_obj._adv_data), bytes([1]) * 16)  # the beacon for this pin's secret
        w.run_for(a.phone.window.length_ms)
        assert not a.radio.on and not a.phone.advertising  # the window closed: the radio sleeps
    finally:
        os.chdir(root)

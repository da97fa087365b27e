"""`cloudpin bench heap` (host_tools/bench/heap.py): the module order it
measures in, and a run without the virtual badges: every phase of two
whole apps and a phone reported, the app's code in the table."""
from host_tools.bench import heap


def test_modules_are_measured_after_their_own_imports():
    order = heap.load_order(["cloudpin.social.friends", "cloudpin.owner", "cloudpin.social.advert",
                             "cloudpin.store", "cloudpin.social", "cloudpin"])
    assert order.index("cloudpin.social.advert") < order.index("cloudpin.social.friends")
    assert order.index("cloudpin.owner") < order.index("cloudpin.social.friends")
    assert order.index("cloudpin.store") < order.index("cloudpin.social.friends")
    assert sorted(order) == sorted(set(order)) and len(order) == 6


def test_a_run_reports_every_phase_and_the_apps_code():
    r = heap.measure(badges=False)
    ph = r["phases"]
    assert list(ph) == ["emulator", "boot", "tap", "update", "phone", "phone_gone"]
    assert ph["emulator"]["in_use"] < ph["boot"]["in_use"] < ph["tap"]["in_use"]
    # the friend table is made by the window for the clock right after the tap (social/updates.py):
    # a periodic window then keeps nothing more
    assert abs(ph["update"]["in_use"] - ph["tap"]["in_use"]) < 2048, ph
    assert ph["phone"]["in_use"] > ph["phone_gone"]["in_use"]
    mods = r["modules"]
    assert "cloudpin.social.meet" in mods and "cloudpin.phone.phoneside" not in mods  # the phone's, not the pin's
    assert all(m["mpy"] > 0 and m["esp32_mpy_file"] > 0 for name, m in mods.items() if name.count(".") > 1)
    assert r["services"]["meet"]["pin_a"] > r["services"]["meet"]["pin_b"] > 0  # code once, data each

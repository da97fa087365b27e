# Builds the phone role for an App: only with a radio owner (app.radio) and
# a provisioned identity (the pairing secret). Shares the app's friend list
# (app.friends) and day counters (app.daily) when meet and greet made them:
# one Friends index per pin, two would disagree after an add.
import time

from cloudpin import VERSION
from cloudpin.phone.role import PhoneRole


def build(app, log):
    """The PhoneRole for `app` (a supervised service: name, run()), or None."""
    radio = getattr(app, "radio", None)
    if radio is None or app.hw.nvs is None:
        return None
    from cloudpin import identity  # boot only: the app drops it after (cloudpin.app)

    ident = identity.load(app.hw.nvs)
    if not ident["provisioned"]:
        log.info("phone off: not provisioned")
        return None
    friends = getattr(app, "friends", None)  # the app's one friend list (meet and greet's)
    if friends is None:
        from cloudpin.social.friends import Friends

        friends = Friends(log=log)
        friends.open()
    rtc = app.hw.rtc
    if rtc is not None:  # the same UTC clock as the friend updates (the port's time.time() epoch varies)
        from cloudpin.social.updates import utc_ms

        now_s = lambda: utc_ms(rtc) // 1000  # noqa: E731
    else:
        now_s = time.time
    def make_service():
        import gc

        # Collected first: the service's modules then load into the lowest
        # free blocks, not among a running app's garbage, where a 2 KB block
        # for their code could fail while the heap had the room
        # (tests/fw/test_phone_day.py, from source in the VM).
        gc.collect()
        from cloudpin.phone.backend import PinBackend
        from cloudpin.phone.service import PhoneService

        backend = PinBackend(VERSION, ident["badge_id"], ident["prov_gen"], friends=friends,
                             daily=getattr(app, "daily", None), now_s=now_s,
                             designs=getattr(app, "designs", None), log=log, today=getattr(app, "_today", None),
                             utc_offset=ident["utc_offset"])
        return PhoneService(backend, ident["pair_key"], log)

    return PhoneRole(radio, make_service, app.bus, log)

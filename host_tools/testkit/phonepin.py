"""A provisioned pin's phone service in this process, on the current
folder's files, for the client, CLI and web app tests (one builder where
each test had its copy): the owner card, a friend list written by the
firmware's own store, and the service answering with the pairing secret."""


def service(secret, card, friends, designs=None, badge_id=b"\xaa" * 8):
    """PhoneService for a pin holding `card` and `friends`, a list of
    (card dict, added unix s, (steps, made, unix s) or None) in slot order;
    `designs` what the app would give (its DesignService), or None."""
    from host_tools.phone import fw

    fw.protocol()  # the firmware tree on sys.path, its crypto under CPython
    from cloudpin import owner
    from cloudpin.phone.backend import PinBackend
    from cloudpin.phone.service import PhoneService
    from cloudpin.social.friends import Friends

    owner.save(card)
    fr = Friends("friends")
    fr.open()
    for i, (fcard, added, stats) in enumerate(friends):
        slot = fr.add(bytes((i >> 8, i & 0xFF, 1)) + bytes(13), fcard, added)
        if stats is not None:
            fr.update(slot, *stats)
    return PhoneService(PinBackend("0.1.0", badge_id, card["gen"], friends=fr, designs=designs), secret)

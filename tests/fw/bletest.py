# Helpers shared by the tests of cloudpin.ble and the social services on it:
# a pin with its radio owner, and coroutines run as pins' tasks on a World.
from cloudpin.ble.radio import RadioOwner
from cloudpin.log import Logger
from cpsim.blelog import ble_of


def owner_pin(w, name, lines=None, bus=None):
    """(Device, RadioOwner) of a new pin named `name` in World `w`."""
    dev = w.device(name)
    log = Logger(name, sink=(lines if lines is not None else []).append)
    return dev, RadioOwner(ble_of(dev), log, bus)


def run_tasks(w, tasks, ms):
    """Run [(key, dev, coroutine)] as the pins' tasks for `ms`; {key: what
    the coroutine returned, or the exception it raised}."""
    out = {}

    def wrap(key, coro):
        async def run():
            try:
                out[key] = await coro
            except Exception as e:
                out[key] = e
        return run()

    for key, dev, coro in tasks:
        w.start(dev, wrap(key, coro))
    w.run_for(ms)
    return out

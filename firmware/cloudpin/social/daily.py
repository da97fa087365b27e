# Today's steps and friends made, rolled over at the event's local midnight:
# cloudpin.designs.service.Daily, the one module of the designs on the pin
# (a module of its own cost heap). This name stays for the
# tests; the pin imports the service.
from cloudpin.designs.service import SAVE_S, SAVE_STEPS, Daily  # noqa: F401

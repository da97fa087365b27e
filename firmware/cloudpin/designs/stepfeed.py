# The step and day counts on the bus: cloudpin.designs.service.StepFeed, the
# one module of the designs on the pin (a module of its own cost heap). This
# name stays for the tests; the pin imports the service.
from cloudpin.designs.service import StepFeed  # noqa: F401

# One line per event, machine readable:  LEVEL TICKS_MS MODULE MESSAGE
# e.g. "I 10234 steps count=120". Host tools (cloudpin logs) parse this format.
# A Logger holds only its name, level and sink, so pins in one process (the
# crowd simulator) each log through their own sink.
import io
import sys
import time

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40
_LETTERS = {DEBUG: "D", INFO: "I", WARNING: "W", ERROR: "E"}


def _stdout(line):
    print(line)


class Logger:
    def __init__(self, name, level=INFO, sink=None):
        self.name = name
        self.level = level
        self.sink = sink or _stdout

    def child(self, name):
        return Logger(name, self.level, self.sink)

    def log(self, level, msg):
        if level >= self.level:
            self.sink("%s %d %s %s" % (_LETTERS.get(level, "?"), time.ticks_ms(), self.name, msg))

    def debug(self, msg):
        self.log(DEBUG, msg)

    def info(self, msg):
        self.log(INFO, msg)

    def warning(self, msg):
        self.log(WARNING, msg)

    def error(self, msg):
        self.log(ERROR, msg)

    def exc(self, e, msg):
        """Log an exception: one E line, then its traceback on lines starting with '  '."""
        self.log(ERROR, "%s: %s: %r" % (msg, type(e).__name__, e))
        if ERROR >= self.level:
            buf = io.StringIO()
            # The ESP32 stubs type StringIO without getvalue() and not as a
            # stream, but MicroPython's io.StringIO is both (tested in both runtimes).
            sys.print_exception(e, buf)  # pyright: ignore[reportArgumentType]
            for line in buf.getvalue().split("\n"):  # pyright: ignore[reportAttributeAccessIssue]
                if line:
                    self.sink("  " + line)


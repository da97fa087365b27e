# CPython stand-in for MicroPython's built-in `micropython` module.
# Under the MicroPython VM the built-in module always wins over this file, so
# only CPython ever imports it.


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def opt_level(level=None):
    return 0 if level is None else None


def alloc_emergency_exception_buf(size):
    pass


def mem_info(verbose=None):
    pass


def qstr_info(verbose=None):
    pass


def stack_use():
    return 0


_heap_locked = 0


def heap_lock():
    global _heap_locked
    _heap_locked += 1


def heap_unlock():
    global _heap_locked
    _heap_locked -= 1
    return _heap_locked


def heap_locked():
    return _heap_locked


def kbd_intr(chr):
    pass


def schedule(func, arg):
    # On a board the callback runs "soon" from the VM loop; running it now is
    # the closest deterministic behaviour for a host process.
    func(arg)

# Assertion helpers for firmware tests (no pytest in the MicroPython VM).


def raises(exc_type, fn, *args, **kw):
    """The exception fn(*args, **kw) raises; fails the test if it raises none."""
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)

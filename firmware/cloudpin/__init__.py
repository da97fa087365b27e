# CloudPin firmware package. Nothing here runs at import time.
VERSION = "0.1.0"


def unload(package, names):
    """Forget the modules `names` of `package` (the package module itself):
    their heap comes back once nothing else holds them, and a later import
    loads them again (the names they interned stay: docs/heap.md)."""
    import sys

    for name in names:
        sys.modules.pop(package.__name__ + "." + name, None)
        if hasattr(package, name):
            delattr(package, name)

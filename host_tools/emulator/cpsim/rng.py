# Deterministic noise for the simulation, apart from the `random` module the
# firmware itself uses.


class Rng:
    """xorshift32: the same numbers under CPython and MicroPython."""

    def __init__(self, seed):
        self.s = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

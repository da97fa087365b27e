# The VM charges the firmware's qstr pools as the chip would (docs/heap.md,
# "The qstr pools"): after cpsim.resident.pad_qstrs() (in a test VM, the
# runner's, tests/fw/mp_runner.py) and the emulator's names, the names a whole app
# interns make no new pool in the VM (the chip's pools are charged apart,
# resident.CHIP_QSTR_POOL_BYTES), where without it one of them could cost a
# 2,560-entry pool (28 KB of a 200 KB share).
import gc

from cpsim import resident


def _intern(n, tag):
    for i in range(n):
        getattr(None, "%s%d" % (tag, i), None)  # interns the name, as loading a module's table does


def test_mp_after_padding_the_firmwares_names_make_no_pool():
    # A test VM is padded before its test module (tests/fw/mp_runner.py, as
    # tests/conftest.py charges it): padding again would make a pool more.
    resident.load_all(sim=True, every_board=True)
    names = 1600  # more than the app interns on a chip with the designs and a phone session (1,408: docs/heap.md)
    gc.collect()
    before = gc.mem_alloc()
    _intern(names, "n")
    gc.collect()
    grew = gc.mem_alloc() - before
    # the names' own bytes (up to 6 each in chunks of 128) and no pool: a pool
    # the padding did not provide would be at least 2,560 entries of 11 bytes
    assert grew < 12 * names, grew


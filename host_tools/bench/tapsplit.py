"""The tap bench's held-out split: which real recordings and which generator
seeds the tap detector may be tuned on, and which are kept back to score it.

A recording belongs to the held-out split when the CRC-32 of its file name is
a multiple of 3 (about a third of every set, fixed by the name alone, so a
new recording lands in a split without anyone choosing); generator seeds from
HELDOUT_SEEDS.start up are held out, lower ones are for tuning. Tuning (the
detector's constants, `python -m host_tools.bench.taps --split tune`) may only
see TUNE; the README and docs/taps.md report HELDOUT.
"""
import zlib

TUNE = "tune"
HELDOUT = "heldout"
SPLITS = (TUNE, HELDOUT)
TUNE_SEEDS = range(1, 1000)
HELDOUT_SEEDS = range(1000, 2000)


class SplitError(ValueError):
    """A seed used with the other split's recordings."""


def split_of(name):
    """TUNE or HELDOUT for a recording's file name (its base name)."""
    return HELDOUT if zlib.crc32(name.encode("utf-8")) % 3 == 0 else TUNE


def seeds(split):
    return HELDOUT_SEEDS if split == HELDOUT else TUNE_SEEDS


def check_seed(split, seed):
    """Raise SplitError unless `seed` belongs to `split` (None: no split)."""
    if split is None:
        return
    if split not in SPLITS:
        raise SplitError("unknown split %r (use %s)" % (split, " or ".join(SPLITS)))
    r = seeds(split)
    if seed not in r:
        raise SplitError("seed %d is not a %s seed (%d-%d)" % (seed, split, r.start, r.stop - 1))

"""The tap bench's held-out split: which real recordings and which generator
seeds the tap detector may be tuned on, and which are kept back to score it.

A recording belongs to the held-out split when the CRC-32 of its file name is
a multiple of 3 (about a third of every set, fixed by the name alone, so a
new recording lands in a split without anyone choosing); generator seeds from
HELDOUT_SEEDS.start up are held out, lower ones are for tuning. Tuning (the
detector's constants, `python -m host_tools.bench.taps --split tune`) may only
see TUNE; the README and docs/taps.md report HELDOUT.

HELDOUT2 ("split 2", tenth session) is a second held-out draw for a rule found
after HELDOUT had been read: the same held-out recordings (no recording is
left that nobody has looked at) with generator seeds 2000-2999, none of which
had been generated before. Touches and every modelled transient (the bag's
steps and knocks included) are drawn afresh from those seeds, so a rule
chosen on the tuning rows meets draws it has never seen. Read it once per
rule, and say so.
"""
import zlib

TUNE = "tune"
HELDOUT = "heldout"
HELDOUT2 = "heldout2"
SPLITS = (TUNE, HELDOUT, HELDOUT2)
TUNE_SEEDS = range(1, 1000)
HELDOUT_SEEDS = range(1000, 2000)
HELDOUT2_SEEDS = range(2000, 3000)


class SplitError(ValueError):
    """A seed used with the other split's recordings."""


def split_of(name):
    """TUNE or HELDOUT for a recording's file name (its base name)."""
    return HELDOUT if zlib.crc32(name.encode("utf-8")) % 3 == 0 else TUNE


def in_split(name, split):
    """Whether the recording `name` is one of `split`'s (HELDOUT2 lays its
    fresh draws over HELDOUT's recordings)."""
    return split_of(name) == (HELDOUT if split == HELDOUT2 else split)


def seeds(split):
    return {HELDOUT: HELDOUT_SEEDS, HELDOUT2: HELDOUT2_SEEDS}.get(split, TUNE_SEEDS)


def check_seed(split, seed):
    """Raise SplitError unless `seed` belongs to `split` (None: no split)."""
    if split is None:
        return
    if split not in SPLITS:
        raise SplitError("unknown split %r (use %s)" % (split, " or ".join(SPLITS)))
    r = seeds(split)
    if seed not in r:
        raise SplitError("seed %d is not a %s seed (%d-%d)" % (seed, split, r.start, r.stop - 1))


def parse_seeds(split, text, default_n=2):
    """range of seeds from "FIRST-LAST" (None: the split's first default_n),
    each checked against `split`; SplitError names a bad one."""
    first = seeds(split).start
    try:
        lo, hi = (int(s) for s in text.split("-")) if text else (first, first + default_n - 1)
    except ValueError:
        raise SplitError("--seeds %r is not FIRST-LAST" % text) from None
    for seed in (lo, hi):
        check_seed(split, seed)
    return range(lo, hi + 1)

"""The package's one randomness policy.

Every stochastic entry point takes ``seed``/``rng`` and normalises it with
:func:`numpy.random.default_rng`; independent child streams come from
:meth:`numpy.random.SeedSequence.spawn`. The global ``np.random`` state is
never used.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["make_rng", "member_streams", "rule_stream"]


def make_rng(seed=None):
    """Return a :class:`numpy.random.Generator` from a seed, a SeedSequence or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not isinstance(seed, (numbers.Integral, np.random.SeedSequence, np.random.BitGenerator)):
        raise TypeError(f"seed should be None, an int, a SeedSequence or a Generator, got {seed!r}")
    if isinstance(seed, numbers.Integral) and seed < 0:
        raise ValueError(f"seed should be a non-negative integer, got {seed}")
    return np.random.default_rng(seed)


def member_streams(seed):
    """Return the ``(init_rng, noise_rng)`` generators of one ensemble member.

    Both are children of ``numpy.random.SeedSequence(seed)`` so that a member's
    initial weights and its intrinsic noise are independent, and a member of an
    ensemble reproduces a solo run with the same seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"member seeds should be non-negative integers, got {seed!r}")
    init_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(noise_seq)


def rule_stream(seed):
    """Return the generator of one ensemble member's plasticity-rule state (feedback matrices and the like).

    A third child of ``numpy.random.SeedSequence(seed)``, independent of the
    member's initial weights and noise (:func:`member_streams` uses the first
    two children, which it keeps).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"member seeds should be non-negative integers, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(3)[2])

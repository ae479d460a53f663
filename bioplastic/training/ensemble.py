"""The ensemble grid: learning rates x seeds, learning-rate-major."""

from __future__ import annotations

import numpy as np

from .._validation import check_learning_rates, check_seeds

__all__ = ["ensemble_grid"]


def ensemble_grid(learning_rates, seeds):
    """All (learning rate, seed) pairs, learning-rate-major.

    Parameters
    ----------
    learning_rates : float or sequence of float
        Each finite and > 0 (strings, booleans and nested sequences are
        refused).
    seeds : int or sequence of int
        Each an integer in ``[0, 2**63 - 1]`` (seeds are stored as int64).

    Returns
    -------
    learning_rates, seeds : ndarray of shape (n_members,)

    Raises
    ------
    TypeError
        A learning rate or seed of the wrong type (the message names it).
    ValueError
        An empty sequence, a learning rate <= 0 or not finite, a seed out of range.
    """
    lrs = check_learning_rates(learning_rates, "learning_rate")
    seeds = check_seeds(seeds, "seeds")
    grid_lr = np.repeat(lrs, len(seeds))
    grid_seed = np.tile(np.asarray(seeds, dtype=np.int64), len(lrs))
    return grid_lr, grid_seed

"""Divergence: which members of an ensemble blew up, to be frozen and flagged."""

from __future__ import annotations

import numpy as np

__all__ = ["diverging_members"]


def diverging_members(error, weight_norms, initial_error, factor, active):
    """Members that diverge now: non-finite error or weights, or error above ``factor`` x its initial value.

    Parameters
    ----------
    error : ndarray of shape (n_members,)
        The error watched (e.g. the training error).
    weight_norms : ndarray of shape (n_members, n_layers)
    initial_error : ndarray of shape (n_members,)
    factor : float or None
        Divergence threshold relative to ``initial_error`` (``None``: only
        non-finite values count).
    active : ndarray of bool, shape (n_members,)
        Members not frozen yet.

    Returns
    -------
    ndarray of bool, shape (n_members,)
        Active members that diverge now.
    """
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(error) | ~np.all(np.isfinite(weight_norms), axis=1)
        if factor is not None:
            bad |= error > factor * initial_error
    return active & bad

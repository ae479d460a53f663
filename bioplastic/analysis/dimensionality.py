"""Dimensionality of representations: the participation ratio of activity.

``PR = (sum_i l_i)^2 / sum_i l_i^2`` of the eigenvalues ``l_i`` of the
covariance of a population's activity across samples (1 for activity along
one direction, ``n_neurons`` for isotropic activity), computed as
``tr(C)^2 / ||C||_F^2`` without an eigendecomposition.

* :func:`participation_ratio` -- of an activity array (with or without the
  ensemble axis);
* :func:`hidden_participation_ratio` -- of every hidden layer's rates on
  held-out inputs (Figs S3D, S4E of Hiratani, Mehta, Lillicrap & Latham,
  NeurIPS 2022).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_int
from ..ops import forward
from ..ops.statistics import covariance_participation_ratio

__all__ = ["hidden_participation_ratio", "participation_ratio"]


def participation_ratio(activity, *, max_samples=None):
    """Participation ratio ``(sum_i l_i)^2 / sum_i l_i^2`` of PCA eigenvalues ``l_i``.

    A linear measure of the number of dimensions a population's activity
    spans (1 for a single direction, ``n_neurons`` for isotropic activity).

    Parameters
    ----------
    activity : ndarray of shape (n_samples, n_neurons) or (n_members, n_samples, n_neurons)
    max_samples : int, optional
        Use only the first ``max_samples`` samples.

    Returns
    -------
    float or ndarray of shape (n_members,)
        0 for activity that does not vary.
    """
    activity = np.asarray(activity, dtype=float)
    squeeze = activity.ndim == 2
    if squeeze:
        activity = activity[None]
    if activity.ndim != 3:
        raise ValueError(f"activity should have shape (n_samples, n_neurons) or (n_members, n_samples, n_neurons), got {activity.shape}")
    if max_samples is not None:
        activity = activity[:, : check_positive_int(max_samples, "max_samples")]
    if activity.shape[1] < 2:
        raise ValueError(f"participation_ratio needs at least 2 samples, got {activity.shape[1]}")
    centred = activity - activity.mean(axis=1, keepdims=True)
    cov = np.einsum("esi,esj->eij", centred, centred) / (activity.shape[1] - 1)
    pr = np.atleast_1d(covariance_participation_ratio(cov))
    return float(pr[0]) if squeeze else pr


def hidden_participation_ratio(network, state, x, *, max_samples=None):
    """Participation ratio of every hidden layer's rates on inputs ``x`` (Figs S3D, S4E).

    :func:`participation_ratio` of the rates of each hidden population
    across the inputs (clean pass).

    Parameters
    ----------
    network : Network
    state : NetworkState
    x : ndarray of shape (n_samples, n_in)
        Held-out inputs (e.g. the test set).
    max_samples : int, optional
        Use the first ``max_samples`` inputs only.

    Returns
    -------
    ndarray of shape (n_members, n_layers - 1)
    """
    x = np.asarray(x, dtype=state.dtype)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(f"x should have shape (n_samples, {network.n_inputs}), got {x.shape}")
    if max_samples is not None:
        x = x[: check_positive_int(max_samples, "max_samples")]
    activity = forward(network, state, x)
    if network.n_layers < 2:
        return np.empty((state.n_members, 0))
    return np.stack([participation_ratio(activity.rates[k]) for k in range(1, network.n_layers)], axis=1)

"""Analyses: alignment of rules' updates, dimensionality of representations."""

from __future__ import annotations

import numpy as np

from ._random import make_rng
from ._validation import check_positive_int
from .neurons import draw_noise

__all__ = ["cosine_similarity", "participation_ratio", "update_cosine_similarity"]


def cosine_similarity(a, b):
    """Cosine similarity of two update arrays per ensemble member.

    Parameters
    ----------
    a, b : ndarray of shape (n_members, ...)

    Returns
    -------
    ndarray of shape (n_members,)
    """
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    num = np.einsum("ei,ei->e", a, b)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def update_cosine_similarity(network, state, x, target, loss, rule, reference, *, seed=None):
    """Per-layer cosine similarity between two rules' updates on the same minibatch.

    Parameters
    ----------
    network : Network
    state : NetworkState
    x : ndarray of shape (batch, n_in)
    target : ndarray of shape (batch, n_out)
    loss : Loss
    rule, reference : PlasticityRule
        Typically ``NodePerturbation`` and ``Backprop`` (Fig. 4A of the NP paper).
    seed : int or Generator, optional
        Noise for rules that use it.

    Returns
    -------
    ndarray of shape (n_members, n_layers)
        NaN for layers a rule does not update.
    """
    rng = make_rng(seed)
    scale = np.ones(state.n_members)
    out = np.full((state.n_members, network.n_layers), np.nan)
    results = []
    for r in (rule, reference):
        noise = None
        if r.uses_noise:
            mask = r.perturbed_layers(network)
            noise = [
                draw_noise(rng, pop.noise, (state.n_members, x.shape[0], pop.n_neurons), state.dtype) if mask[k] and pop.noise else None
                for k, pop in enumerate(network.populations[1:])
            ]
        results.append(r.compute_updates(network, state, x, target, loss, noise=noise, scale=scale).weights)
    for k in range(network.n_layers):
        if results[0][k] is not None and results[1][k] is not None:
            out[:, k] = cosine_similarity(results[0][k], results[1][k])
    return out


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
    trace = np.einsum("eii->e", cov)
    sq = np.einsum("eij,eij->e", cov, cov)  # sum of squared eigenvalues = ||C||_F^2
    pr = np.divide(trace**2, sq, out=np.zeros_like(trace), where=sq > 0)
    return float(pr[0]) if squeeze else pr


from .analysis_training import *  # noqa: E402, F401, F403
from .analysis_training import __all__ as _training_all  # noqa: E402

__all__ += _training_all

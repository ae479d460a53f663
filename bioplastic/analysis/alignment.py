"""Alignment of rules' updates: cosine similarity per layer and ensemble member.

* :func:`cosine_similarity` -- of two update arrays, per ensemble member;
* :func:`sample_directions` -- one rule's update directions on a minibatch,
  with the noise the rule declares (:meth:`~bioplastic.plasticity.PlasticityRule.noise_needs`)
  drawn as the engine draws it;
* :func:`update_cosine_similarity` -- per-layer cosine similarity between
  two rules' updates on the same minibatch from the same weights;
* :func:`mean_update_cosine_similarity` -- the same, averaged over
  minibatches and noise draws (Fig. 4A of Hiratani, Mehta, Lillicrap &
  Latham, NeurIPS 2022, compares node perturbation with SGD this way).
"""

from __future__ import annotations

import numpy as np

from .._random import make_rng
from .._validation import check_positive_int
from ..losses import get_loss
from ..training.probes import _initial_rule_state, cosine_similarity, sample_directions, update_cosine_similarity

__all__ = ["cosine_similarity", "mean_update_cosine_similarity", "sample_directions", "update_cosine_similarity"]


def mean_update_cosine_similarity(network, state, task, rule, reference, *, loss="squared_error", batch_size=100,
                                  n_batches=10, n_noise=1, seed=0):
    """Per-layer cosine similarity of two rules' updates, averaged over minibatches and noise.

    For each of ``n_batches`` training minibatches of ``task`` and each of
    ``n_noise`` noise draws, both rules compute their update on the same
    minibatch from the same weights (:func:`update_cosine_similarity`); the
    cosine similarity of the two updates is taken layer by layer (Fig. 4A of
    the NP paper compares NP with SGD this way). A rule with state of its
    own (e.g. feedback matrices) gets it once per member, drawn from
    ``seed`` before the minibatches, and keeps it for all of them.

    Parameters
    ----------
    network : Network
    state : NetworkState
        Weights of ``n_members`` networks (not changed).
    task : Task
        Source of the minibatches (its training set).
    rule, reference : PlasticityRule
        E.g. ``NodePerturbation()`` and ``Backprop()``.
    loss : str or Loss, default "squared_error"
    batch_size : int, default 100
    n_batches : int, default 10
        Number of minibatches (drawn with ``seed``, without repetition within
        an epoch's order).
    n_noise : int, default 1
        Noise draws per minibatch.
    seed : int or Generator, default 0
        Seeds the minibatch order and the noise.

    Returns
    -------
    dict
        ``"mean"`` and ``"sem"`` (standard error of the mean over the
        ``n_batches * n_noise`` samples): ndarray of shape
        ``(n_members, n_layers)``; ``"values"``: ndarray of shape
        ``(n_batches, n_noise, n_members, n_layers)``. NaN for layers a rule
        does not update.
    """
    loss = get_loss(loss)
    n_batches = check_positive_int(n_batches, "n_batches")
    n_noise = check_positive_int(n_noise, "n_noise")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = make_rng(seed)
    dtype = state.dtype
    states = [_initial_rule_state(r, network, state.n_members, dtype, rng) for r in (rule, reference)]
    values = np.empty((n_batches, n_noise, state.n_members, network.n_layers))
    drawn = 0
    while drawn < n_batches:
        for x, target in task.batches(batch_size, rng):
            x = np.asarray(x, dtype=dtype)
            target = np.asarray(target, dtype=dtype)
            for j in range(n_noise):
                values[drawn, j] = update_cosine_similarity(network, state, x, target, loss, rule, reference, seed=rng,
                                                            rule_state=states[0], reference_state=states[1])
            drawn += 1
            if drawn == n_batches:
                break
    flat = values.reshape(n_batches * n_noise, state.n_members, network.n_layers)
    n = flat.shape[0]
    sem = flat.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(flat.shape[1:], np.nan)
    return {"mean": flat.mean(axis=0), "sem": sem, "values": values}

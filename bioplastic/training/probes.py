"""Probes of what a rule does on a minibatch, without training: its update directions and their alignment.

* :func:`cosine_similarity` -- of two update arrays, per ensemble member;
* :func:`sample_directions` -- one rule's update directions on a minibatch,
  with the noise the rule declares (:meth:`~bioplastic.plasticity.PlasticityRule.noise_needs`)
  drawn as the engine draws it;
* :func:`update_cosine_similarity` -- per-layer cosine similarity between
  two rules' updates on the same minibatch from the same weights.

Training callbacks (:mod:`bioplastic.training.callbacks`) record them during
a run; :mod:`bioplastic.analysis` re-exports them beside its measurements.
"""

from __future__ import annotations

import numpy as np

from .._random import make_rng
from ..ops import draw_noise, synaptic_noise_shape

__all__ = ["cosine_similarity", "sample_directions", "update_cosine_similarity"]


def cosine_similarity(a, b):
    """Cosine similarity of two update arrays per ensemble member.

    Parameters
    ----------
    a, b : ndarray of shape (n_members, ...)

    Returns
    -------
    ndarray of shape (n_members,)
        0 where either array is zero.
    """
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    num = np.einsum("ei,ei->e", a, b)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _draw_rule_noise(rule, network, n_members, batch, dtype, rng):
    """The intrinsic and synaptic noise ``rule`` needs for one step: ``(noise, synaptic_noise)``.

    Population noise (``needs.samples`` draws per sample, in the rule's or
    the population's distribution), layer by layer, then synaptic noise, projection by
    projection (unit-variance Gaussian of shape ``(n_members, *synaptic_noise_shape(projection))``, e.g.
    ``(n_members, n_post, n_pre + 1)``);
    ``None`` for a kind of noise the rule does not need.
    """
    needs = rule.noise_needs(network)
    if rule.uses_noise and not needs.any:
        raise ValueError(f"{rule!r} needs noise but no population or projection of {network!r} that it perturbs has noise")
    noise = None
    if any(needs.population):
        kinds = list(needs.kinds) or [None] * network.n_layers  # the rule's distribution, else the population's
        noise = [
            draw_noise(rng, kind or pop.noise, (n_members, needs.samples * batch, pop.n_neurons), dtype) if noisy else None
            for noisy, pop, kind in zip(needs.population, network.populations[1:], kinds, strict=True)
        ]
    synaptic_noise = None
    if any(needs.synapse):
        synaptic_noise = [
            draw_noise(rng, "gaussian", (n_members, *synaptic_noise_shape(proj)), dtype) if noisy else None
            for noisy, proj in zip(needs.synapse, network.projections, strict=True)
        ]
    return noise, synaptic_noise


def _initial_rule_state(rule, network, n_members, dtype, rng):
    """The rule's own state for ``n_members`` members drawn from ``rng`` (``None`` for a rule without state)."""
    own = [rule.init_rule_state(network, rng, dtype) for _ in range(n_members)]
    if not own[0]:
        return None
    return {name: np.ascontiguousarray(np.stack([o[name] for o in own]), dtype=dtype) for name in own[0]}


def sample_directions(network, state, x, target, loss, rule, *, seed=None, rule_state=None):
    """One rule's update directions (gradient estimates) on a minibatch, with freshly drawn noise.

    The noise the rule declares (:meth:`~bioplastic.plasticity.PlasticityRule.noise_needs`)
    is drawn from ``seed``: intrinsic noise of the perturbed populations
    (their own distributions, shape ``(n_members, batch, n_neurons)``), then
    Gaussian synaptic noise of the perturbed projections (shape
    ``(n_members, n_post, n_pre + 1)``), and passed to
    :meth:`~bioplastic.plasticity.PlasticityRule.directions`.

    Parameters
    ----------
    network : Network
    state : NetworkState
        Weights of ``n_members`` networks (not changed).
    x : ndarray of shape (batch, n_in)
    target : ndarray of shape (batch, n_out)
    loss : Loss
    rule : PlasticityRule
    seed : int or Generator, optional
        Source of the noise (and of the rule's state when it is not given).
    rule_state : dict of str to ndarray, optional
        The rule's own state, arrays with the ensemble axis first (e.g. an
        engine's ``rule_state_``); for a rule with state, drawn per member
        with :meth:`~bioplastic.plasticity.PlasticityRule.init_rule_state`
        from ``seed`` after the noise when omitted.

    Returns
    -------
    Directions
        ``weights[k]`` of shape ``(n_members, n_post, n_pre)`` (``None`` for
        projections the rule does not change), ``biases``, the clean pass.
    """
    rng = make_rng(seed)
    return _directions(network, state, x, target, loss, rule, rng, rule_state)


def _directions(network, state, x, target, loss, rule, rng, rule_state):
    noise, synaptic_noise = _draw_rule_noise(rule, network, state.n_members, x.shape[0], state.dtype, rng)
    if rule_state is None:
        rule_state = _initial_rule_state(rule, network, state.n_members, state.dtype, rng)
    return rule.directions(network, state, x, target, loss, noise=noise, synaptic_noise=synaptic_noise, rule_state=rule_state,
                           scale=np.ones(state.n_members))


def update_cosine_similarity(network, state, x, target, loss, rule, reference, *, seed=None, rule_state=None,
                             reference_state=None):
    """Per-layer cosine similarity between two rules' updates on the same minibatch.

    Each rule's directions come from :func:`sample_directions`, the noise of
    ``rule`` drawn first, then that of ``reference``, from one stream.

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
    rule_state, reference_state : dict of str to ndarray, optional
        The rules' own states (see :func:`sample_directions`).

    Returns
    -------
    ndarray of shape (n_members, n_layers)
        NaN for layers a rule does not update.
    """
    rng = make_rng(seed)
    out = np.full((state.n_members, network.n_layers), np.nan)
    results = [_directions(network, state, x, target, loss, r, rng, own).weights
               for r, own in ((rule, rule_state), (reference, reference_state))]
    for k in range(network.n_layers):
        if results[0][k] is not None and results[1][k] is not None:
            out[:, k] = cosine_similarity(results[0][k], results[1][k])
    return out

"""Weight perturbation: synaptic noise consolidated by a broadcast neuromodulator."""

from __future__ import annotations

import numpy as np

from .._validation import check_layers, check_positive, layer_mask
from ..neuromodulation import check_neuromodulator
from ..ops import forward, scratch, synaptic_perturbation_change
from .base import Directions, NoiseNeeds, PlasticityRule

__all__ = ["WeightPerturbation"]


class WeightPerturbation(PlasticityRule):
    """Weight perturbation (WP): every synapse is perturbed by its own noise.

    For one step every synapse of the perturbed projections carries noise,
    ``W~_k = W_k + sigma psi_k`` (and ``b~_k = b_k + sigma psi^b_k``), with
    ``psi`` unit-variance Gaussian, one draw per step shared by the samples
    of the minibatch. The change of the minibatch loss it causes is
    broadcast as a scalar neuromodulator ``M = -(L~ - L) / sigma`` and every
    synapse changes by its own noise times the neuromodulator,

        dW_k = eta * M * psi_k

    (Werfel, Xie & Seung, Neural Computation 2005; Züge, Klos, Memmesheimer,
    "Weight versus node perturbation learning in temporally extended tasks",
    2021). ``L`` is the mean over the minibatch's samples
    (``batch_reduction="mean"``) or their sum (``"sum"``). To first order in
    ``sigma``, ``E[dW_k] = -eta dL/dW_k``. For a linear layer with ``n_pre``
    inputs and ``n_post`` outputs the estimate's variance is
    ``(n_post n_pre + 1) |dL/dW|^2`` against node perturbation's
    ``(n_post + 1) |dL/dW|^2`` on one sample: a factor of order ``n_pre``.

    Parameters
    ----------
    sigma : float, default 1e-4
        Noise amplitude.
    layers : "all" or sequence of int, default "all"
        Projections (0 = first) whose synapses are perturbed (and so learn).
    neuromodulator : Neuromodulator, optional
        Baseline of the reward prediction error (default: the clean,
        two-pass baseline).
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: one scalar per step (``signal = "scalar"``); every synapse
    needs only its own noise and the broadcast neuromodulator (``local``).
    """

    name = "weight_perturbation"
    aliases = ("wp",)
    signal = "scalar"
    local = True
    uses_noise = True

    def __init__(self, *, sigma=1e-4, layers="all", neuromodulator=None, batch_reduction="mean"):
        super().__init__(batch_reduction=batch_reduction)
        self.sigma = check_positive(sigma, "sigma")
        self.layers = check_layers(layers)
        self.neuromodulator = check_neuromodulator(neuromodulator)

    def noise_needs(self, network):
        for k, proj in enumerate(network.projections):
            if getattr(proj, "kind", "dense") == "conv":
                raise ValueError(f"WeightPerturbation does not run on convolutional projections yet (projection {k}: {proj!r})")
        mask = layer_mask(self.layers, network)
        synapse = tuple(bool(m) and proj.plastic for m, proj in zip(mask, network.projections, strict=True))
        return NoiseNeeds((False,) * network.n_layers, synapse)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_k = -M psi_k``, times ``scale``."""
        if synaptic_noise is None or all(n is None for n in synaptic_noise):
            raise ValueError("WeightPerturbation.directions needs synaptic noise (a list of per-projection arrays)")
        activity = forward(network, state, x, workspace=workspace)
        changes = synaptic_perturbation_change(network, state, activity, synaptic_noise, self.sigma, workspace=workspace)
        loss_difference = loss.difference(activity.output, changes[-1], target).sum(axis=1)  # (E,)
        loss_difference *= self._sample_factor(x.shape[0])
        modulator = self.neuromodulator.signal(loss_difference, self.sigma)  # (E,)
        coefficient = -modulator * self._scale(scale, state.n_members, modulator.dtype)
        weights, biases = [], []
        for k, psi in enumerate(synaptic_noise):
            if psi is None:
                weights.append(None)
                biases.append(None)
                continue
            n_pre = state.weights[k].shape[2]
            full = np.multiply(psi, coefficient[:, None, None], out=scratch(workspace, ("wp", k), psi.shape, state.dtype))
            weights.append(full[:, :, :n_pre])
            biases.append(full[:, :, n_pre] if state.biases[k] is not None else None)
        return Directions(weights, biases, activity)

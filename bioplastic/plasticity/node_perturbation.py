"""Node perturbation: three-factor plasticity driven by intrinsic noise."""

from __future__ import annotations

import numpy as np

from .._validation import check_layers, check_positive, layer_mask
from ..neuromodulation import check_neuromodulator
from ..ops import deltas_to_updates, forward, perturbation_change
from .base import Directions, PlasticityRule

__all__ = ["NodePerturbation"]


class NodePerturbation(PlasticityRule):
    """Node perturbation (NP), a three-factor rule.

    Each neuron's activity is perturbed by its intrinsic noise,
    ``h~_k = W_k x~_{k-1} + b_k + sigma xi_k``. The loss change this causes is
    broadcast as a scalar neuromodulator ``M = -(L~ - L) / sigma`` and every
    synapse changes by

        dW_k = eta * M * xi_k x_{k-1}^T

    (Eq. 3 of Hiratani, Mehta, Lillicrap & Latham, NeurIPS 2022): postsynaptic
    noise x presynaptic rate (the eligibility) x neuromodulator. Averaged over
    the noise, ``E[dW_k] = -eta dL/dW_k`` to first order in ``sigma`` (Eq. 5).
    The presynaptic rate is that of the clean pass. Over a minibatch the
    per-sample updates are averaged (``batch_reduction="mean"``) or summed.

    Parameters
    ----------
    sigma : float, default 1e-4
        Noise amplitude (the paper uses 1e-4 for nonlinear networks).
    layers : "all" or sequence of int, default "all"
        Projections (0 = first) whose postsynaptic populations are perturbed
        (and so learn); the paper perturbs all layers simultaneously.
    neuromodulator : Neuromodulator, optional
        Baseline of the reward prediction error (default: the clean,
        two-pass baseline). The numpy engine runs the clean baseline; the
        Brian2 engine also runs ``baseline="running_average"``.
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: one scalar per sample (``signal = "scalar"``); no error
    vector reaches any synapse.
    """

    name = "node_perturbation"
    aliases = ("np",)
    signal = "scalar"
    local = True
    uses_noise = True

    def __init__(self, *, sigma=1e-4, layers="all", neuromodulator=None, batch_reduction="mean"):
        super().__init__(batch_reduction=batch_reduction)
        self.sigma = check_positive(sigma, "sigma")
        self.layers = check_layers(layers)
        self.neuromodulator = check_neuromodulator(neuromodulator)

    def perturbed_layers(self, network):
        return layer_mask(self.layers, network)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_k = -(1/B) sum_n M_n xi_{k,n} x_{k-1,n}^T`` (``"mean"``), times ``scale``."""
        if noise is None:
            raise ValueError("NodePerturbation.directions needs noise (a list of per-layer arrays)")
        activity = forward(network, state, x, workspace=workspace)
        changes = perturbation_change(network, state, activity, noise, self.sigma, workspace=workspace)
        loss_difference = loss.difference(activity.output, changes[-1], target)
        modulator = self.neuromodulator.signal(loss_difference, self.sigma)  # (E, B)
        # -scale, exact: the SGD change eta M xi x^T keeps its rounding (scale = -eta)
        factor = np.negative(self._scale(scale, state.n_members, modulator.dtype))
        coefficient = modulator * (factor[:, None] * self._sample_factor(x.shape[0]))
        weights, biases = deltas_to_updates(network, activity, noise, coefficient[:, :, None], workspace=workspace)
        return Directions(weights, biases, activity)

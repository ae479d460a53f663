"""Node perturbation: three-factor plasticity driven by intrinsic noise."""

from __future__ import annotations

import numpy as np

from ..neuromodulation import check_neuromodulator
from ..ops import deltas_to_updates, forward, perturbation_change
from ._perturbation import PerturbationRule
from .base import Directions

__all__ = ["NodePerturbation"]


class NodePerturbation(PerturbationRule):
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

    In the notation of Dalm, van Gerven & Ahmad (arXiv 2310.00965)
    this is ``e_k = -(dL / sigma^2) eps_k`` with ``eps_k = sigma xi_k``,
    ``g_{W_k} = -(1/B) sum_n e_{k,n} x*_{k-1,n}^T``; behind a
    :class:`~bioplastic.decorrelation.LateralDecorrelation` (presynaptic rate
    ``x* = R x``) it is their DNP.

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
    n_samples : int, default 1
        Independent noise draws per sample, the estimates averaged.
    clean_pass : bool, default True
        ``False``: measured against a second noisy pass with independent
        noise ``xi_b``: ``dW = -eta (dL / (2 sigma)) (xi_a - xi_b) x*^T`` with
        the second pass's presynaptic rates (the noise difference has
        variance 2).
    noise : {"gaussian", "rademacher", "bernoulli"} or None, default None
        Noise distribution (``None``: each population's own ``noise``).

    Notes
    -----
    Signals used: one scalar per sample (``signal = "scalar"``); no error
    vector reaches any synapse.
    """

    name = "node_perturbation"
    aliases = ("np",)

    def __init__(self, *, sigma=1e-4, layers="all", neuromodulator=None, batch_reduction="mean", n_samples=1, clean_pass=True, noise=None):
        super().__init__(sigma=sigma, layers=layers, n_samples=n_samples, clean_pass=clean_pass, noise=noise,
                         batch_reduction=batch_reduction)
        self.neuromodulator = check_neuromodulator(neuromodulator)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_k = -(1/B) sum_n M_n xi_{k,n} x*_{k-1,n}^T`` (``"mean"``), times ``scale``."""
        if noise is None:
            raise ValueError("NodePerturbation.directions needs noise (a list of per-layer arrays)")
        if self.n_samples != 1 or not self.clean_pass:
            return self._estimate(network, state, x, target, loss, noise, scale, workspace)
        activity = forward(network, state, x, workspace=workspace)
        changes = perturbation_change(network, state, activity, noise, self.sigma, workspace=workspace)
        loss_difference = loss.difference(activity.output, changes[-1], target)
        modulator = self.neuromodulator.signal(loss_difference, self.sigma)  # (E, B)
        # -scale, exact: the SGD change eta M xi x^T keeps its rounding (scale = -eta)
        factor = np.negative(self._scale(scale, state.n_members, modulator.dtype))
        coefficient = modulator * (factor[:, None] * self._sample_factor(x.shape[0]))
        weights, biases = deltas_to_updates(network, activity, noise, coefficient[:, :, None], workspace=workspace)
        return Directions(weights, biases, activity)

    def _estimate(self, network, state, x, target, loss, noise, scale, workspace):
        """The general path: ``n_samples`` draws, with or without a clean pass."""
        self._check_noise(noise, x.shape[0])

        def passes():
            for noisy in self.noisy_passes(network, state, x, target, loss, noise, workspace=workspace):
                modulator = self.neuromodulator.signal(noisy.loss_difference, self.sigma)  # -dL / sigma
                coefficient = (modulator * (-1.0 / noisy.noise_variance))[:, :, None]
                yield noisy.reference, noisy.noise, [None if n is None else coefficient for n in noisy.noise]

        weights, biases, reference = self._combine(network, state, passes(), x, scale, workspace, single=self.n_samples == 1)
        return Directions(weights, biases, reference)

"""REINFORCE-style output perturbation with backpropagated error estimates."""

from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ..neuromodulation import check_neuromodulator
from ..ops import backprop_deltas, deltas_to_updates, forward, perturbation_change
from .base import Directions, PlasticityRule

__all__ = ["Reinforce"]


class Reinforce(PlasticityRule):
    """Perturb the readout, estimate its error from the reward, backpropagate it.

    Only the output population is perturbed, ``h~_L = h_L + sigma xi_L``. The
    loss change it causes gives the scalar neuromodulator
    ``M = -(L~ - L) / sigma`` (as in node perturbation), and
    ``g^_L = -M xi_L`` is a one-sample estimate of the output error
    ``dL/dh_L``: to first order ``M = -xi_L . dL/dh_L``, so
    ``E[-M xi_L] = dL/dh_L``. The estimate is propagated down like the true
    error in backprop,

        g^_k = f_k'(h_k) * (W_{k+1}^T g^_{k+1}),   dW_k = -eta g^_k x_{k-1}^T,

    which is Eq. 15 of Hiratani, Mehta, Lillicrap & Latham (NeurIPS 2022). At
    the readout this is exactly NP's update ``dW_L = eta M xi_L x_{L-1}^T``;
    below it the updates are unbiased estimates of SGD's whose variance
    grows with the number of outputs, not with the number of neurons.
    Over a minibatch the per-sample updates are averaged
    (``batch_reduction="mean"``) or summed.

    Parameters
    ----------
    sigma : float, default 1e-4
        Noise amplitude.
    perturb_hidden : bool, default False
        Also perturb the hidden populations with their intrinsic noise (as
        when every neuron is noisy). The loss change then contains the hidden
        noise's effect too; the error estimate still uses the output noise
        only, so it stays unbiased (the hidden noise is independent of
        ``xi_L``) but becomes noisier.
    neuromodulator : Neuromodulator, optional
        Baseline of the reward prediction error (default: the clean,
        two-pass baseline). The numpy engine runs the clean baseline; the
        Brian2 engine also runs ``baseline="running_average"``.
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used (``signal = "vector"``): the readout's synapses see one
    broadcast scalar per sample, like NP, but every hidden synapse receives a
    per-neuron error vector carried back through the transposed forward
    weights, which is not local. :meth:`layer_signals` lists the signal per
    layer.

    Examples
    --------
    >>> from bioplastic import models
    >>> from bioplastic.plasticity import Reinforce
    >>> rule = Reinforce(sigma=1e-4, batch_reduction="mean")
    >>> rule.layer_signals(models.mlp((21, 100, 7)))
    ['vector', 'scalar']
    """

    name = "reinforce"
    signal = "vector"
    local = False
    uses_noise = True

    def __init__(self, *, sigma=1e-4, perturb_hidden=False, neuromodulator=None, batch_reduction="mean"):
        super().__init__(batch_reduction=batch_reduction)
        self.sigma = check_positive(sigma, "sigma")
        if not isinstance(perturb_hidden, (bool, np.bool_)):
            raise TypeError(f"perturb_hidden should be True or False, got {perturb_hidden!r}")
        self.perturb_hidden = bool(perturb_hidden)
        self.neuromodulator = check_neuromodulator(neuromodulator)

    def perturbed_layers(self, network):
        return [self.perturb_hidden] * (network.n_layers - 1) + [True]

    def layer_signals(self, network):
        """What reaches each layer's synapses: ``"vector"`` for hidden layers, ``"scalar"`` for the readout."""
        return ["vector"] * (network.n_layers - 1) + ["scalar"]

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_k = (1/B) sum_n g^_{k,n} x_{k-1,n}^T`` (``"mean"``), times ``scale``."""
        if noise is None or noise[-1] is None:
            raise ValueError(
                "Reinforce.directions needs intrinsic noise at the output population "
                "(a list of per-layer arrays whose last entry is not None); "
                f"the output population's noise is {network.populations[-1].noise!r}"
            )
        activity = forward(network, state, x, workspace=workspace)
        if not self.perturb_hidden:
            noise = [None] * (network.n_layers - 1) + [noise[-1]]
        changes = perturbation_change(network, state, activity, noise, self.sigma, workspace=workspace)
        loss_difference = loss.difference(activity.output, changes[-1], target)
        modulator = self.neuromodulator.signal(loss_difference, self.sigma)  # (E, B)
        estimate = -modulator[:, :, None] * noise[-1]  # estimate of dL/dh_L, (E, B, n_out)
        deltas = backprop_deltas(network, state, activity, estimate, workspace=workspace)
        coefficient = self._scale(scale, state.n_members, modulator.dtype)[:, None, None] * self._sample_factor(x.shape[0])
        weights, biases = deltas_to_updates(network, activity, deltas, coefficient, workspace=workspace)
        return Directions(weights, biases, activity)

"""Weight perturbation: synaptic noise consolidated by a broadcast neuromodulator."""

from __future__ import annotations

import numpy as np

from .._validation import check_layers, check_positive, layer_mask
from ..neuromodulation import check_neuromodulator
from ..ops import forward, scratch, synaptic_noise_shape, synaptic_perturbation_change
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

    On a convolutional projection every kernel weight and every channel's
    bias carries its own noise, ``K~_k = K_k + sigma psi_k``: the noise
    kernel is shared by all positions, as the kernel is, and the update
    ``dK_k = eta M psi_k`` changes each kernel weight by its own noise.
    The synaptic noise of projection ``k`` has shape ``(n_members,
    *synaptic_noise_shape(projection))``
    (:func:`~bioplastic.ops.synaptic_noise_shape`): ``(n_members, n_post,
    n_pre + 1)`` for an all-to-all projection, ``(n_members, out_channels,
    in_channels kh kw + 1)`` for a convolutional one (row ``o``: kernel
    ``o`` flattened as the kernels are, then the bias of channel ``o``), the
    last column perturbing the bias. Pooling (average or max) is part of
    the perturbed pass like any other step of it.

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
        mask = layer_mask(self.layers, network)
        synapse = tuple(bool(m) and proj.plastic for m, proj in zip(mask, network.projections, strict=True))
        return NoiseNeeds((False,) * network.n_layers, synapse)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_k = -M psi_k`` (reshaped to the kernels' shape on a convolutional projection), times ``scale``."""
        if synaptic_noise is None or all(n is None for n in synaptic_noise):
            raise ValueError("WeightPerturbation.directions needs synaptic noise (a list of per-projection arrays)")
        for k, psi in enumerate(synaptic_noise):
            expected = (state.n_members, *synaptic_noise_shape(network.projections[k]))
            if psi is not None and psi.shape != expected:
                raise ValueError(f"synaptic_noise[{k}] should have shape (n_members, *synaptic_noise_shape(projection)) = {expected}, "
                                 f"got {psi.shape}")
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
            shape = state.weights[k].shape
            n_pre = int(np.prod(shape[2:]))  # n_pre, or in_channels kh kw of a kernel
            full = np.multiply(psi, coefficient[:, None, None], out=scratch(workspace, ("wp", k), psi.shape, state.dtype))
            weights.append(full[:, :, :n_pre].reshape(shape))  # a view (the kernels' shape on a convolutional projection)
            biases.append(full[:, :, n_pre] if state.biases[k] is not None else None)
        return Directions(weights, biases, activity)

"""Iterative node perturbation (INP): one layer perturbed at a time, its own loss difference for its own update."""

from __future__ import annotations

import numpy as np

from ..ops import forward
from ._perturbation import PerturbationRule
from .base import Directions

__all__ = ["IterativeNodePerturbation"]


class IterativeNodePerturbation(PerturbationRule):
    r"""Iterative node perturbation (INP): a clean pass and one noisy pass per layer.

    In pass ``l`` only layer ``l``'s summed input is perturbed,
    ``a~_l = a_l + sigma xi_l``; the loss change of that pass, ``dL_l``, is
    the layer's own neuromodulator, and (Dalm, van Gerven & Ahmad,
    "Effective learning by node perturbation in deep neural networks",
    arXiv 2310.00965)

    .. math:: e_l = -\,dL_l \, N_l \, \frac{\delta a_l}{\lVert \delta a_l \rVert^2}, \qquad
              g_{W_l} = -\frac{1}{B} \sum_n e_{l,n} \, x^{*\top}_{l-1,n},

    with ``delta a_l = a~_l - a_l = sigma xi_l`` (nothing upstream of the
    layer changes), ``N_l`` its number of units and ``x*`` the clean
    presynaptic rates (decorrelated ones behind a
    :class:`~bioplastic.decorrelation.LateralDecorrelation`: DINP). The
    direction ``g`` is a gradient estimate: averaged over the noise,
    ``E[g] = dL/dW`` to first order in ``sigma`` (``E[N xi xi^T / |xi|^2] = I``
    for isotropic noise), with one layer's noise at a time and so no
    cross-talk between layers. It costs one clean pass and ``L`` partial
    noisy passes (pass ``l`` runs from layer ``l`` up).

    Parameters
    ----------
    sigma : float, default 1e-3
        Noise amplitude (Dalm et al. use 1e-3).
    layers : "all" or sequence of int, default "all"
    n_samples : int, default 1
        Independent noise draws per sample, the estimates averaged.
    clean_pass : bool, default True
        ``False``: each layer's pass is measured against a second noisy pass
        (perturbed in the same layer alone, independent noise);
        ``delta a_l`` is then ``sigma (xi_a - xi_b)``.
    noise : {"gaussian", "rademacher", "bernoulli"} or None, default None
        Noise distribution (``None``: each population's own).
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: one scalar per sample and layer (``signal = "scalar"``),
    broadcast to that layer's synapses.
    """

    name = "iterative_node_perturbation"
    aliases = ("inp",)

    def __init__(self, *, sigma=1e-3, layers="all", n_samples=1, clean_pass=True, noise=None, batch_reduction="mean"):
        super().__init__(sigma=sigma, layers=layers, n_samples=n_samples, clean_pass=clean_pass, noise=noise,
                         batch_reduction=batch_reduction)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_l = (1/B) sum_n dL_{l,n} N_l xi_{l,n} x*_{l-1,n}^T / (sigma |xi_{l,n}|^2)`` (``"mean"``), times ``scale``."""
        self._check_noise(noise, x.shape[0])
        clean = forward(network, state, x, workspace=workspace) if self.clean_pass else None
        layers = [k for k, n in enumerate(noise) if n is not None]

        def passes():
            for layer in layers:
                for noisy in self.noisy_passes(network, state, x, target, loss, noise, only=layer, clean=clean, workspace=workspace):
                    xi = noisy.noise[layer]
                    squared = np.einsum("ebn,ebn->eb", xi, xi)  # |delta a_l|^2 / sigma^2
                    coefficient = noisy.loss_difference * (xi.shape[-1] / self.sigma) / squared
                    posts = [xi if k == layer else None for k in range(network.n_layers)]
                    coefficients = [coefficient[:, :, None] if k == layer else None for k in range(network.n_layers)]
                    yield (clean if clean is not None else noisy.reference), posts, coefficients

        weights, biases, reference = self._combine(network, state, passes(), x, scale, workspace, single=False)
        return Directions(weights, biases, reference)

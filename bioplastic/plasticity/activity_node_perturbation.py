"""Activity-based node perturbation (ANP): directional derivatives from the measured activity change."""

from __future__ import annotations

import numpy as np

from ._perturbation import PerturbationRule
from .base import Directions

__all__ = ["ActivityNodePerturbation"]


class ActivityNodePerturbation(PerturbationRule):
    r"""Activity-based node perturbation (ANP): one noisy pass, the update from the measured change of activity.

    Every perturbed layer receives noise in the same pass. The change of
    each layer's summed input, ``delta a_l = a~_l - a_l``, is *measured*: it
    holds the layer's own noise plus what reaches it from the noise upstream
    (the injected noise itself is never read). With ``dL`` the sample's loss
    change (Dalm, van Gerven & Ahmad, "Effective learning by node
    perturbation in deep neural networks", arXiv 2310.00965)

    .. math:: e_l = -\,dL \, N \, \frac{\delta a_l}{\lVert \delta a \rVert^2}, \qquad
              g_{W_l} = -\frac{1}{B} \sum_n e_{l,n} \, x^{*\top}_{l-1,n},

    where ``|delta a|^2`` sums over all perturbed layers of that sample and
    ``N`` is the total number of perturbed units. ``dL / |delta a|`` is the
    directional derivative of the loss along the measured change, so the
    estimate uses the network's actual activity change as its direction.
    With a :class:`~bioplastic.decorrelation.LateralDecorrelation` in the
    network this is DANP, whose decorrelated inputs make the layers'
    changes close to independent.

    Parameters
    ----------
    sigma : float, default 1e-3
        Noise amplitude (Dalm et al. use 1e-3).
    layers : "all" or sequence of int, default "all"
        Perturbed (and learning) layers; ``|delta a|^2`` and ``N`` run over them.
    n_samples : int, default 1
        Independent noise draws per sample, the estimates averaged.
    clean_pass : bool, default True
        ``False``: measured against a second noisy pass (independent noise);
        ``delta a`` is the difference of the two passes and ``x*`` the
        second pass's presynaptic rates.
    noise : {"gaussian", "rademacher", "bernoulli"} or None, default None
        Noise distribution (``None``: each population's own).
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: one scalar per sample (``signal = "scalar"``); each
    synapse uses its postsynaptic neuron's own activity change, its
    presynaptic rate and the broadcast ``dL N / |delta a|^2``.
    """

    name = "activity_node_perturbation"
    aliases = ("anp",)

    def __init__(self, *, sigma=1e-3, layers="all", n_samples=1, clean_pass=True, noise=None, batch_reduction="mean"):
        super().__init__(sigma=sigma, layers=layers, n_samples=n_samples, clean_pass=clean_pass, noise=noise,
                         batch_reduction=batch_reduction)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Gradient estimate ``g_l = (1/B) sum_n dL_n N delta a_{l,n} x*_{l-1,n}^T / |delta a_n|^2`` (``"mean"``), times ``scale``."""
        self._check_noise(noise, x.shape[0])
        learning = [n is not None for n in noise]
        n_units = sum(n.shape[-1] for n in noise if n is not None)

        def passes():
            for noisy in self.noisy_passes(network, state, x, target, loss, noise, workspace=workspace):
                changes = [dh if on else None for dh, on in zip(noisy.inputs, learning, strict=True)]
                squared = sum(np.einsum("ebn,ebn->eb", dh, dh) for dh in changes if dh is not None)
                coefficient = np.divide(noisy.loss_difference * n_units, squared, out=np.zeros_like(squared), where=squared > 0)
                yield noisy.reference, changes, [None if dh is None else coefficient[:, :, None] for dh in changes]

        weights, biases, reference = self._combine(network, state, passes(), x, scale, workspace, single=self.n_samples == 1)
        return Directions(weights, biases, reference)

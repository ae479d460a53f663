"""Synaptic scaling: homeostatic rescaling of each neuron's incoming weights.

After every plasticity step, each postsynaptic neuron multiplies all its
incoming weights by one factor so that their root-mean-square returns to a
target. This is neuron-wise weight normalisation, which keeps node
perturbation's weight norm from running away (Hiratani et al. 2022, Figs 3D,
4F, 5C).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._params import Parameterised
from ._validation import check_layers, check_positive, layer_mask

__all__ = ["SynapticScaling", "incoming_rms"]


def incoming_rms(weights):
    """Root-mean-square of each neuron's incoming weights.

    Parameters
    ----------
    weights : ndarray of shape (n_members, n_post, n_pre) or (n_members, out_channels, in_channels, kh, kw)
        A convolutional projection's kernels: one RMS per output channel (its kernel).

    Returns
    -------
    ndarray of shape (n_members, n_post) or (n_members, out_channels)
    """
    flat = weights.reshape(weights.shape[0], weights.shape[1], -1)
    return np.sqrt(np.einsum("eij,eij->ei", flat, flat) / flat.shape[-1])


class SynapticScaling(Parameterised):
    """Neuron-wise normalisation of incoming weights to a target RMS.

    Parameters
    ----------
    layers : "all" or sequence of int, default "all"
        Projections whose postsynaptic neurons are scaled (0 = first layer;
        the paper normalises the first layer or all layers).
    target : "initial" or float, default "initial"
        Target RMS of each neuron's incoming weights: its value at
        initialisation (the paper's choice) or one number for all neurons.

    Notes
    -----
    Biases are not rescaled.
    """

    def __init__(self, *, layers="all", target="initial"):
        self.layers = check_layers(layers)
        if isinstance(target, str):
            if target != "initial":
                raise ValueError(f"target should be 'initial' or a positive number, got {target!r}")
        elif isinstance(target, numbers.Real) and not isinstance(target, bool):
            target = check_positive(target, "target")
        else:
            raise TypeError(f"target should be 'initial' or a positive number, got {target!r}")
        self.target = target

    def layer_mask(self, network):
        return layer_mask(self.layers, network)

    def initial_targets(self, network, state):
        """Target RMS per scaled layer: list of (ndarray of shape (n_members, n_post) or None)."""
        targets = []
        for k, scaled in enumerate(self.layer_mask(network)):
            if not scaled:
                targets.append(None)
            elif self.target == "initial":
                targets.append(incoming_rms(state.weights[k]))
            else:
                targets.append(np.full(state.weights[k].shape[:2], self.target, dtype=state.weights[k].dtype))
        return targets

    def apply(self, state, targets):
        """Rescale ``state``'s weights in place so every scaled neuron's incoming RMS equals its target."""
        for k, target in enumerate(targets):
            if target is None:
                continue
            weights = state.weights[k]
            rms = incoming_rms(weights)
            factor = np.divide(target, rms, out=np.ones_like(rms), where=rms > 0)
            weights *= factor.reshape(factor.shape + (1,) * (weights.ndim - 2))


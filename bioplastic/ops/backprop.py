"""Errors carried back through a pathway: ``delta_k = f_k'(h_k) * (B_{k+1} delta_{k+1})``."""

from __future__ import annotations

import numpy as np

from .workspace import scratch

__all__ = ["backprop_deltas"]


def backprop_deltas(network, state, activity, output_delta, *, first_layer=0, workspace=None):
    """Backpropagate the readout's ``dL/dh_L`` to ``dL/dh_k`` for layers ``first_layer..L-1``.

    Parameters
    ----------
    output_delta : ndarray of shape (n_members, batch, n_out)
        ``dL/dh`` of the last layer.
    workspace : Workspace, optional
        Where to write the deltas (see :func:`bioplastic.engines.numpy.forward`).

    Returns
    -------
    list of (ndarray of shape (n_members, batch, n_k) or None)
        ``None`` below ``first_layer``.
    """
    deltas = [None] * network.n_layers
    deltas[-1] = output_delta
    for k in range(network.n_layers - 2, first_layer - 1, -1):
        h = activity.inputs[k]
        back = np.matmul(deltas[k + 1], state.weights[k + 1], out=scratch(workspace, ("back", k), h.shape, h.dtype))
        deltas[k] = network.activations[k].vjp(h, activity.rates[k + 1], back, out=scratch(workspace, ("delta", k), h.shape, h.dtype))
    return deltas

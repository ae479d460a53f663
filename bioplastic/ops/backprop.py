"""Errors carried back through a pathway: ``delta_k = f_k'(h_k) * (B_{k+1} delta_{k+1})``."""

from __future__ import annotations

import numpy as np

from .layers import conv_projection_transpose, is_conv
from .workspace import scratch

__all__ = ["backprop_deltas", "direct_feedback_deltas"]


def _check_feedback(feedback, network, state):
    """``feedback`` as a list with one entry per projection, each ``None`` or of shape ``(n_members, n_pre, n_post)``."""
    feedback = list(feedback)
    if len(feedback) != network.n_layers:
        raise ValueError(f"feedback should have one entry per projection ({network.n_layers}), got {len(feedback)}")
    for k in range(1, network.n_layers):
        if feedback[k] is not None and is_conv(network.projections[k]):
            if feedback[k].shape != state.weights[k].shape:
                raise ValueError(f"feedback[{k}] of a convolutional projection should have the kernels' shape {state.weights[k].shape}, "
                                 f"got {feedback[k].shape}")
        elif feedback[k] is not None:
            n_members, n_post, n_pre = state.weights[k].shape
            if feedback[k].shape != (n_members, n_pre, n_post):
                raise ValueError(f"feedback[{k}] should have shape (n_members, n_pre, n_post) = {(n_members, n_pre, n_post)}, "
                                 f"got {feedback[k].shape}")
    return feedback


def backprop_deltas(network, state, activity, output_delta, *, first_layer=0, feedback=None, workspace=None):
    """Carry the readout's ``dL/dh_L`` back to layers ``first_layer..L-1``: ``delta_{k-1} = f'(h_{k-1}) * (B_k delta_k)``.

    With ``B_k = W_k^T`` (no ``feedback``) this is backpropagation and the
    deltas are ``dL/dh_k``; a feedback matrix ``B_k`` of its own (feedback
    alignment and its relatives) replaces the transposed forward weights of
    projection ``k``.

    Parameters
    ----------
    network : Network
    state : NetworkState
    activity : Activity
        The clean pass.
    output_delta : ndarray of shape (n_members, batch, n_out)
        ``dL/dh`` of the last layer.
    first_layer : int, default 0
        The lowest layer whose delta is computed.
    feedback : sequence of (ndarray of shape (n_members, n_pre_k, n_post_k) or None), optional
        One entry per projection: the backward matrix ``B_k`` (orientation
        ``(n_pre, n_post)``) that carries projection ``k``'s delta down to
        its presynaptic population; ``None`` uses ``W_k^T``. ``feedback[0]``
        (towards the input) is never used. ``None`` (the default) is
        backpropagation, bit for bit.
    workspace : Workspace, optional
        Where to write the deltas (see :func:`bioplastic.engines.numpy.forward`).

    Returns
    -------
    list of (ndarray of shape (n_members, batch, n_k) or None)
        ``None`` below ``first_layer``.

    Notes
    -----
    A feedback matrix costs what the transposed weights cost: one matrix
    product per member (``delta_k B_k^T``, with ``B_k^T`` a transposed view
    that BLAS reads in place). Where a lateral decorrelation matrix ``R_k``
    sits in front of projection ``k`` the error also passes through
    ``R_k^T`` (the circuit is part of the forward pathway).
    """
    if feedback is not None:
        feedback = _check_feedback(feedback, network, state)
    deltas = [None] * network.n_layers
    deltas[-1] = output_delta
    for k in range(network.n_layers - 2, first_layer - 1, -1):
        h = activity.inputs[k]
        projection = network.projections[k + 1]
        if is_conv(projection):  # the transposed convolution, with the forward or a feedback kernel
            kernels = state.weights[k + 1] if feedback is None or feedback[k + 1] is None else feedback[k + 1]
            back = conv_projection_transpose(projection, deltas[k + 1], kernels, switches=activity.switches[k + 1],
                                             workspace=workspace).reshape(h.shape[:2] + (-1,))
        else:
            back_matrix = state.weights[k + 1] if feedback is None or feedback[k + 1] is None else feedback[k + 1].transpose(0, 2, 1)
            back = np.matmul(deltas[k + 1], back_matrix, out=scratch(workspace, ("back", k), h.shape, h.dtype))
        if state.lateral[k + 1] is not None:  # through the lateral circuit: dL/dx = R^T dL/dx*
            back = np.matmul(back, state.lateral[k + 1], out=scratch(workspace, ("back_R", k), h.shape, h.dtype))
        deltas[k] = network.activations[k].vjp(h, activity.rates[k + 1], back, out=scratch(workspace, ("delta", k), h.shape, h.dtype))
    return deltas


def direct_feedback_deltas(network, activity, output_delta, feedback, *, workspace=None):
    """Deltas of direct feedback alignment: ``delta_k = f'(h_k) * (D_k e)`` for every hidden layer.

    The readout's error ``e = dL/dh_L`` reaches every hidden layer ``k``
    through a matrix ``D_k`` of its own (Nøkland, "Direct feedback alignment
    provides learning in deep neural networks", NeurIPS 2016, Eq. 4), not
    through the layers above.

    Parameters
    ----------
    network : Network
    activity : Activity
    output_delta : ndarray of shape (n_members, batch, n_out)
        ``e``, the readout's ``dL/dh``.
    feedback : sequence of (ndarray of shape (n_members, n_k, n_out) or None)
        ``D_k`` for every hidden layer ``k = 0 .. L - 2`` (``n_k``: that
        layer's width); ``None`` leaves the layer without a delta.
    workspace : Workspace, optional

    Returns
    -------
    list of (ndarray of shape (n_members, batch, n_k) or None)
        The last entry is ``output_delta``.
    """
    feedback = list(feedback)
    if len(feedback) != network.n_layers - 1:
        raise ValueError(f"feedback should have one matrix per hidden layer ({network.n_layers - 1}), got {len(feedback)}")
    n_members, _, n_out = output_delta.shape
    deltas = [None] * network.n_layers
    deltas[-1] = output_delta
    for k, matrix in enumerate(feedback):
        if matrix is None:
            continue
        h = activity.inputs[k]
        if matrix.shape != (n_members, h.shape[-1], n_out):
            raise ValueError(f"feedback[{k}] should have shape (n_members, n_k, n_out) = {(n_members, h.shape[-1], n_out)}, got {matrix.shape}")
        back = np.matmul(output_delta, matrix.transpose(0, 2, 1), out=scratch(workspace, ("back", k), h.shape, h.dtype))
        deltas[k] = network.activations[k].vjp(h, activity.rates[k + 1], back, out=scratch(workspace, ("delta", k), h.shape, h.dtype))
    return deltas

"""Backpropagation of errors with stochastic gradient descent (the reference rule)."""

from __future__ import annotations

import numpy as np

from ..engines.numpy import forward, outer_sum_transposed, scratch, shared_member
from ..losses import CrossEntropy
from ..neurons import Softmax
from .base import PlasticityRule, Updates

__all__ = ["Backprop", "backprop_deltas", "deltas_to_updates", "output_delta"]


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


def output_delta(network, activity, target, loss):
    """``dL/dh`` at the readout; ``y - y*`` for a softmax readout with cross-entropy."""
    out_act = network.activations[-1]
    if isinstance(out_act, Softmax) and isinstance(loss, CrossEntropy):
        return activity.output - target
    return out_act.vjp(activity.inputs[-1], activity.output, loss.gradient(activity.output, target))


def deltas_to_updates(network, activity, deltas, coefficient, *, workspace=None):
    """Turn per-layer ``dL/dh_k`` into weight and bias changes ``coefficient * delta_k x_{k-1}^T``.

    ``coefficient`` broadcasts against ``(n_members, batch, n_k)``; layers whose
    delta is ``None`` or whose projection is not plastic get ``None``. With a
    ``workspace`` the changes are written into it (they may be views).

    ``sum_b c_b delta_b x_b^T`` is one GEMM per member with the per-sample
    factors ``c_b`` multiplied into whichever side has fewer values: the
    postsynaptic ``delta`` or the presynaptic ``x`` (with the bias as a
    column of ones, so the bias change comes out of the same GEMM). When
    every member of the block shares its delta (members with one noise
    stream) and its input, all members' changes are a single GEMM.
    """
    coefficient = np.asarray(coefficient)
    weights, biases = [], []
    for k, proj in enumerate(network.projections):
        if deltas[k] is None or not proj.plastic:
            weights.append(None)
            biases.append(None)
            continue
        delta, pre = deltas[k], activity.rates[k]
        n_members, batch, n_post = delta.shape
        if coefficient.shape[-2] == batch > 1 and pre.shape[-1] + proj.bias < n_post:
            w, b = _presynaptic_scaled_update(delta, pre, coefficient[..., 0], proj.bias, workspace, k)
        else:
            # scaled postsynaptic factors, written straight into the (member, neuron, sample)
            # layout the GEMM wants: one pass instead of a multiply and a transposed copy
            post = scratch(workspace, ("post", k), (n_members, n_post, batch), delta.dtype)
            np.multiply(delta.transpose(0, 2, 1), coefficient.transpose(0, 2, 1), out=post)
            out = scratch(workspace, ("dW", k), (n_members, n_post, pre.shape[-1]), np.result_type(post, pre))
            w, b = outer_sum_transposed(post, pre, out=out), post.sum(axis=2) if proj.bias else None
        weights.append(w)
        biases.append(b)
    return weights, biases


def _presynaptic_scaled_update(delta, pre, coefficient, bias, workspace, k):
    """``sum_b c_b delta_b x_b^T`` (and ``sum_b c_b delta_b``) with ``c_b`` multiplied into ``x_b``; see :func:`deltas_to_updates`."""
    n_members, batch, n_post = delta.shape
    n_pre = pre.shape[-1]
    n_cols = n_pre + bool(bias)
    dtype = np.result_type(delta, pre, coefficient)
    coefficient = np.broadcast_to(coefficient, (n_members, batch))
    shared = shared_member(delta) if pre.ndim == 2 else None
    if shared is not None:
        # one delta and one input for the whole block: delta^T [c_1 x | c_2 x | ...], one GEMM
        scaled = scratch(workspace, ("scaled_pre", k), (batch, n_members, n_cols), dtype)
        np.multiply(coefficient.T[:, :, None], pre[:, None, :], out=scaled[:, :, :n_pre])
        if bias:
            scaled[:, :, n_pre] = coefficient.T
        full = scratch(workspace, ("dW", k), (n_post, n_members, n_cols), dtype)
        np.matmul(shared.T, scaled.reshape(batch, n_members * n_cols), out=full.reshape(n_post, n_members * n_cols))
        full = full.transpose(1, 0, 2)
    else:
        scaled = scratch(workspace, ("scaled_pre", k), (n_members, batch, n_cols), dtype)
        np.multiply(coefficient[:, :, None], pre, out=scaled[:, :, :n_pre])
        if bias:
            scaled[:, :, n_pre] = coefficient
        full = np.matmul(delta.transpose(0, 2, 1), scaled, out=scratch(workspace, ("dW", k), (n_members, n_post, n_cols), dtype))
    return full[:, :, :n_pre], full[:, :, n_pre] if bias else None


class Backprop(PlasticityRule):
    """Stochastic gradient descent with backpropagated errors.

    ``dW_k = -eta * dL/dW_k``, averaged (or summed) over the minibatch.

    Parameters
    ----------
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: a vector error per neuron (``signal = "vector"``), carried
    back through the transposed forward weights: not local.
    """

    name = "backprop"
    signal = "vector"
    uses_noise = False

    def gradients(self, network, state, x, target, loss):
        """Exact gradients of the minibatch loss (mean or sum over samples, per ``batch_reduction``).

        Returns
        -------
        weights : list of ndarray of shape (n_members, n_post, n_pre)
        biases : list of (ndarray of shape (n_members, n_post) or None)
        """
        updates = self.compute_updates(network, state, x, target, loss, scale=-np.ones(state.n_members))
        return updates.weights, updates.biases

    def compute_updates(self, network, state, x, target, loss, *, noise=None, scale, workspace=None):
        activity = forward(network, state, x, workspace=workspace)
        deltas = backprop_deltas(network, state, activity, output_delta(network, activity, target, loss), workspace=workspace)
        coefficient = -np.asarray(scale, dtype=activity.output.dtype)[:, None, None] * self._sample_factor(x.shape[0])
        weights, biases = deltas_to_updates(network, activity, deltas, coefficient, workspace=workspace)
        return Updates(weights, biases, activity)

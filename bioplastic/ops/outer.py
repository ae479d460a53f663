"""Sums over samples of outer products (eligibilities), as GEMMs."""

from __future__ import annotations

import numpy as np

from .layers import conv_projection_update, is_conv
from .workspace import scratch, shared_member

__all__ = ["deltas_to_updates", "outer_sum", "outer_sum_transposed"]


def outer_sum(post, pre, *, out=None):
    """Sum over samples of outer products, ``sum_b post_b pre_b^T``, as one GEMM.

    Parameters
    ----------
    post : ndarray of shape (n_members, batch, n_post)
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
    out : ndarray of shape (n_members, n_post, n_pre), optional

    Returns
    -------
    ndarray of shape (n_members, n_post, n_pre)
    """
    return outer_sum_transposed(np.ascontiguousarray(post.transpose(0, 2, 1)), pre, out=out)


def outer_sum_transposed(post_t, pre, *, out=None):
    """:func:`outer_sum` for postsynaptic factors already laid out as ``(n_members, n_post, batch)``.

    Parameters
    ----------
    post_t : C-contiguous ndarray of shape (n_members, n_post, batch)
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        A 2-D ``pre`` is shared by all members: one GEMM for the whole ensemble.
    out : C-contiguous ndarray of shape (n_members, n_post, n_pre), optional

    Returns
    -------
    ndarray of shape (n_members, n_post, n_pre)
    """
    n_members, n_post, batch = post_t.shape
    if pre.ndim == 2:
        flat = None if out is None else out.reshape(n_members * n_post, pre.shape[1])
        return np.matmul(post_t.reshape(n_members * n_post, batch), pre, out=flat).reshape(n_members, n_post, pre.shape[1])
    return np.matmul(post_t, pre, out=out)


def deltas_to_updates(network, activity, deltas, coefficient, *, workspace=None):
    """Turn per-layer ``dL/dh_k`` into weight and bias changes ``coefficient * delta_k x_{k-1}^T``.

    ``coefficient`` broadcasts against ``(n_members, batch, n_k)`` (or is a
    list of such factors, one per layer); the presynaptic factor is
    ``activity.presynaptic[k]`` (``x*_k = R_k x_k`` behind a lateral
    decorrelation matrix). Layers whose
    delta is ``None`` or whose projection is not plastic get ``None``. With a
    ``workspace`` the changes are written into it (they may be views).

    ``sum_b c_b delta_b x_b^T`` is one GEMM per member with the per-sample
    factors ``c_b`` multiplied into whichever side has fewer values: the
    postsynaptic ``delta`` or the presynaptic ``x`` (with the bias as a
    column of ones, so the bias change comes out of the same GEMM). When
    every member of the block shares its delta (members with one noise
    stream) and its input, all members' changes are a single GEMM.
    """
    per_layer = coefficient if isinstance(coefficient, (list, tuple)) else [coefficient] * network.n_layers
    weights, biases = [], []
    for k, proj in enumerate(network.projections):
        if deltas[k] is None or not proj.plastic:
            weights.append(None)
            biases.append(None)
            continue
        coefficient = np.asarray(per_layer[k])
        coefficient = coefficient.reshape((1,) * (3 - coefficient.ndim) + coefficient.shape)  # broadcasts as (E, B, n_k)
        delta, pre = deltas[k], activity.presynaptic[k]
        n_members, batch, n_post = delta.shape
        if is_conv(proj):  # kernels: summed over samples and positions, the per-sample factor folded in
            if coefficient.shape[-1] != 1:
                delta, coefficient = delta * coefficient, np.ones((1, 1, 1), dtype=delta.dtype)
            w, b = conv_projection_update(proj, delta, pre, np.broadcast_to(coefficient[..., 0], (n_members, batch)),
                                          switches=activity.switches[k], workspace=workspace)
            weights.append(w)
            biases.append(b if proj.bias else None)
            continue
        if coefficient.shape[-2] == batch > 1 and coefficient.shape[-1] == 1 and pre.shape[-1] + proj.bias < n_post:
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

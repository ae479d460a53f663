"""Forward passes with the ensemble axis: summed inputs, rates, evaluation."""

from __future__ import annotations

import numpy as np

from .layers import conv_projection_input, is_conv
from .workspace import scratch

__all__ = ["Activity", "affine", "decorrelate", "forward", "predict"]


class Activity:
    """The record of one pass: summed inputs ``h_k``, rates ``x_k`` and presynaptic rates ``x*_k`` per layer.

    ``rates[0]`` is the input (shape ``(batch, n_in)`` when shared by all
    members); ``inputs[k]`` and ``rates[k + 1]`` have shape
    ``(n_members, batch, n_k)``. ``presynaptic[k]`` is what projection ``k``
    receives: ``rates[k]`` itself, or ``x*_k = R_k x_k`` where a lateral
    decorrelation matrix sits in front of the projection (shape
    ``(n_members, batch, n_pre)``). ``switches[k]`` is the
    :class:`~bioplastic.ops.MaxPoolSwitches` of a max-pooled projection
    ``k`` in this pass (which unit of each pooling window won), ``None``
    for every other projection; deltas and changes of this pass go through
    them.
    """

    def __init__(self, inputs, rates, presynaptic=None, switches=None):
        self.inputs = inputs
        self.rates = rates
        self.presynaptic = list(rates[:-1]) if presynaptic is None else presynaptic
        self.switches = [None] * len(inputs) if switches is None else list(switches)

    @property
    def output(self):
        return self.rates[-1]


def affine(x, weights, bias=None, *, out=None):
    """Summed synaptic input ``h = x W^T + b`` of every member.

    Parameters
    ----------
    x : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        Presynaptic rates; a 2-D ``x`` is shared by all members.
    weights : ndarray of shape (n_members, n_post, n_pre)
    bias : ndarray of shape (n_members, n_post), optional
    out : ndarray of shape (n_members, batch, n_post), optional
        Where to write the result.

    Returns
    -------
    ndarray of shape (n_members, batch, n_post)
    """
    h = np.matmul(x, weights.transpose(0, 2, 1), out=out)  # one GEMM per member, written in place
    if bias is not None:
        np.add(h, bias[:, None, :], out=h)
    return h


def decorrelate(rates, lateral, *, out=None):
    """Decorrelated rates ``x* = R x`` of every member.

    Parameters
    ----------
    rates : ndarray of shape (batch, n) or (n_members, batch, n)
        A 2-D ``rates`` is shared by all members.
    lateral : ndarray of shape (n_members, n, n) or None
        ``R`` (``None``: ``rates`` returned as they are).
    out : ndarray of shape (n_members, batch, n), optional

    Returns
    -------
    ndarray of shape (n_members, batch, n) (or ``rates`` itself)
    """
    if lateral is None:
        return rates
    return np.matmul(rates, lateral.transpose(0, 2, 1), out=out)


def forward(network, state, x, *, workspace=None, perturbation=None):
    """Clean pass: summed inputs and rates of every layer, :class:`~bioplastic.network.Activity`.

    Where ``state`` has a lateral decorrelation matrix ``R_k``, projection
    ``k`` receives ``x*_k = R_k x_k`` (``Activity.presynaptic``). With a
    :class:`Workspace` the arrays are written into it (and are overwritten by
    the next pass that uses the same workspace).

    Parameters
    ----------
    perturbation : list of (ndarray of shape (n_members, batch, n_k) or None), optional
        Added to the summed input ``h_k`` of each layer before its activation
        (a noisy pass, used as the reference of rules without a clean pass);
        on a pooled projection after the pooling, so the pass's max-pooling
        switches (``Activity.switches``) are those of ``W_k x~_{k-1}``.
    """
    inputs, rates, presynaptic, switches = [], [x], [], []
    n_members, batch = state.n_members, x.shape[-2]
    dtype = np.result_type(x, state.dtype)
    for k, activation in enumerate(network.activations):
        lateral = state.lateral[k]
        pre = rates[-1] if lateral is None else decorrelate(
            rates[-1], lateral, out=scratch(workspace, ("x*", k), (n_members, batch, lateral.shape[-1]), dtype))
        presynaptic.append(pre)
        projection = network.projections[k]
        switch = None
        if is_conv(projection):
            h, switch = conv_projection_input(projection, pre, state.weights[k], state.biases[k], workspace=workspace, with_switches=True)
        else:
            h = affine(pre, state.weights[k], state.biases[k], out=scratch(workspace, ("h", k), (n_members, batch, state.weights[k].shape[1]), dtype))
        shape = h.shape
        if perturbation is not None and perturbation[k] is not None:
            h += perturbation[k]
        inputs.append(h)
        switches.append(switch)
        rates.append(activation(h, out=scratch(workspace, ("x", k), shape, dtype)))
    return Activity(inputs, rates, presynaptic, switches)


def predict(network, state, x, *, chunk_size=None, out=None):
    """Outputs of every member for many samples (the clean forward pass, for evaluation).

    Each layer is one matrix product per member with the bias folded in (a
    row of ones appended to the presynaptic rates), so a layer costs its
    GEMM and one activation pass; the first layer, whose input all members
    share, is a single GEMM against all members' weights. Samples are taken
    in chunks small enough for the activity to stay in cache. Equal to
    :func:`forward` up to rounding (the bias is summed in another order; a
    lateral decorrelation matrix is folded into the weights, ``W_k R_k``).

    Parameters
    ----------
    network : Network
    state : NetworkState
    x : ndarray of shape (n_samples, n_in)
    chunk_size : int, optional
        Samples per chunk; by default as many as keep one layer's activity
        (``n_members x chunk x width`` values) within about 64k numbers.
    out : ndarray of shape (n_members, n_samples, n_out), optional
        Where to write the outputs.

    Returns
    -------
    ndarray of shape (n_members, n_samples, n_out)
    """
    n_members, n_samples = state.n_members, len(x)
    dtype = np.result_type(x, state.dtype)
    widths = [p.n_neurons for p in network.populations]
    if out is None:
        out = np.empty((n_members, n_samples, widths[-1]), dtype=dtype)
    if any(is_conv(p) for p in network.projections):  # feature maps: the clean pass, chunk by chunk
        chunk_size = chunk_size or max(256, 2**16 // (n_members * max(widths[1:])))  # whole GEMMs over many positions
        for start in range(0, n_samples, chunk_size):
            rows = slice(start, min(start + chunk_size, n_samples))
            out[:, rows] = forward(network, state, x[rows]).output
        return out
    if chunk_size is None:
        chunk_size = max(16, 2**16 // (n_members * max(widths[1:])))
    chunk_size = min(chunk_size, max(n_samples, 1))
    has_bias = [b is not None for b in state.biases]
    # weights transposed to (member, pre, post), the bias as one more presynaptic row
    folded = []
    for w, b, r in zip(state.weights, state.biases, state.lateral, strict=True):
        if r is not None:  # h = W (R x) = (W R) x
            w = np.matmul(w, r)
        f = np.empty((n_members, w.shape[2] + (b is not None), w.shape[1]), dtype=dtype)
        f[:, : w.shape[2]] = w.transpose(0, 2, 1)
        if b is not None:
            f[:, w.shape[2]] = b
        folded.append(f)
    first = np.ascontiguousarray(folded[0].transpose(1, 0, 2)).reshape(folded[0].shape[1], n_members * widths[1])
    x_in = np.ones((chunk_size, widths[0] + has_bias[0]), dtype=dtype)
    h_first = np.empty((chunk_size, n_members * widths[1]), dtype=dtype)
    # rates of each hidden layer with a column of ones for the next bias; the first in the
    # (sample, member, neuron) layout of its GEMM, the others (member, sample, neuron)
    rates = [np.ones((chunk_size, n_members, widths[1] + has_bias[1]) if k == 0 else (n_members, chunk_size, widths[k + 1] + has_bias[k + 1]),
                     dtype=dtype) for k in range(network.n_layers - 1)]
    h_hidden = [np.empty((n_members, chunk_size, widths[k + 1]), dtype=dtype) for k in range(1, network.n_layers - 1)]
    last = network.n_layers - 1
    for start in range(0, n_samples, chunk_size):
        rows = slice(start, min(start + chunk_size, n_samples))
        m = rows.stop - rows.start
        x_in[:m, : widths[0]] = x[rows]
        h = np.matmul(x_in[:m], first, out=h_first[:m]).reshape(m, n_members, widths[1])
        for k, activation in enumerate(network.activations):
            if k > 0:
                pre = rates[0][:m].transpose(1, 0, 2) if k == 1 else rates[k - 1][:, :m]
                h = np.matmul(pre, folded[k], out=out[:, rows] if k == last else h_hidden[k - 1][:, :m])
            if k == last:
                destination = out[:, rows]
                h = h.transpose(1, 0, 2) if k == 0 else h
            else:
                destination = rates[k][:m, :, : widths[1]] if k == 0 else rates[k][:, :m, : widths[k + 1]]
            result = activation(h, out=destination)
            if result is not destination:  # activations that return their input (linear)
                np.copyto(destination, result)
    return out


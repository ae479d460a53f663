"""Convolutional projections on flat activity: the summed input, its transpose and the weight update.

Activity is kept flat everywhere, ``(n_members, batch, n)`` with a feature
map's units ordered ``(channel, row, column)``; a convolutional projection
(``projection.kind == "conv"``, see :class:`bioplastic.synapses.ConvProjection`)
views it as feature maps for its three operations. All-to-all projections
never come here (their matrix products stay where they are). The projection
is read for its geometry only (``in_shape``, ``conv_shape``, ``out_shape``,
``kernel_size``, ``stride``, ``padding``, ``pool``), so this module imports
no description.
"""

from __future__ import annotations

import numpy as np

from .convolution import avg_pool2d, avg_pool2d_backward, conv2d, conv2d_input_gradient, conv2d_weight_update

__all__ = ["conv_projection_input", "conv_projection_transpose", "conv_projection_update", "is_conv"]


def is_conv(projection):
    """Whether ``projection`` is convolutional."""
    return getattr(projection, "kind", "dense") == "conv"


def _maps(x, shape):
    """Flat activity ``(..., prod(shape))`` as feature maps ``(..., *shape)`` (a view)."""
    return x.reshape(x.shape[:-1] + tuple(shape))


def conv_projection_input(projection, x, kernels, bias=None, *, workspace=None):
    """Summed input ``h = avgpool(W * x) + b`` of a convolutional projection, flat.

    Parameters
    ----------
    projection : ConvProjection
    x : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        A 2-D ``x`` is shared by all members (one GEMM for the ensemble).
    kernels : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    bias : ndarray of shape (n_members, out_channels), optional
    workspace : Workspace, optional

    Returns
    -------
    ndarray of shape (n_members, batch, n_post)
    """
    h = conv2d(_maps(x, projection.in_shape), kernels, None, stride=projection.stride, padding=projection.padding, workspace=workspace)
    if projection.pool is not None:
        h = avg_pool2d(h, projection.pool)
    n_members, batch = h.shape[:2]
    if bias is not None:
        bias = bias[:, None, :, None, None]
        # in place where the dtype allows: h is a new array of conv2d's (or of the pooling's)
        h = np.add(h, bias, out=h) if np.result_type(h, bias) == h.dtype else h + bias
    return np.ascontiguousarray(h).reshape(n_members, batch, -1)


def _conv_delta(projection, delta):
    """``dL/dh`` of the convolution's output (before pooling) as maps ``(n_members, batch, out_channels, h, w)``."""
    d = _maps(delta, projection.out_shape)
    if projection.pool is not None:
        d = avg_pool2d_backward(d, projection.conv_shape[1:], projection.pool)
    return d


def conv_projection_transpose(projection, delta, kernels, *, workspace=None):
    """``dL/dx`` of the presynaptic units from ``dL/dh`` (flat): the transposed convolution, through the pooling.

    ``kernels`` may be the forward kernels (backprop) or a feedback pathway
    of the same shape.

    Returns
    -------
    ndarray of shape (n_members, batch, n_pre)
    """
    back = conv2d_input_gradient(_conv_delta(projection, delta), kernels, projection.in_shape[1:], stride=projection.stride,
                                 padding=projection.padding, workspace=workspace)
    return back.reshape(back.shape[0], back.shape[1], -1)


def conv_projection_update(projection, delta, pre, coefficient=None, *, workspace=None):
    """Kernel and bias changes ``sum_b c_b dh_b/dW^T delta_b`` of a convolutional projection.

    Parameters
    ----------
    delta : ndarray of shape (n_members, batch, n_post)
        Postsynaptic factors (``dL/dh``, noise, measured change ...).
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        Presynaptic rates.
    coefficient : array_like broadcasting to (n_members, batch), optional

    Returns
    -------
    weight_change : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    bias_change : ndarray of shape (n_members, out_channels)
    """
    return conv2d_weight_update(_conv_delta(projection, delta), _maps(pre, projection.in_shape), projection.kernel_size,
                                stride=projection.stride, padding=projection.padding, coefficient=coefficient, workspace=workspace)

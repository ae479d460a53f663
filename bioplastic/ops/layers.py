"""Convolutional projections on flat activity: the summed input, its transpose and the weight update.

Activity is kept flat everywhere, ``(n_members, batch, n)`` with a feature
map's units ordered ``(channel, row, column)``; a convolutional projection
(``projection.kind == "conv"``, see :class:`bioplastic.synapses.ConvProjection`)
views it as feature maps for its operations. All-to-all projections
never come here (their matrix products stay where they are). The projection
is read for its geometry only (``in_shape``, ``conv_shape``, ``out_shape``,
``kernel_size``, ``stride``, ``padding``, ``pool``, ``pool_mode``), so this
module imports no description.

A max-pooled projection (``pool_mode == "max"``) is not linear in its input:
its forward pass records which unit of each window won
(:class:`MaxPoolSwitches`, ``Activity.switches``), and deltas are carried
back, and changes carried forward, through the switches of the pass they
belong to.
"""

from __future__ import annotations

import numpy as np

from .convolution import avg_pool2d, avg_pool2d_backward, conv2d, conv2d_input_gradient, conv2d_weight_update

__all__ = ["MaxPoolSwitches", "conv_projection_change", "conv_projection_input", "conv_projection_transpose", "conv_projection_update",
           "is_conv", "is_max_pooled"]


def is_conv(projection):
    """Whether ``projection`` is convolutional."""
    return getattr(projection, "kind", "dense") == "conv"


def _maps(x, shape):
    """Flat activity ``(..., prod(shape))`` as feature maps ``(..., *shape)`` (a view)."""
    return x.reshape(x.shape[:-1] + tuple(shape))


def is_max_pooled(projection):
    """Whether ``projection`` is convolutional with max pooling."""
    return is_conv(projection) and projection.pool is not None and getattr(projection, "pool_mode", "average") == "max"


class MaxPoolSwitches:
    """The switches of a max-pooled convolutional projection in one pass: which unit of each window won.

    The pooling windows are ``pool x pool``, side by side (stride ``pool``);
    rows and columns of the convolution's output that a last, incomplete
    window would need are in no window.

    Parameters
    ----------
    conv : ndarray of shape (n_members, batch, out_channels, conv_h, conv_w)
        The convolution's output ``W * x`` before the pooling and the bias
        (kept, not copied).
    pool : int
        The window size.

    Attributes
    ----------
    conv : ndarray of shape (n_members, batch, out_channels, conv_h, conv_w)
    maxima : ndarray of shape (n_members, batch, out_channels, out_h, out_w)
        Each window's largest value, ``maxpool(W * x)`` (NaN where the window holds one).
    winners : ndarray of shape (n_members, batch, out_channels, out_h, out_w)
        Index ``i pool + j`` of each window's maximum, at row ``i`` and
        column ``j`` of the window; of tied maxima the first in row-major
        order (as :func:`numpy.argmax` and
        :func:`~bioplastic.ops.max_pool2d_backward` choose). The smallest
        unsigned integer type that holds ``pool**2 - 1``.
    """

    def __init__(self, conv, pool):
        self.conv = conv
        self.pool = int(pool)
        self._out = (conv.shape[-2] // self.pool, conv.shape[-1] // self.pool)
        first = conv[self._window(0)]
        self.maxima = np.array(first)
        self.winners = np.zeros(first.shape, dtype=np.min_scalar_type(self.pool**2 - 1))
        for index in range(1, self.pool**2):
            value = conv[self._window(index)]
            self.winners[value > self.maxima] = index  # strictly larger: the first of tied maxima stays
            np.maximum(self.maxima, value, out=self.maxima)

    def _window(self, index):
        """The entry at offset ``index`` (``i pool + j``) of every window, a basic index into maps of the convolution's output."""
        i, j = divmod(index, self.pool)
        oh, ow = self._out
        return (..., slice(i, oh * self.pool, self.pool), slice(j, ow * self.pool, self.pool))

    def route(self, delta):
        """``dL/d(W * x)`` from ``dL/dh`` of the pooled units: each window's delta at its winner, zero elsewhere.

        Parameters
        ----------
        delta : ndarray of shape (n_members, batch, out_channels, out_h, out_w)

        Returns
        -------
        ndarray of shape (n_members, batch, out_channels, conv_h, conv_w)
        """
        shape = np.broadcast_shapes(delta.shape[:-3], self.conv.shape[:-3]) + self.conv.shape[-3:]
        routed = np.zeros(shape, dtype=np.result_type(delta, 1.0))
        for index in range(self.pool**2):
            np.copyto(routed[self._window(index)], delta, where=self.winners == index)
        return routed

    def difference(self, change):
        """Change of the pooled units, ``maxpool(W * x + d) - maxpool(W * x)``, for a change ``d`` of the convolution's output.

        Computed as ``max_j ((c_j - c_max) + d_j)`` over each window's
        entries ``j``, whose winner contributes ``0 + d_win``: no two nearly
        equal pooled values are subtracted, and where the winner stays the
        result is ``d_win`` exactly, however small ``d`` is. Where ``d``
        moves the maximum to another entry the result is still the exact
        change.

        Parameters
        ----------
        change : ndarray of shape (n_members, batch, out_channels, conv_h, conv_w)

        Returns
        -------
        ndarray of shape (n_members, batch, out_channels, out_h, out_w)
        """
        out = None
        for index in range(self.pool**2):
            window = self._window(index)
            term = np.subtract(self.conv[window], self.maxima, dtype=np.result_type(self.conv, change))
            term += change[window]
            out = term if out is None else np.maximum(out, term, out=out)
        return out


def conv_projection_input(projection, x, kernels, bias=None, *, workspace=None, with_switches=False):
    """Summed input ``h = pool(W * x) + b`` of a convolutional projection, flat.

    ``pool`` is the projection's pooling: none, average pooling, or max
    pooling (``pool_mode="max"``), each of ``pool x pool`` windows side by
    side.

    Parameters
    ----------
    projection : ConvProjection
    x : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        A 2-D ``x`` is shared by all members (one GEMM for the ensemble).
    kernels : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    bias : ndarray of shape (n_members, out_channels), optional
    workspace : Workspace, optional
    with_switches : bool, default False
        Also return the pass's :class:`MaxPoolSwitches` (``None`` unless the
        projection is max-pooled).

    Returns
    -------
    h : ndarray of shape (n_members, batch, n_post)
    switches : MaxPoolSwitches or None
        Only with ``with_switches``.
    """
    h = conv2d(_maps(x, projection.in_shape), kernels, None, stride=projection.stride, padding=projection.padding, workspace=workspace)
    switches = None
    if is_max_pooled(projection):
        switches = MaxPoolSwitches(h, projection.pool)  # keeps conv2d's new array
        h = np.array(switches.maxima)
    elif projection.pool is not None:
        h = avg_pool2d(h, projection.pool)
    n_members, batch = h.shape[:2]
    if bias is not None:
        bias = bias[:, None, :, None, None]
        # in place where the dtype allows: h is a new array of conv2d's (or of the pooling's)
        h = np.add(h, bias, out=h) if np.result_type(h, bias) == h.dtype else h + bias
    h = np.ascontiguousarray(h).reshape(n_members, batch, -1)
    return (h, switches) if with_switches else h


def conv_projection_change(projection, dx, kernels, *, conv_change=None, switches=None, workspace=None):
    """Change ``dh`` of the summed input (flat) caused by a change ``dx`` of the presynaptic rates.

    ``dh = pool(W * (x + dx) + d) - pool(W * x)``, without the bias, where
    ``d`` (``conv_change``) is a further change of the convolution's output
    (synaptic noise, ``psi * (x + dx)``). Without pooling and with average
    pooling this is linear, ``pool(W * dx + d)``; with max pooling it goes
    through the reference pass's ``switches``
    (:meth:`MaxPoolSwitches.difference`: exact, and without cancellation).

    Parameters
    ----------
    projection : ConvProjection
    dx : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre), or None
        ``None``: the presynaptic rates do not change.
    kernels : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    conv_change : ndarray of shape (n_members, batch, out_channels, conv_h, conv_w), optional
    switches : MaxPoolSwitches, optional
        The reference pass's; needed by a max-pooled projection.
    workspace : Workspace, optional

    Returns
    -------
    ndarray of shape (n_members, batch, n_post)
    """
    if dx is None and conv_change is None:
        raise ValueError("conv_projection_change needs a change of the presynaptic rates (dx) or of the convolution's output (conv_change)")
    change = conv_change
    if dx is not None:
        change = conv2d(_maps(dx, projection.in_shape), kernels, None, stride=projection.stride, padding=projection.padding,
                        workspace=workspace)
        if conv_change is not None:
            change += conv_change
    if is_max_pooled(projection):
        change = _checked_switches(projection, switches).difference(change)
    elif projection.pool is not None:
        change = avg_pool2d(change, projection.pool)
    return np.ascontiguousarray(change).reshape(change.shape[0], change.shape[1], -1)


def _checked_switches(projection, switches):
    if not isinstance(switches, MaxPoolSwitches):
        raise ValueError(f"the max-pooled projection {projection!r} needs the switches of its forward pass "
                         f"(Activity.switches), got {switches!r}")
    return switches


def _conv_delta(projection, delta, switches=None):
    """``dL/dh`` of the convolution's output (before pooling) as maps ``(n_members, batch, out_channels, h, w)``.

    Through the average pooling, or through the ``switches`` of the pass the
    delta belongs to (max pooling).
    """
    d = _maps(delta, projection.out_shape)
    if is_max_pooled(projection):
        d = _checked_switches(projection, switches).route(d)
    elif projection.pool is not None:
        d = avg_pool2d_backward(d, projection.conv_shape[1:], projection.pool)
    return d


def conv_projection_transpose(projection, delta, kernels, *, switches=None, workspace=None):
    """``dL/dx`` of the presynaptic units from ``dL/dh`` (flat): the transposed convolution, through the pooling.

    ``kernels`` may be the forward kernels (backprop) or a feedback pathway
    of the same shape. A max-pooled projection needs the ``switches``
    (:class:`MaxPoolSwitches`) of the forward pass the delta belongs to
    (``Activity.switches[k]``): each pooled unit's delta goes to its
    window's winner.

    Returns
    -------
    ndarray of shape (n_members, batch, n_pre)
    """
    back = conv2d_input_gradient(_conv_delta(projection, delta, switches), kernels, projection.in_shape[1:], stride=projection.stride,
                                 padding=projection.padding, workspace=workspace)
    return back.reshape(back.shape[0], back.shape[1], -1)


def conv_projection_update(projection, delta, pre, coefficient=None, *, switches=None, workspace=None):
    """Kernel and bias changes ``sum_b c_b dh_b/dW^T delta_b`` of a convolutional projection.

    Parameters
    ----------
    delta : ndarray of shape (n_members, batch, n_post)
        Postsynaptic factors (``dL/dh``, noise, measured change ...).
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        Presynaptic rates.
    coefficient : array_like broadcasting to (n_members, batch), optional
    switches : MaxPoolSwitches, optional
        Those of the pass ``pre`` comes from; needed by a max-pooled projection.
    workspace : Workspace, optional
        That of the forward pass ``pre`` comes from: the patches the pass
        left in it are not built again (see
        :func:`~bioplastic.ops.conv2d_weight_update`).

    Returns
    -------
    weight_change : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    bias_change : ndarray of shape (n_members, out_channels)

    Notes
    -----
    Through an average pooling the delta is spread over the windows inside
    :func:`~bioplastic.ops.conv2d_weight_update` (``pool=``), straight into
    the layout its GEMM reads: the same bits as spreading it first
    (:func:`~bioplastic.ops.avg_pool2d_backward`), one full-size array fewer.
    """
    maps = _maps(pre, projection.in_shape)
    if projection.pool is not None and not is_max_pooled(projection):
        return conv2d_weight_update(_maps(delta, projection.out_shape), maps, projection.kernel_size, stride=projection.stride,
                                    padding=projection.padding, coefficient=coefficient, pool=projection.pool, workspace=workspace)
    return conv2d_weight_update(_conv_delta(projection, delta, switches), maps, projection.kernel_size,
                                stride=projection.stride, padding=projection.padding, coefficient=coefficient, workspace=workspace)

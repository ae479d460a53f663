"""Propagation of perturbations: the change of every layer's rate caused by noise."""

from __future__ import annotations

import numpy as np

from .convolution import conv2d
from .layers import conv_projection_change, is_conv
from .workspace import scratch, shared_member

__all__ = ["perturbation_change", "synaptic_perturbation_change"]


def perturbation_change(network, state, activity, noise, sigma, *, workspace=None, with_inputs=False):
    """Change of every layer's rate caused by intrinsic noise ``sigma * xi``.

    The perturbed pass ``x~_k = f_k(W_k x~_{k-1} + b_k + sigma xi_k)`` is
    computed as the difference ``dx_k = x~_k - x_k`` propagated from the clean
    pass (``dh_k = W_k dx_{k-1} + sigma xi_k``), which reuses ``W_1 x`` and
    loses no precision to cancellation even for ``sigma = 1e-4`` in float32.

    Parameters
    ----------
    noise : list of (ndarray of shape (n_members, batch, n_k) or None)
        Unit-variance noise per layer; ``None`` for unperturbed layers.
    workspace : Workspace, optional
        Where to write the results (see :func:`forward`).
    with_inputs : bool, default False
        Also return the change of every layer's summed input, ``dh_k =
        h~_k - h_k`` (the measured change of the pre-activation: the
        injected noise plus what reaches the layer from upstream).

    Returns
    -------
    list of (ndarray or None)
        ``dx_k`` for each layer (``None`` while nothing has been perturbed yet).
        With ``with_inputs``, the pair ``(dh, dx)`` of such lists.

    Notes
    -----
    Where a lateral decorrelation matrix ``R_k`` sits in front of projection
    ``k``, the change reaching it is ``R_k dx_{k-1}``. Through a max-pooled
    projection the change is that of the window maxima, computed from the
    clean pass's switches (:meth:`~bioplastic.ops.MaxPoolSwitches.difference`):
    exact also where the change moves a window's maximum.
    """
    def inject(k, h, dx):
        if noise[k] is None:
            return None
        shared = shared_member(noise[k])
        if shared is not None:  # one stream for the whole block: scale it once
            return np.broadcast_to(np.multiply(shared, sigma, out=scratch(workspace, ("sigma_xi", k), h.shape[1:], h.dtype)), h.shape)
        return np.multiply(noise[k], sigma, out=scratch(workspace, ("sigma_xi", k), h.shape, h.dtype))

    inputs, changes = _propagate(network, state, activity, inject, workspace)
    return (inputs, changes) if with_inputs else changes


def synaptic_perturbation_change(network, state, activity, noise, sigma, *, workspace=None):
    """Change of every layer's rate caused by synaptic noise ``W~_k = W_k + sigma psi_k``.

    The perturbed pass ``x~_k = f_k((W_k + sigma psi_k) x~_{k-1} + b_k + sigma psi_k^b)``
    is computed as the difference propagated from the clean pass,
    ``dh_k = W_k dx_{k-1} + sigma (psi_k (x_{k-1} + dx_{k-1}) + psi_k^b)``, so no
    precision is lost to cancellation. One perturbation per step is shared by
    all samples of the minibatch.

    On a convolutional projection ``psi_k`` is a noise kernel of the
    kernels' shape and its terms are convolutions: ``dh_k = pool(W_k * dx_{k-1}
    + sigma psi_k * (x_{k-1} + dx_{k-1})) + sigma psi_k^b`` (through the clean
    pass's switches where the pooling is max pooling, see
    :meth:`~bioplastic.ops.MaxPoolSwitches.difference`).

    Parameters
    ----------
    network : Network
    state : NetworkState
    activity : Activity
        The clean pass.
    noise : list of (ndarray or None)
        Unit-variance synaptic noise per projection, of shape
        ``(n_members, *synaptic_noise_shape(projection))``
        (:func:`~bioplastic.ops.synaptic_noise_shape`): ``(n_members, n_post,
        n_pre + 1)`` for an all-to-all projection, ``(n_members,
        out_channels, in_channels kh kw + 1)`` for a convolutional one (row
        ``o``: kernel ``o`` flattened as the kernels are, then its channel's
        bias). The last column perturbs the bias (ignored for projections
        without one). ``None``: not perturbed.
    sigma : float
        Noise amplitude.
    workspace : Workspace, optional
        Where to write the results.

    Returns
    -------
    list of (ndarray of shape (n_members, batch, n_k) or None)
        ``dx_k`` for each layer (``None`` while nothing has been perturbed yet).
    """
    def perturbed_pre(k, h, dx):
        return activity.presynaptic[k] if dx is None else np.add(activity.presynaptic[k], dx, out=scratch(workspace, ("pre~", k), dx.shape, h.dtype))

    def inject(k, h, dx):
        if noise[k] is None:
            return None
        psi = noise[k]
        n_cols = psi.shape[-1] - 1
        if is_conv(network.projections[k]):  # the kernels' share comes before the pooling (inject_conv); the bias after it
            if state.biases[k] is None:
                return None
            # one bias per channel, over the channel's out_h x out_w units (flattened channel-major)
            return np.repeat(sigma * psi[:, None, :, n_cols], h.shape[-1] // psi.shape[1], axis=2)
        pre = perturbed_pre(k, h, dx)
        synaptic = np.matmul(pre, psi[:, :, :n_cols].transpose(0, 2, 1), out=scratch(workspace, ("psi_x", k), h.shape, h.dtype))
        if state.biases[k] is not None:
            synaptic += psi[:, None, :, n_cols]
        synaptic *= sigma
        return synaptic

    def inject_conv(k, h, dx):
        if noise[k] is None:
            return None
        projection, psi = network.projections[k], noise[k]
        kernels = psi[:, :, :-1].reshape(state.weights[k].shape)
        pre = perturbed_pre(k, h, dx)
        change = conv2d(pre.reshape(pre.shape[:-1] + tuple(projection.in_shape)), kernels, None, stride=projection.stride,
                        padding=projection.padding, workspace=workspace)
        change *= sigma
        return change

    return _propagate(network, state, activity, inject, workspace, inject_conv)[1]


def _propagate(network, state, activity, inject, workspace, inject_conv=None):
    """``(dh, dx)`` of every layer from ``dh_k = W_k R_k dx_{k-1} + inject(k, h_k, R_k dx_{k-1})`` (``inject`` may return ``None``).

    On a convolutional projection ``W_k dx`` is the change of its pooled
    convolution; ``inject_conv(k, h_k, dx)`` (optional, may return ``None``)
    adds a change of the convolution's output before the pooling, and
    ``inject`` one after it. A max-pooled projection's change goes through
    the switches of ``activity``.
    """
    inputs, changes = [], []
    dx = None
    for k, activation in enumerate(network.activations):
        h = activity.inputs[k]
        projection = network.projections[k]
        dh = None
        if dx is not None:
            lateral = state.lateral[k]
            if lateral is not None:  # what reaches the projection through the lateral circuit
                dx = np.matmul(dx, lateral.transpose(0, 2, 1), out=scratch(workspace, ("dx*", k), dx.shape, h.dtype))
            if not is_conv(projection):
                dh = np.matmul(dx, state.weights[k].transpose(0, 2, 1), out=scratch(workspace, ("dh", k), h.shape, h.dtype))
        if is_conv(projection):  # the change of the (pooled) convolution, no bias
            conv_change = None if inject_conv is None else inject_conv(k, h, dx)
            if dx is not None or conv_change is not None:
                dh = conv_projection_change(projection, dx, state.weights[k], conv_change=conv_change, switches=activity.switches[k])
        injected = inject(k, h, dx)
        if injected is not None:
            if dh is None:
                dh = injected
            else:
                dh += injected
        dx = None if dh is None else activation.difference(h, dh, activity.rates[k + 1], out=scratch(workspace, ("dx", k), h.shape, h.dtype))
        inputs.append(dh)
        changes.append(dx)
    return inputs, changes

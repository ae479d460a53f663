"""Alignment-loss rules: feedback matrices trained by gradient descent on a per-layer loss built from primitives.

Kunin, Nayebi, Sagastuy-Brena, Ganguli, Bloom & Yamins, "Two routes to
scalable credit assignment without weight symmetry" (ICML 2020, Sec. 3 and
Table 1) write the learning rules of the feedback-alignment family as a
regularisation ``R(W, B, x)`` of each layer: the feedback matrix ``B``
(shape ``(n_pre, n_post)``) descends ``R`` with the forward weights ``W``
(shape ``(n_post, n_pre)``) and the layer's input ``x`` held fixed, while
``W`` learns from the errors ``B`` carries back. ``R`` is a weighted sum of
primitives; with batch means ``E`` over the samples ``x`` and no factors
1/2 (as in the authors' code, ``Alignments/primitives.py``):

=============  ==================================  ==================================
primitive      ``R``                               ``dR/dB``
=============  ==================================  ==================================
``decay``      ``|W|^2 + |B|^2``                   ``2 B``
``amp``        ``-E[(W x) . (B^T x)]``             ``-E[x (W x)^T]``
``null``       ``E |B W x|^2``                     ``2 E[(B W x) (W x)^T]``
``sparse``     ``E |W x|^2 + E |B^T x|^2``         ``2 E[x (B^T x)^T]``
``self``       ``-tr(W B)``                        ``-W^T``
=============  ==================================  ==================================

Each primitive is a pair of public functions, ``<name>_loss`` and
``<name>_gradient``, taking ``(W, B, x)`` with any number of leading axes
(the ensemble axis); :data:`ALIGNMENT_PRIMITIVES` maps the names to them.
A new alignment rule is a subclass of :class:`AlignmentRule` that names its
terms (see its documentation).

On a convolutional projection (keyword ``projection``, a
:class:`~bioplastic.synapses.ConvProjection`) ``W`` and ``B`` are kernels
of shape ``(n_members, out_channels, in_channels, kh, kw)`` and ``x`` flat
feature maps. The linear map of ``W`` is ``T_W x = pool(conv(x, W))`` (the
projection's summed input without the bias), ``B^T x`` is ``T_B x`` (the
same map with the kernel ``B``) and ``B y`` is ``T_B^* y``, the transposed
convolution with ``B`` that carries errors down in the feedback pathway. So
the input primitives are the dense ones on the convolution's matrices, with
``W`` the ``(n_post, n_pre)`` matrix of ``T_W`` and ``B`` the ``(n_pre,
n_post)`` matrix of ``T_B^*``; their gradients are kernel updates, summed
over positions. ``decay`` and ``self`` act on the kernels' weights (each
shared weight once):

=============  ==================================  ==============================
primitive      ``R``                               ``dR/dB``
=============  ==================================  ==============================
``decay``      ``|W|^2 + |B|^2``                   ``2 B``
``amp``        ``-E[(T_W x) . (T_B x)]``           ``-U(T_W x, x)``
``null``       ``E |T_B^* T_W x|^2``               ``2 U(T_W x, T_B^* T_W x)``
``sparse``     ``E |T_W x|^2 + E |T_B x|^2``       ``2 U(T_B x, x)``
``self``       ``-sum(W o B)``                     ``-W``
=============  ==================================  ==============================

with ``U(y, u) = E[d <y, T_B u> / dB]``, the kernel update of
postsynaptic factors ``y`` and presynaptic maps ``u``
(:func:`~bioplastic.ops.conv_projection_update`, summed over positions),
averaged over the samples. Kernels ``B = c W`` make ``T_B^* = c T_W^*``:
backprop's pathway, up to the factor ``c``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_positive
from ..ops import conv_projection_input, conv_projection_transpose, conv_projection_update, is_conv, scratch
from ._feedback import FeedbackRule
from .base import NoiseNeeds
from .schedules import check_coefficient

__all__ = [
    "ALIGNMENT_PRIMITIVES",
    "ActivationAlignment",
    "AlignmentRule",
    "InformationAlignment",
    "SymmetricAlignment",
    "WeightMirror",
    "amp_gradient",
    "amp_loss",
    "decay_gradient",
    "decay_loss",
    "null_gradient",
    "null_loss",
    "self_gradient",
    "self_loss",
    "sparse_gradient",
    "sparse_loss",
]


def _t(a):
    """Swap the last two axes."""
    return np.swapaxes(a, -1, -2)


def _forward_projection(W, x, wx):
    """``W x`` of every sample, shape ``(..., batch, n_post)`` (``wx`` when given)."""
    return np.matmul(x, _t(W)) if wx is None else wx


def _batch_mean_outer(a, b):
    """``E[a b^T]`` over the samples: ``a^T b / batch`` for ``a`` of shape (..., batch, m), ``b`` (..., batch, n)."""
    return np.matmul(_t(a), b) / a.shape[-2]


def _is_conv(projection):
    return projection is not None and is_conv(projection)


#: the axes of a kernel, (out_channels, in_channels, kh, kw), behind the ensemble axis
_KERNEL_AXES = (-4, -3, -2, -1)


def _max_pooled(projection):
    return is_conv(projection) and projection.pool is not None and getattr(projection, "pool_mode", "average") == "max"


def _check_linear(projection):
    """Refuse a max-pooled convolution, which has no linear map ``T_W`` for the primitives on inputs."""
    if _max_pooled(projection):
        raise ValueError(f"the alignment primitives on inputs (amp, null, sparse) need a linear projection, without max pooling; "
                         f"got {projection!r}")


def _conv_forward(projection, W, x, wx):
    """``T_W x`` of every sample, flat, shape ``(n_members, batch, n_post)`` (``wx`` when given)."""
    _check_linear(projection)
    return conv_projection_input(projection, x, W) if wx is None else wx


def _conv_batch_mean_update(projection, delta, pre):
    """``E[d <delta, T_B pre> / dB]``: the kernel update of ``delta`` and ``pre``, summed over positions, averaged over the samples."""
    change, _ = conv_projection_update(projection, delta, pre)
    change /= delta.shape[-2]
    return change


def decay_loss(W, B, x=None, *, projection=None):
    """``|W|^2 + |B|^2`` (squared Frobenius norms), shape ``W.shape[:-2]``.

    With a convolutional ``projection``: the squared norms of the kernels
    ``W`` and ``B`` (shape ``(n_members, out_channels, in_channels, kh,
    kw)``), shape ``(n_members,)``.
    """
    axes = _KERNEL_AXES if _is_conv(projection) else (-2, -1)
    return np.sum(W * W, axis=axes) + np.sum(B * B, axis=axes)


def decay_gradient(W, B, x=None, *, projection=None):
    """``d decay / dB = 2 B`` (also for kernels)."""
    return 2 * B


def self_loss(W, B, x=None, *, projection=None):
    """``-tr(W B)``: minus the overlap of ``B`` with ``W^T``.

    With a convolutional ``projection``: ``-sum(W o B)``, minus the overlap
    of the kernels, shape ``(n_members,)``.
    """
    if _is_conv(projection):
        return -np.sum(W * B, axis=_KERNEL_AXES)
    return -np.sum(_t(W) * B, axis=(-2, -1))


def self_gradient(W, B, x=None, *, projection=None):
    """``d self / dB = -W^T`` (``-W`` for kernels)."""
    if _is_conv(projection):
        return -W
    return -_t(W)


def amp_loss(W, B, x, *, wx=None, projection=None):
    """``-E[(W x) . (B^T x)]``: minus the mean overlap of the forward and backward projections of ``x``.

    Parameters
    ----------
    W : ndarray of shape (..., n_post, n_pre)
        Kernels of shape ``(n_members, out_channels, in_channels, kh, kw)``
        with a convolutional ``projection``.
    B : ndarray of shape (..., n_pre, n_post)
        Kernels of ``W``'s shape with a convolutional ``projection``.
    x : ndarray of shape (..., batch, n_pre)
        Flat feature maps with a convolutional ``projection``: ``(batch,
        n_pre)`` or ``(n_members, batch, n_pre)``.
    wx : ndarray of shape (..., batch, n_post), optional
        ``W x`` of every sample, when already computed.
    projection : Projection, optional
        A convolutional projection makes ``W`` and ``B`` kernels:
        ``W x = T_W x`` and ``B^T x = T_B x`` (see the module documentation).

    Returns
    -------
    ndarray of shape ``W.shape[:-2]`` (broadcast with ``x``'s leading axes)
        ``(n_members,)`` with a convolutional ``projection``.
    """
    if _is_conv(projection):
        y = _conv_forward(projection, W, x, wx)
        return -np.mean(np.sum(y * conv_projection_input(projection, x, B), axis=-1), axis=-1)
    y = _forward_projection(W, x, wx)
    return -np.mean(np.sum(y * np.matmul(x, B), axis=-1), axis=-1)


def amp_gradient(W, B, x, *, wx=None, projection=None):
    """``d amp / dB = -E[x (W x)^T]``, shape ``(..., n_pre, n_post)`` (``B.shape`` for kernels: ``-E[d <T_W x, T_B x> / dB]``)."""
    if _is_conv(projection):
        change = _conv_batch_mean_update(projection, _conv_forward(projection, W, x, wx), x)
        return np.negative(change, out=change)
    return -_batch_mean_outer(x, _forward_projection(W, x, wx))


def null_loss(W, B, x, *, wx=None, projection=None):
    """``E |B W x|^2``: the mean squared reconstruction of ``x`` through ``W`` and back through ``B``.

    With a convolutional ``projection``: ``E |T_B^* T_W x|^2``, back through
    the transposed convolution with the kernel ``B``.
    """
    if _is_conv(projection):
        u = conv_projection_transpose(projection, _conv_forward(projection, W, x, wx), B)
    else:
        u = np.matmul(_forward_projection(W, x, wx), _t(B))
    return np.mean(np.sum(u * u, axis=-1), axis=-1)


def null_gradient(W, B, x, *, wx=None, projection=None):
    """``d null / dB = 2 E[(B W x) (W x)^T]`` (for kernels: ``2 E[d <T_W x, T_B u> / dB]`` at ``u = T_B^* T_W x``)."""
    if _is_conv(projection):
        y = _conv_forward(projection, W, x, wx)
        change = _conv_batch_mean_update(projection, y, conv_projection_transpose(projection, y, B))
        change *= 2
        return change
    y = _forward_projection(W, x, wx)
    return 2 * _batch_mean_outer(np.matmul(y, _t(B)), y)


def sparse_loss(W, B, x, *, wx=None, projection=None):
    """``E |W x|^2 + E |B^T x|^2``: the mean squared forward and backward projections of ``x`` (``T_W x``, ``T_B x`` for kernels)."""
    if _is_conv(projection):
        y, z = _conv_forward(projection, W, x, wx), conv_projection_input(projection, x, B)
    else:
        y, z = _forward_projection(W, x, wx), np.matmul(x, B)
    return np.mean(np.sum(y * y, axis=-1), axis=-1) + np.mean(np.sum(z * z, axis=-1), axis=-1)


def sparse_gradient(W, B, x, *, wx=None, projection=None):
    """``d sparse / dB = 2 E[x (B^T x)^T]`` (for kernels: ``2 E[d <z, T_B x> / dB]`` at ``z = T_B x``)."""
    if _is_conv(projection):
        _check_linear(projection)
        change = _conv_batch_mean_update(projection, conv_projection_input(projection, x, B), x)
        change *= 2
        return change
    return 2 * _batch_mean_outer(x, np.matmul(x, B))


#: Alignment primitives by name: ``(loss, gradient with respect to B)``.
ALIGNMENT_PRIMITIVES = {
    "decay": (decay_loss, decay_gradient),
    "amp": (amp_loss, amp_gradient),
    "null": (null_loss, null_gradient),
    "sparse": (sparse_loss, sparse_gradient),
    "self": (self_loss, self_gradient),
}

#: primitives that depend on the inputs x (and accept ``wx``)
_NEED_INPUTS = {"amp", "null", "sparse"}


class AlignmentRule(FeedbackRule):
    """Base class of the alignment-loss rules: ``B_k`` descends ``R_k = sum_i c_i P_i(W_k, B_k, x_k)``.

    The forward weights learn as in feedback alignment
    (``dW_k = -eta delta_k x_{k-1}^T``, deltas carried back through ``B``);
    each feedback matrix ``B_k`` (``k >= 1``) has the direction
    ``dR_k/dB_k`` with ``W_k`` and ``x`` held fixed, returned in
    :attr:`Directions.state <bioplastic.plasticity.Directions>` and stepped
    by the optimiser with the member's learning rate. ``x`` is projection
    ``k``'s presynaptic activity in the clean pass, or, with
    ``probe = "noise"``, white noise (see :class:`WeightMirror`). The
    forward projection ``W x`` is computed without the bias (the authors'
    default).

    A convolutional projection's ``B_k`` is a kernel of the forward kernel's
    shape and its alignment loss the primitives' convolutional form (see the
    module documentation): ``B_k`` then descends the same loss of the
    convolution's matrices, as a kernel. A max-pooled convolution is not
    linear in its input: a rule with terms on inputs refuses it.

    A subclass sets ``name`` (to register), ``terms``, a tuple of
    ``(primitive, parameter)`` pairs (a primitive of
    :data:`ALIGNMENT_PRIMITIVES` and the constructor parameter that is its
    coefficient), and stores each coefficient with
    :func:`~bioplastic.plasticity.check_coefficient` (numbers or
    :class:`~bioplastic.plasticity.Schedule` objects)::

        class AmpNull(AlignmentRule):
            name = "amp_null"
            terms = (("amp", "alpha"), ("null", "beta"))

            def __init__(self, *, alpha=1e-3, beta=1e-3, feedback_scale=1.0, batch_reduction="mean"):
                super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
                self.alpha = check_coefficient(alpha, "alpha")
                self.beta = check_coefficient(beta, "beta")

    The alignment loss's batch means do not depend on ``batch_reduction``,
    which applies to the forward weights' updates.
    """

    #: ``(primitive, coefficient parameter)`` pairs of the alignment loss
    terms = ()
    #: what the alignment loss is evaluated on: ``"activity"`` (the layer's input) or ``"noise"``
    probe = "activity"
    #: the primitives also run on convolutional projections (kernel-shaped ``B``, see the module documentation)
    conv_feedback = True

    def __init_subclass__(cls, **kwargs):
        for primitive, _ in cls.__dict__.get("terms", ()):
            if primitive not in ALIGNMENT_PRIMITIVES:
                raise ValueError(f"{cls.__qualname__}.terms names the primitive {primitive!r}; expected one of {sorted(ALIGNMENT_PRIMITIVES)}")
        cls.coefficients = tuple(parameter for _, parameter in cls.terms)
        super().__init_subclass__(**kwargs)

    def init_rule_state(self, network, rng, dtype):
        """As :meth:`FeedbackRule.init_rule_state <bioplastic.plasticity.FeedbackRule.init_rule_state>`.

        Raises
        ------
        ValueError
            When a term on inputs (``amp``, ``null``, ``sparse``) meets a
            max-pooled convolutional projection ``k >= 1``, which is not
            linear in its input.
        """
        on_inputs = [primitive for primitive, _ in self.terms if primitive in _NEED_INPUTS]
        for k in range(1, network.n_layers):
            if on_inputs and _max_pooled(network.projections[k]):
                raise ValueError(f"{type(self).__name__} does not run on max-pooled convolutional projections (projection {k}: "
                                 f"{network.projections[k]!r}): the terms {', '.join(on_inputs)} of its alignment loss need the "
                                 "projection's linear map (average pooling or none)")
        return super().init_rule_state(network, rng, dtype)

    def alignment_loss(self, W, B, x, coefficients, *, projection=None):
        """``R = sum_i c_i P_i(W, B, x)`` of every member; ``coefficients`` maps each parameter to an array of shape (n_members,).

        With a convolutional ``projection``, ``W`` and ``B`` are kernels
        (see the module documentation).
        """
        kwargs = {} if projection is None else {"projection": projection}
        return sum(coefficients[parameter] * ALIGNMENT_PRIMITIVES[primitive][0](W, B, x, **kwargs) for primitive, parameter in self.terms)

    def alignment_gradient(self, W, B, x, coefficients, *, wx=None, out=None, projection=None):
        """``dR/dB = sum_i c_i dP_i/dB`` of every member, shape ``B.shape``.

        Parameters
        ----------
        W : ndarray of shape (n_members, n_post, n_pre)
        B : ndarray of shape (n_members, n_pre, n_post)
        x : ndarray of shape (n_members, batch, n_pre) or (batch, n_pre)
        coefficients : dict of str to ndarray of shape (n_members,)
        wx : ndarray of shape (n_members, batch, n_post), optional
            ``W x`` of every sample, when already computed.
        out : ndarray of the shape of ``B``, optional
        projection : Projection, optional
            A convolutional projection: ``W`` and ``B`` are kernels of shape
            ``(n_members, out_channels, in_channels, kh, kw)``, ``x`` flat
            feature maps (see the module documentation).
        """
        kwargs = {} if projection is None else {"projection": projection}
        total = np.zeros(B.shape, dtype=B.dtype) if out is None else out
        if out is not None:
            total[...] = 0
        for primitive, parameter in self.terms:
            c = coefficients[parameter]
            if not np.any(c):
                continue
            gradient = ALIGNMENT_PRIMITIVES[primitive][1]
            g = gradient(W, B, x, wx=wx, **kwargs) if primitive in _NEED_INPUTS else gradient(W, B, x, **kwargs)
            total += c.reshape((-1,) + (1,) * (B.ndim - 1)) * g
        return total

    def probe_inputs(self, network, k, activity, synaptic_noise):
        """The inputs ``x`` projection ``k``'s alignment loss is evaluated on, shape ``(n_members, batch, n_pre)`` (flat maps at a convolution)."""
        return activity.presynaptic[k]

    def state_directions(self, network, state, activity, weights, rule_state, scale, *, synaptic_noise=None, workspace=None):
        """``dR_k/dB_k`` for projections ``k >= 1``, times ``scale``."""
        n_members, dtype = state.n_members, state.dtype
        coefficients = {parameter: self.coefficient(parameter, rule_state, n_members, dtype) for parameter in self.coefficients}
        needs_inputs = any(primitive in _NEED_INPUTS for primitive, _ in self.terms)
        own = {}
        for k in range(1, network.n_layers):
            b, w, projection = rule_state[f"B{k}"], state.weights[k], network.projections[k]
            x = wx = None
            if needs_inputs:
                x = self.probe_inputs(network, k, activity, synaptic_noise)
                if self.probe == "activity":
                    # W x is the summed input less the bias: no second matrix product
                    h = activity.inputs[k]
                    if state.biases[k] is None:
                        wx = h
                    elif is_conv(projection):  # one bias per output channel
                        wx = scratch(workspace, ("wx", k), h.shape, h.dtype)
                        maps = h.shape[:2] + (projection.out_channels, -1)
                        np.subtract(h.reshape(maps), state.biases[k][:, None, :, None], out=wx.reshape(maps))
                    else:
                        wx = np.subtract(h, state.biases[k][:, None, :], out=scratch(workspace, ("wx", k), h.shape, h.dtype))
            direction = self.alignment_gradient(w, b, x, coefficients, wx=wx, out=scratch(workspace, ("align", k), b.shape, dtype),
                                                projection=projection if is_conv(projection) else None)
            direction *= scale.reshape((-1,) + (1,) * (b.ndim - 1))
            own[f"B{k}"] = direction
        return own


class SymmetricAlignment(AlignmentRule):
    """Symmetric alignment (SA): ``R = alpha decay + beta self = alpha (|W|^2 + |B|^2) - beta tr(W B)``.

    ``dR/dB = 2 alpha B - beta W^T``: ``B`` relaxes to ``(beta / 2 alpha) W^T``
    (``W^T`` with the defaults). Kunin et al. 2020, Sec. 3 and Table 1
    (defaults ``alpha = 1e-3``, ``beta = 2e-3`` from their code); see
    :class:`AlignmentRule` for the dynamics.

    Parameters
    ----------
    alpha : float >= 0 or Schedule, default 1e-3
        Coefficient of ``decay``.
    beta : float >= 0 or Schedule, default 2e-3
        Coefficient of ``self``.
    feedback_scale : float > 0, default 1.0
        Factor multiplying the feedback matrices' initial standard deviation.
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: errors through the feedback pathway (``signal =
    "feedback"``); not local: ``self`` needs the forward weight at the
    feedback synapse.
    """

    name = "symmetric_alignment"
    aliases = ("sa",)
    terms = (("decay", "alpha"), ("self", "beta"))

    def __init__(self, *, alpha=1e-3, beta=2e-3, feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
        self.alpha = check_coefficient(alpha, "alpha")
        self.beta = check_coefficient(beta, "beta")


class ActivationAlignment(AlignmentRule):
    """Activation alignment (AA): ``R = alpha sparse + beta amp = alpha (E|W x|^2 + E|B^T x|^2) - beta E[(W x) . (B^T x)]``.

    On the layer's input ``x``; ``dR/dB = 2 alpha E[x x^T] B - beta E[x x^T] W^T``,
    so ``B^T x`` relaxes to ``(beta / 2 alpha) W x`` on the inputs' span.
    Kunin et al. 2020, Sec. 3 and Table 1 (defaults ``alpha = 1e-3``,
    ``beta = 2e-3`` from their code).

    Parameters
    ----------
    alpha : float >= 0 or Schedule, default 1e-3
        Coefficient of ``sparse``.
    beta : float >= 0 or Schedule, default 2e-3
        Coefficient of ``amp``.
    feedback_scale : float > 0, default 1.0
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: errors through the feedback pathway (``signal =
    "feedback"``); not local: ``amp`` needs the forward projection ``W x``
    at the feedback synapse.
    """

    name = "activation_alignment"
    aliases = ("aa",)
    terms = (("sparse", "alpha"), ("amp", "beta"))

    def __init__(self, *, alpha=1e-3, beta=2e-3, feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
        self.alpha = check_coefficient(alpha, "alpha")
        self.beta = check_coefficient(beta, "beta")


class WeightMirror(AlignmentRule):
    """Weight mirror (WM): ``R = alpha decay + beta amp`` on white-noise inputs ``x ~ N(0, s^2 I)``.

    ``dR/dB = 2 alpha B - beta E[x x^T] W^T``; in expectation
    ``E[x x^T] = s^2 I``, so ``B`` relaxes to ``(beta s^2 / 2 alpha) W^T``
    (Akrout, Wilson, Humphreys, Lillicrap & Tweed, "Deep learning without
    weight transport", NeurIPS 2019; Kunin et al. 2020, Sec. 3 and Table 1,
    defaults ``alpha = beta = 1e-3`` from their code, ``s = 1``).

    The engine draws the noise inputs from the member's noise stream, so
    runs are reproducible and checkpointed. ``noise_inputs`` says which
    channel they come from:

    * ``"synaptic"`` (the default): the synaptic noise channel
      (:attr:`~bioplastic.plasticity.NoiseNeeds.synapse`). Each step,
      projection ``k`` gets an ``(n_post, n_pre + 1)`` standard Gaussian
      draw ``psi_k``, read as ``n_post`` noise inputs of width ``n_pre``,
      ``x = s psi_k[:, :n_pre]`` (the bias column unused). Their number is
      the projection's width, not the batch size. The ``amp`` term then
      costs two matrix products of ``n_post x n_pre x n_post`` per
      projection and step: a factor ``n_post / batch`` over a forward pass,
      on top of drawing ``n_post x (n_pre + 1)`` noise values.
    * ``"presynaptic"``: the presynaptic noise channel
      (:attr:`~bioplastic.plasticity.NoiseNeeds.presynaptic`), one noise
      input per sample, ``x = s psi_k`` with ``psi_k`` of shape
      ``(batch, n_pre)``: the ``amp`` term costs about one forward pass of
      the projection. Fewer inputs per step when ``batch < n_post``, so
      ``B`` fluctuates more about the same fixed point.

    On a convolutional projection ``B_k`` is a kernel and the noise inputs
    are white-noise feature maps of the projection's input shape (its
    ``n_pre`` units, flat), one per sample from the presynaptic channel
    whatever ``noise_inputs`` says (a convolution's synaptic noise is
    kernel-shaped, not input maps); ``amp`` is ``-E[(T_W x) . (T_B x)]``. In
    expectation its gradient is ``-s^2`` times the kernel update of
    ``<T_W, T_B>`` (the convolutions' matrices' overlap), which sums every
    kernel weight over the output positions it reaches: without padding or
    pooling ``dR/dB = 2 alpha B - beta s^2 P W`` with ``P`` the number of
    output positions, so ``B`` relaxes to ``(beta s^2 P / 2 alpha) W``
    (``decay`` counts each shared weight once); padding and pooling make
    the factor differ between kernel taps.

    Parameters
    ----------
    alpha : float >= 0 or Schedule, default 1e-3
        Coefficient of ``decay``.
    beta : float >= 0 or Schedule, default 1e-3
        Coefficient of ``amp``.
    noise_std : float > 0, default 1.0
        ``s``, the standard deviation of the noise inputs.
    noise_inputs : {"synaptic", "presynaptic"}, default "synaptic"
        The noise channel of the noise inputs (see above).
    feedback_scale : float > 0, default 1.0
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: errors through the feedback pathway (``signal =
    "feedback"``), not local as a whole; the feedback synapses' change
    ``x (W x)^T`` is local to them in the mirror mode (presynaptic noise,
    its forward response).
    """

    name = "weight_mirror"
    aliases = ("wm",)
    terms = (("decay", "alpha"), ("amp", "beta"))
    probe = "noise"
    uses_noise = True

    def __init__(self, *, alpha=1e-3, beta=1e-3, noise_std=1.0, noise_inputs="synaptic", feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
        self.alpha = check_coefficient(alpha, "alpha")
        self.beta = check_coefficient(beta, "beta")
        self.noise_std = check_positive(noise_std, "noise_std")
        self.noise_inputs = check_choice(noise_inputs, "noise_inputs", ("synaptic", "presynaptic"))

    def noise_needs(self, network):
        """The noise inputs' channel (synaptic or presynaptic) in the projections with a feedback matrix, ``1 .. L - 1``.

        Convolutional projections take theirs from the presynaptic channel
        with either ``noise_inputs`` (their synaptic noise is kernel-shaped).
        """
        none, feedback = (False,) * network.n_layers, tuple(k > 0 for k in range(network.n_layers))
        if self.noise_inputs == "presynaptic":
            return NoiseNeeds(none, none, feedback)
        maps = tuple(k > 0 and is_conv(proj) for k, proj in enumerate(network.projections))
        if any(maps):
            return NoiseNeeds(none, tuple(f and not m for f, m in zip(feedback, maps, strict=True)), maps)
        return NoiseNeeds(none, feedback)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, presynaptic_noise=None, rule_state=None,
                   scale=None, workspace=None):
        """As :meth:`FeedbackRule.directions <bioplastic.plasticity.FeedbackRule.directions>`; the noise inputs from ``noise_inputs``' channel.

        ``presynaptic_noise`` (list of (ndarray of shape (n_members, batch,
        n_pre) or None)) holds the noise inputs with
        ``noise_inputs="presynaptic"``, and those of the convolutional
        projections with either; ``synaptic_noise`` the others.
        """
        maps = [k for k in range(1, network.n_layers) if is_conv(network.projections[k])]
        if self.noise_inputs == "presynaptic" or maps:
            needed = range(1, network.n_layers) if self.noise_inputs == "presynaptic" else maps
            if presynaptic_noise is None or any(presynaptic_noise[k] is None for k in needed):
                raise ValueError(f"{self!r}.directions needs presynaptic noise (the noise inputs) in projections {list(needed)} "
                                 "(see noise_needs)")
            # handed on to probe_inputs, which reads the noise inputs from it
            if self.noise_inputs == "presynaptic":
                synaptic_noise = presynaptic_noise
            else:
                synaptic_noise = [presynaptic_noise[k] if k in maps else None if synaptic_noise is None else synaptic_noise[k]
                                  for k in range(network.n_layers)]
        return super().directions(network, state, x, target, loss, noise=noise, synaptic_noise=synaptic_noise, rule_state=rule_state,
                                  scale=scale, workspace=workspace)

    def probe_inputs(self, network, k, activity, synaptic_noise):
        """The noise inputs of projection ``k``: ``s psi_k[:, :, :n_pre]``, shape ``(n_members, n_post or batch, n_pre)``.

        ``n_post`` inputs from the synaptic channel, one per sample from the
        presynaptic one (see :meth:`directions`); noise maps of the input's
        shape, flat, at a convolution.
        """
        if synaptic_noise is None or synaptic_noise[k] is None:
            raise ValueError("WeightMirror.directions needs synaptic noise (the noise inputs) in projections 1 .. L - 1 (see noise_needs)")
        n_pre = network.projections[k].n_pre
        psi = synaptic_noise[k]
        if psi.shape[-1] < n_pre:
            raise ValueError(f"WeightMirror reads noise inputs of width n_pre = {n_pre} from projection {k}'s noise, got shape {psi.shape}")
        return self.noise_std * (psi if psi.shape[-1] == n_pre else psi[:, :, :n_pre])


class InformationAlignment(AlignmentRule):
    """Information alignment (IA): ``R = alpha amp + beta null + gamma decay`` on the layer's input.

    ``amp`` aligns the backward projection ``B^T x`` with the forward one,
    ``null`` (``E|B W x|^2``) keeps ``B`` from growing along directions that
    ``W`` uses, ``decay`` bounds both (Kunin et al. 2020, Sec. 4: the local
    rule they propose; defaults ``alpha = 2e-3``, ``beta = gamma = 1e-3``
    from their code). On white inputs (``E[x x^T] = s^2 I``) ``dR/dB = 0``
    at ``B = alpha s^2 W^T (2 beta W W^T s^2 + 2 gamma I)^{-1}``.

    Parameters
    ----------
    alpha : float >= 0 or Schedule, default 2e-3
        Coefficient of ``amp``.
    beta : float >= 0 or Schedule, default 1e-3
        Coefficient of ``null``.
    gamma : float >= 0 or Schedule, default 1e-3
        Coefficient of ``decay``.
    feedback_scale : float > 0, default 1.0
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: errors through the feedback pathway (``signal =
    "feedback"``), not local as a whole; the feedback synapses' change uses
    only activity in the forward and backward pathways.
    """

    name = "information_alignment"
    aliases = ("ia",)
    terms = (("amp", "alpha"), ("null", "beta"), ("decay", "gamma"))

    def __init__(self, *, alpha=2e-3, beta=1e-3, gamma=1e-3, feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
        self.alpha = check_coefficient(alpha, "alpha")
        self.beta = check_coefficient(beta, "beta")
        self.gamma = check_coefficient(gamma, "gamma")

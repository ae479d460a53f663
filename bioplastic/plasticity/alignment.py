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
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_positive
from ..ops import scratch
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


def decay_loss(W, B, x=None):
    """``|W|^2 + |B|^2`` (squared Frobenius norms), shape ``W.shape[:-2]``."""
    return np.sum(W * W, axis=(-2, -1)) + np.sum(B * B, axis=(-2, -1))


def decay_gradient(W, B, x=None):
    """``d decay / dB = 2 B``."""
    return 2 * B


def self_loss(W, B, x=None):
    """``-tr(W B)``: minus the overlap of ``B`` with ``W^T``."""
    return -np.sum(_t(W) * B, axis=(-2, -1))


def self_gradient(W, B, x=None):
    """``d self / dB = -W^T``."""
    return -_t(W)


def amp_loss(W, B, x, *, wx=None):
    """``-E[(W x) . (B^T x)]``: minus the mean overlap of the forward and backward projections of ``x``.

    Parameters
    ----------
    W : ndarray of shape (..., n_post, n_pre)
    B : ndarray of shape (..., n_pre, n_post)
    x : ndarray of shape (..., batch, n_pre)
    wx : ndarray of shape (..., batch, n_post), optional
        ``W x`` of every sample, when already computed.

    Returns
    -------
    ndarray of shape ``W.shape[:-2]`` (broadcast with ``x``'s leading axes)
    """
    y = _forward_projection(W, x, wx)
    return -np.mean(np.sum(y * np.matmul(x, B), axis=-1), axis=-1)


def amp_gradient(W, B, x, *, wx=None):
    """``d amp / dB = -E[x (W x)^T]``, shape ``(..., n_pre, n_post)``."""
    return -_batch_mean_outer(x, _forward_projection(W, x, wx))


def null_loss(W, B, x, *, wx=None):
    """``E |B W x|^2``: the mean squared reconstruction of ``x`` through ``W`` and back through ``B``."""
    y = _forward_projection(W, x, wx)
    u = np.matmul(y, _t(B))
    return np.mean(np.sum(u * u, axis=-1), axis=-1)


def null_gradient(W, B, x, *, wx=None):
    """``d null / dB = 2 E[(B W x) (W x)^T]``."""
    y = _forward_projection(W, x, wx)
    return 2 * _batch_mean_outer(np.matmul(y, _t(B)), y)


def sparse_loss(W, B, x, *, wx=None):
    """``E |W x|^2 + E |B^T x|^2``: the mean squared forward and backward projections of ``x``."""
    y = _forward_projection(W, x, wx)
    z = np.matmul(x, B)
    return np.mean(np.sum(y * y, axis=-1), axis=-1) + np.mean(np.sum(z * z, axis=-1), axis=-1)


def sparse_gradient(W, B, x, *, wx=None):
    """``d sparse / dB = 2 E[x (B^T x)^T]``."""
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

    def __init_subclass__(cls, **kwargs):
        for primitive, _ in cls.__dict__.get("terms", ()):
            if primitive not in ALIGNMENT_PRIMITIVES:
                raise ValueError(f"{cls.__qualname__}.terms names the primitive {primitive!r}; expected one of {sorted(ALIGNMENT_PRIMITIVES)}")
        cls.coefficients = tuple(parameter for _, parameter in cls.terms)
        super().__init_subclass__(**kwargs)

    def alignment_loss(self, W, B, x, coefficients):
        """``R = sum_i c_i P_i(W, B, x)`` of every member; ``coefficients`` maps each parameter to an array of shape (n_members,)."""
        return sum(coefficients[parameter] * ALIGNMENT_PRIMITIVES[primitive][0](W, B, x) for primitive, parameter in self.terms)

    def alignment_gradient(self, W, B, x, coefficients, *, wx=None, out=None):
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
        """
        total = np.zeros(B.shape, dtype=B.dtype) if out is None else out
        if out is not None:
            total[...] = 0
        for primitive, parameter in self.terms:
            c = coefficients[parameter]
            if not np.any(c):
                continue
            gradient = ALIGNMENT_PRIMITIVES[primitive][1]
            g = gradient(W, B, x, wx=wx) if primitive in _NEED_INPUTS else gradient(W, B, x)
            total += c[:, None, None] * g
        return total

    def probe_inputs(self, network, k, activity, synaptic_noise):
        """The inputs ``x`` projection ``k``'s alignment loss is evaluated on, shape ``(n_members, batch, n_pre)``."""
        return activity.presynaptic[k]

    def state_directions(self, network, state, activity, weights, rule_state, scale, *, synaptic_noise=None, workspace=None):
        """``dR_k/dB_k`` for projections ``k >= 1``, times ``scale``."""
        n_members, dtype = state.n_members, state.dtype
        coefficients = {parameter: self.coefficient(parameter, rule_state, n_members, dtype) for parameter in self.coefficients}
        needs_inputs = any(primitive in _NEED_INPUTS for primitive, _ in self.terms)
        own = {}
        for k in range(1, network.n_layers):
            b, w = rule_state[f"B{k}"], state.weights[k]
            x = wx = None
            if needs_inputs:
                x = self.probe_inputs(network, k, activity, synaptic_noise)
                if self.probe == "activity":
                    # W x is the summed input less the bias: no second matrix product
                    h = activity.inputs[k]
                    wx = h if state.biases[k] is None else np.subtract(h, state.biases[k][:, None, :],
                                                                       out=scratch(workspace, ("wx", k), h.shape, h.dtype))
            direction = self.alignment_gradient(w, b, x, coefficients, wx=wx, out=scratch(workspace, ("align", k), b.shape, dtype))
            direction *= scale[:, None, None]
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
        """The noise inputs' channel (synaptic or presynaptic) in the projections with a feedback matrix, ``1 .. L - 1``."""
        none, feedback = (False,) * network.n_layers, tuple(k > 0 for k in range(network.n_layers))
        if self.noise_inputs == "presynaptic":
            return NoiseNeeds(none, none, feedback)
        return NoiseNeeds(none, feedback)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, presynaptic_noise=None, rule_state=None,
                   scale=None, workspace=None):
        """As :meth:`FeedbackRule.directions <bioplastic.plasticity.FeedbackRule.directions>`; the noise inputs from ``noise_inputs``' channel.

        ``presynaptic_noise`` (list of (ndarray of shape (n_members, batch,
        n_pre) or None)) holds the noise inputs with
        ``noise_inputs="presynaptic"``, ``synaptic_noise`` otherwise.
        """
        if self.noise_inputs == "presynaptic":
            if presynaptic_noise is None or any(presynaptic_noise[k] is None for k in range(1, network.n_layers)):
                raise ValueError("WeightMirror(noise_inputs='presynaptic').directions needs presynaptic noise (the noise inputs) "
                                 "in projections 1 .. L - 1 (see noise_needs)")
            synaptic_noise = presynaptic_noise  # handed on to probe_inputs, which reads the noise inputs from it
        return super().directions(network, state, x, target, loss, noise=noise, synaptic_noise=synaptic_noise, rule_state=rule_state,
                                  scale=scale, workspace=workspace)

    def probe_inputs(self, network, k, activity, synaptic_noise):
        """The noise inputs of projection ``k``: ``s psi_k[:, :, :n_pre]``, shape ``(n_members, n_post or batch, n_pre)``.

        ``n_post`` inputs from the synaptic channel, one per sample from the
        presynaptic one (see :meth:`directions`).
        """
        if synaptic_noise is None or synaptic_noise[k] is None:
            raise ValueError("WeightMirror.directions needs synaptic noise (the noise inputs) in projections 1 .. L - 1 (see noise_needs)")
        n_pre = network.projections[k].n_pre
        psi = synaptic_noise[k]
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

"""What the rules with a feedback pathway share: feedback matrices as rule state, the backward pass through them."""

from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ..ops import backprop_deltas, deltas_to_updates, forward
from ..synapses import xavier_std
from .backprop import output_delta
from .base import Directions, PlasticityRule
from .schedules import Schedule

__all__ = ["FeedbackRule", "feedback_std"]


def feedback_std(projection, *, feedback_scale=1.0):
    """Standard deviation of a feedback matrix for ``projection``: its Xavier-Glorot std, ``init_scale`` and ``feedback_scale`` included.

    The feedback matrix ``B`` of a projection is drawn from the distribution
    its forward weights use, ``N(0, init_scale^2 2 / (n_pre + n_post))``
    (also when the forward weights start at zero), times ``feedback_scale``.
    """
    if getattr(projection, "kind", "dense") == "conv":  # a kernel: Xavier-Glorot over its fans
        out_channels, in_channels, kh, kw = projection.shape
        return feedback_scale * projection.init_scale * xavier_std(in_channels * kh * kw, out_channels * kh * kw)
    return feedback_scale * projection.init_scale * xavier_std(projection.n_pre, projection.n_post)


def check_feedback_projections(rule, network):
    """Refuse a network with convolutional projections above the first unless ``rule.conv_feedback`` (a kernel-shaped ``B``).

    Raises
    ------
    ValueError
        Naming the rule and the first convolutional projection ``k >= 1``.
    """
    if getattr(rule, "conv_feedback", False):
        return
    for k in range(1, network.n_layers):
        if getattr(network.projections[k], "kind", "dense") == "conv":
            raise ValueError(f"{type(rule).__name__} does not run on convolutional projections (projection {k}: "
                             f"{network.projections[k]!r}): it does not set conv_feedback = True, which says that its feedback "
                             "pathway handles kernel-shaped feedback (B of the kernel's shape, errors carried back by the transposed "
                             "convolution); FeedbackAlignment, DirectFeedbackAlignment, SignSymmetry, KolenPollack and the "
                             "alignment-loss rules do")


class FeedbackRule(PlasticityRule):
    """Base class of rules whose errors travel back through feedback matrices ``B_k`` of their own.

    Projection ``k >= 1`` has a feedback matrix ``B_k`` of shape
    ``(n_pre, n_post)`` (rule state ``"B<k>"``, drawn per member from its
    rule stream with :func:`feedback_std`) that carries its delta down,
    ``delta_{k-1} = f'(h_{k-1}) * (B_k delta_k)``; the forward weights change
    by ``-eta delta_k x_{k-1}^T`` as in backprop. Subclasses choose the
    feedback matrices (:meth:`feedback_matrices`), how they learn
    (:meth:`state_directions`) and extra terms of the forward directions.

    A convolutional projection ``k >= 1`` (:class:`~bioplastic.synapses.ConvProjection`)
    has a feedback *kernel* instead: ``B_k`` has the kernel's shape
    ``(out_channels, in_channels, kh, kw)`` and its delta travels down by
    the transposed convolution with ``B_k`` (through the pooling), the
    backward pass of backprop with ``B_k`` in place of ``W_k``. Read as a
    matrix, ``B_k`` is then the ``(n_pre, n_post)`` matrix of that
    transposed convolution. Only a rule that sets :attr:`conv_feedback`
    runs on such networks (the others are refused by name).

    Coefficients named in :attr:`coefficients` may be numbers or
    :class:`~bioplastic.plasticity.Schedule` objects; a rule with a schedule
    keeps a step counter ``"step"`` in its state (one per member), which
    :meth:`directions` advances by one each call.

    Parameters
    ----------
    feedback_scale : float > 0, default 1.0
        Factor multiplying the feedback matrices' initial standard deviation.
    batch_reduction : {"mean", "sum"}, default "mean"
    """

    signal = "feedback"
    local = False
    uses_noise = False
    #: whether the rule handles kernel-shaped feedback on convolutional projections (its feedback matrices and their learning)
    conv_feedback = False
    #: names of the constructor parameters that are coefficients (numbers or schedules)
    coefficients = ()

    def __init__(self, *, feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(batch_reduction=batch_reduction)
        self.feedback_scale = check_positive(feedback_scale, "feedback_scale")

    # -- state ---------------------------------------------------------------------------
    def _scheduled(self):
        return any(isinstance(getattr(self, name), Schedule) for name in self.coefficients)

    def init_rule_state(self, network, rng, dtype):
        """Feedback matrices ``"B<k>"`` of shape ``(n_pre, n_post)`` for projections ``k = 1 .. L - 1`` (and ``"step"`` with a schedule).

        ``B_k = feedback_std(projection k) * z`` with ``z`` standard normal,
        drawn from ``rng`` in the order of the projections; a convolutional
        projection's ``B_k`` has the kernel's shape ``(out_channels,
        in_channels, kh, kw)``.

        Raises
        ------
        ValueError
            For a convolutional projection above the first when the rule
            does not set :attr:`conv_feedback`.
        """
        check_feedback_projections(self, network)
        state = {}
        for k in range(1, network.n_layers):
            proj = network.projections[k]
            std = feedback_std(proj, feedback_scale=self.feedback_scale)
            shape = proj.shape if getattr(proj, "kind", "dense") == "conv" else (proj.n_pre, proj.n_post)  # kernels: the kernel's shape
            state[f"B{k}"] = (std * rng.standard_normal(shape)).astype(dtype, copy=False)
        return self._with_step(state, dtype)

    def _with_step(self, state, dtype):
        if self._scheduled():
            state["step"] = np.zeros((), dtype=dtype)
        return state

    def _check_state(self, rule_state, keys):
        missing = [key for key in keys if rule_state is None or key not in rule_state]
        if missing:
            raise ValueError(f"{type(self).__name__}.directions needs its rule state {missing} (see init_rule_state); "
                             f"got {None if rule_state is None else sorted(rule_state)}")

    def coefficient(self, name, rule_state, n_members, dtype):
        """The coefficient ``name`` of every member at its current step, ``ndarray of shape (n_members,)``."""
        value = getattr(self, name)
        if isinstance(value, Schedule):
            self._check_state(rule_state, ["step"])
            return np.broadcast_to(value(rule_state["step"]), (n_members,)).astype(dtype)
        return np.full(n_members, value, dtype=dtype)

    # -- one step ------------------------------------------------------------------------
    def feedback_matrices(self, network, state, rule_state, synaptic_noise=None, workspace=None):
        """The matrices that carry each projection's delta down: a list with ``None`` at projection 0.

        Returns
        -------
        list of (ndarray of shape (n_members, n_pre, n_post) or None)
            Of the kernels' shape ``(n_members, out_channels, in_channels,
            kh, kw)`` at a convolutional projection.
        """
        keys = [f"B{k}" for k in range(1, network.n_layers)]
        self._check_state(rule_state, keys)
        return [None] + [rule_state[key] for key in keys]

    def state_directions(self, network, state, activity, weights, rule_state, scale, *, synaptic_noise=None, workspace=None):
        """Directions for the rule's state, ``{name: ndarray}`` (times ``scale``); by default none (fixed feedback).

        ``weights`` are the forward directions (times ``scale``), which a
        subclass may change in place (a decay term, say).
        """
        return {}

    def _deltas(self, network, state, activity, delta_out, rule_state, synaptic_noise, workspace):
        feedback = self.feedback_matrices(network, state, rule_state, synaptic_noise=synaptic_noise, workspace=workspace)
        return backprop_deltas(network, state, activity, delta_out, feedback=feedback, workspace=workspace)

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Forward directions ``delta_k x_{k-1}^T`` with deltas carried back through the feedback pathway, and the state's directions.

        All directions are times ``scale``; a step counter in the rule state
        (scheduled coefficients) is advanced by one.
        """
        activity = forward(network, state, x, workspace=workspace)
        deltas = self._deltas(network, state, activity, output_delta(network, activity, target, loss), rule_state, synaptic_noise, workspace)
        factors = self._scale(scale, state.n_members, activity.output.dtype)
        coefficient = factors[:, None, None] * self._sample_factor(x.shape[0])
        weights, biases = deltas_to_updates(network, activity, deltas, coefficient, workspace=workspace)
        own = self.state_directions(network, state, activity, weights, rule_state, factors, synaptic_noise=synaptic_noise,
                                    workspace=workspace)
        if rule_state is not None and "step" in rule_state:
            rule_state["step"] += 1
        return Directions(weights, biases, activity, state=own)

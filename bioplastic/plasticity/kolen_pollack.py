"""Kolen-Pollack learning: feedback matrices that receive the forward weights' (transposed) updates, with weight decay on both."""

from __future__ import annotations

import numpy as np

from ..ops import is_conv, scratch
from ._feedback import FeedbackRule
from .schedules import check_coefficient

__all__ = ["KolenPollack"]


class KolenPollack(FeedbackRule):
    """Kolen-Pollack (KP): the feedback matrix gets the same update as the transposed forward weights, and both decay.

    With ``g_k = delta_k x_{k-1}^T`` (summed or averaged over the minibatch
    as ``batch_reduction`` says; deltas carried back through ``B``, as in
    feedback alignment) the directions are

        dW_k  ->  g_k + 2 decay W_k,        dB_k  ->  g_k^T + 2 decay B_k,

    the gradients of the loss plus ``decay (|W_k|^2 + |B_k|^2)``
    (Kolen & Pollack, "Backpropagation without weight transport", IEEE ICNN
    1994; Akrout, Wilson, Humphreys, Lillicrap & Tweed, "Deep learning
    without weight transport", NeurIPS 2019, Eq. 4-5; Kunin et al., "Two
    routes to scalable credit assignment without weight symmetry", ICML
    2020, ``R_KP = alpha R_decay``). Under plain SGD the difference obeys
    ``W_k - B_k^T <- (1 - 2 eta decay) (W_k - B_k^T)``: the pathways become
    symmetric geometrically, whatever the task. ``B_k`` starts as in
    :class:`~bioplastic.plasticity.FeedbackAlignment` (rule state ``"B<k>"``)
    and is stepped by the optimiser with the member's learning rate. Biases
    do not decay; the feedback matrix of a projection that is not plastic
    stays fixed.

    On a convolutional projection ``k`` the feedback is a kernel of the
    forward kernel's shape ``(out_channels, in_channels, kh, kw)`` that
    carries the delta down by the transposed convolution; it gets the
    kernel's own update, with no transpose, ``dB_k -> g_k + 2 decay B_k``
    (``g_k``: the kernel direction, summed over positions), so that
    ``W_k - B_k`` decays geometrically as above.

    Parameters
    ----------
    decay : float >= 0 or Schedule, default 1e-3
        ``alpha`` of Kunin et al. (their code's default), the coefficient of
        ``|W|^2 + |B|^2``: a weight decay of ``2 eta decay`` per step.
    feedback_scale : float > 0, default 1.0
        Factor multiplying the feedback matrices' initial standard deviation.
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: a per-neuron error carried back through a pathway of its
    own (``signal = "feedback"``), not local as a whole; the feedback
    synapses' change ``x_{k-1} delta_k^T`` is local to them (their pre- and
    postsynaptic activity in the backward pathway).
    """

    #: its pathway also runs through convolutional projections (a kernel-shaped ``B`` with the kernel's update)
    conv_feedback = True
    name = "kolen_pollack"
    aliases = ("kp",)
    coefficients = ("decay",)

    def __init__(self, *, decay=1e-3, feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
        self.decay = check_coefficient(decay, "decay")

    def state_directions(self, network, state, activity, weights, rule_state, scale, *, synaptic_noise=None, workspace=None):
        """``dB_k = g_k^T + 2 decay B_k`` (times ``scale``); adds ``2 decay W_k`` (times ``scale``) to the forward directions.

        A convolutional projection's ``dB_k = g_k + 2 decay B_k``: the
        kernel direction itself, ``B_k`` having the kernel's shape.
        """
        dtype = state.dtype
        factor = 2 * self.coefficient("decay", rule_state, state.n_members, dtype) * scale
        decays = bool(np.any(factor))

        def per_member(a):  # the factor against an array with the ensemble axis first (matrices or kernels)
            return factor.reshape((-1,) + (1,) * (a.ndim - 1))

        own = {}
        for k in range(1, network.n_layers):
            if weights[k] is None:
                continue
            b = rule_state[f"B{k}"]
            direction = scratch(workspace, ("kp", k), b.shape, dtype)
            np.copyto(direction, weights[k] if is_conv(network.projections[k]) else weights[k].transpose(0, 2, 1))
            if decays:
                direction += per_member(b) * b
            own[f"B{k}"] = direction
        if decays:
            for k, w in enumerate(weights):
                if w is not None:
                    w += per_member(w) * state.weights[k]
        return own

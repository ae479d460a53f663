"""Feedback alignment: errors carried back through fixed random matrices (FA), or straight from the readout (DFA)."""

from __future__ import annotations

from ..ops import direct_feedback_deltas
from ..synapses import xavier_std
from ._feedback import FeedbackRule, feedback_std

__all__ = ["DirectFeedbackAlignment", "FeedbackAlignment", "FeedbackRule", "feedback_std"]


class FeedbackAlignment(FeedbackRule):
    """Feedback alignment (FA): the error travels back through fixed random matrices.

    As backprop, but projection ``k``'s delta reaches its presynaptic layer
    through a fixed random matrix ``B_k`` (shape ``(n_pre, n_post)``) instead
    of the transposed forward weights ``W_k^T``,

        delta_{k-1} = f'(h_{k-1}) * (B_k delta_k),    dW_k = -eta delta_k x_{k-1}^T

    (Lillicrap, Cownden, Tweed & Akerman, "Random synaptic feedback weights
    support error backpropagation for deep learning", Nature Communications
    2016, Eq. 1 with ``B`` in place of ``W^T``). The forward weights come to
    align with the feedback, ``W_k`` with ``B_k^T``, so that the updates
    approach backprop's. ``B_k`` is drawn per member from its rule stream,
    from the distribution of projection ``k``'s forward weights (Xavier-Glorot
    normal, times the projection's ``init_scale`` and ``feedback_scale``),
    and is kept in the rule state (``"B<k>"``, checkpointed).

    Parameters
    ----------
    feedback_scale : float > 0, default 1.0
        Factor multiplying the feedback matrices' standard deviation.
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: a per-neuron error carried back through a pathway of its
    own (``signal = "feedback"``), not local. A step costs what a backprop
    step costs (the feedback matrix takes the place of ``W^T`` in the same
    matrix products).
    """

    #: its fixed random pathway also runs through convolutional projections (a kernel-shaped ``B``, the transposed convolution)
    conv_feedback = True
    name = "feedback_alignment"
    aliases = ("fa",)


class DirectFeedbackAlignment(FeedbackRule):
    """Direct feedback alignment (DFA): the readout's error reaches every hidden layer through a random matrix of its own.

    The readout's ``e = dL/dh_L`` is sent to hidden layer ``k`` through a
    fixed random matrix ``D_k`` of shape ``(n_k, n_out)``,

        delta_k = f'(h_k) * (D_k e)   (k < L),    delta_L = e,    dW_k = -eta delta_k x_{k-1}^T

    (Nøkland, "Direct feedback alignment provides learning in deep neural
    networks", NeurIPS 2016, Eq. 4). ``D_k`` (rule state ``"D<k>"``) is
    drawn per member from ``N(0, s^2)`` with ``s = feedback_scale x
    init_scale_L x sqrt(2 / (n_k + n_out))``, the Xavier-Glorot std of a
    projection from layer ``k`` to the readout (``init_scale_L``: the last
    projection's). With one hidden layer DFA is FA with the same draws.

    Parameters
    ----------
    feedback_scale : float > 0, default 1.0
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: the readout's error, broadcast to each hidden layer
    through its own pathway (``signal = "feedback"``), not local.
    """

    name = "direct_feedback_alignment"
    aliases = ("dfa",)

    def init_rule_state(self, network, rng, dtype):
        """Direct feedback matrices ``"D<k>"`` of shape ``(n_k, n_out)`` for the hidden layers ``k = 0 .. L - 2``."""
        n_out = network.n_outputs
        scale = self.feedback_scale * network.projections[-1].init_scale
        state = {}
        for k in range(network.n_layers - 1):
            n_k = network.projections[k].n_post
            state[f"D{k}"] = (scale * xavier_std(n_k, n_out) * rng.standard_normal((n_k, n_out))).astype(dtype, copy=False)
        return self._with_step(state, dtype)

    def feedback_matrices(self, network, state, rule_state, synaptic_noise=None, workspace=None):
        """The direct feedback matrices ``D_k``, one per hidden layer."""
        keys = [f"D{k}" for k in range(network.n_layers - 1)]
        self._check_state(rule_state, keys)
        return [rule_state[key] for key in keys]

    def _deltas(self, network, state, activity, delta_out, rule_state, synaptic_noise, workspace):
        feedback = self.feedback_matrices(network, state, rule_state, synaptic_noise=synaptic_noise, workspace=workspace)
        return direct_feedback_deltas(network, activity, delta_out, feedback, workspace=workspace)

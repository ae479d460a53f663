"""Backpropagation of errors with stochastic gradient descent (the reference rule)."""

from __future__ import annotations

from ..losses import CrossEntropy
from ..neurons import Softmax
from ..ops import backprop_deltas, deltas_to_updates, forward
from .base import Directions, PlasticityRule

__all__ = ["Backprop", "output_delta"]


def output_delta(network, activity, target, loss):
    """``dL/dh`` at the readout; ``y - y*`` for a softmax readout with cross-entropy."""
    out_act = network.activations[-1]
    if isinstance(out_act, Softmax) and isinstance(loss, CrossEntropy):
        return activity.output - target
    return out_act.vjp(activity.inputs[-1], activity.output, loss.gradient(activity.output, target))


class Backprop(PlasticityRule):
    """Stochastic gradient descent with backpropagated errors.

    ``dW_k = -eta * dL/dW_k``, averaged (or summed) over the minibatch.

    Parameters
    ----------
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: a vector error per neuron (``signal = "vector"``), carried
    back through the transposed forward weights: not local.
    """

    name = "backprop"
    aliases = ("sgd",)
    signal = "vector"
    local = False
    uses_noise = False

    def gradients(self, network, state, x, target, loss):
        """Exact gradients of the minibatch loss (mean or sum over samples, per ``batch_reduction``).

        Returns
        -------
        weights : list of ndarray of shape (n_members, n_post, n_pre)
        biases : list of (ndarray of shape (n_members, n_post) or None)
        """
        directions = self.directions(network, state, x, target, loss)
        return directions.weights, directions.biases

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Exact gradient ``dL/dW_k = (1/B) sum_n delta_{k,n} x_{k-1,n}^T`` (``"mean"``), times ``scale``."""
        activity = forward(network, state, x, workspace=workspace)
        deltas = backprop_deltas(network, state, activity, output_delta(network, activity, target, loss), workspace=workspace)
        coefficient = self._scale(scale, state.n_members, activity.output.dtype)[:, None, None] * self._sample_factor(x.shape[0])
        weights, biases = deltas_to_updates(network, activity, deltas, coefficient, workspace=workspace)
        return Directions(weights, biases, activity)

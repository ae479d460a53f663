"""The interface shared by all plasticity rules."""

from __future__ import annotations

from .._validation import check_choice

__all__ = ["SIGNALS", "PlasticityRule", "Updates"]

#: What a rule broadcasts to its synapses: one scalar per sample
#: (a neuromodulator; local and biologically plausible) or a vector error
#: per neuron (backpropagated; non-local).
SIGNALS = ("scalar", "vector")


class Updates:
    """Weight and bias changes of one step, already multiplied by the learning rate.

    Attributes
    ----------
    weights : list of (ndarray of shape (n_members, n_post, n_pre) or None)
    biases : list of (ndarray of shape (n_members, n_post) or None)
    activity : Activity
        The clean pass the updates were computed from.
    loss : ndarray of shape (n_members, batch) or None
        Clean loss of each sample, when the rule computed it.
    """

    def __init__(self, weights, biases, activity, loss=None):
        self.weights = weights
        self.biases = biases
        self.activity = activity
        self.loss = loss


class PlasticityRule:
    """Base class of plasticity rules.

    A rule turns a minibatch into synaptic changes. Subclasses set the class
    attributes ``signal`` (``"scalar"`` or ``"vector"``: what information
    reaches the synapses) and ``uses_noise`` (whether the rule learns from
    intrinsic noise), and implement :meth:`compute_updates`.

    Parameters
    ----------
    batch_reduction : {"mean", "sum"}, default "mean"
        How per-sample updates combine over a minibatch. ``"mean"`` divides
        the learning rate by the batch size (the NP paper's SARCOS
        convention); ``"sum"`` does not (its MNIST convention).
    """

    name = "rule"
    signal = "vector"
    uses_noise = False

    def __init__(self, *, batch_reduction="mean"):
        self.batch_reduction = check_choice(batch_reduction, "batch_reduction", ("mean", "sum"))

    def perturbed_layers(self, network):
        """Which layers (by projection index) receive intrinsic noise; a list of bool."""
        return [False] * network.n_layers

    def _sample_factor(self, batch):
        return 1.0 / batch if self.batch_reduction == "mean" else 1.0

    def compute_updates(self, network, state, x, target, loss, *, noise=None, scale, workspace=None):
        """Return the :class:`Updates` of one step.

        Parameters
        ----------
        network : Network
        state : NetworkState
        x : ndarray of shape (batch, n_in)
        target : ndarray of shape (batch, n_out)
        loss : Loss
        noise : list of (ndarray of shape (n_members, batch, n_k) or None), optional
            Unit-variance intrinsic noise per layer (rules with ``uses_noise``).
        scale : ndarray of shape (n_members,)
            Learning rate of each member (0 freezes a member).
        workspace : bioplastic.engines.numpy.Workspace, optional
            Scratch arrays reused between steps (the numpy engine passes one
            per member block). The returned arrays may live in it, so they
            are valid until the next call with the same workspace.
        """
        raise NotImplementedError

    def describe(self):
        """JSON-serialisable description (name and parameters)."""
        return {"name": self.name, "batch_reduction": self.batch_reduction}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "name")
        return f"{type(self).__name__}({params})"

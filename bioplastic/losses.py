"""Losses (what plasticity minimises) and metrics (what is reported).

Every loss works per sample: arrays carry outputs on the last axis and return
one value per sample (all leading axes kept, e.g. ``(n_members, batch)``).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_choice, check_positive

__all__ = [
    "LOSSES",
    "CrossEntropy",
    "Loss",
    "SquaredError",
    "accuracy",
    "get_loss",
    "squared_error",
]


class Loss:
    """Per-sample loss ``L(y, y*)`` with the operations learning rules need."""

    name = "loss"

    def __call__(self, output, target):
        """Return the loss of each sample, ``ndarray of shape output.shape[:-1]``."""
        raise NotImplementedError

    def gradient(self, output, target):
        """Return ``dL/dy``, same shape as ``output``."""
        raise NotImplementedError

    def difference(self, output, output_change, target):
        """Return ``L(y + dy) - L(y)`` without cancellation when ``dy`` is tiny."""
        return self(output + output_change, target) - self(output, target)

    def describe(self):
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


class SquaredError(Loss):
    """Squared error summed over outputs: ``L = scale * sum_i (y_i - y*_i)^2``.

    Parameters
    ----------
    scale : float, default 0.5
        The node-perturbation paper's convention is ``L = 1/2 ||y - y*||^2``
        (summed, not averaged, over outputs). On a softmax readout with
        one-hot targets this is the paper's MNIST loss.
    """

    name = "squared_error"

    def __init__(self, *, scale=0.5):
        self.scale = check_positive(scale, "SquaredError scale")

    def __call__(self, output, target):
        diff = output - target
        return self.scale * np.einsum("...i,...i->...", diff, diff)

    def gradient(self, output, target):
        return (2 * self.scale) * (output - target)

    def difference(self, output, output_change, target):
        # (y + d - t)^2 - (y - t)^2 = d (2 (y - t) + d): no cancellation
        return self.scale * np.einsum("...i,...i->...", output_change, 2 * (output - target) + output_change)

    def describe(self):
        return {"name": self.name, "scale": self.scale}

    def __repr__(self):
        return f"SquaredError(scale={self.scale})"


class CrossEntropy(Loss):
    """Cross-entropy ``L = -sum_i y*_i log y_i`` of a probability readout (softmax)."""

    name = "cross_entropy"

    def __call__(self, output, target):
        tiny = np.finfo(output.dtype).tiny
        return -np.einsum("...i,...i->...", target, np.log(np.maximum(output, tiny)))

    def gradient(self, output, target):
        tiny = np.finfo(output.dtype).tiny
        return -target / np.maximum(output, tiny)

    def difference(self, output, output_change, target):
        tiny = np.finfo(output.dtype).tiny
        ratio = output_change / np.maximum(output, tiny)
        return -np.einsum("...i,...i->...", target, np.log1p(np.maximum(ratio, -1 + np.finfo(output.dtype).eps)))


LOSSES = {"squared_error": SquaredError, "cross_entropy": CrossEntropy}


def get_loss(loss):
    """Return a :class:`Loss` from a name (``"squared_error"``, ``"cross_entropy"``) or an instance."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss should be a name or a Loss, got {loss!r}")
    return LOSSES[check_choice(loss, "loss", tuple(LOSSES))]()


def squared_error(output, target):
    """Mean over samples of the squared error summed over outputs.

    ``mean_b sum_i (y_bi - y*_bi)^2`` (no factor 1/2): the error the
    node-perturbation paper reports. Leading axes before the sample axis are
    kept: for ``output`` of shape ``(n_members, batch, n_out)`` the result has
    shape ``(n_members,)``.
    """
    diff = output - target
    return np.einsum("...bi,...bi->...", diff, diff) / diff.shape[-2]


def accuracy(output, labels):
    """Fraction of samples whose largest output is the label.

    ``labels`` are integer classes of shape ``(batch,)`` or one-hot targets of
    shape ``(batch, n_classes)``.
    """
    labels = np.asarray(labels)
    if labels.ndim >= 2:
        labels = labels.argmax(axis=-1)
    elif not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.number) or not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"labels of shape {labels.shape} should be integer classes (or one-hot targets of shape (batch, n_classes)), "
                             f"got dtype {labels.dtype} with values such as {labels.ravel()[:3].tolist()}")
        labels = labels.astype(np.int64)
    return np.mean(output.argmax(axis=-1) == labels, axis=-1)

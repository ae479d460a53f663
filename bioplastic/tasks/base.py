"""The task interface: what a training loop needs from a data set."""

from __future__ import annotations

import numpy as np

from .._validation import check_finite_array, check_positive_int

__all__ = ["DatasetTask", "Task", "one_hot"]


def one_hot(labels, n_classes):
    """One-hot targets, ``ndarray of shape (n_samples, n_classes)``, from integer labels."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels should be a 1-D integer array, got shape {labels.shape} and dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels should lie in [0, {n_classes}), got values in [{labels.min()}, {labels.max()}]")
    out = np.zeros((labels.size, n_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


class Task:
    """A supervised task: minibatches for training, held-out sets for evaluation.

    Subclasses set ``n_inputs``, ``n_outputs``, ``is_classification`` and
    implement :meth:`n_batches`, :meth:`batches` and :meth:`evaluation_sets`.
    """

    name = "task"
    is_classification = False
    n_inputs = 0
    n_outputs = 0

    def n_batches(self, batch_size):
        """Number of minibatches in one epoch."""
        raise NotImplementedError

    def batches(self, batch_size, rng):
        """Yield the ``(x, target)`` minibatches of one epoch in an order drawn from ``rng``.

        ``x`` has shape ``(batch_size, n_inputs)`` and ``target`` shape
        ``(batch_size, n_outputs)`` (one-hot for classification).
        """
        raise NotImplementedError

    def evaluation_sets(self):
        """``{"train": (x, target), "test": (x, target)}`` used for the per-epoch records."""
        raise NotImplementedError

    def describe(self):
        return {"name": self.name, "n_inputs": self.n_inputs, "n_outputs": self.n_outputs}


def _sample_matrix(array, name, what):
    """``array`` as ``(n_samples, n_values)``, requiring at least one sample and one value per sample."""
    if array.ndim == 0:
        raise ValueError(f"{name} should be an array with one row per sample, got a scalar {array.item()!r}")
    if len(array) == 0:
        raise ValueError(f"{name} should hold at least 1 sample, got 0 (shape {array.shape})")
    if array.size == 0:
        raise ValueError(f"{name} should have at least 1 {what} per sample, got shape {array.shape}")
    return array.reshape(len(array), -1)


class DatasetTask(Task):
    """A task backed by fixed arrays.

    Parameters
    ----------
    x_train : ndarray of shape (n_train, n_inputs)
    y_train : ndarray of shape (n_train, n_outputs), or (n_train,) integer labels
        Integer labels make a classification task with one-hot targets.
    x_test, y_test : ndarray
        Held-out set, same layout.
    n_classes : int, optional
        Number of classes for integer labels (default: ``max label + 1``).
    name : str, default "dataset"
    eval_train_size : int, optional
        Evaluate the per-epoch training error on the first ``eval_train_size``
        training samples only (saves time on large data sets).
    """

    def __init__(self, x_train, y_train, x_test, y_test, *, n_classes=None, name="dataset", eval_train_size=None):
        self.name = name
        x_train = _sample_matrix(check_finite_array(x_train, "x_train", dtype=float), "x_train", "feature")
        x_test = _sample_matrix(check_finite_array(x_test, "x_test", dtype=float), "x_test", "feature")
        if x_train.shape[1] != x_test.shape[1]:
            raise ValueError(f"x_train has {x_train.shape[1]} features but x_test has {x_test.shape[1]}")
        y_train, y_test = np.asarray(y_train), np.asarray(y_test)
        for nm, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            if y.ndim == 0:
                raise ValueError(f"y_{nm} should hold one target per sample, got a scalar {y!r}")
            if len(x) != len(y):
                raise ValueError(f"x_{nm} has {len(x)} samples but y_{nm} has {len(y)}")
        self.is_classification = y_train.ndim == 1 and np.issubdtype(y_train.dtype, np.integer)
        if self.is_classification:
            if y_test.ndim != 1 or not np.issubdtype(y_test.dtype, np.integer):
                raise ValueError(
                    f"y_train holds integer class labels, so y_test should too (1-D integers), "
                    f"got shape {y_test.shape} and dtype {y_test.dtype}"
                )
            if n_classes is None:
                n_classes = int(max(y_train.max(), y_test.max())) + 1
            n_classes = check_positive_int(n_classes, "n_classes")
            self.labels_train = y_train
            self.labels_test = y_test
            y_train, y_test = one_hot(y_train, n_classes), one_hot(y_test, n_classes)
        else:
            y_train = _sample_matrix(check_finite_array(y_train, "y_train", dtype=float), "y_train", "output")
            y_test = _sample_matrix(check_finite_array(y_test, "y_test", dtype=float), "y_test", "output")
        if y_train.shape[1] != y_test.shape[1]:
            raise ValueError(f"y_train has {y_train.shape[1]} outputs but y_test has {y_test.shape[1]}")
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.n_inputs = x_train.shape[1]
        self.n_outputs = y_train.shape[1]
        if eval_train_size is not None:
            eval_train_size = check_positive_int(eval_train_size, "eval_train_size")
        self.eval_train_size = eval_train_size

    @property
    def n_train(self):
        return len(self.x_train)

    def n_batches(self, batch_size):
        batch_size = check_positive_int(batch_size, "batch_size")
        if batch_size > self.n_train:
            raise ValueError(f"batch_size {batch_size} exceeds the {self.n_train} training samples of task {self.name!r}")
        return self.n_train // batch_size

    def batches(self, batch_size, rng):
        """Shuffle the training set with ``rng`` and yield full minibatches (the remainder is dropped)."""
        n = self.n_batches(batch_size)
        order = rng.permutation(self.n_train)
        for i in range(n):
            idx = order[i * batch_size : (i + 1) * batch_size]
            yield self.x_train[idx], self.y_train[idx]

    def evaluation_sets(self):
        n = self.eval_train_size or self.n_train
        return {"train": (self.x_train[:n], self.y_train[:n]), "test": (self.x_test, self.y_test)}

    def describe(self):
        return {**super().describe(), "n_train": self.n_train, "n_test": len(self.x_test), "classification": self.is_classification}

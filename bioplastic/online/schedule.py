"""When online runs record and which samples they see: record steps, log-spaced steps, data epochs."""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_int

__all__ = ["log_spaced_steps", "record_steps"]


def log_spaced_steps(n_steps, n_records):
    """About ``n_records`` distinct step counts from 1 to ``n_steps``, evenly spaced in log time.

    Returns
    -------
    ndarray of int
        Increasing, starting at 1 and ending at ``n_steps`` (for ``record_at``).
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    n_records = check_positive_int(n_records, "n_records")
    return np.unique(np.round(np.geomspace(1, n_steps, n_records)).astype(np.int64))


def _check_record_at(record_at):
    try:
        steps = np.asarray(record_at)
    except (TypeError, ValueError):
        raise TypeError(f"record_at should be a 1-D sequence of step counts, got {record_at!r}") from None
    if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer):
        raise ValueError(f"record_at should be a non-empty 1-D sequence of integer step counts, got {record_at!r}")
    if steps[0] < 1 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"record_at should be strictly increasing step counts >= 1, got {steps.tolist()}")
    return steps.astype(np.int64)


def record_steps(history):
    """Learning steps at the records of a :func:`~bioplastic.online.train_online` (or online-task :func:`~bioplastic.train`) History.

    Returns
    -------
    ndarray of shape (n_records,)
        ``epochs * steps_per_epoch``.
    """
    config = history.config
    steps = config.get("steps_per_epoch")
    if steps is None:
        steps = config.get("task", {}).get("steps_per_epoch")
    if steps is None:
        raise ValueError("history.config holds no steps_per_epoch (not an online run)")
    return np.asarray(history.epochs) * int(steps)


def _segment_ends(start, stop, steps_per_epoch):
    """Ends of the stretches of steps from ``start`` to ``stop`` that stay within one data epoch.

    Noise and samples are drawn per data epoch (``steps_per_epoch`` steps),
    so a run between two records is cut at every epoch boundary it crosses.

    Returns
    -------
    list of int
        Increasing, ending at ``stop`` (empty when ``stop == start``).
    """
    first = (start // steps_per_epoch + 1) * steps_per_epoch
    return list(range(first, stop, steps_per_epoch)) + ([stop] if stop > start else [])


def _next_samples(batches, k, n_inputs, n_outputs):
    """Stack the next ``k`` one-sample batches of the iterator ``batches`` into ``(x, target)`` arrays."""
    x = np.empty((k, n_inputs))
    target = np.empty((k, n_outputs))
    for t in range(k):
        xb, yb = next(batches)
        x[t], target[t] = xb[0], yb[0]
    return x, target

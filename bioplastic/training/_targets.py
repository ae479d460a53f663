"""Epochs to a target from a History, per member and per learning rate.

Shared by the training-time search (:mod:`bioplastic.training.search`) and
the measurements of :mod:`bioplastic.analysis.training_times`.
"""

from __future__ import annotations

import numpy as np

#: How the seeds of one learning rate combine into one training time.
STATISTICS = ("mean", "median", "max", "mean_curve")


def check_target(name, above):
    """``above`` as a bool; by default ``True`` for records whose name contains "accuracy"."""
    if not isinstance(name, str):
        raise TypeError(f"name should be a record name such as 'test_error', got {name!r}")
    if above is None:
        above = "accuracy" in name
    return bool(above)


def member_times(history, target, name, above):
    """Epoch at which each member first reaches ``target``; inf if it has not (yet)."""
    if name not in history.records:
        raise ValueError(f"history has no record {name!r}; it records {sorted(history.records)}")
    return history.epochs_to_target(target, name, above=above)


def _aggregate(values, statistic):
    if statistic == "mean":
        return float(np.mean(values))
    if statistic == "median":
        return float(np.median(values))
    return float(np.max(values))


def group_times(history, target, name, above, statistic):
    """Per learning rate: ``(rate, time, final, lower bound)``; the bound counts unreached seeds at the next epoch."""
    times = member_times(history, target, name, above)
    last = float(history.epochs[-1])
    lrs = np.unique(history.learning_rates)
    out = []
    for lr in lrs:
        members = history.learning_rates == lr
        if statistic == "mean_curve":
            out.append((lr, *_curve_time(history, members, target, name, above, last)))
            continue
        t = times[members]
        reached = np.isfinite(t)
        failed = (history.diverged_epoch[members] >= 0) & ~reached
        if failed.any():
            out.append((lr, np.inf, True, np.inf))  # a member diverged before reaching the target
        elif reached.all():
            value = _aggregate(t, statistic)
            out.append((lr, value, True, value))
        else:
            out.append((lr, np.inf, False, _aggregate(np.where(reached, t, last + 1), statistic)))
    return out


def _curve_time(history, members, target, name, above, last):
    """Time at which the seed-averaged curve first reaches the target: (time, final, lower bound)."""
    curve = np.mean(np.asarray(history.records[name], dtype=float)[members], axis=0)
    with np.errstate(invalid="ignore"):
        hit = curve >= target if above else curve <= target
    if hit.any():
        value = float(history.epochs[int(np.argmax(hit))])
        return value, True, value
    if (history.diverged_epoch[members] >= 0).any():
        return np.inf, True, np.inf  # a diverged member leaves the average undefined from then on
    return np.inf, False, last + 1

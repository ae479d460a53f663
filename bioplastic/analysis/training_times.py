"""Training times and instability times measured from training runs (Histories).

* :func:`measured_minimum_training_time` -- the fewest epochs to reach a
  target error or accuracy, optimised over the learning rates of an
  ensemble (Figs 4E, 5B, 5C of Hiratani, Mehta, Lillicrap & Latham,
  NeurIPS 2022);
* :func:`measured_instability_times` -- epochs until the error is minimal
  and until it is back at its initial value (Fig. 4C).

The theory's predictions of the same quantities are
:func:`bioplastic.theory.predicted_minimum_training_time` and
:func:`bioplastic.theory.predicted_instability_times`. The former names
:func:`minimum_training_time` and :func:`instability_times` still work and
warn with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import numpy as np

from .._deprecation import deprecated_alias
from .._validation import check_choice, check_positive
from ..training._targets import STATISTICS, check_target, group_times, member_times

__all__ = ["instability_times", "measured_instability_times", "measured_minimum_training_time", "minimum_training_time"]


def measured_minimum_training_time(history, target, *, name="test_error", above=None, statistic="mean"):
    """Fewest epochs to reach ``target``, optimised over the learning rates of an ensemble.

    For every learning rate, the epochs its seeds need to first reach
    ``target`` (``History.epochs_to_target``) are combined with ``statistic``;
    a learning rate whose seeds do not all reach the target within the run
    (or that diverge first) gets ``inf``. The minimum over learning rates is
    the training time (Figs 4E, 5B, 5C of the NP paper).

    Parameters
    ----------
    history : History
        An ensemble over learning rates x seeds (:func:`bioplastic.training.train`).
    target : float
        Target value of the record, e.g. ``task.error_target()`` (SARCOS
        test error) or ``0.9`` (MNIST test accuracy).
    name : str, default "test_error"
        Record to threshold.
    above : bool, optional
        Whether the target is reached from below (``>=``, accuracies) or
        above (``<=``, errors); default: ``True`` for records whose name
        contains "accuracy".
    statistic : {"mean", "median", "max", "mean_curve"}, default "mean"
        How the seeds of one learning rate are combined: a statistic of the
        seeds' own times, or (``"mean_curve"``, the NP paper's procedure) the
        first epoch at which the record averaged over seeds reaches the
        target.

    Returns
    -------
    dict
        ``"time"`` (float, inf if no learning rate reached the target),
        ``"learning_rate"`` (the optimal one, NaN if none reached),
        ``"learning_rates"`` and ``"times"`` (ndarray of shape (n_rates,)),
        ``"member_times"`` (ndarray of shape (n_members,)), ``"at_edge"``
        (whether the optimum is the smallest or largest rate tried: widen the
        grid), ``"target"``, ``"name"``, ``"above"``, ``"statistic"``.

    See Also
    --------
    bioplastic.training.search_minimum_training_time : trains the ensembles,
        stopping as soon as the answer is settled.
    """
    above = check_target(name, above)
    statistic = check_choice(statistic, "statistic", STATISTICS)
    target = float(target)
    groups = group_times(history, target, name, above, statistic)
    lrs = np.array([g[0] for g in groups])
    times = np.array([g[1] for g in groups])
    best = int(np.argmin(times)) if np.isfinite(times).any() else None
    return {
        "time": float(times[best]) if best is not None else np.inf,
        "learning_rate": float(lrs[best]) if best is not None else np.nan,
        "learning_rates": lrs,
        "times": times,
        "member_times": member_times(history, target, name, above),
        "at_edge": best is not None and len(lrs) > 1 and best in (0, len(lrs) - 1),
        "target": target,
        "name": name,
        "above": above,
        "statistic": statistic,
    }


def measured_instability_times(history, *, name="test_error", factor=1.0):
    """Epochs until the error is minimal and until it is back at its initial value (Fig. 4C).

    Parameters
    ----------
    history : History
    name : str, default "test_error"
    factor : float, default 1.0
        The error counts as back when it is at least ``factor`` times its
        initial value (the NP paper's analysis code uses 1.1).

    Returns
    -------
    dict of ndarray of shape (n_members,)
        ``"initial"``: the error at epoch 0; ``"min_value"`` and
        ``"min_epoch"``: the smallest error and the first epoch it occurs;
        ``"return_epoch"``: the first epoch after ``min_epoch`` at which the
        error is at least ``factor`` times its initial value again -- for a member that
        diverged (and was frozen) without that, its divergence epoch; inf if
        neither happens within the run.
    """
    if name not in history.records:
        raise ValueError(f"history has no record {name!r}; it records {sorted(history.records)}")
    factor = check_positive(factor, "factor")
    values = np.asarray(history.records[name], dtype=float)
    epochs = np.asarray(history.epochs, dtype=float)
    n = values.shape[0]
    out = {key: np.full(n, np.nan) for key in ("initial", "min_value", "min_epoch", "return_epoch")}
    for i in range(n):
        row = values[i]
        out["initial"][i] = row[0]
        finite = np.isfinite(row)
        k = int(np.argmin(np.where(finite, row, np.inf)))
        out["min_value"][i] = row[k]
        out["min_epoch"][i] = epochs[k]
        after = np.flatnonzero(finite[k + 1:] & (row[k + 1:] >= factor * row[0])) + k + 1
        if after.size:
            out["return_epoch"][i] = epochs[after[0]]
        elif history.diverged_epoch[i] >= 0:
            out["return_epoch"][i] = float(history.diverged_epoch[i])
        else:
            out["return_epoch"][i] = np.inf
    return out


#: Deprecated: :func:`measured_minimum_training_time`.
minimum_training_time = deprecated_alias(measured_minimum_training_time, "minimum_training_time", "bioplastic.analysis")
#: Deprecated: :func:`measured_instability_times`.
instability_times = deprecated_alias(measured_instability_times, "instability_times", "bioplastic.analysis")

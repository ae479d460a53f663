"""Training until a target, and the search for the minimum training time over learning rates.

* :func:`train_until` -- train until a target error or accuracy is reached,
  stopping at exactly that epoch (resumable), e.g. to compare rules at a
  similar error;
* :func:`search_minimum_training_time` -- the fewest epochs to reach a
  target, optimised over the learning rate with ensembles trained in
  doubling chunks with early stopping (Figs 4E, 5B, 5C of Hiratani, Mehta,
  Lillicrap & Latham, NeurIPS 2022).

The training time of a finished History is measured by
:func:`bioplastic.analysis.measured_minimum_training_time`; both are also
importable from :mod:`bioplastic.analysis`.
"""

from __future__ import annotations

import json
import numbers
import tempfile
from pathlib import Path

import numpy as np

from .._validation import check_choice, check_positive_int
from ..io import copy_pair, remove_pair
from ._targets import STATISTICS, check_target, group_times, member_times
from .supervised import train

__all__ = ["search_minimum_training_time", "train_until"]


def _checkpoint_epoch(stem):
    path = Path(str(stem) + ".json")
    if not path.exists():
        return None
    return int(json.loads(path.read_text())["epoch"])


def _check_stem(path):
    path = Path(path)
    if "." in path.name:
        raise ValueError(f"checkpoint should be a path without a suffix or dots in its name, got {str(path)!r}")
    return path


def _chunked_train(network, rule, task, *, max_epochs, first_epochs, checkpoint, stop, train_kwargs):
    """Train with checkpoints in doubling chunks until ``stop(history)`` is true or ``max_epochs``.

    Returns ``(history, previous_epoch)``: the last History and the epoch the
    last chunk started from (its checkpoint copy is at ``<checkpoint>_prev``).
    """
    epochs = _checkpoint_epoch(checkpoint) or 0
    if epochs > max_epochs:
        raise ValueError(f"checkpoint {checkpoint} is at epoch {epochs}, beyond max_epochs={max_epochs}")
    n = min(max_epochs, max(first_epochs, epochs))
    prev = Path(str(checkpoint) + "_prev")
    previous_epoch = epochs
    while True:
        if _checkpoint_epoch(checkpoint) is not None:
            copy_pair(checkpoint, prev)
        history = train(network, rule, task, n_epochs=n, checkpoint=checkpoint, **train_kwargs)
        if stop(history) or n >= max_epochs:
            return history, previous_epoch
        previous_epoch = n
        n = min(max_epochs, 2 * n)


def _default_first(max_epochs):
    return max(1, min(max_epochs, 10))


def train_until(network, rule, task, *, target, max_epochs, learning_rate, seeds=0, name="test_error", above=None,
                first_epochs=None, checkpoint=None, **train_kwargs):
    """Train until every member reaches ``target`` and stop at exactly that epoch.

    Training runs in doubling chunks with checkpoints; once the target is
    reached within a chunk, the run is replayed from the chunk's start to the
    first epoch at which all members that have not diverged reached it, so
    ``final_state_`` holds the weights at that epoch. With ``checkpoint`` set,
    an interrupted call resumes where it stopped.

    Parameters
    ----------
    network : Network
    rule : PlasticityRule
    task : Task
    target : float
        Target value of record ``name``.
    max_epochs : int
        Give up after this many epochs.
    learning_rate, seeds
        As in :func:`bioplastic.training.train`.
    name : str, default "test_error"
    above : bool, optional
        Default: ``True`` for accuracies.
    first_epochs : int, optional
        Length of the first chunk (default ``min(10, max_epochs)``).
    checkpoint : path, optional
        Checkpoint stem (no suffix); a temporary one is used (and removed)
        when omitted.
    **train_kwargs
        Passed to :func:`bioplastic.training.train` (``batch_size``, ``dtype``,
        ``homeostasis``, ``progress``, ...).

    Returns
    -------
    History
        Records up to the stopping epoch, ``final_state_`` at it, and the
        attribute ``reached_`` (whether all surviving members reached the
        target; False if ``max_epochs`` ran out or every member diverged).
    """
    above = check_target(name, above)
    target = float(target)
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    first = _default_first(max_epochs) if first_epochs is None else check_positive_int(first_epochs, "first_epochs")
    kwargs = {"learning_rate": learning_rate, "seeds": seeds, "checkpoint_every": 50, **train_kwargs}

    def reached_epoch(history):
        times = member_times(history, target, name, above)
        alive = (history.diverged_epoch < 0) | np.isfinite(times)
        if not alive.any() or not np.isfinite(times[alive]).all():
            return None
        return int(np.max(times[alive]))

    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "train_until" if checkpoint is None else _check_stem(checkpoint)
        history, start = _chunked_train(network, rule, task, max_epochs=max_epochs, first_epochs=first, checkpoint=stem,
                                        stop=lambda h: reached_epoch(h) is not None or bool(h.diverged.all()),
                                        train_kwargs=kwargs)
        epoch = reached_epoch(history)
        if epoch is not None and epoch < history.epochs[-1]:
            prev = Path(str(stem) + "_prev")
            if 0 < start < epoch and Path(str(prev) + ".json").exists():
                copy_pair(prev, stem)
            else:  # replay from the start (rare: a member diverged after the chunk began)
                remove_pair(stem)
            history = train(network, rule, task, n_epochs=epoch, checkpoint=stem, **kwargs)
    history.reached_ = epoch is not None
    return history


def search_minimum_training_time(network, rule, task, *, target, learning_rates, max_epochs, seeds=(0,),
                                 name="test_error", above=None, statistic="mean", first_epochs=None, max_extensions=2,
                                 checkpoint=None, **train_kwargs):
    """Minimum training time over learning rates, trained as ensembles with early stopping.

    All ``learning_rates x seeds`` train as one ensemble, in doubling chunks
    of epochs, until the answer is settled: some learning rate has all seeds
    at the target and no learning rate still running could beat it (its
    lower bound, counting unreached seeds at the next epoch, is no smaller),
    or ``max_epochs`` ran out. If the best rate is at an edge of the grid,
    the grid is extended by one geometric step beyond it (at most
    ``max_extensions`` times), each new rate trained as its own ensemble
    trained until it is settled against the best time so far (a seed-mean
    time can win with one seed up to n_seeds x slower).

    Parameters
    ----------
    network : Network
    rule : PlasticityRule
    task : Task
    target : float
        Target value of record ``name`` (e.g. ``task.error_target()`` for the
        paper's SARCOS test error 5.0, or 0.9 test accuracy on MNIST).
    learning_rates : sequence of float
        Initial grid, preferably geometric.
    max_epochs : int
    seeds : int or sequence of int, default (0,)
    name : str, default "test_error"
    above : bool, optional
        Default: ``True`` for accuracies.
    statistic : {"mean", "median", "max", "mean_curve"}, default "mean"
        How the seeds of a learning rate combine (see
        :func:`bioplastic.analysis.measured_minimum_training_time`).
    first_epochs : int, optional
        First chunk length (default ``min(10, max_epochs)``).
    max_extensions : int, default 2
    checkpoint : path, optional
        Checkpoint stem (no suffix): ``<checkpoint>_grid`` for the initial
        grid and ``<checkpoint>_ext<i>`` for extensions, so an interrupted
        search resumes. Temporary when omitted.
    **train_kwargs
        Passed to :func:`bioplastic.training.train`.

    Returns
    -------
    dict
        The keys of :func:`bioplastic.analysis.measured_minimum_training_time` for all rates tried
        (sorted), plus ``"histories"`` (list of History, one per ensemble
        trained) and ``"settled"`` (False if ``max_epochs`` ran out while a
        rate could still have won). ``"times"`` is inf for rates that
        diverged first or had not reached the target when the search stopped
        (by then they could no longer beat the optimum).
    """
    above = check_target(name, above)
    statistic = check_choice(statistic, "statistic", STATISTICS)
    target = float(target)
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    max_extensions = check_positive_int(max_extensions, "max_extensions", minimum=0)
    first = _default_first(max_epochs) if first_epochs is None else check_positive_int(first_epochs, "first_epochs")
    grid = np.unique(np.atleast_1d(np.asarray(learning_rates, dtype=float)))
    if grid.size == 0:
        raise ValueError("learning_rates should hold at least one learning rate, got an empty sequence")
    if isinstance(seeds, numbers.Integral):
        seeds = [int(seeds)]
    kwargs = {"seeds": list(seeds), "checkpoint_every": 50, **train_kwargs}

    def settled(history, horizon):
        groups = group_times(history, target, name, above, statistic)
        best = min((g[1] for g in groups), default=np.inf)
        open_bounds = [g[3] for g in groups if not g[2]]
        if not open_bounds:
            return True
        return best <= min(open_bounds) or float(history.epochs[-1]) >= horizon

    histories = []
    table = {}
    bounds = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "search" if checkpoint is None else _check_stem(checkpoint)
        rounds = [(grid, max_epochs, Path(str(base) + "_grid"))]
        ext = 0
        while rounds:
            rates, horizon, stem = rounds.pop()
            history, _ = _chunked_train(network, rule, task, max_epochs=horizon, first_epochs=min(first, horizon),
                                        checkpoint=stem, stop=lambda h, hz=horizon: settled(h, hz),
                                        train_kwargs={"learning_rate": rates, **kwargs})
            histories.append(history)
            for lr, value, final, bound in group_times(history, target, name, above, statistic):
                table[float(lr)] = value
                if not final:
                    bounds[float(lr)] = bound
            lrs = np.array(sorted(table))
            times = np.array([table[lr] for lr in lrs])
            if ext >= max_extensions or not np.isfinite(times).any() or len(lrs) < 2:
                break
            best = int(np.argmin(times))
            if best not in (0, len(lrs) - 1):
                break
            ratio = lrs[1] / lrs[0] if best == 0 else lrs[-1] / lrs[-2]
            new = float(f"{lrs[0] / ratio if best == 0 else lrs[-1] * ratio:.6g}")
            ext += 1
            # a new rate can still win while one seed is slower than the best time:
            # with the seed mean, a seed may need up to n_seeds x the best time
            reach = times[best] * (len(seeds) if statistic == "mean" else 1)
            horizon = int(min(max_epochs, np.ceil(reach)))
            rounds.append((np.array([new]), max(1, horizon), Path(f"{base}_ext{ext}")))
    lrs = np.array(sorted(table))
    times = np.array([table[lr] for lr in lrs])
    best = int(np.argmin(times)) if np.isfinite(times).any() else None
    is_settled = all(bound >= (times[best] if best is not None else np.inf) for bound in bounds.values())
    all_member_times = np.concatenate([member_times(h, target, name, above) for h in histories])
    return {
        "time": float(times[best]) if best is not None else np.inf,
        "learning_rate": float(lrs[best]) if best is not None else np.nan,
        "learning_rates": lrs,
        "times": times,
        "member_times": all_member_times,
        "at_edge": best is not None and len(lrs) > 1 and best in (0, len(lrs) - 1),
        "target": target,
        "name": name,
        "above": above,
        "statistic": statistic,
        "settled": bool(is_settled),
        "histories": histories,
    }

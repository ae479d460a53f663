"""Analyses of training runs: update alignment, training times, instability, dimensionality.

These functions support the nonlinear studies of Hiratani, Mehta, Lillicrap
& Latham (NeurIPS 2022), Figs 4-5 and S3-S4:

* :func:`mean_update_cosine_similarity` -- per-layer cosine similarity between
  two rules' updates (NP vs SGD, Fig. 4A), averaged over minibatches and
  noise draws;
* :func:`minimum_training_time` and :func:`search_minimum_training_time` --
  the fewest epochs to reach a target error or accuracy, optimised over the
  learning rate with ensembles (Figs 4E, 5B, 5C);
* :func:`train_until` -- train until a target is reached, stopping at that
  exact epoch (resumable), e.g. to compare rules at a similar error;
* :func:`instability_times` -- epochs until the error is minimal and until it
  is back at its initial value (Fig. 4C);
* :func:`weight_norm_trajectories` -- weight norm against error (Fig. 4D);
* :func:`hidden_participation_ratio` -- dimensionality of each hidden layer's
  activity on held-out inputs (Figs S3D, S4E).

They are re-exported by :mod:`bioplastic.analysis`.
"""

from __future__ import annotations

import json
import numbers
import tempfile
from pathlib import Path

import numpy as np

from ._random import make_rng
from ._validation import check_choice, check_positive, check_positive_int
from .io import copy_pair, remove_pair
from .losses import get_loss

__all__ = [
    "hidden_participation_ratio",
    "instability_times",
    "mean_update_cosine_similarity",
    "minimum_training_time",
    "search_minimum_training_time",
    "train_until",
    "weight_norm_trajectories",
]

_STATISTICS = ("mean", "median", "max", "mean_curve")


# -- update alignment ---------------------------------------------------------


def mean_update_cosine_similarity(network, state, task, rule, reference, *, loss="squared_error", batch_size=100,
                                  n_batches=10, n_noise=1, seed=0):
    """Per-layer cosine similarity of two rules' updates, averaged over minibatches and noise.

    For each of ``n_batches`` training minibatches of ``task`` and each of
    ``n_noise`` noise draws, both rules compute their update on the same
    minibatch from the same weights (:func:`bioplastic.analysis.update_cosine_similarity`);
    the cosine similarity of the two updates is taken layer by layer
    (Fig. 4A of the NP paper compares NP with SGD this way).

    Parameters
    ----------
    network : Network
    state : NetworkState
        Weights of ``n_members`` networks (not changed).
    task : Task
        Source of the minibatches (its training set).
    rule, reference : PlasticityRule
        E.g. ``NodePerturbation()`` and ``Backprop()``.
    loss : str or Loss, default "squared_error"
    batch_size : int, default 100
    n_batches : int, default 10
        Number of minibatches (drawn with ``seed``, without repetition within
        an epoch's order).
    n_noise : int, default 1
        Noise draws per minibatch.
    seed : int or Generator, default 0
        Seeds the minibatch order and the noise.

    Returns
    -------
    dict
        ``"mean"`` and ``"sem"`` (standard error of the mean over the
        ``n_batches * n_noise`` samples): ndarray of shape
        ``(n_members, n_layers)``; ``"values"``: ndarray of shape
        ``(n_batches, n_noise, n_members, n_layers)``. NaN for layers a rule
        does not update.
    """
    from .analysis import update_cosine_similarity

    loss = get_loss(loss)
    n_batches = check_positive_int(n_batches, "n_batches")
    n_noise = check_positive_int(n_noise, "n_noise")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = make_rng(seed)
    dtype = state.dtype
    values = np.empty((n_batches, n_noise, state.n_members, network.n_layers))
    drawn = 0
    while drawn < n_batches:
        for x, target in task.batches(batch_size, rng):
            x = np.asarray(x, dtype=dtype)
            target = np.asarray(target, dtype=dtype)
            for j in range(n_noise):
                values[drawn, j] = update_cosine_similarity(network, state, x, target, loss, rule, reference, seed=rng)
            drawn += 1
            if drawn == n_batches:
                break
    flat = values.reshape(n_batches * n_noise, state.n_members, network.n_layers)
    n = flat.shape[0]
    sem = flat.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(flat.shape[1:], np.nan)
    return {"mean": flat.mean(axis=0), "sem": sem, "values": values}


# -- training times -------------------------------------------------------------


def _check_target(name, above):
    if not isinstance(name, str):
        raise TypeError(f"name should be a record name such as 'test_error', got {name!r}")
    if above is None:
        above = "accuracy" in name
    return bool(above)


def _member_times(history, target, name, above):
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


def _group_times(history, target, name, above, statistic):
    """Per learning rate: aggregated time, whether it is final, and a lower bound while it is not."""
    times = _member_times(history, target, name, above)
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


def minimum_training_time(history, target, *, name="test_error", above=None, statistic="mean"):
    """Fewest epochs to reach ``target``, optimised over the learning rates of an ensemble.

    For every learning rate, the epochs its seeds need to first reach
    ``target`` (``History.epochs_to_target``) are combined with ``statistic``;
    a learning rate whose seeds do not all reach the target within the run
    (or that diverge first) gets ``inf``. The minimum over learning rates is
    the training time (Figs 4E, 5B, 5C of the NP paper).

    Parameters
    ----------
    history : History
        An ensemble over learning rates x seeds (:func:`bioplastic.train`).
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
    """
    above = _check_target(name, above)
    statistic = check_choice(statistic, "statistic", _STATISTICS)
    target = float(target)
    groups = _group_times(history, target, name, above, statistic)
    lrs = np.array([g[0] for g in groups])
    times = np.array([g[1] for g in groups])
    best = int(np.argmin(times)) if np.isfinite(times).any() else None
    return {
        "time": float(times[best]) if best is not None else np.inf,
        "learning_rate": float(lrs[best]) if best is not None else np.nan,
        "learning_rates": lrs,
        "times": times,
        "member_times": _member_times(history, target, name, above),
        "at_edge": best is not None and len(lrs) > 1 and best in (0, len(lrs) - 1),
        "target": target,
        "name": name,
        "above": above,
        "statistic": statistic,
    }


def _checkpoint_epoch(stem):
    path = Path(str(stem) + ".json")
    if not path.exists():
        return None
    return int(json.loads(path.read_text())["epoch"])


def _copy_checkpoint(src, dst):
    copy_pair(src, dst)


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
    from .training import train

    epochs = _checkpoint_epoch(checkpoint) or 0
    if epochs > max_epochs:
        raise ValueError(f"checkpoint {checkpoint} is at epoch {epochs}, beyond max_epochs={max_epochs}")
    n = min(max_epochs, max(first_epochs, epochs))
    prev = Path(str(checkpoint) + "_prev")
    previous_epoch = epochs
    while True:
        if _checkpoint_epoch(checkpoint) is not None:
            _copy_checkpoint(checkpoint, prev)
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
        As in :func:`bioplastic.train`.
    name : str, default "test_error"
    above : bool, optional
        Default: ``True`` for accuracies.
    first_epochs : int, optional
        Length of the first chunk (default ``min(10, max_epochs)``).
    checkpoint : path, optional
        Checkpoint stem (no suffix); a temporary one is used (and removed)
        when omitted.
    **train_kwargs
        Passed to :func:`bioplastic.train` (``batch_size``, ``dtype``,
        ``homeostasis``, ``progress``, ...).

    Returns
    -------
    History
        Records up to the stopping epoch, ``final_state_`` at it, and the
        attribute ``reached_`` (whether all surviving members reached the
        target; False if ``max_epochs`` ran out or every member diverged).
    """
    above = _check_target(name, above)
    target = float(target)
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    first = _default_first(max_epochs) if first_epochs is None else check_positive_int(first_epochs, "first_epochs")
    kwargs = {"learning_rate": learning_rate, "seeds": seeds, "checkpoint_every": 50, **train_kwargs}

    def reached_epoch(history):
        times = _member_times(history, target, name, above)
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
            from .training import train

            prev = Path(str(stem) + "_prev")
            if 0 < start < epoch and Path(str(prev) + ".json").exists():
                _copy_checkpoint(prev, stem)
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
        How the seeds of a learning rate combine (see :func:`minimum_training_time`).
    first_epochs : int, optional
        First chunk length (default ``min(10, max_epochs)``).
    max_extensions : int, default 2
    checkpoint : path, optional
        Checkpoint stem (no suffix): ``<checkpoint>_grid`` for the initial
        grid and ``<checkpoint>_ext<i>`` for extensions, so an interrupted
        search resumes. Temporary when omitted.
    **train_kwargs
        Passed to :func:`bioplastic.train`.

    Returns
    -------
    dict
        The keys of :func:`minimum_training_time` for all rates tried
        (sorted), plus ``"histories"`` (list of History, one per ensemble
        trained) and ``"settled"`` (False if ``max_epochs`` ran out while a
        rate could still have won). ``"times"`` is inf for rates that
        diverged first or had not reached the target when the search stopped
        (by then they could no longer beat the optimum).
    """
    above = _check_target(name, above)
    statistic = check_choice(statistic, "statistic", _STATISTICS)
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
        groups = _group_times(history, target, name, above, statistic)
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
            for lr, value, final, bound in _group_times(history, target, name, above, statistic):
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
    member_times = np.concatenate([_member_times(h, target, name, above) for h in histories])
    return {
        "time": float(times[best]) if best is not None else np.inf,
        "learning_rate": float(lrs[best]) if best is not None else np.nan,
        "learning_rates": lrs,
        "times": times,
        "member_times": member_times,
        "at_edge": best is not None and len(lrs) > 1 and best in (0, len(lrs) - 1),
        "target": target,
        "name": name,
        "above": above,
        "statistic": statistic,
        "settled": bool(is_settled),
        "histories": histories,
    }


# -- instability --------------------------------------------------------------


def instability_times(history, *, name="test_error", factor=1.0):
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


def weight_norm_trajectories(history, *, layers=None, name="test_error"):
    """Weight norm against error along training, per member (Fig. 4D).

    Parameters
    ----------
    history : History
    layers : sequence of int, optional
        Layers (projections) whose Frobenius norms combine as
        ``sqrt(sum_k ||W_k||^2)``; default all.
    name : str, default "test_error"

    Returns
    -------
    dict
        ``"epochs"`` (ndarray of shape (n_records,)), ``"norm"`` and
        ``"error"`` (ndarray of shape (n_members, n_records); NaN after a
        member diverged), ``"layer_norms"`` (ndarray of shape
        (n_members, n_records, n_layers)).
    """
    norms = np.asarray(history.records["weight_norms"], dtype=float)
    if layers is None:
        layers = range(norms.shape[2])
    layers = [int(k) for k in layers]
    for k in layers:
        if not -norms.shape[2] <= k < norms.shape[2]:
            raise ValueError(f"layer {k} out of range for {norms.shape[2]} layers")
    if name not in history.records:
        raise ValueError(f"history has no record {name!r}; it records {sorted(history.records)}")
    total = np.sqrt(np.sum(norms[:, :, layers] ** 2, axis=2))
    return {"epochs": np.asarray(history.epochs), "norm": total, "error": np.asarray(history.records[name], dtype=float),
            "layer_norms": norms}


# -- dimensionality -------------------------------------------------------------


def hidden_participation_ratio(network, state, x, *, max_samples=None):
    """Participation ratio of every hidden layer's rates on inputs ``x`` (Figs S3D, S4E).

    ``PR = (sum_i l_i)^2 / sum_i l_i^2`` of the eigenvalues ``l_i`` of the
    covariance of the rates across inputs (clean pass); 1 for activity along
    one direction, ``width`` for isotropic activity.

    Parameters
    ----------
    network : Network
    state : NetworkState
    x : ndarray of shape (n_samples, n_in)
        Held-out inputs (e.g. the test set).
    max_samples : int, optional
        Use the first ``max_samples`` inputs only.

    Returns
    -------
    ndarray of shape (n_members, n_layers - 1)
    """
    from .analysis import participation_ratio
    from .engines.numpy import forward

    x = np.asarray(x, dtype=state.dtype)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(f"x should have shape (n_samples, {network.n_inputs}), got {x.shape}")
    if max_samples is not None:
        x = x[: check_positive_int(max_samples, "max_samples")]
    activity = forward(network, state, x)
    if network.n_layers < 2:
        return np.empty((state.n_members, 0))
    return np.stack([participation_ratio(activity.rates[k]) for k in range(1, network.n_layers)], axis=1)

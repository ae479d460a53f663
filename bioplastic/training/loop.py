"""The one training loop of every engine: records, divergence, freezing, checkpoints, progress.

An engine takes part through a *runner* (an object with the methods below);
:func:`run_ensemble` does the rest, the same way for the minibatch numpy
engine (:func:`~bioplastic.training.train`), the online engines
(:func:`~bioplastic.online.train_online`) and the Brian2 engine.

A runner has

* ``n_members``;
* ``measure()``: the records at the current state, ``{name: ndarray of shape
  (n_members, ...)}``, including the watched error and ``weight_norms``
  (shape ``(n_members, n_layers)``);
* ``advance(start, stop, scale, *, last)``: train from position ``start`` to
  ``stop`` (epochs or steps) with per-member learning rates ``scale`` (0
  freezes a member); ``last`` says no further ``advance`` follows;
* ``snapshot()``: a copy of the weights; ``restore(mask, snapshot)``: put the
  ``mask`` members' weights back from it; ``keep(snapshot, mask)``: copy the
  ``mask`` members' current weights into it;
* for callbacks (optional): ``callback_inputs()``, the ``(engine, task)``
  handed to each callback's ``measure`` (see :mod:`bioplastic.training.callbacks`);
  a runner without it takes no callbacks;
* for checkpoints (optional): ``checkpoint_arrays()`` and
  ``checkpoint_meta()`` (the run state at the end of the last ``advance``,
  arrays and JSON), ``snapshot_arrays(snapshot)``, and
  ``resume(arrays, meta)`` which restores them and returns the snapshot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import pair_exists
from .callbacks import check_callbacks
from .checkpoints import load_checkpoint, save_checkpoint
from .divergence import diverging_members

__all__ = ["RunRecords", "run_ensemble"]


class RunRecords:
    """What :func:`run_ensemble` returns: positions, records and the divergence flags.

    Attributes
    ----------
    positions : ndarray of shape (n_records,)
        Position of each record (0 = before training).
    records : dict of str to ndarray of shape (n_members, n_records, ...)
        NaN after a member diverged.
    diverged : ndarray of shape (n_members,)
        Position label at which a member diverged and was frozen, -1 if never.
    """

    def __init__(self, positions, records, diverged):
        self.positions = positions
        self.records = records
        self.diverged = diverged


def run_ensemble(runner, *, stops, config, learning_rates, error="train_error", divergence_factor=1e3, dtype="float64",
                 checkpoint=None, checkpoint_every=10, progress=True, desc="", labels=None, unit="epoch", progress_total=None,
                 callbacks=None):
    """Run ``runner`` through ``stops`` with records after each, freezing and flagging diverging members.

    Parameters
    ----------
    runner : object
        See the module documentation.
    stops : sequence of int
        Increasing positions at which records are made (after position 0).
    config : dict
        The run's JSON configuration (stored in checkpoints, checked on resume).
    learning_rates : ndarray of shape (n_members,)
    error : str, default "train_error"
        The record watched for divergence.
    divergence_factor : float or None, default 1e3
        A member whose ``error`` becomes non-finite or exceeds this factor
        times its initial value is frozen (learning rate 0), its weights put
        back to its last good record, and flagged.
    dtype : str, default "float64"
        dtype of the per-member learning rates passed to ``advance``.
    checkpoint : path, optional
        Checkpoint pair stem; resumed from when it exists.
    checkpoint_every : int, default 10
        Records between checkpoints (and one after the last).
    progress : bool, default True
    desc : str
        Progress-bar label.
    labels : sequence of int, optional
        Label of each stop in the records (default: the stops themselves).
    unit : str, default "epoch"
        Progress-bar unit.
    progress_total : int, optional
        Progress-bar total (default: the last stop).
    callbacks : sequence of callbacks, optional
        Each one's ``measure(*runner.callback_inputs())`` adds records at
        every record point (their names may not repeat the runner's).

    Returns
    -------
    RunRecords
    """
    stops = [int(s) for s in stops]
    labels = stops if labels is None else [int(v) for v in labels]
    scale = np.asarray(learning_rates).astype(dtype)
    diverged = np.full(len(scale), -1, dtype=np.int64)
    callbacks = check_callbacks(callbacks)
    if callbacks and not callable(getattr(runner, "callback_inputs", None)):
        raise TypeError(f"{type(runner).__name__} takes no callbacks (it has no callback_inputs()), got {list(callbacks)!r}")
    first = _measure(runner, callbacks, 0)
    series = {k: [v] for k, v in first.items()}
    positions = [0]
    initial_error = first[error].copy()
    last_good = runner.snapshot()
    done = 0  # stops completed
    checkpoint = None if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and pair_exists(checkpoint):
        arrays, meta = load_checkpoint(checkpoint, config, required_arrays=("scale", "diverged_epoch", "epochs"))
        last_good = runner.resume(arrays, meta)
        scale = arrays["scale"].astype(dtype)
        diverged = arrays["diverged_epoch"]
        series = {k[len("series_"):]: list(v) for k, v in arrays.items() if k.startswith("series_")}
        positions = list(arrays["epochs"])
        initial_error = series[error][0]
        done = sum(1 for label in labels if label <= meta["epoch"])

    from tqdm.auto import tqdm

    start = stops[done - 1] if done else 0
    total = progress_total if progress_total is not None else (stops[-1] if stops else 0)
    bar = tqdm(total=total, initial=start, disable=not progress, desc=desc, unit=unit, leave=False)
    for i in range(done, len(stops)):
        stop, label = stops[i], labels[i]
        runner.advance(start, stop, scale, last=i == len(stops) - 1)
        rec = _measure(runner, callbacks, len(positions))
        active = diverged < 0
        newly = diverging_members(rec[error], rec["weight_norms"], initial_error, divergence_factor, active)
        if newly.any():
            diverged[newly] = label
            scale[newly] = 0
            runner.restore(newly, last_good)
        for key, value in rec.items():
            value = np.array(value, dtype=float)
            value[~active] = np.nan
            series[key].append(value)
        positions.append(label)
        runner.keep(last_good, diverged < 0)
        if progress:
            with np.errstate(all="ignore"):
                bar.set_postfix({error: f"{np.nanmin(rec[error]):.4g}", "diverged": int((diverged >= 0).sum())})
        bar.update(stop - start)
        start = stop
        if checkpoint is not None and ((i + 1) % checkpoint_every == 0 or i == len(stops) - 1):
            arrays = {f"state_{k}": v for k, v in runner.checkpoint_arrays().items()}
            arrays.update({f"good_{k}": v for k, v in runner.snapshot_arrays(last_good).items()})
            arrays.update({f"series_{k}": np.stack(v, axis=0) for k, v in series.items()})
            arrays.update({"scale": scale, "diverged_epoch": diverged, "epochs": np.asarray(positions)})
            save_checkpoint(checkpoint, config=config, epoch=label, arrays=arrays, meta=runner.checkpoint_meta())
    bar.close()
    return RunRecords(np.asarray(positions), {k: np.stack(v, axis=1) for k, v in series.items()}, diverged)


def _measure(runner, callbacks, index):
    """The runner's records and those of every callback, checked: new names, ``n_members`` first.

    ``index`` is the position of this record in the run (0: the initial state); each callback reads it as
    ``record_index_`` during its ``measure`` (the same after a resume as in an uninterrupted run).
    """
    rec = runner.measure()
    if not callbacks:
        return rec
    inputs = runner.callback_inputs()
    for cb in callbacks:
        cb.record_index_ = index
        extra = cb.measure(*inputs)
        for name, value in extra.items():
            if name in rec:
                raise ValueError(f"callback {cb!r} records {name!r}, which the run already records; records so far: {sorted(rec)}")
            if np.ndim(value) < 1 or np.shape(value)[0] != runner.n_members:
                raise ValueError(f"callback {cb!r} returned {name!r} of shape {np.shape(value)}; expected (n_members, ...) "
                                 f"with n_members = {runner.n_members}")
            rec[name] = value
    return rec

"""Online training of a :class:`~bioplastic.engines.brian2.Brian2Engine` as a runner of the one training loop.

:func:`train_engine` draws the trials' samples, hands a :class:`TrialRunner`
to :func:`bioplastic.training.run_ensemble` (records, divergence, freezing,
progress) and returns its :class:`~bioplastic.training.History`.
"""

from __future__ import annotations

import numpy as np

from ..._validation import check_positive, check_positive_int
from ...io import to_jsonable
from ...training import History, run_ensemble
from ...training.supervised import check_training_inputs, copy_members, evaluate_records

__all__ = ["TrialRunner", "train_engine"]


def train_engine(engine, task, n_trials, *, eval_every=None, progress=False, divergence_factor=1e3):
    """Train ``engine`` online on ``task``, one training sample per trial (see :meth:`Brian2Engine.train`)."""
    check_training_inputs(engine.network, engine.rule, task, engine.homeostasis)
    n_trials = check_positive_int(n_trials, "n_trials")
    eval_every = max(1, n_trials // 10) if eval_every is None else check_positive_int(eval_every, "eval_every")
    if divergence_factor is not None:
        divergence_factor = check_positive(divergence_factor, "divergence_factor")
    config = to_jsonable({
        "engine": "brian2",
        "epoch_unit": "trials",
        "network": engine.network.describe(),
        "rule": engine.rule.describe(),
        "task": task.describe(),
        "loss": engine.loss_.describe(),
        "homeostasis": None if engine.homeostasis is None else engine.homeostasis.describe(),
        "brian2": engine.describe(),
        "n_trials": n_trials,
        "divergence_factor": divergence_factor,
    })
    first = engine.trials_  # positions count the engine's trials
    runner = TrialRunner(engine, task, n_trials)
    stops = [min(n_trials, stop) for stop in range(eval_every, n_trials + eval_every, eval_every)]
    run = run_ensemble(runner, stops=stops, config=config, learning_rates=[engine.learning_rate_], divergence_factor=divergence_factor,
                       progress=progress, desc=f"brian2 {engine.rule.name}", unit="trial")
    diverged = np.where(run.diverged >= 0, run.diverged + first, -1)
    history = History(run.positions + first, run.records, [engine.learning_rate_], [int(engine.seed)], diverged, config)
    history.final_state_ = engine.get_weights()
    history.trial_loss_ = np.concatenate(runner.trial_loss) if runner.trial_loss else np.zeros(0)
    return history


class TrialRunner:
    """A Brian2 engine on a task's training samples, one per trial (see :mod:`bioplastic.training.loop`).

    Positions count trials from the start of the run; the samples of all
    ``n_trials`` trials are drawn up front from the engine's data stream
    (epochs of the training set in the order of ``task.batches``).
    """

    n_members = 1

    def __init__(self, engine, task, n_trials):
        self.engine, self.task = engine, task
        self.x, self.target = _samples(task, n_trials, engine._data_rng)
        self.trial_loss = []

    def measure(self):
        return evaluate_records(self.engine, self.task, self.engine.loss_, None)

    def advance(self, start, stop, scale, *, last):
        if scale[0] == 0:  # frozen after diverging: the weights do not change
            return
        record = self.engine._run(self.x[start:stop], self.target[start:stop], learn=True)
        self.trial_loss.append(record.trial_loss)

    def snapshot(self):
        return self.engine.get_weights()

    def restore(self, mask, snapshot):
        if mask[0]:
            self.engine.set_weights(snapshot)

    def keep(self, snapshot, mask):
        copy_members(snapshot, self.engine.state_, mask)


def _samples(task, n_trials, rng):
    """``n_trials`` training samples in the order of ``task.batches(1, rng)``, epoch after epoch: ``(x, target)`` float64 arrays."""
    xs, ys = [], []
    while len(xs) < n_trials:
        for xb, yb in task.batches(1, rng):
            xs.append(xb[0])
            ys.append(yb[0])
            if len(xs) == n_trials:
                break
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)

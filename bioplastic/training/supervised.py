"""Minibatch training of an ensemble on a task with the numpy engine: :func:`train`."""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_positive, check_positive_int, check_seed
from ..engines.numpy import NumpyEngine
from ..homeostasis import SynapticScaling
from ..io import to_jsonable
from ..losses import accuracy, get_loss, squared_error
from ..network import Network, NetworkState
from ..optimisers import get_optimiser
from ..plasticity.base import PlasticityRule
from ..tasks.base import Task
from .callbacks import check_callbacks
from .ensemble import ensemble_grid
from .history import History
from .loop import run_ensemble
from .noisy_updates import UpdateNoise, get_update_noise

__all__ = ["check_training_inputs", "copy_members", "evaluate_records", "train"]


def train(
    network,
    rule,
    task,
    *,
    n_epochs,
    learning_rate,
    seeds=0,
    batch_size=100,
    data_seed=0,
    loss="squared_error",
    homeostasis=None,
    dtype="float64",
    divergence_factor=1e3,
    progress=True,
    checkpoint=None,
    checkpoint_every=10,
    eval_batch_size=None,
    n_threads="auto",
    optimiser=None,
    callbacks=None,
    update_noise=None,
):
    """Train an ensemble of networks (learning rates x seeds) with one plasticity rule.

    All members share the minibatch order (``data_seed``); each member has its
    own initial weights and intrinsic noise (children of
    ``SeedSequence(seed)``), so member ``i`` reproduces a solo run with the
    same learning rate and seed.

    Parameters
    ----------
    network : Network
    rule : PlasticityRule
    task : Task
    n_epochs : int
        Number of passes through the training set.
    learning_rate : float or sequence of float
        Learning rate(s) ``eta > 0``; crossed with ``seeds``.
    seeds : int or sequence of int, default 0
        Member seeds, integers in ``[0, 2**63 - 1]``.
    batch_size : int, default 100
    data_seed : int, default 0
        Seed of the minibatch order shared by all members, in ``[0, 2**63 - 1]``.
    loss : str or Loss, default "squared_error"
        Loss the rule minimises (``"squared_error"``: ``1/2 sum_i (y_i - y*_i)^2``,
        the paper's convention; ``"cross_entropy"``).
    homeostasis : SynapticScaling, optional
        Synaptic scaling applied after every update.
    dtype : {"float64", "float32"}, default "float64"
    divergence_factor : float or None, default 1e3
        A member whose training error becomes non-finite or exceeds this
        factor times its initial error is frozen and flagged with the epoch.
    progress : bool, default True
        Show a progress bar (tqdm).
    checkpoint : path, optional
        Save the full run state every ``checkpoint_every`` epochs (and after
        the last) to the pair ``<checkpoint>.npz`` + ``<checkpoint>.json``
        (suffixes appended: ``run.checkpoint`` -> ``run.checkpoint.npz``) and
        resume from it if it exists (same configuration required, at most
        ``n_epochs`` epochs in); a resumed run equals an uninterrupted one. A
        kill while it is written leaves the previous checkpoint. Give it a
        name of its own, apart from the run's :meth:`History.save` files.
    checkpoint_every : int, default 10
    eval_batch_size : int, optional
        Samples per chunk when evaluating; by default sized so that a
        member block's activity in a chunk stays in cache (see
        :func:`~bioplastic.engines.numpy.predict`). Members that share a seed
        are evaluated once before training.
    n_threads : "auto" or int, default "auto"
        Threads that step blocks of ensemble members concurrently (see
        :class:`~bioplastic.engines.numpy.NumpyEngine`); results do not
        depend on it. ``"auto"`` chooses them, the BLAS threads and the
        noise prefetch thread from the CPUs the process may use (affinity
        and cgroup quota), so that their product stays within them; an
        explicit number is honoured.
    optimiser : str, dict or Optimiser, optional
        How the rule's update directions become changes (see
        :mod:`bioplastic.optimisers`): ``"sgd"`` (the default, ``W <- W - eta g``),
        ``"momentum"``, ``"adam"``, a dict ``{"name": ..., parameters}`` or an
        instance. Its state is checkpointed with the weights.
    callbacks : list of callbacks, optional
        Extra records made at every record point, e.g.
        ``[FeedbackAngle(), UpdateAngle()]`` (see
        :mod:`bioplastic.training.callbacks`): each callback's
        ``measure(engine, task)`` returns ``{name: ndarray of shape
        (n_members, ...)}``, stored in ``history.records[name]`` with shape
        ``(n_members, n_records, ...)``. They read the run without changing
        it.
    update_noise : NoisyUpdates or dict, optional
        Gaussian noise, times each member's learning rate, added to the
        parameters after every step (see
        :class:`~bioplastic.training.noisy_updates.NoisyUpdates`; a dict
        ``{"variance": ..., "on": ...}`` builds one). Its streams are
        checkpointed.

    Returns
    -------
    History
    """
    check_training_inputs(network, rule, task, homeostasis)
    n_epochs = check_positive_int(n_epochs, "n_epochs", minimum=0)
    batch_size = check_positive_int(batch_size, "batch_size")
    task.n_batches(batch_size)  # checks batch_size against the task
    dtype = check_choice(str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype, "dtype", ("float64", "float32"))
    if divergence_factor is not None:
        divergence_factor = check_positive(divergence_factor, "divergence_factor")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if eval_batch_size is not None:
        eval_batch_size = check_positive_int(eval_batch_size, "eval_batch_size")
    data_seed = check_seed(data_seed, "data_seed")
    loss = get_loss(loss)
    lrs, member_seeds = ensemble_grid(learning_rate, seeds)
    optimiser = get_optimiser(optimiser)
    callbacks = check_callbacks(callbacks)
    update_noise = get_update_noise(update_noise)

    engine = NumpyEngine(network, rule, loss, seeds=member_seeds, batch_size=batch_size, homeostasis=homeostasis, dtype=dtype, n_threads=n_threads,
                         optimiser=optimiser)
    config = to_jsonable({
        "network": network.describe(),
        "rule": rule.describe(),
        "task": task.describe(),
        "loss": loss.describe(),
        "homeostasis": None if homeostasis is None else homeostasis.describe(),
        "optimiser": optimiser.describe(),
        "n_epochs": n_epochs,
        "batch_size": batch_size,
        "data_seed": int(data_seed),
        "dtype": dtype,
        "divergence_factor": divergence_factor,
        "learning_rates": lrs,
        "seeds": member_seeds,
        "engine": "numpy",
    })
    if callbacks:  # only then: configurations (and checkpoints) of runs without them are unchanged
        config["callbacks"] = to_jsonable([cb.describe() if hasattr(cb, "describe") else repr(cb) for cb in callbacks])
    if update_noise is not None:
        config["update_noise"] = to_jsonable(update_noise.describe())
    runner = _MinibatchRunner(engine, task, loss, batch_size=batch_size, data_seed=data_seed, eval_batch_size=eval_batch_size,
                              update_noise=update_noise)
    run = run_ensemble(runner, stops=range(1, n_epochs + 1), config=config, learning_rates=lrs, divergence_factor=divergence_factor, dtype=dtype,
                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress, desc=f"{rule.name} x{len(lrs)}",
                       callbacks=callbacks)
    history = History(run.positions, run.records, lrs, member_seeds, run.diverged, config)
    history.final_state_ = engine.state_
    return history


class _MinibatchRunner:
    """The numpy engine on a task's minibatches, one epoch per stop (see :mod:`bioplastic.training.loop`)."""

    def __init__(self, engine, task, loss, *, batch_size, data_seed, eval_batch_size, update_noise=None):
        self.engine, self.task, self.loss = engine, task, loss
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.n_batches = task.n_batches(batch_size)
        self.data_rng = np.random.default_rng(data_seed)
        self.n_members = engine.n_members
        self._started = False
        self._noise_states = None
        # noisy updates: None when absent or of variance 0 (then nothing is drawn: the run is unchanged)
        self.update_noise = None if update_noise is None or update_noise.variance == 0 else UpdateNoise(update_noise, engine)

    def measure(self):
        return evaluate_records(self.engine, self.task, self.loss, self.eval_batch_size)

    def callback_inputs(self):
        return self.engine, self.task

    def advance(self, start, stop, scale, *, last):
        engine, dtype = self.engine, self.engine.dtype
        for _ in range(start, stop):
            if not self._started:
                engine.start_epoch(self.n_batches)  # later epochs are started early, see below
            with np.errstate(all="ignore"), engine.running():
                for x, target in self.task.batches(self.batch_size, self.data_rng):
                    engine.step(np.asarray(x, dtype=dtype), np.asarray(target, dtype=dtype), scale)
                    if self.update_noise is not None:
                        self.update_noise.apply(scale)
            # the noise streams' states at the epoch boundary (what a checkpoint stores);
            # then the next epoch's first noise chunk is drawn while the loop evaluates
            self._noise_states = engine.noise_.states() if engine.noise_ is not None else None
            self._started = not last
            if not last:
                engine.start_epoch(self.n_batches)

    def snapshot(self):
        return self.engine.state_.copy()

    def restore(self, mask, snapshot):
        copy_members(self.engine.state_, snapshot, mask)

    def keep(self, snapshot, mask):
        copy_members(snapshot, self.engine.state_, mask)

    def checkpoint_arrays(self):
        return {**self.engine.state_.arrays(), **{f"run_{k}": v for k, v in self.engine.run_arrays().items()}}

    def checkpoint_meta(self):
        meta = {"noise_states": self._noise_states, "data_state": self.data_rng.bit_generator.state}
        if self.update_noise is not None:
            meta["update_noise_states"] = self.update_noise.states()
        return meta

    def snapshot_arrays(self, snapshot):
        return snapshot.arrays()

    def resume(self, arrays, meta):
        n_layers = self.engine.network.n_layers
        strip = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
        state = strip("state_")
        self.engine.set_state(NetworkState.from_arrays(state, n_layers))
        self.engine.set_run_arrays({k[len("run_"):]: v for k, v in state.items() if k.startswith("run_")})
        if self.engine.noise_ is not None:
            self.engine.noise_.set_states(meta["noise_states"])
        self.data_rng.bit_generator.state = meta["data_state"]
        if self.update_noise is not None:
            self.update_noise.set_states(meta["update_noise_states"])
        return NetworkState.from_arrays(strip("good_"), n_layers)


def copy_members(target, source, mask):
    """``target``'s weights, biases and lateral decorrelation matrices of the ``mask`` members from ``source`` (two NetworkStates)."""
    for k in range(len(target.weights)):
        target.weights[k][mask] = source.weights[k][mask]
        if target.biases[k] is not None:
            target.biases[k][mask] = source.biases[k][mask]
        if target.lateral[k] is not None:
            target.lateral[k][mask] = source.lateral[k][mask]


def evaluate_records(engine, task, loss, eval_batch_size):
    """The records of one evaluation: train/test error, loss (and accuracy) of every member, and its weight norms."""
    out = {}
    for split, (x, target) in task.evaluation_sets().items():
        x = np.asarray(x, dtype=engine.dtype)
        target = np.asarray(target, dtype=engine.dtype)
        with np.errstate(all="ignore"):
            y = engine.predict(x, batch_size=eval_batch_size)  # None: sized to the ensemble
            out[f"{split}_error"] = squared_error(y, target[None]).astype(float)
            out[f"{split}_loss"] = loss(y, target[None]).mean(axis=1).astype(float)
            if task.is_classification:
                out[f"{split}_accuracy"] = accuracy(y, target).astype(float)
    with np.errstate(all="ignore"):
        out["weight_norms"] = engine.state_.weight_norms().astype(float)
    return out


def check_training_inputs(network, rule, task, homeostasis):
    """Check the types of a run's components and that network and task have the same input and output sizes."""
    if not isinstance(network, Network):
        raise TypeError(f"network should be a Network, got {network!r}")
    if not isinstance(rule, PlasticityRule):
        raise TypeError(f"rule should be a PlasticityRule (e.g. NodePerturbation()), got {rule!r}")
    if not isinstance(task, Task):
        raise TypeError(f"task should be a Task, got {task!r}")
    if homeostasis is not None and not isinstance(homeostasis, SynapticScaling):
        raise TypeError(f"homeostasis should be a SynapticScaling or None, got {homeostasis!r}")
    if network.n_inputs != task.n_inputs:
        raise ValueError(f"network has {network.n_inputs} inputs but task {task.name!r} has {task.n_inputs}")
    if network.n_outputs != task.n_outputs:
        raise ValueError(f"network has {network.n_outputs} outputs but task {task.name!r} has {task.n_outputs}")

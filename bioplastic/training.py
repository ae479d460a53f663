"""Training loop for ensembles, with records, divergence handling and checkpoints."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np

from ._validation import check_choice, check_positive, check_positive_int
from .engines.numpy import NumpyEngine
from .homeostasis import SynapticScaling
from .io import load_arrays_and_metadata, package_versions, save_arrays_and_metadata, to_jsonable
from .losses import accuracy, get_loss, squared_error
from .network import Network, NetworkState
from .plasticity.base import PlasticityRule
from .tasks.base import Task

__all__ = ["History", "ensemble_grid", "train"]


def ensemble_grid(learning_rates, seeds):
    """All (learning rate, seed) pairs, learning-rate-major.

    Returns
    -------
    learning_rates, seeds : ndarray of shape (n_members,)
    """
    lrs = np.atleast_1d(np.asarray(learning_rates, dtype=float))
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError(f"learning_rate should be a number or a 1-D sequence of numbers, got {learning_rates!r}")
    for lr in lrs:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning_rate must be > 0, got {lr}")
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = [seeds]
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds should hold at least one seed, got an empty sequence")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"seeds should be non-negative integers, got {s!r}")
    grid_lr = np.repeat(lrs, len(seeds))
    grid_seed = np.tile(np.asarray(seeds, dtype=np.int64), len(lrs))
    return grid_lr, grid_seed


class History:
    """Per-epoch records of every ensemble member.

    Attributes
    ----------
    epochs : ndarray of shape (n_records,)
        Epoch of each record (0 = before training).
    records : dict of str to ndarray
        ``train_error``, ``test_error`` (squared error summed over outputs,
        averaged over samples), ``train_loss``/``test_loss`` (the training
        loss), for classification ``train_accuracy``, ``test_accuracy``, all of
        shape ``(n_members, n_records)``; ``weight_norms`` of shape
        ``(n_members, n_records, n_layers)`` (Frobenius norm per layer).
        Values after a member diverged are NaN.
    learning_rates, seeds : ndarray of shape (n_members,)
    diverged_epoch : ndarray of shape (n_members,)
        Epoch at which a member diverged and was frozen, -1 if it never did.
    config : dict
        Description of network, rule, task, loss, homeostasis and settings.
    versions : dict
        Package versions that produced the result.
    """

    def __init__(self, epochs, records, learning_rates, seeds, diverged_epoch, config, versions=None):
        self.epochs = np.asarray(epochs)
        self.records = {k: np.asarray(v) for k, v in records.items()}
        self.learning_rates = np.asarray(learning_rates, dtype=float)
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self.diverged_epoch = np.asarray(diverged_epoch, dtype=np.int64)
        self.config = config
        self.versions = versions if versions is not None else package_versions()

    @property
    def n_members(self):
        return len(self.learning_rates)

    @property
    def diverged(self):
        """Boolean mask of members that diverged."""
        return self.diverged_epoch >= 0

    def __getitem__(self, name):
        return self.records[name]

    def member(self, index):
        """A one-member History of member ``index``."""
        sl = slice(index, index + 1)
        return History(
            self.epochs, {k: v[sl] for k, v in self.records.items()}, self.learning_rates[sl], self.seeds[sl],
            self.diverged_epoch[sl], self.config, self.versions,
        )

    def final(self, name="test_error"):
        """Last record of ``name`` for every member (NaN if diverged)."""
        return self.records[name][:, -1]

    def epochs_to_target(self, target, name="test_error", *, above=False):
        """First epoch at which ``name`` reaches ``target`` (``<=``; ``>=`` if ``above``), per member; inf if never."""
        values = self.records[name]
        with np.errstate(invalid="ignore"):
            hit = values >= target if above else values <= target
        first = np.argmax(hit, axis=1)
        return np.where(hit.any(axis=1), self.epochs[first].astype(float), np.inf)

    # -- storage ---------------------------------------------------------------
    def _arrays(self):
        arrays = {"epochs": self.epochs, "learning_rates": self.learning_rates, "seeds": self.seeds, "diverged_epoch": self.diverged_epoch}
        arrays.update({f"record_{k}": v for k, v in self.records.items()})
        return arrays

    def save(self, path):
        """Save to ``<path>.npz`` (arrays) and ``<path>.json`` (config, versions), atomically, without pickle."""
        return save_arrays_and_metadata(path, self._arrays(), {"kind": "bioplastic.History", "config": self.config, "versions": self.versions})

    @classmethod
    def load(cls, path):
        """Load a History written by :meth:`save`."""
        arrays, meta = load_arrays_and_metadata(path)
        if meta.get("kind") != "bioplastic.History":
            raise ValueError(f"{path} does not hold a bioplastic History (kind={meta.get('kind')!r})")
        records = {k[len("record_"):]: v for k, v in arrays.items() if k.startswith("record_")}
        return cls(arrays["epochs"], records, arrays["learning_rates"], arrays["seeds"], arrays["diverged_epoch"], meta["config"], meta["versions"])

    def to_table(self):
        """Tidy table: one row per member and record, columns for every scalar record.

        Returns a :class:`pandas.DataFrame` with columns ``member``,
        ``learning_rate``, ``seed``, ``epoch``, ``diverged_epoch`` and the
        records (``weight_norm_<k>`` per layer).
        """
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover
            raise ImportError("History.to_table needs pandas: pip install pandas") from error
        n_rec = len(self.epochs)
        columns = {
            "member": np.repeat(np.arange(self.n_members), n_rec),
            "learning_rate": np.repeat(self.learning_rates, n_rec),
            "seed": np.repeat(self.seeds, n_rec),
            "epoch": np.tile(self.epochs, self.n_members),
            "diverged_epoch": np.repeat(self.diverged_epoch, n_rec),
        }
        for name, values in self.records.items():
            if values.ndim == 2:
                columns[name] = values.reshape(-1)
            else:
                for k in range(values.shape[2]):
                    columns[f"{name[:-1] if name.endswith('s') else name}_{k}"] = values[:, :, k].reshape(-1)
        return pd.DataFrame(columns)

    def plot(self, name="test_error", *, ax=None, logy=True, label=None, band="range"):
        """Plot ``name`` against epochs: mean over seeds per learning rate, with a seed band.

        Returns the matplotlib Axes.
        """
        from .plotting import plot_learning_curves

        return plot_learning_curves(self, name, ax=ax, logy=logy, label=label, band=band)

    def __repr__(self):
        last = int(self.epochs[-1]) if len(self.epochs) else 0
        return f"History(n_members={self.n_members}, epochs={last}, rule={self.config.get('rule', {}).get('name')!r})"


def _evaluate(engine, task, loss, eval_batch_size):
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


def _validate(network, rule, task, homeostasis):
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
    n_threads=1,
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
    batch_size : int, default 100
    data_seed : int, default 0
        Seed of the minibatch order shared by all members.
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
        Save the full run state every ``checkpoint_every`` epochs to
        ``<checkpoint>.npz/.json`` and resume from it if it exists (same
        configuration required); a resumed run equals an uninterrupted one.
    checkpoint_every : int, default 10
    eval_batch_size : int, optional
        Samples per chunk when evaluating; by default sized so that a
        member block's activity in a chunk stays in cache (see
        :func:`~bioplastic.engines.numpy.predict`). Members that share a seed
        are evaluated once before training.
    n_threads : int, default 1
        Threads that step blocks of ensemble members concurrently (see
        :class:`~bioplastic.engines.numpy.NumpyEngine`); results do not
        depend on it.

    Returns
    -------
    History
    """
    _validate(network, rule, task, homeostasis)
    n_epochs = check_positive_int(n_epochs, "n_epochs", minimum=0)
    batch_size = check_positive_int(batch_size, "batch_size")
    n_batches = task.n_batches(batch_size)
    dtype = check_choice(str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype, "dtype", ("float64", "float32"))
    if divergence_factor is not None:
        divergence_factor = check_positive(divergence_factor, "divergence_factor")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if eval_batch_size is not None:
        eval_batch_size = check_positive_int(eval_batch_size, "eval_batch_size")
    if isinstance(data_seed, bool) or not isinstance(data_seed, numbers.Integral) or data_seed < 0:
        raise ValueError(f"data_seed should be a non-negative integer, got {data_seed!r}")
    loss = get_loss(loss)
    lrs, member_seeds = ensemble_grid(learning_rate, seeds)

    engine = NumpyEngine(network, rule, loss, seeds=member_seeds, batch_size=batch_size, homeostasis=homeostasis, dtype=dtype, n_threads=n_threads)
    data_rng = np.random.default_rng(data_seed)
    config = to_jsonable({
        "network": network.describe(),
        "rule": rule.describe(),
        "task": task.describe(),
        "loss": loss.describe(),
        "homeostasis": None if homeostasis is None else homeostasis.describe(),
        "n_epochs": n_epochs,
        "batch_size": batch_size,
        "data_seed": int(data_seed),
        "dtype": dtype,
        "divergence_factor": divergence_factor,
        "learning_rates": lrs,
        "seeds": member_seeds,
        "engine": "numpy",
    })

    scale = lrs.astype(dtype).copy()
    diverged_epoch = np.full(len(lrs), -1, dtype=np.int64)
    first = _evaluate(engine, task, loss, eval_batch_size)
    series = {k: [v] for k, v in first.items()}
    epochs = [0]
    start_epoch = 0
    initial_error = first["train_error"].copy()
    last_good = engine.state_.copy()

    checkpoint = None if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and checkpoint.with_suffix(".json").exists():
        state = _load_checkpoint(checkpoint, config, network.n_layers)
        start_epoch = state["epoch"]
        engine.set_state(state["network"])
        last_good = state["last_good"]
        if engine.noise_ is not None:
            engine.noise_.set_states(state["noise_states"])
        data_rng.bit_generator.state = state["data_state"]
        scale = state["scale"].astype(dtype)
        diverged_epoch = state["diverged_epoch"]
        series = {k: list(v) for k, v in state["series"].items()}
        epochs = list(state["epochs"])
        initial_error = series["train_error"][0]

    from tqdm.auto import tqdm

    bar = tqdm(total=n_epochs, initial=start_epoch, disable=not progress, desc=f"{rule.name} x{len(lrs)}", leave=False)
    for epoch in range(start_epoch + 1, n_epochs + 1):
        if epoch == start_epoch + 1:
            engine.start_epoch(n_batches)  # later epochs are started early, see below
        with np.errstate(all="ignore"), engine.running():
            for x, target in task.batches(batch_size, data_rng):
                engine.step(np.asarray(x, dtype=dtype), np.asarray(target, dtype=dtype), scale)
        # the noise streams' states at the epoch boundary (what a checkpoint stores);
        # then the next epoch's first noise chunk is drawn while we evaluate
        noise_states = engine.noise_.states() if engine.noise_ is not None else None
        if epoch < n_epochs:
            engine.start_epoch(n_batches)
        rec = _evaluate(engine, task, loss, eval_batch_size)
        # divergence: non-finite weights or error far above its start
        active = diverged_epoch < 0
        finite_weights = np.all(np.isfinite(rec["weight_norms"]), axis=1)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(rec["train_error"]) | ~finite_weights
            if divergence_factor is not None:
                bad |= rec["train_error"] > divergence_factor * initial_error
        newly = active & bad
        if newly.any():
            diverged_epoch[newly] = epoch
            scale[newly] = 0
            for k in range(network.n_layers):
                engine.state_.weights[k][newly] = last_good.weights[k][newly]
                if engine.state_.biases[k] is not None:
                    engine.state_.biases[k][newly] = last_good.biases[k][newly]
        frozen_before = ~active
        for key, value in rec.items():
            value = value.copy()
            value[frozen_before] = np.nan
            series[key].append(value)
        epochs.append(epoch)
        ok = diverged_epoch < 0
        for k in range(network.n_layers):
            last_good.weights[k][ok] = engine.state_.weights[k][ok]
            if last_good.biases[k] is not None:
                last_good.biases[k][ok] = engine.state_.biases[k][ok]
        if progress:
            with np.errstate(all="ignore"):
                bar.set_postfix(test_error=f"{np.nanmin(rec['test_error']):.4g}", diverged=int((diverged_epoch >= 0).sum()))
        bar.update(1)
        if checkpoint is not None and (epoch % checkpoint_every == 0 or epoch == n_epochs):
            _save_checkpoint(checkpoint, config, epoch, engine, last_good, data_rng, scale, diverged_epoch, series, epochs, noise_states)
    bar.close()

    records = {k: np.stack(v, axis=1) for k, v in series.items()}
    history = History(np.asarray(epochs), records, lrs, member_seeds, diverged_epoch, config)
    history.final_state_ = engine.state_
    return history


def _save_checkpoint(path, config, epoch, engine, last_good, data_rng, scale, diverged_epoch, series, epochs, noise_states):
    arrays = {f"state_{k}": v for k, v in engine.state_.arrays().items()}
    arrays.update({f"good_{k}": v for k, v in last_good.arrays().items()})
    arrays.update({f"series_{k}": np.stack(v, axis=0) for k, v in series.items()})
    arrays.update({"scale": scale, "diverged_epoch": diverged_epoch, "epochs": np.asarray(epochs)})
    meta = {
        "kind": "bioplastic.Checkpoint",
        "config": config,
        "epoch": epoch,
        "noise_states": noise_states,
        "data_state": data_rng.bit_generator.state,
    }
    save_arrays_and_metadata(path, arrays, meta)


def _load_checkpoint(path, config, n_layers):
    arrays, meta = load_arrays_and_metadata(path)
    if meta.get("kind") != "bioplastic.Checkpoint":
        raise ValueError(f"{path} is not a bioplastic checkpoint (kind={meta.get('kind')!r})")
    saved = dict(meta["config"])
    current = json.loads(json.dumps(config))
    saved_n, current_n = saved.pop("n_epochs"), current.pop("n_epochs")
    if saved != current:
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise ValueError(f"checkpoint {path} was written for a different configuration (differs in: {', '.join(diff)})")
    if meta["epoch"] > current_n:
        raise ValueError(f"checkpoint {path} is at epoch {meta['epoch']} (of {saved_n}), beyond n_epochs={current_n}")
    strip = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
    return {
        "epoch": meta["epoch"],
        "network": NetworkState.from_arrays(strip("state_"), n_layers),
        "last_good": NetworkState.from_arrays(strip("good_"), n_layers),
        "noise_states": meta["noise_states"],
        "data_state": meta["data_state"],
        "scale": arrays["scale"],
        "diverged_epoch": arrays["diverged_epoch"],
        "series": strip("series_"),
        "epochs": arrays["epochs"],
    }

"""Training loop for ensembles, with records, divergence handling and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._validation import check_choice, check_learning_rates, check_positive, check_positive_int, check_seed, check_seeds
from .engines.numpy import NumpyEngine
from .homeostasis import SynapticScaling
from .io import load_arrays_and_metadata, package_versions, pair_exists, pair_paths, save_arrays_and_metadata, to_jsonable
from .losses import accuracy, get_loss, squared_error
from .network import Network, NetworkState
from .optimisers import get_optimiser
from .plasticity.base import PlasticityRule
from .tasks.base import Task

__all__ = ["History", "ensemble_grid", "train"]


def ensemble_grid(learning_rates, seeds):
    """All (learning rate, seed) pairs, learning-rate-major.

    Parameters
    ----------
    learning_rates : float or sequence of float
        Each finite and > 0 (strings, booleans and nested sequences are
        refused).
    seeds : int or sequence of int
        Each an integer in ``[0, 2**63 - 1]`` (seeds are stored as int64).

    Returns
    -------
    learning_rates, seeds : ndarray of shape (n_members,)

    Raises
    ------
    TypeError
        A learning rate or seed of the wrong type (the message names it).
    ValueError
        An empty sequence, a learning rate <= 0 or not finite, a seed out of range.
    """
    lrs = check_learning_rates(learning_rates, "learning_rate")
    seeds = check_seeds(seeds, "seeds")
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
        self._check_shapes()

    def _check_shapes(self):
        """Raise ValueError unless records, members and epochs have consistent shapes."""
        if self.epochs.ndim != 1:
            raise ValueError(f"epochs should be 1-D (one entry per record), got shape {self.epochs.shape}")
        if self.learning_rates.ndim != 1:
            raise ValueError(f"learning_rates should be 1-D (one entry per member), got shape {self.learning_rates.shape}")
        n_members, n_records = len(self.learning_rates), len(self.epochs)
        for name in ("seeds", "diverged_epoch"):
            shape = getattr(self, name).shape
            if shape != (n_members,):
                raise ValueError(f"{name} should have shape (n_members,) = ({n_members},) like learning_rates, got {shape}")
        for name, values in self.records.items():
            if values.ndim < 2 or values.shape[:2] != (n_members, n_records):
                raise ValueError(
                    f"records[{name!r}] should have shape (n_members, n_records, ...) = ({n_members}, {n_records}, ...) "
                    f"for {n_members} learning_rates and {n_records} epochs, got {values.shape}")
        if not isinstance(self.config, dict):
            raise ValueError(f"config should be a dict, got {type(self.config).__name__}")
        if not isinstance(self.versions, dict):
            raise ValueError(f"versions should be a dict of package versions, got {type(self.versions).__name__}")

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
        """Save to ``<path>.npz`` (arrays) and ``<path>.json`` (config, versions), without pickle.

        The two files share an identifier and a kill at any instant leaves the
        previous pair or the new one (see :mod:`bioplastic.io`); a ``path``
        ending in ``.npz``/``.json`` names its stem, other dots are kept.
        Returns ``(npz_path, json_path)``.
        """
        return save_arrays_and_metadata(path, self._arrays(), {"kind": "bioplastic.History", "config": self.config, "versions": self.versions})

    @classmethod
    def load(cls, path):
        """Load a History written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If a file of the pair is missing.
        ValueError
            If a file is unreadable, the two files are not one pair, an entry
            is missing or the shapes of records, members and epochs disagree;
            the message names the file.
        """
        arrays, meta = load_arrays_and_metadata(path)
        npz, js = pair_paths(path)
        if meta.get("kind") != "bioplastic.History":
            raise ValueError(f"{js} does not hold a bioplastic History (kind={meta.get('kind')!r})")
        for key in ("config", "versions"):
            if not isinstance(meta.get(key), dict):
                found = "lacks it" if key not in meta else f"has a JSON {type(meta[key]).__name__}"
                raise ValueError(f"{js} should hold the object {key!r} of a saved History but {found}")
        for name in ("epochs", "learning_rates", "seeds", "diverged_epoch"):
            if name not in arrays:
                raise ValueError(f"{npz} lacks the array {name!r} of a saved History (has {sorted(arrays)})")
        records = {k[len("record_"):]: v for k, v in arrays.items() if k.startswith("record_")}
        try:
            history = cls(arrays["epochs"], records, arrays["learning_rates"], arrays["seeds"], arrays["diverged_epoch"],
                          meta["config"], meta["versions"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{npz}: {error}") from None
        _check_members_in_config(history, npz, js)
        return history

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


def _check_members_in_config(history, npz, js):
    """Every member's (learning rate, seed) must be a member of the run its configuration describes."""
    config = history.config
    if "learning_rates" not in config or "seeds" not in config:
        return
    lrs, seeds = config["learning_rates"], config["seeds"]
    if not (isinstance(lrs, list) and isinstance(seeds, list)):
        raise ValueError(f"{js}: the configuration's learning_rates and seeds should be lists, got {lrs!r} and {seeds!r}")
    if len(lrs) != len(seeds):
        raise ValueError(f"{js}: the configuration lists {len(lrs)} learning_rates but {len(seeds)} seeds "
                         "(one of each per member)")
    try:
        grid = {(float(lr), int(seed)) for lr, seed in zip(lrs, seeds, strict=True)}
    except (TypeError, ValueError):
        raise ValueError(f"{js}: the configuration's learning_rates and seeds should be numbers, got {lrs!r} and {seeds!r}") from None
    for i, (lr, seed) in enumerate(zip(history.learning_rates, history.seeds, strict=True)):
        if (float(lr), int(seed)) not in grid:
            raise ValueError(f"{npz} and {js} disagree: member {i} has learning rate {float(lr)!r} and seed {int(seed)}, "
                             f"which the configuration's {len(lrs)} members (learning_rates {lrs}, seeds {seeds}) do not hold")


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
    n_threads="auto",
    optimiser=None,
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
    data_seed = check_seed(data_seed, "data_seed")
    loss = get_loss(loss)
    lrs, member_seeds = ensemble_grid(learning_rate, seeds)
    optimiser = get_optimiser(optimiser)

    engine = NumpyEngine(network, rule, loss, seeds=member_seeds, batch_size=batch_size, homeostasis=homeostasis, dtype=dtype, n_threads=n_threads,
                         optimiser=optimiser)
    data_rng = np.random.default_rng(data_seed)
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

    scale = lrs.astype(dtype).copy()
    diverged_epoch = np.full(len(lrs), -1, dtype=np.int64)
    first = _evaluate(engine, task, loss, eval_batch_size)
    series = {k: [v] for k, v in first.items()}
    epochs = [0]
    start_epoch = 0
    initial_error = first["train_error"].copy()
    last_good = engine.state_.copy()

    checkpoint = None if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and pair_exists(checkpoint):
        state = _load_checkpoint(checkpoint, config, network.n_layers)
        start_epoch = state["epoch"]
        engine.set_state(state["network"])
        engine.set_run_arrays(state["run"])
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
    arrays.update({f"run_{k}": v for k, v in engine.run_arrays().items()})
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


class _CheckpointMismatchError(ValueError):
    """A checkpoint written by a run of another configuration."""


_CHECKPOINT_META = ("config", "epoch", "noise_states", "data_state")
_CHECKPOINT_ARRAYS = ("scale", "diverged_epoch", "epochs")


def _load_checkpoint(path, config, n_layers):
    arrays, meta = load_arrays_and_metadata(path)
    npz, js = pair_paths(path)
    if meta.get("kind") != "bioplastic.Checkpoint":
        raise ValueError(f"{js} is not a bioplastic checkpoint (kind={meta.get('kind')!r}); "
                         "a checkpoint needs a name of its own, apart from a run's result files")
    missing = [k for k in _CHECKPOINT_META if k not in meta] + [k for k in _CHECKPOINT_ARRAYS if k not in arrays]
    if missing or not isinstance(meta["config"], dict):
        raise ValueError(f"checkpoint {npz} + {js.name} is incomplete: lacks {missing or ['a config object']}")
    saved = dict(meta["config"])
    current = json.loads(json.dumps(config))
    saved_n, current_n = saved.pop("n_epochs", None), current.pop("n_epochs")
    if saved != current:
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise _CheckpointMismatchError(
            f"checkpoint {path} was written for a different configuration (differs in: {', '.join(diff)}); "
            f"remove {npz} and {js} or pass another checkpoint path to start afresh")
    if meta["epoch"] > current_n:
        raise ValueError(f"checkpoint {path} is at epoch {meta['epoch']} (of {saved_n}), beyond n_epochs={current_n}")
    strip = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
    return {
        "epoch": meta["epoch"],
        "network": NetworkState.from_arrays(strip("state_"), n_layers),
        "run": strip("run_"),
        "last_good": NetworkState.from_arrays(strip("good_"), n_layers),
        "noise_states": meta["noise_states"],
        "data_state": meta["data_state"],
        "scale": arrays["scale"],
        "diverged_epoch": arrays["diverged_epoch"],
        "series": strip("series_"),
        "epochs": arrays["epochs"],
    }

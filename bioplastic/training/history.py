"""Per-epoch records of an ensemble run, stored as an ``.npz`` + ``.json`` pair."""

from __future__ import annotations

import numpy as np

from ..io import load_arrays_and_metadata, package_versions, pair_paths, save_arrays_and_metadata

__all__ = ["History"]


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
        from ..plotting import plot_learning_curves

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

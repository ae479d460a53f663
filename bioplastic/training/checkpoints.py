"""Checkpoints of a training run: a pair of their own, checked against the run's configuration."""

from __future__ import annotations

import json

from ..io import load_arrays_and_metadata, pair_paths, save_arrays_and_metadata

__all__ = ["CheckpointMismatchError", "load_checkpoint", "save_checkpoint"]

#: what every checkpoint's metadata holds
_META = ("config", "epoch")


class CheckpointMismatchError(ValueError):
    """A checkpoint written by a run of another configuration."""


def save_checkpoint(path, *, config, epoch, arrays, meta):
    """Write the checkpoint pair ``<path>.npz`` + ``<path>.json`` (see :func:`bioplastic.io.save_arrays_and_metadata`).

    Parameters
    ----------
    path : path
        Stem of the checkpoint pair (a name of its own, apart from results).
    config : dict
        The run's configuration (checked on resume).
    epoch : int
        Position of the run (records made so far, in the run's unit).
    arrays : dict of str to ndarray
    meta : dict
        JSON-serialisable run state (noise and data stream states, ...).
    """
    save_arrays_and_metadata(path, arrays, {"kind": "bioplastic.Checkpoint", "config": config, "epoch": epoch, **meta})


def load_checkpoint(path, config, *, required_meta=(), required_arrays=()):
    """Read a checkpoint pair written for ``config`` (``n_epochs`` may differ); returns ``(arrays, meta)``.

    Raises
    ------
    CheckpointMismatchError
        The checkpoint belongs to another configuration (the message lists
        the keys that differ).
    ValueError
        Not a checkpoint, incomplete, or beyond ``config["n_epochs"]``.
    """
    arrays, meta = load_arrays_and_metadata(path)
    npz, js = pair_paths(path)
    if meta.get("kind") != "bioplastic.Checkpoint":
        raise ValueError(f"{js} is not a bioplastic checkpoint (kind={meta.get('kind')!r}); "
                         "a checkpoint needs a name of its own, apart from a run's result files")
    missing = [k for k in (*_META, *required_meta) if k not in meta] + [k for k in required_arrays if k not in arrays]
    if missing or not isinstance(meta["config"], dict):
        raise ValueError(f"checkpoint {npz} + {js.name} is incomplete: lacks {missing or ['a config object']}")
    saved = dict(meta["config"])
    current = json.loads(json.dumps(config))
    saved_n, current_n = saved.pop("n_epochs", None), current.pop("n_epochs", None)
    if saved != current:
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise CheckpointMismatchError(
            f"checkpoint {path} was written for a different configuration (differs in: {', '.join(diff)}); "
            f"remove {npz} and {js} or pass another checkpoint path to start afresh")
    if current_n is not None and meta["epoch"] > current_n:
        raise ValueError(f"checkpoint {path} is at epoch {meta['epoch']} (of {saved_n}), beyond n_epochs={current_n}")
    return arrays, meta

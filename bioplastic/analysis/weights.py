"""Weight norms along training (Fig. 4D of Hiratani, Mehta, Lillicrap & Latham, NeurIPS 2022)."""

from __future__ import annotations

import numpy as np

__all__ = ["weight_norm_trajectories"]


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

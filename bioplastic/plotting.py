"""Plots: learning curves with seed bands, comparisons of rules."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_learning_curves", "plot_record_curves", "save_figure"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def plot_learning_curves(history, name="test_error", *, ax=None, logy=True, label=None, band="range", colors=None):
    """Plot a record against epochs: the mean over seeds for each learning rate, with a band.

    Parameters
    ----------
    history : History
    name : str, default "test_error"
        Record to plot (``train_error``, ``test_error``, ``test_accuracy``...).
    ax : matplotlib Axes, optional
    logy : bool, default True
    label : str, optional
        Prefix of the legend entries (default: the rule's name).
    band : {"range", "std", None}, default "range"
        Band across seeds: min-max, mean +- one standard deviation, or none.
    colors : sequence, optional
        One colour per learning rate.

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = np.asarray(history.records[name], dtype=float)
    if values.ndim != 2:
        raise ValueError(f"record {name!r} has shape {values.shape}; plot_learning_curves needs (n_members, n_records)")
    prefix = label if label is not None else history.config.get("rule", {}).get("name", "")
    return plot_record_curves(history.epochs, values, history.learning_rates, name=name, ax=ax, logy=logy, label=prefix,
                              band=band, colors=colors)


def plot_record_curves(epochs, values, learning_rates, *, name="test_error", ax=None, logy=True, label="", band="range",
                       colors=None):
    """Plot one record of an ensemble against epochs from plain arrays (what :func:`plot_learning_curves` draws).

    Parameters
    ----------
    epochs : array_like of shape (n_records,)
    values : array_like of shape (n_members, n_records)
        The record of every member (non-finite values of diverged members are
        left out of the mean and the band).
    learning_rates : array_like of shape (n_members,)
        Each member's learning rate; members with the same one are averaged.
    name : str, default "test_error"
        The record's name (axis label; accuracies are not log-scaled).
    ax : matplotlib Axes, optional
    logy : bool, default True
    label : str, default ""
        Prefix of the legend entries.
    band : {"range", "std", None}, default "range"
    colors : sequence, optional
        One colour per learning rate.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    values = np.asarray(values, dtype=float)
    learning_rates = np.asarray(learning_rates, dtype=float)
    if values.ndim != 2 or values.shape[0] != learning_rates.shape[0]:
        raise ValueError(f"values should have shape (n_members, n_records) with n_members = {learning_rates.shape[0]} "
                         f"learning rates, got {values.shape}")
    for i, lr in enumerate(np.unique(learning_rates)):
        rows = values[learning_rates == lr]
        with np.errstate(all="ignore"), _quiet():
            mean = np.nanmean(np.where(np.isfinite(rows), rows, np.nan), axis=0)
            lo, hi = (np.nanmin(rows, axis=0), np.nanmax(rows, axis=0)) if band == "range" else (mean - np.nanstd(rows, axis=0), mean + np.nanstd(rows, axis=0))
        color = None if colors is None else colors[i % len(colors)]
        (line,) = ax.plot(epochs, mean, color=color, label=f"{label} lr={lr:.3g}".strip())
        if band is not None and rows.shape[0] > 1:
            ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    if logy and name != "test_accuracy" and name != "train_accuracy":
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(name.replace("_", " "))
    ax.legend(fontsize="small")
    return ax


class _quiet:
    """Silence 'all-NaN slice' warnings of nan-reductions over diverged members."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def save_figure(fig, path, *, dpi=120):
    """Save a figure to ``path`` atomically (PNG unless the suffix says otherwise)."""
    import io
    from pathlib import Path

    from .io import atomic_write_bytes

    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path

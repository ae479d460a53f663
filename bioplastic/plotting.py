"""Plots: learning curves with seed bands, comparisons of rules, diverged members marked.

Conventions of every plot drawn here:

* a diverged member's curve ends at its divergence record, marked with an x
  on the upper edge of the axes (its value there is off any useful scale);
* the axis limits follow the values before divergence, so one member blowing
  up to ``1e100`` does not stretch the axis over a hundred decades;
* seed bands stay positive on log axes;
* every axis is labelled with its quantity and unit.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "divergence_indices",
    "divergence_markers",
    "legend",
    "plot_learning_curves",
    "plot_member_curves",
    "plot_record_curves",
    "record_label",
    "save_figure",
]

#: a member's last finite record counts as the one at which it diverged when it is this many times its first
EXPLODED_FACTOR = 1e3
#: axis labels (quantity and unit) of the records of a History
RECORD_LABELS = {
    "train_error": "training error (squared error, sum over outputs)",
    "test_error": "test error (squared error, sum over outputs)",
    "train_loss": "training loss (mean over samples)",
    "test_loss": "test loss (mean over samples)",
    "train_accuracy": "training accuracy (fraction correct)",
    "test_accuracy": "test accuracy (fraction correct)",
}
#: the axis label of epochs
EPOCH_LABEL = "training time (epochs)"
#: the legend entry of the divergence markers
DIVERGED_LABEL = "diverged"
_MARKER_GID = "bioplastic-divergence"
#: how a divergence is marked (an unfilled x: scatter colours it with its edge colour)
_MARKER = {"marker": "x", "s": 49, "linewidths": 1.8, "clip_on": False, "zorder": 5}


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def record_label(name):
    """Axis label of the record ``name``: its quantity and unit (e.g. ``"test error (squared error, sum over outputs)"``)."""
    return RECORD_LABELS.get(name, name.replace("_", " "))


def divergence_indices(values, *, epochs=None, diverged_epoch=None):
    """Record index at which each member diverged, -1 for members that did not.

    Parameters
    ----------
    values : array_like of shape (n_members, n_records)
        A record of every member, as a :class:`~bioplastic.History` stores
        it: the value that flagged a divergence at its record, NaN after it.
    epochs : array_like of shape (n_records,), optional
        The epochs (or steps) of the records; needed with ``diverged_epoch``.
    diverged_epoch : array_like of shape (n_members,), optional
        The epoch at which each member diverged, -1 if it did not
        (``History.diverged_epoch``); its record is the first at or after it.
        Without it the divergence is read from the values: a member whose
        records are non-finite from some record on diverged at the last
        finite one if that is over ``EXPLODED_FACTOR`` times its first
        record, else at the first non-finite one. A member with finite values
        after a non-finite one has not diverged (only that value is left out).

    Returns
    -------
    ndarray of int of shape (n_members,)
    """
    values = np.asarray(values, dtype=float)
    n_members, n_records = values.shape
    if diverged_epoch is not None:
        diverged_epoch = np.asarray(diverged_epoch)
        if diverged_epoch.shape != (n_members,):
            raise ValueError(f"diverged_epoch should have shape ({n_members},), one epoch per member, got {diverged_epoch.shape}")
        if epochs is None:
            raise ValueError("diverged_epoch needs the epochs of the records")
        index = np.searchsorted(np.asarray(epochs, dtype=float), diverged_epoch.astype(float))
        return np.where((diverged_epoch >= 0) & (index < n_records), index, -1).astype(int)
    result = np.full(n_members, -1)
    finite = np.isfinite(values)
    for i in range(n_members):
        if finite[i].all():
            continue
        tail = np.flatnonzero(finite[i])
        last = tail[-1] if tail.size else -1
        if last == n_records - 1:
            continue  # finite again after a non-finite value: not a divergence
        first = abs(values[i, 0]) if finite[i, 0] else np.nan
        exploded = last > 0 and abs(values[i, last]) > EXPLODED_FACTOR * first
        result[i] = last if exploded else last + 1
    return result


def _before_divergence(values, index):
    """``values`` with the records from each member's divergence on, and all non-finite values, set to NaN."""
    sane = np.where(np.isfinite(values), values, np.nan)
    for i, k in enumerate(index):
        if k >= 0:
            sane[i, k:] = np.nan
    return sane


def legend(ax, **kwargs):
    """``ax.legend(**kwargs)`` with the entry of the divergence markers last, drawn in black; returns the Legend."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == DIVERGED_LABEL)
    proxy = Line2D([], [], color="k", marker="x", markersize=7, markeredgewidth=1.8, linestyle="none")
    handles = [proxy if labels[i] == DIVERGED_LABEL else handles[i] for i in order]
    return ax.legend(handles, [labels[i] for i in order], **kwargs)


def divergence_markers(ax):
    """The divergence markers drawn on ``ax``: a list of ``(x, colour)``."""
    return [(float(c.get_offsets()[0][0]), tuple(c.get_edgecolor()[0])) for c in ax.collections
            if c.get_gid() == _MARKER_GID]


def _mark_divergence(ax, x_div, *, color, start=None, legend=True, linewidth=1.0, alpha=None):
    """An x on the upper edge of ``ax`` at ``x_div``, joined to ``start = (x, y)`` (data) by a dashed line.

    The x is a one-point scatter in the axes' x-data / y-axes-fraction
    coordinates (it neither changes the axis limits nor counts among the
    axes' lines); the dashed line is an annotation.
    """
    if start is not None and np.all(np.isfinite(start)):
        ax.annotate("", xy=(x_div, 1.0), xycoords=("data", "axes fraction"), xytext=start, textcoords="data",
                    arrowprops={"arrowstyle": "-", "linestyle": "--", "color": color, "linewidth": linewidth,
                                "alpha": alpha, "shrinkA": 0, "shrinkB": 0}, annotation_clip=False)
    first = legend and not any(c.get_label() == DIVERGED_LABEL for c in ax.collections)
    marker = ax.scatter([x_div], [1.0], transform=ax.get_xaxis_transform(), color=color,
                        label=DIVERGED_LABEL if first else "_nolegend_", **_MARKER)
    marker.set_gid(_MARKER_GID)
    return marker


def plot_member_curves(ax, x, values, *, color=None, diverged_index=None, label=None, mark=True, **line_kwargs):
    """One line per member, each ending at its divergence, marked with an x on the upper edge of the axes.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like of shape (n_records,)
    values : array_like of shape (n_members, n_records)
    color : color, optional
    diverged_index : array_like of int of shape (n_members,), optional
        The record at which each member diverged (-1: never); by default
        read from the values (:func:`divergence_indices`).
    label : str, optional
        Legend entry of the first member's line.
    mark : bool, default True
        Mark each divergence with an x on the upper edge and a dashed line
        to it from the last record before (no legend entry: say what the x
        means in the figure's caption or title).
    **line_kwargs
        Passed to :meth:`~matplotlib.axes.Axes.plot`.

    Returns
    -------
    list of matplotlib.lines.Line2D
        The members' lines (without the markers).
    """
    x = np.asarray(x, dtype=float)
    values = np.atleast_2d(np.asarray(values, dtype=float))
    index = divergence_indices(values) if diverged_index is None else np.asarray(diverged_index)
    sane = _before_divergence(values, index)
    lines = []
    for i, row in enumerate(sane):
        (line,) = ax.plot(x, row, color=color, label=label if i == 0 else "_nolegend_", **line_kwargs)
        lines.append(line)
        if mark and index[i] >= 0:
            ok = np.flatnonzero(np.isfinite(row))
            start = (x[ok[-1]], row[ok[-1]]) if ok.size else None
            _mark_divergence(ax, x[index[i]], color=line.get_color(), start=start, linewidth=line.get_linewidth(),
                             alpha=line.get_alpha(), legend=False)
    return lines


def plot_learning_curves(history, name="test_error", *, ax=None, logy=True, label=None, band="range", colors=None):
    """Plot a record against epochs: the mean over seeds for each learning rate, with a band.

    Members that diverged (``history.diverged_epoch``) count until their
    divergence; each divergence is marked with an x on the upper edge of
    the axes (see :func:`plot_record_curves`).

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
                              band=band, colors=colors, diverged_epoch=history.diverged_epoch)


def plot_record_curves(epochs, values, learning_rates, *, name="test_error", ax=None, logy=True, label="", band="range",
                       colors=None, diverged_epoch=None):
    """Plot one record of an ensemble against epochs from plain arrays (what :func:`plot_learning_curves` draws).

    For each learning rate: the mean over its members that have not
    diverged yet, with a band across them. Every divergence is marked with
    an x on the upper edge of the axes at its epoch; when all members of a
    learning rate have diverged, the mean curve ends at the last record
    before, joined to the last divergence by a dashed line. The divergence
    records (values such as ``1e100``) are left out of the means, the bands
    and the axis limits, which follow the values before divergence.

    Parameters
    ----------
    epochs : array_like of shape (n_records,)
    values : array_like of shape (n_members, n_records)
        The record of every member (non-finite values are left out).
    learning_rates : array_like of shape (n_members,)
        Each member's learning rate; members with the same one are averaged.
    name : str, default "test_error"
        The record's name (axis label, :func:`record_label`; accuracies are
        not log-scaled).
    ax : matplotlib Axes, optional
    logy : bool, default True
    label : str, default ""
        Prefix of the legend entries.
    band : {"range", "std", None}, default "range"
        Min-max over the members, or mean +- one standard deviation (on a
        log axis its lower edge is kept at or above the smallest member's
        value, so it stays positive).
    colors : sequence, optional
        One colour per learning rate.
    diverged_epoch : array_like of shape (n_members,), optional
        The epoch at which each member diverged, -1 if it did not
        (``History.diverged_epoch``); by default read from the values
        (:func:`divergence_indices`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    epochs = np.asarray(epochs, dtype=float)
    values = np.asarray(values, dtype=float)
    learning_rates = np.asarray(learning_rates, dtype=float)
    if values.ndim != 2 or values.shape[0] != learning_rates.shape[0]:
        raise ValueError(f"values should have shape (n_members, n_records) with n_members = {learning_rates.shape[0]} "
                         f"learning rates, got {values.shape}")
    log = logy and name not in ("test_accuracy", "train_accuracy")
    index = divergence_indices(values, epochs=epochs, diverged_epoch=diverged_epoch)
    sane = _before_divergence(values, index)
    for i, lr in enumerate(np.unique(learning_rates)):
        group = learning_rates == lr
        rows = sane[group]
        with np.errstate(all="ignore"), _quiet():
            mean = np.nanmean(rows, axis=0)
            if band == "range":
                lo, hi = np.nanmin(rows, axis=0), np.nanmax(rows, axis=0)
            else:
                spread = np.nanstd(rows, axis=0)
                lo, hi = mean - spread, mean + spread
                if log:
                    lo = np.maximum(lo, np.nanmin(rows, axis=0))
        color = None if colors is None else colors[i % len(colors)]
        (line,) = ax.plot(epochs, mean, color=color, label=f"{label} lr={lr:.3g}".strip())
        color = line.get_color()
        if band is not None and rows.shape[0] > 1:
            ax.fill_between(epochs, lo, hi, color=color, alpha=0.25, linewidth=0)
        group_index = index[group]
        for k in np.unique(group_index[group_index >= 0]):
            start = None
            if (group_index >= 0).all() and k == group_index.max():
                ok = np.flatnonzero(np.isfinite(mean))
                start = (epochs[ok[-1]], mean[ok[-1]]) if ok.size else None
            _mark_divergence(ax, epochs[k], color=color, start=start)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(EPOCH_LABEL)
    ax.set_ylabel(record_label(name))
    legend(ax, fontsize="small")
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

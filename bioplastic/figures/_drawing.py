"""Drawing helpers of the figures; matplotlib is imported only when one of them is called."""

from __future__ import annotations

import numpy as np


def new_figure(ncols=1, *, width=4.5, height=3.5, figsize=None, layout="constrained", **subplots):
    """A :class:`matplotlib.figure.Figure` (not registered with pyplot) and its row of axes.

    ``figsize`` overrides ``(width * ncols, height)``; ``layout=None`` leaves
    the layout to ``savefig(bbox_inches="tight")``.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize or (width * ncols, height), layout=layout)
    axes = fig.subplots(1, ncols, squeeze=False, **subplots)[0]
    return fig, axes


def colors(n):
    """``n`` colours spread over viridis."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap((0.5 + i) / n) for i in range(n)]


def log_axes(ax, x, y):
    """Log-scale the axes whose data have positive finite values (an empty log axis cannot be drawn)."""
    for values, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        values = np.asarray(values, dtype=float)
        if np.any(np.isfinite(values) & (values > 0)):
            setter("log")


def width_ticks(ax, widths):
    """One labelled tick per hidden width."""
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(list(widths), [str(w) for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_times(ax, widths, times, labels, line_colors):
    """Minimum training time against width, one line per condition."""
    for i, label in enumerate(labels):
        ok = np.isfinite(times[i])
        ax.plot(np.asarray(widths)[ok], times[i, ok], "o-", color=line_colors[i], label=label)
    if np.isfinite(times).any():
        log_axes(ax, widths, times)
        width_ticks(ax, widths)
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no condition reached the target", transform=ax.transAxes, ha="center")
    ax.set_xlabel("hidden width")
    ax.set_ylabel("minimum training time (epochs)")

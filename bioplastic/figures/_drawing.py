"""Drawing helpers of the figures; matplotlib is imported only when one of them is called."""

from __future__ import annotations

import numpy as np

#: the axis label of learning steps (online learning: one sample per step)
STEP_LABEL = "training time (learning steps)"


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


def study_title(fig, study, panel, text, details=None):
    """Give ``fig`` the title ``"<study>, <panel>: <text>"``, with ``details`` on a second line."""
    fig.suptitle(f"{study}, {panel}: {text}" + (f"\n{details}" if details else ""), fontsize=9.5)
    return fig


def plain_log_ticks(ax):
    """Plain numbers (``400``, ``2000``) instead of powers of ten on a log y axis spanning less than two decades."""
    from matplotlib.ticker import FuncFormatter

    if ax.get_yscale() != "log":
        return
    bottom, top = ax.get_ylim()
    if top / bottom < 100:

        def one_two_five(value, _):
            if value <= 0:
                return ""
            leading = round(value / 10 ** np.floor(np.log10(value)))
            return f"{value:g}" if leading in (1, 2, 5) else ""

        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(one_two_five))


def width_ticks(ax, widths):
    """One labelled tick per hidden width."""
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(list(widths), [f"{w:g}" for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_times(ax, widths, times, labels, line_colors):
    """Minimum training time against width, one line per condition; an x on the upper edge where it was not reached."""
    widths = np.asarray(widths)
    marked = False
    for i, label in enumerate(labels):
        ok = np.isfinite(times[i])
        # markers and line styles differ too: conditions with equal times stay visible
        ax.plot(widths[ok], times[i, ok], marker="osD^v"[i % 5], linestyle=("-", "--", ":", "-.")[i % 4], color=line_colors[i],
                label=label, markersize=7 - 1.2 * (i % 3))
        if not ok.all():
            ax.plot(widths[~ok], np.ones((~ok).sum()), "x", color=line_colors[i], transform=ax.get_xaxis_transform(),
                    clip_on=False, markersize=7, markeredgewidth=1.8, label="_nolegend_" if marked else "target not reached")
            marked = True
    if np.isfinite(times).any():
        log_axes(ax, widths, times)
        width_ticks(ax, widths)
        plain_log_ticks(ax)
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no condition reached the target", transform=ax.transAxes, ha="center")
    ax.set_xlabel("hidden width (neurons)")
    ax.set_ylabel("minimum training time (epochs)")

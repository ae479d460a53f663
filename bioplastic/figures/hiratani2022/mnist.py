"""NP on a vision task, MNIST (Figs 5A-C): learning curves, minimum training time against width, synaptic scaling.

See :mod:`~bioplastic.figures.hiratani2022.nonlinear_setup` for the conventions.
"""

from __future__ import annotations

import numpy as np

from ...homeostasis import SynapticScaling
from .. import register_figure
from .._drawing import new_figure, plot_times
from . import _style as style
from .nonlinear_setup import (
    RULE_COLORS,
    RULE_LABELS,
    best_final,
    curve_arrays,
    mnist_net,
    mnist_rules,
    mnist_task,
    nonlinear_results,
    plot_curves,
    task_config,
    time_scan,
    time_summary,
    train_run,
)

__all__ = ["compute_fig5a", "compute_fig5b", "compute_fig5c", "draw_fig5a", "draw_fig5b", "draw_fig5c", "fig5a", "fig5b", "fig5c"]

#: colours of the learning rates of each rule in Fig. 5A
_FIG5A_COLORS = {"np": ["C1", "C5"], "sgd": ["C0", "C9"], "reinforce": ["C2", "C8"]}


def compute_fig5a(*, quick=False, progress=True, out_dir=None):
    """Fig. 5A: MNIST learning curves (test accuracy) of NP, SGD and REINFORCE, 784-100-10.

    quick: first 10,000 training / 2,000 test images, 5 epochs, seed 0, float32.
    full: all of MNIST, NP 1,000 / REINFORCE 300 / SGD 100 epochs, 3 seeds, float32.
    """
    task = mnist_task(quick)
    rules = mnist_rules()
    if quick:
        runs = {"np": [3e-4, 1e-3], "sgd": [0.03], "reinforce": [1e-3]}
        n_epochs, seeds = {"np": 5, "sgd": 5, "reinforce": 5}, [0]
    else:
        runs = {"np": [1e-4, 3.2e-4], "sgd": [0.01, 0.032], "reinforce": [3.2e-4, 1e-3]}
        n_epochs, seeds = {"np": 1000, "sgd": 100, "reinforce": 300}, [0, 1, 2]
    summary, arrays = {}, {}
    for label, lrs in runs.items():
        history = train_run(out_dir, f"fig5a_{label}", mnist_net(100), rules[label], task, n_epochs=n_epochs[label],
                            learning_rate=lrs, seeds=seeds, progress=progress, dtype="float32")
        best = best_final(history, "test_accuracy", above=True)
        summary[f"{label}_best_learning_rate"] = best[0]
        summary[f"{label}_final_test_accuracy"] = best[1]
        arrays.update(curve_arrays(label, history, "test_accuracy"))
    config = {"task": task_config(task), "runs": runs, "n_epochs": n_epochs, "seeds": seeds, "dtype": "float32"}
    return nonlinear_results("fig5a", quick, config, arrays, summary)


def draw_fig5a(results):
    """Fig. 5A: test accuracy of each rule and learning rate (mean over seeds, min-max band)."""
    arrays = results.arrays
    fig, (ax,) = new_figure(1, width=6, height=4.4)
    for label, line_colors in _FIG5A_COLORS.items():
        plot_curves(ax, arrays, label, "test_accuracy", label=RULE_LABELS[label], logy=False, colors=line_colors)
    # from the lowest accuracy after the first epoch (at most 0.5) to 1: the learning, not the chance level at the start
    later = np.concatenate([arrays[f"{label}_test_accuracy"][:, 1:].ravel() for label in _FIG5A_COLORS])
    later = later[np.isfinite(later)]
    ax.set_ylim(min(0.5, np.floor(10 * later.min()) / 10) if later.size else 0.5, 1.0)
    style.title(fig, "Fig. 5A", "MNIST learning curves of NP, SGD and REINFORCE",
                f"784-100-10; mean over seeds, band: min-max; {'quick run' if results.metadata.get('quick') else 'paper sizes'}")
    return fig


fig5a = register_figure("fig5a", compute_fig5a, draw_fig5a, paths_in_summary=True)


def _time_config(quick):
    if quick:
        return {"widths": (16, 32), "seeds": [0], "target": 0.8, "max_epochs": 100}
    return {"widths": (100, 200, 400, 800, 1600), "seeds": [0, 1, 2], "target": 0.975, "max_epochs": 10000}


def _time_arrays(widths, times, best_lrs, settled):
    return {"widths": np.asarray(widths), "times": times, "best_learning_rates": best_lrs, "settled": settled}


def _draw_times(results, labels, line_colors, panel, text):
    fig, (ax,) = new_figure(1, width=5.5, height=4.2)
    plot_times(ax, results.arrays["widths"], results.arrays["times"], labels, line_colors)
    style.title(fig, panel, text, f"epochs to {100 * results.metadata['config']['target']:g}% test accuracy, best learning rate; "
                f"{'quick run' if results.metadata.get('quick') else 'paper sizes'}")
    return fig


_TIME_RULES = ("np", "reinforce", "sgd")


def compute_fig5b(*, quick=False, progress=True, out_dir=None, workers=None, scheduler=None):
    """Fig. 5B: minimum training time against width on MNIST, NP vs REINFORCE vs SGD.

    Epochs to a target test accuracy, optimised over learning rate.

    quick: widths 16 and 32, first 10,000 training / 2,000 test images,
    target 80%, seed 0, float32.
    full: all of MNIST, widths 100-1600, target 97.5% (the paper's), 3 seeds.

    The searches (one per rule and width) distribute over Dask workers
    (``workers=``, ``scheduler=``; ``bioplastic figure fig5b --workers 2``).
    """
    task = mnist_task(quick)
    cfg = _time_config(quick)
    rules = mnist_rules()
    if quick:
        grids = {"np": [3e-4, 1e-3], "reinforce": [1e-3, 3e-3], "sgd": [0.01, 0.03]}
    else:
        grids = {"np": [1e-5, 3.2e-5, 1e-4, 3.2e-4], "reinforce": [1e-4, 3.2e-4, 1e-3], "sgd": [3.2e-3, 0.01, 0.032]}
    conditions = {label: (rules[label], grids[label], None) for label in _TIME_RULES}
    times, best_lrs, settled = time_scan(quick, out_dir, progress, "fig5b", task, mnist_net, conditions, cfg["widths"],
                                         target=cfg["target"], record="test_accuracy", seeds=cfg["seeds"],
                                         max_epochs=cfg["max_epochs"], dtype="float32", workers=workers, scheduler=scheduler)
    summary = {"widths": list(cfg["widths"]), "target_test_accuracy": cfg["target"]}
    summary.update(time_summary(conditions, times, best_lrs, settled))
    config = {"task": task_config(task), **cfg, "grids": grids, "dtype": "float32"}
    return nonlinear_results("fig5b", quick, config, _time_arrays(cfg["widths"], times, best_lrs, settled), summary)


def draw_fig5b(results):
    """Fig. 5B: minimum training time (epochs to the target test accuracy) against width, one line per rule."""
    return _draw_times(results, [RULE_LABELS[k] for k in _TIME_RULES], [RULE_COLORS[k] for k in _TIME_RULES], "Fig. 5B",
                       "minimum training time against width on MNIST")


fig5b = register_figure("fig5b", compute_fig5b, draw_fig5b, paths_in_summary=True)


def compute_fig5c(*, quick=False, progress=True, out_dir=None, workers=None, scheduler=None):
    """Fig. 5C: weight-normalised NP on MNIST -- minimum training time with synaptic scaling.

    NP without scaling, with scaling of the first layer and of all layers,
    optimised over learning rate for each width.

    quick: widths 16 and 32, first 10,000 training / 2,000 test images,
    target 80%, seed 0, float32.
    full: all of MNIST, widths 100-1600, target 97.5%, 3 seeds.

    The searches (one per rule and width) distribute over Dask workers
    (``workers=``, ``scheduler=``; ``bioplastic figure fig5c --workers 2``).
    """
    task = mnist_task(quick)
    cfg = _time_config(quick)
    rule = mnist_rules()["np"]
    grid = [1e-3, 3e-3] if quick else [1e-5, 3.2e-5, 1e-4, 3.2e-4]
    conditions = {"none": (rule, grid, None), "first": (rule, grid, SynapticScaling(layers=(0,))),
                  "all": (rule, grid, SynapticScaling(layers="all"))}
    times, best_lrs, settled = time_scan(quick, out_dir, progress, "fig5c", task, mnist_net, conditions, cfg["widths"],
                                         target=cfg["target"], record="test_accuracy", seeds=cfg["seeds"],
                                         max_epochs=cfg["max_epochs"], dtype="float32", workers=workers, scheduler=scheduler)
    summary = {"widths": list(cfg["widths"]), "target_test_accuracy": cfg["target"]}
    for i, label in enumerate(conditions):
        summary[f"{label}_time"] = times[i].tolist()
        summary[f"{label}_best_learning_rate"] = best_lrs[i].tolist()
    summary["all_settled"] = bool(settled.all())
    config = {"task": task_config(task), **cfg, "grid": grid, "dtype": "float32",
              "scaling": {k: (v[2].describe() if v[2] is not None else None) for k, v in conditions.items()}}
    return nonlinear_results("fig5c", quick, config, _time_arrays(cfg["widths"], times, best_lrs, settled), summary)


def draw_fig5c(results):
    """Fig. 5C: minimum training time against width of NP without and with synaptic scaling."""
    return _draw_times(results, ["NP", "NP + scaling (layer 1)", "NP + scaling (all layers)"], ["C1", "C4", "C2"], "Fig. 5C",
                       "weight-normalised NP on MNIST: synaptic scaling")


fig5c = register_figure("fig5c", compute_fig5c, draw_fig5c, paths_in_summary=True)

"""The nonlinear settings of Figs 4, 5, S3 and S4: SARCOS and MNIST, their networks and rules, and shared steps.

Conventions (the paper's):

* SARCOS: ``mlp((21, width, 7))`` (ReLU hidden layers, linear readout),
  squared error ``1/2 sum_i (y_i - y*_i)^2``, batch 100, the learning rate
  divided by the batch size (``batch_reduction="mean"``), ``sigma = 1e-4``,
  raw units. The paper's target test error 5.0 is averaged over the 7
  outputs; the recorded ``test_error`` sums over outputs, so the target is
  ``task.error_target() = 35.0``.
* MNIST: ``mlp((784, width, 10), readout="softmax")``, squared error on
  one-hot targets, batch 100, the learning rate not divided by the batch
  size (``batch_reduction="sum"``), ``sigma = 1e-4``; target test accuracy
  97.5% (the paper's analysis code).

Full mode uses the paper's split (``SarcosTask(split="paper")``, which needs
``sarcos_inv.mat``; without it, it falls back to ``split="test_file_only"``
with a warning) and all of MNIST. ``quick=True`` is CI-sized: SARCOS on the
test file alone (``split="test_file_only"``: 3,559 training rows, 890 test
rows), MNIST on its first 10,000 training and 2,000 test images, small
widths, few epochs and looser targets; each quick figure's settings are
stored in its results file and noted in its docstring.

Every figure writes ``<name>_results.npz/.json`` (the numbers and the
configuration), the :class:`~bioplastic.History` of each training run
(``<name>_<run>.npz/.json``) and ``<name>.png`` into ``out_dir``. Long runs
checkpoint into ``out_dir/checkpoints`` and resume from there when the
command is run again.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np

from ...io import to_jsonable
from ...models import mlp
from ...plasticity import Backprop, NodePerturbation, Reinforce
from ...sweeps.execution import map_calls
from ...training import search_minimum_training_time, train
from .. import FigureResults
from .._data import checkpoint_stem, figure_data_dir, mnist_subset

__all__ = ["RULE_COLORS", "RULE_LABELS", "SIGMA", "mnist_rules", "mnist_task", "sarcos_rules", "sarcos_task"]

#: perturbation amplitude of NP and REINFORCE in the nonlinear networks
SIGMA = 1e-4
RULE_LABELS = {"np": "NP", "sgd": "SGD", "reinforce": "REINFORCE"}
RULE_COLORS = {"np": "C1", "sgd": "C0", "reinforce": "C2"}


# -- tasks, networks and rules ------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cached_sarcos(split, standardize, data_dir):
    from ...tasks.sarcos import SarcosTask

    return SarcosTask(data_dir, split=split, standardize=standardize)


def sarcos_task(quick, *, standardize=None):
    """The SARCOS task of a quick (test file only) or full (paper split, else test file with a warning) run."""
    data_dir = figure_data_dir()
    if quick:
        return _cached_sarcos("test_file_only", standardize, data_dir)
    try:
        return _cached_sarcos("paper", standardize, data_dir)
    except FileNotFoundError as error:
        warnings.warn(
            f"SARCOS training file not available ({str(error).splitlines()[0]}); "
            "falling back to split='test_file_only'",
            stacklevel=3,
        )
        return _cached_sarcos("test_file_only", standardize, data_dir)


def mnist_task(quick):
    """The MNIST task of a quick (first 10,000 training and 2,000 test images) or full run."""
    return mnist_subset(10000, 2000, eval_train_size=1000) if quick else mnist_subset(eval_train_size=10000)


def sarcos_rules():
    """NP, SGD and REINFORCE with the paper's SARCOS settings (learning rate divided by the batch size)."""
    return {
        "np": NodePerturbation(sigma=SIGMA, batch_reduction="mean"),
        "sgd": Backprop(batch_reduction="mean"),
        "reinforce": Reinforce(sigma=SIGMA, batch_reduction="mean"),
    }


def mnist_rules():
    """NP, SGD and REINFORCE with the paper's MNIST settings (learning rate not divided by the batch size)."""
    return {
        "np": NodePerturbation(sigma=SIGMA, batch_reduction="sum"),
        "sgd": Backprop(batch_reduction="sum"),
        "reinforce": Reinforce(sigma=SIGMA, batch_reduction="sum"),
    }


def sarcos_net(width, depth=1):
    """``21-width-7`` ReLU network with a linear readout."""
    return mlp((21, *([width] * depth), 7))


def mnist_net(width, depth=1):
    """``784-width-10`` network with a softmax readout."""
    return mlp((784, *([width] * depth), 10), readout="softmax")


# -- training and results ---------------------------------------------------------------


def checkpoint(out_dir, *parts):
    """Checkpoint stem ``out_dir/checkpoints/<parts joined by _>`` (None without ``out_dir``)."""
    return checkpoint_stem(out_dir, "_".join(str(p) for p in parts).replace(".", "p"))


def train_run(out_dir, key, network, rule, task, *, n_epochs, learning_rate, seeds, progress, **kwargs):
    """Train with a checkpoint in ``out_dir/checkpoints`` and save the History as ``out_dir/<key>`` (if ``out_dir``)."""
    history = train(network, rule, task, n_epochs=n_epochs, learning_rate=learning_rate, seeds=seeds, progress=progress,
                    checkpoint=checkpoint(out_dir, key), checkpoint_every=max(10, n_epochs // 20), **kwargs)
    if out_dir is not None:
        history.save(Path(out_dir) / key)
    return history


def task_config(task):
    """The task's description, JSON-ready."""
    return to_jsonable(task.describe())


def nonlinear_results(name, quick, config, arrays, summary):
    """The :class:`~bioplastic.figures.FigureResults` of a nonlinear figure: metadata ``figure``, ``quick``, ``config``, ``summary``."""
    return FigureResults(arrays, {"figure": name, "quick": bool(quick), "config": config, "summary": summary})


def curve_arrays(prefix, history, name):
    """Arrays from which :func:`plot_curves` draws ``history``'s record ``name``: epochs, values, learning rates."""
    return {f"{prefix}_epochs": np.asarray(history.epochs), f"{prefix}_{name}": np.asarray(history.records[name]),
            f"{prefix}_learning_rates": np.asarray(history.learning_rates)}


def plot_curves(ax, arrays, prefix, name, **kwargs):
    """Draw the learning curves saved by :func:`curve_arrays` (:func:`~bioplastic.plotting.plot_record_curves`)."""
    from ...plotting import plot_record_curves

    return plot_record_curves(arrays[f"{prefix}_epochs"], arrays[f"{prefix}_{name}"], arrays[f"{prefix}_learning_rates"],
                              name=name, ax=ax, **kwargs)


def loglog_slope(x, y):
    """Log-log slope of ``y`` against ``x`` over the positive finite points (NaN with fewer than two)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def best_final(history, name="test_error", above=False):
    """(learning rate, value) with the best seed-averaged final value of ``name``."""
    lrs = np.unique(history.learning_rates)
    with np.errstate(invalid="ignore"):
        finals = np.array([np.mean(history.final(name)[history.learning_rates == lr]) for lr in lrs])
    finals = np.where(np.isfinite(finals), finals, -np.inf if above else np.inf)
    k = int(np.argmax(finals) if above else np.argmin(finals))
    return float(lrs[k]), float(finals[k])


# -- minimum training time against width (Figs 4E, 5B, 5C) --------------------------------


def _search(job):
    """One minimum-training-time search of :func:`time_scan`: ``{"time", "learning_rate", "settled"}``."""
    network, rule, task, kwargs = job
    result = search_minimum_training_time(network, rule, task, **kwargs)
    return {key: result[key] for key in ("time", "learning_rate", "settled")}


def time_scan(quick, out_dir, progress, name, task, make_net, conditions, widths, *, target, record, seeds, max_epochs,
              dtype="float64", workers=None, scheduler=None):
    """Minimum training time for each condition (rule, learning rates, homeostasis) and width.

    Each (condition, width) is one search (:func:`search_minimum_training_time`,
    checkpointed in ``out_dir/checkpoints``, so a rerun resumes). By default
    the searches run one after the other in this process, with the engine's
    own threads; with ``workers`` local Dask worker processes or the cluster
    at ``scheduler`` they run side by side through
    :func:`bioplastic.sweeps.map_calls`, each single-threaded and quiet (the
    progress bar is over searches). The numbers are the same either way.
    """
    distributed = workers is not None or scheduler is not None
    execution = dict(progress=False, n_threads=1) if distributed else dict(progress=progress)
    jobs = []
    for label, (rule, lrs, homeostasis) in conditions.items():
        for width in widths:
            grid = lrs(width) if callable(lrs) else lrs
            kwargs = dict(target=target, learning_rates=grid, max_epochs=max_epochs[label] if isinstance(max_epochs, dict) else max_epochs,
                          seeds=seeds, name=record, checkpoint=checkpoint(out_dir, name, label, f"w{width}"), homeostasis=homeostasis,
                          dtype=dtype, first_epochs=2, **execution)
            jobs.append((make_net(width), rule, task, kwargs))
    if distributed:
        results = map_calls(_search, jobs, workers=workers, scheduler=scheduler, progress=progress, desc=name)
    else:
        results = [_search(job) for job in jobs]
    shape = (len(conditions), len(widths))
    times = np.array([r["time"] for r in results], dtype=float).reshape(shape)
    best_lrs = np.array([r["learning_rate"] for r in results], dtype=float).reshape(shape)
    settled = np.array([bool(r["settled"]) for r in results]).reshape(shape)
    return times, best_lrs, settled


def _ratio(a, b):
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("inf")


def time_summary(conditions, times, best_lrs, settled):
    """Summary entries of a minimum-training-time figure (conditions ordered NP, REINFORCE, SGD)."""
    summary = {}
    for i, label in enumerate(conditions):
        summary[f"{label}_time"] = times[i].tolist()
        summary[f"{label}_best_learning_rate"] = best_lrs[i].tolist()
    summary["np_over_sgd"] = [_ratio(a, b) for a, b in zip(times[0], times[2], strict=True)]
    summary["reinforce_over_sgd"] = [_ratio(a, b) for a, b in zip(times[1], times[2], strict=True)]
    summary["all_settled"] = bool(settled.all())
    return summary

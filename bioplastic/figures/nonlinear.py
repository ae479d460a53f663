"""Nonlinear networks on real tasks: SARCOS (Figs 4, S3) and MNIST (Figs 5, S4).

Reproductions of the nonlinear studies of Hiratani, Mehta, Lillicrap & Latham
(NeurIPS 2022), one function per panel, each registered as a figure
(``bioplastic figure fig4a [--quick]``). Every function writes
``<name>_results.npz/.json`` (the numbers and the configuration), the
:class:`~bioplastic.History` of each training run (``<name>_<run>.npz/.json``)
and ``<name>.png`` into ``out_dir``, and returns a dict of summary numbers.
Long runs checkpoint into ``out_dir/checkpoints`` and resume from there when
the command is run again.

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
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np

from ..analysis import (
    hidden_participation_ratio,
    instability_times,
    mean_update_cosine_similarity,
    search_minimum_training_time,
    train_until,
    weight_norm_trajectories,
)
from ..homeostasis import SynapticScaling
from ..io import save_arrays_and_metadata, to_jsonable
from ..models import mlp
from ..plasticity import Backprop, NodePerturbation, Reinforce
from ..plotting import plot_learning_curves, save_figure
from ..training import train
from . import register

__all__ = [
    "fig4a",
    "fig4b",
    "fig4c",
    "fig4d",
    "fig4e",
    "fig4f",
    "fig5a",
    "fig5b",
    "fig5c",
    "figS3",
    "figS4",
    "mnist_rules",
    "sarcos_rules",
]

SIGMA = 1e-4
RULE_LABELS = {"np": "NP", "sgd": "SGD", "reinforce": "REINFORCE"}
RULE_COLORS = {"np": "C1", "sgd": "C0", "reinforce": "C2"}


# -- tasks and rules ----------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cached_sarcos(split, standardize, data_dir):
    from ..tasks.sarcos import SarcosTask

    return SarcosTask(data_dir, split=split, standardize=standardize)


def _sarcos(quick, *, standardize=None):
    data_dir = os.environ.get("BIOPLASTIC_DATA_DIR") or None
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


@functools.lru_cache(maxsize=2)
def _cached_mnist(quick, data_dir):
    from ..tasks.mnist import MnistTask

    if quick:
        return MnistTask(data_dir, n_train=10000, n_test=2000, eval_train_size=1000)
    return MnistTask(data_dir, eval_train_size=10000)


def _mnist(quick):
    return _cached_mnist(bool(quick), os.environ.get("BIOPLASTIC_DATA_DIR") or None)


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


def _sarcos_net(width, depth=1):
    return mlp((21, *([width] * depth), 7))


def _mnist_net(width, depth=1):
    return mlp((784, *([width] * depth), 10), readout="softmax")


# -- plumbing ---------------------------------------------------------------------------


def _checkpoint(out_dir, *parts):
    name = "_".join(str(p) for p in parts).replace(".", "p")
    path = Path(out_dir) / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _train(out_dir, key, network, rule, task, *, n_epochs, learning_rate, seeds, progress, **kwargs):
    """Train with a checkpoint in ``out_dir/checkpoints`` and save the History as ``out_dir/<key>``."""
    history = train(network, rule, task, n_epochs=n_epochs, learning_rate=learning_rate, seeds=seeds, progress=progress,
                    checkpoint=_checkpoint(out_dir, key), checkpoint_every=max(10, n_epochs // 20), **kwargs)
    history.save(Path(out_dir) / key)
    return history


def _finish(out_dir, name, fig, quick, config, arrays, summary):
    """Save the results file and the PNG; return the summary with the file paths."""
    out_dir = Path(out_dir)
    png = save_figure(fig, out_dir / f"{name}.png")
    save_arrays_and_metadata(out_dir / f"{name}_results", arrays,
                             {"figure": name, "quick": bool(quick), "config": config, "summary": summary})
    summary = dict(summary)
    summary["png"] = str(png)
    summary["results"] = str(out_dir / f"{name}_results.npz")
    return summary


def _figure(ncols=1, *, width=4.5, height=3.5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _loglog_slope(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _task_config(task):
    return to_jsonable(task.describe())


# ======================================================================================
# SARCOS (Fig. 4)
# ======================================================================================


@register("fig4a")
def fig4a(*, quick=False, out_dir="figures", progress=True):
    """Fig. 4A: per-layer cosine similarity of NP (and REINFORCE) with SGD against width (SARCOS).

    For 21-width-7 networks at initialisation, NP's and SGD's updates on the
    same minibatch are compared layer by layer, averaged over minibatches,
    noise draws and networks. NP's hidden-layer similarity falls like
    ``1/sqrt(width)``; its readout's stays roughly constant; REINFORCE's
    hidden-layer similarity does not fall with width. Raw SARCOS units.

    quick: widths 25-400, 4 networks x 4 minibatches x 2 noise draws.
    full: widths 25-3200, 10 networks x 20 minibatches x 5 noise draws.
    """
    widths = (25, 50, 100, 200, 400) if quick else (25, 50, 100, 200, 400, 800, 1600, 3200)
    n_nets, n_batches, n_noise = (4, 4, 2) if quick else (10, 20, 5)
    task = _sarcos(quick)
    rules = sarcos_rules()
    rule_names = ("np", "reinforce")
    mean = np.full((len(rule_names), len(widths), 2), np.nan)
    sem = np.full_like(mean, np.nan)
    from tqdm.auto import tqdm

    for j, width in enumerate(tqdm(widths, disable=not progress, desc="fig4a widths", leave=False)):
        network = _sarcos_net(width)
        state = network.init_state(seeds=list(range(n_nets)))
        for i, name in enumerate(rule_names):
            result = mean_update_cosine_similarity(network, state, task, rules[name], rules["sgd"], batch_size=100,
                                                   n_batches=n_batches, n_noise=n_noise, seed=j)
            values = result["values"].reshape(-1, network.n_layers)
            mean[i, j] = values.mean(axis=0)
            sem[i, j] = values.std(axis=0, ddof=1) / np.sqrt(len(values))
    slopes = {f"{name}_layer{k + 1}_slope": _loglog_slope(widths, mean[i, :, k]) for i, name in enumerate(rule_names) for k in range(2)}
    fig, axes = _figure(1)
    ax = axes[0]
    for i, name in enumerate(rule_names):
        for k, marker in ((0, "o"), (1, "s")):
            ax.errorbar(widths, mean[i, :, k], yerr=sem[i, :, k], marker=marker, color=RULE_COLORS[name],
                        linestyle="-" if k == 0 else "--", label=f"{RULE_LABELS[name]} layer {k + 1}")
    ref = mean[0, 0, 0] * np.sqrt(widths[0] / np.asarray(widths, dtype=float))
    ax.plot(widths, ref, color="grey", linestyle=":", label=r"$\propto 1/\sqrt{width}$")
    _log_axes(ax, widths, mean)
    _width_ticks(ax, widths)
    ax.set_xlabel("hidden width")
    ax.set_ylabel("cosine similarity with SGD")
    ax.set_title("SARCOS: update alignment at initialisation")
    ax.legend(fontsize="small")
    summary = {"widths": list(widths), **slopes,
               "np_cosine_layer1": mean[0, :, 0].tolist(), "np_cosine_layer2": mean[0, :, 1].tolist(),
               "reinforce_cosine_layer1": mean[1, :, 0].tolist(), "reinforce_cosine_layer2": mean[1, :, 1].tolist()}
    config = {"task": _task_config(task), "widths": widths, "n_networks": n_nets, "n_batches": n_batches, "n_noise": n_noise,
              "rules": {n: rules[n].describe() for n in (*rule_names, "sgd")}}
    return _finish(out_dir, "fig4a", fig, quick, config,
                   {"widths": np.asarray(widths), "mean": mean, "sem": sem, "rules": np.asarray(rule_names)}, summary)


def _sarcos_curves(quick, out_dir, progress, name, runs, *, width=100, seeds, n_epochs, standardize=None, homeostasis=None):
    """Train each ``label -> (rule name, learning rates)`` run on SARCOS; return the Histories."""
    task = _sarcos(quick, standardize=standardize)
    rules = sarcos_rules()
    histories = {}
    for label, (rule_name, lrs) in runs.items():
        hs = homeostasis.get(label) if isinstance(homeostasis, dict) else homeostasis
        histories[label] = _train(out_dir, f"{name}_{label}", _sarcos_net(width), rules[rule_name], task,
                                  n_epochs=n_epochs[label] if isinstance(n_epochs, dict) else n_epochs,
                                  learning_rate=lrs, seeds=seeds, progress=progress, homeostasis=hs)
    return task, histories


@register("fig4b")
def fig4b(*, quick=False, out_dir="figures", progress=True):
    """Fig. 4B: SARCOS learning curves (test error) of NP, SGD and REINFORCE for a 21-100-7 network.

    quick: 40 epochs, 2 seeds, test-file-only split.
    full: paper split, NP 3,000 / REINFORCE 1,000 / SGD 300 epochs, 5 seeds.
    """
    seeds = [0, 1] if quick else [0, 1, 2, 3, 4]
    if quick:
        runs = {"np": ("np", [3e-5, 1e-4, 3e-4]), "sgd": ("sgd", [3e-4, 1e-3]), "reinforce": ("reinforce", [3e-4, 1e-3])}
        n_epochs = 40
    else:
        runs = {"np": ("np", [1e-5, 3.2e-5, 1e-4]), "sgd": ("sgd", [1e-4, 3.2e-4, 1e-3]),
                "reinforce": ("reinforce", [3.2e-5, 1e-4, 3.2e-4])}
        n_epochs = {"np": 3000, "sgd": 300, "reinforce": 1000}
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4b", runs, seeds=seeds, n_epochs=n_epochs)
    fig, axes = _figure(3, width=4)
    summary = {"initial_test_error": float(np.mean(histories["np"].records["test_error"][:, 0]))}
    for ax, (label, history) in zip(axes, histories.items(), strict=True):
        history.plot("test_error", ax=ax, label=RULE_LABELS[label])
        ax.set_title(f"{RULE_LABELS[label]}, 21-100-7")
        best = _best_final(history)
        summary[f"{label}_best_learning_rate"] = best[0]
        summary[f"{label}_best_final_test_error"] = best[1]
        summary[f"{label}_min_test_error"] = float(np.nanmin(history.records["test_error"]))
    config = {"task": _task_config(task), "runs": runs, "seeds": seeds, "n_epochs": n_epochs}
    return _finish(out_dir, "fig4b", fig, quick, config, {"epochs_np": histories["np"].epochs}, summary)


def _best_final(history, name="test_error", above=False):
    """(learning rate, value) with the best seed-averaged final value of ``name``."""
    lrs = np.unique(history.learning_rates)
    with np.errstate(invalid="ignore"):
        finals = np.array([np.mean(history.final(name)[history.learning_rates == lr]) for lr in lrs])
    finals = np.where(np.isfinite(finals), finals, -np.inf if above else np.inf)
    k = int(np.argmax(finals) if above else np.argmin(finals))
    return float(lrs[k]), float(finals[k])


@register("fig4c")
def fig4c(*, quick=False, out_dir="figures", progress=True):
    """Fig. 4C: NP's instability on SARCOS -- epochs to the minimal test error and back to the initial one.

    For each learning rate, the epoch of the smallest test error and the
    first later epoch at which the error is back at its initial value (or
    the member diverged) are averaged over seeds. Both shrink as the
    learning rate grows: large rates learn fast, then blow up.

    quick: 21-100-7, 5 rates 1e-4 - 1e-3, 50 epochs, seed 0, test-file-only split.
    full: 21-800-7 (the paper's width), 8 rates 3.2e-6 - 1.8e-4, 3,000 epochs, 5 seeds.
    """
    if quick:
        width, lrs, n_epochs, seeds = 100, [1e-4, 1.8e-4, 3.2e-4, 5.6e-4, 1e-3], 50, [0]
    else:
        width, lrs, n_epochs, seeds = 800, [3.2e-6, 5.6e-6, 1e-5, 1.8e-5, 3.2e-5, 5.6e-5, 1e-4, 1.8e-4], 3000, [0, 1, 2, 3, 4]
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4c", {"np": ("np", lrs)}, width=width, seeds=seeds,
                                     n_epochs=n_epochs)
    history = histories["np"]
    times = instability_times(history)
    rates = np.unique(history.learning_rates)
    with np.errstate(invalid="ignore"):
        t_min = np.array([np.mean(times["min_epoch"][history.learning_rates == lr]) for lr in rates])
        t_back = np.array([np.mean(times["return_epoch"][history.learning_rates == lr]) for lr in rates])
    fig, axes = _figure(2)
    axes[0].plot(rates, t_min, "o-", color="k", label="minimal test error")
    finite = np.isfinite(t_back)
    axes[0].plot(rates[finite], t_back[finite], "o-", color="grey", label="back at initial error")
    _log_axes(axes[0], rates, np.r_[t_min, t_back[finite]])
    axes[0].set_xlabel("learning rate")
    axes[0].set_ylabel("epochs")
    axes[0].legend(fontsize="small")
    axes[0].set_title(f"NP, 21-{width}-7: instability")
    history.plot("test_error", ax=axes[1], label="NP", band=None)
    summary = {"learning_rates": rates.tolist(), "epochs_to_min": t_min.tolist(), "epochs_back_to_initial": t_back.tolist(),
               "diverged_fraction": [float(np.mean(history.diverged[history.learning_rates == lr])) for lr in rates]}
    config = {"task": _task_config(task), "width": width, "learning_rates": lrs, "n_epochs": n_epochs, "seeds": seeds}
    return _finish(out_dir, "fig4c", fig, quick, config,
                   {"learning_rates": rates, "epochs_to_min": t_min, "epochs_back_to_initial": t_back,
                    **{f"member_{k}": v for k, v in times.items()}}, summary)


@register("fig4d")
def fig4d(*, quick=False, out_dir="figures", progress=True):
    """Fig. 4D: weight norm against test error along training (SARCOS, NP at two rates and SGD).

    At the larger rate NP's weight norm keeps expanding while the error
    first falls and then rises until the run diverges; SGD's norm settles.

    quick: 21-100-7, 60 epochs, seed 0, test-file-only split.
    full: 21-800-7, 3,000 epochs, 3 seeds.
    """
    if quick:
        width, n_epochs, seeds, np_lrs, sgd_lr = 100, 60, [0], [1e-4, 3e-4], [1e-3]
    else:
        width, n_epochs, seeds, np_lrs, sgd_lr = 800, 3000, [0, 1, 2], [1e-5, 5.6e-5], [3.2e-4]
    runs = {"np": ("np", np_lrs), "sgd": ("sgd", sgd_lr)}
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4d", runs, width=width, seeds=seeds, n_epochs=n_epochs)
    fig, axes = _figure(1)
    ax = axes[0]
    summary = {}
    arrays = {}
    for label, history in histories.items():
        traj = weight_norm_trajectories(history)
        for i, lr in enumerate(history.learning_rates):
            ok = np.isfinite(traj["norm"][i])
            line = "-" if label == "np" else "--"
            ax.plot(traj["norm"][i, ok], traj["error"][i, ok], line, marker=".", markersize=3,
                    label=f"{RULE_LABELS[label]} lr={lr:.2g} seed {history.seeds[i]}")
            key = f"{label}_lr{lr:.2g}_seed{history.seeds[i]}"
            summary[f"{key}_norm_growth"] = float(traj["norm"][i, ok][-1] / traj["norm"][i, 0])
            summary[f"{key}_diverged_epoch"] = int(history.diverged_epoch[i])
            arrays[f"{key}_norm"] = traj["norm"][i]
            arrays[f"{key}_error"] = traj["error"][i]
    ax.set_yscale("log")
    ax.set_xlabel("weight norm (all layers)")
    ax.set_ylabel("test error")
    ax.set_title(f"SARCOS 21-{width}-7: weight norm vs error")
    ax.legend(fontsize="x-small")
    config = {"task": _task_config(task), "width": width, "runs": runs, "n_epochs": n_epochs, "seeds": seeds}
    return _finish(out_dir, "fig4d", fig, quick, config, arrays, summary)


def _time_scan(quick, out_dir, progress, name, task, make_net, conditions, widths, *, target, record, seeds, max_epochs,
               dtype="float64"):
    """Minimum training time for each condition (rule, learning rates, homeostasis) and width."""
    times = np.full((len(conditions), len(widths)), np.inf)
    best_lrs = np.full_like(times, np.nan)
    settled = np.ones_like(times, dtype=bool)
    for i, (label, (rule, lrs, homeostasis)) in enumerate(conditions.items()):
        for j, width in enumerate(widths):
            grid = lrs(width) if callable(lrs) else lrs
            result = search_minimum_training_time(
                make_net(width), rule, task, target=target, learning_rates=grid, max_epochs=max_epochs[label]
                if isinstance(max_epochs, dict) else max_epochs, seeds=seeds, name=record,
                checkpoint=_checkpoint(out_dir, name, label, f"w{width}"), progress=progress, homeostasis=homeostasis,
                dtype=dtype, first_epochs=2)
            times[i, j] = result["time"]
            best_lrs[i, j] = result["learning_rate"]
            settled[i, j] = result["settled"]
    return times, best_lrs, settled


def _log_axes(ax, x, y):
    """Log-scale the axes whose data have positive finite values (an empty log axis cannot be drawn)."""
    for values, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        values = np.asarray(values, dtype=float)
        if np.any(np.isfinite(values) & (values > 0)):
            setter("log")


def _width_ticks(ax, widths):
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(list(widths), [str(w) for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plot_times(ax, widths, times, labels, colors):
    for i, label in enumerate(labels):
        ok = np.isfinite(times[i])
        ax.plot(np.asarray(widths)[ok], times[i, ok], "o-", color=colors[i], label=label)
    if np.isfinite(times).any():
        _log_axes(ax, widths, times)
        _width_ticks(ax, widths)
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no condition reached the target", transform=ax.transAxes, ha="center")
    ax.set_xlabel("hidden width")
    ax.set_ylabel("minimum training time (epochs)")


def _time_summary(conditions, times, best_lrs, settled):
    """Summary entries of a minimum-training-time figure (conditions ordered NP, REINFORCE, SGD)."""
    summary = {}
    for i, label in enumerate(conditions):
        summary[f"{label}_time"] = times[i].tolist()
        summary[f"{label}_best_learning_rate"] = best_lrs[i].tolist()
    summary["np_over_sgd"] = [_ratio(a, b) for a, b in zip(times[0], times[2], strict=True)]
    summary["reinforce_over_sgd"] = [_ratio(a, b) for a, b in zip(times[1], times[2], strict=True)]
    summary["all_settled"] = bool(settled.all())
    return summary


def _ratio(a, b):
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("inf")


@register("fig4e")
def fig4e(*, quick=False, out_dir="figures", progress=True):
    """Fig. 4E: minimum training time against width on SARCOS, NP vs REINFORCE vs SGD.

    For each width the fewest epochs to reach the target test error,
    optimised over a learning-rate grid (extended when the optimum is at its
    edge) with seed ensembles (mean over seeds).

    quick: widths 25 and 100, 2 seeds, test-file-only split with *standardised
    inputs* and a target test error of 100 (summed over outputs, i.e. 14.3
    per output), so that NP gets there in tens of epochs.
    full: paper split, raw units, target 35 (the paper's 5.0 per output),
    widths 100-1600, 5 seeds.
    """
    if quick:
        task = _sarcos(True, standardize="inputs")
        widths, seeds, target = (25, 100), [0, 1], 100.0
        max_epochs = {"np": 400, "reinforce": 100, "sgd": 100}
        grids = {"np": [1e-4, 3e-4, 1e-3], "reinforce": [1e-3, 3e-3, 1e-2], "sgd": [1e-3, 3e-3, 1e-2]}
    else:
        task = _sarcos(False)
        widths, seeds, target = (100, 200, 400, 800, 1600), [0, 1, 2, 3, 4], task.error_target()
        max_epochs = {"np": 30000, "reinforce": 10000, "sgd": 1000}
        grids = {"np": [3.2e-6, 1e-5, 3.2e-5, 1e-4], "reinforce": [3.2e-5, 1e-4, 3.2e-4, 1e-3],
                 "sgd": [1e-4, 3.2e-4, 1e-3, 3.2e-3]}
    rules = sarcos_rules()
    conditions = {label: (rules[label], grids[label], None) for label in ("np", "reinforce", "sgd")}
    times, best_lrs, settled = _time_scan(quick, out_dir, progress, "fig4e", task, _sarcos_net, conditions, widths,
                                          target=target, record="test_error", seeds=seeds, max_epochs=max_epochs)
    fig, axes = _figure(1)
    _plot_times(axes[0], widths, times, [RULE_LABELS[k] for k in conditions], [RULE_COLORS[k] for k in conditions])
    axes[0].set_title(f"SARCOS: epochs to test error {target:g}")
    summary = {"widths": list(widths), "target_test_error": float(target)}
    summary.update(_time_summary(conditions, times, best_lrs, settled))
    config = {"task": _task_config(task), "widths": widths, "seeds": seeds, "target": target, "grids": grids,
              "max_epochs": max_epochs, "statistic": "mean"}
    return _finish(out_dir, "fig4e", fig, quick, config,
                   {"widths": np.asarray(widths), "times": times, "best_learning_rates": best_lrs, "settled": settled,
                    "rules": np.asarray(list(conditions))}, summary)


@register("fig4f")
def fig4f(*, quick=False, out_dir="figures", progress=True):
    """Fig. 4F: synaptic scaling (weight normalisation) prevents NP's divergence on SARCOS.

    NP at a learning rate where plain NP diverges, with no scaling, scaling
    of the first layer's incoming weights, and scaling of every layer
    (each neuron's incoming RMS held at its initial value).

    quick: 21-100-7, learning rate 3e-4, 60 epochs, 2 seeds, test-file-only split.
    full: 21-800-7, learning rate 5.6e-5, 3,000 epochs, 5 seeds.
    """
    if quick:
        width, lr, n_epochs, seeds = 100, 3e-4, 60, [0, 1]
    else:
        width, lr, n_epochs, seeds = 800, 5.6e-5, 3000, [0, 1, 2, 3, 4]
    runs = {"none": ("np", [lr]), "first": ("np", [lr]), "all": ("np", [lr])}
    scaling = {"none": None, "first": SynapticScaling(layers=(0,)), "all": SynapticScaling(layers="all")}
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4f", runs, width=width, seeds=seeds, n_epochs=n_epochs,
                                     homeostasis=scaling)
    fig, axes = _figure(2)
    names = {"none": "NP", "first": "NP + scaling (layer 1)", "all": "NP + scaling (all layers)"}
    summary = {"learning_rate": lr}
    for (label, history), color in zip(histories.items(), ("C1", "C4", "C2"), strict=True):
        plot_learning_curves(history, "test_error", ax=axes[0], label=names[label], colors=[color])
        norms = weight_norm_trajectories(history)["norm"]
        for i in range(history.n_members):
            axes[1].plot(history.epochs, norms[i], color=color, label=names[label] if i == 0 else None)
        summary[f"{label}_diverged_fraction"] = float(np.mean(history.diverged))
        summary[f"{label}_final_test_error"] = float(np.mean(history.final())) if not history.diverged.any() else float("nan")
        summary[f"{label}_min_test_error"] = float(np.nanmin(history.records["test_error"]))
    axes[0].set_title(f"SARCOS 21-{width}-7, NP lr={lr:g}")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("weight norm (all layers)")
    axes[1].legend(fontsize="small")
    config = {"task": _task_config(task), "width": width, "learning_rate": lr, "n_epochs": n_epochs, "seeds": seeds,
              "scaling": {k: (v.describe() if v is not None else None) for k, v in scaling.items()}}
    return _finish(out_dir, "fig4f", fig, quick, config, {"epochs": histories["none"].epochs}, summary)


# ======================================================================================
# MNIST (Fig. 5)
# ======================================================================================


@register("fig5a")
def fig5a(*, quick=False, out_dir="figures", progress=True):
    """Fig. 5A: MNIST learning curves (test accuracy) of NP, SGD and REINFORCE, 784-100-10.

    quick: first 10,000 training / 2,000 test images, 5 epochs, seed 0, float32.
    full: all of MNIST, NP 1,000 / REINFORCE 300 / SGD 100 epochs, 3 seeds, float32.
    """
    task = _mnist(quick)
    rules = mnist_rules()
    if quick:
        runs = {"np": [3e-4, 1e-3], "sgd": [0.03], "reinforce": [1e-3]}
        n_epochs, seeds = {"np": 5, "sgd": 5, "reinforce": 5}, [0]
    else:
        runs = {"np": [1e-4, 3.2e-4], "sgd": [0.01, 0.032], "reinforce": [3.2e-4, 1e-3]}
        n_epochs, seeds = {"np": 1000, "sgd": 100, "reinforce": 300}, [0, 1, 2]
    fig, axes = _figure(1, width=5.5)
    summary = {}
    for label, lrs in runs.items():
        history = _train(out_dir, f"fig5a_{label}", _mnist_net(100), rules[label], task, n_epochs=n_epochs[label],
                         learning_rate=lrs, seeds=seeds, progress=progress, dtype="float32")
        plot_learning_curves(history, "test_accuracy", ax=axes[0], label=RULE_LABELS[label], logy=False,
                             colors={"np": ["C1", "C5"], "sgd": ["C0", "C9"], "reinforce": ["C2", "C8"]}[label])
        best = _best_final(history, "test_accuracy", above=True)
        summary[f"{label}_best_learning_rate"] = best[0]
        summary[f"{label}_final_test_accuracy"] = best[1]
    axes[0].set_ylim(0.5, 1.0)
    axes[0].set_title("MNIST 784-100-10")
    config = {"task": _task_config(task), "runs": runs, "n_epochs": n_epochs, "seeds": seeds, "dtype": "float32"}
    return _finish(out_dir, "fig5a", fig, quick, config, {}, summary)


def _mnist_time_config(quick):
    if quick:
        return {"widths": (16, 32), "seeds": [0], "target": 0.8, "max_epochs": 100}
    return {"widths": (100, 200, 400, 800, 1600), "seeds": [0, 1, 2], "target": 0.975, "max_epochs": 10000}


@register("fig5b")
def fig5b(*, quick=False, out_dir="figures", progress=True):
    """Fig. 5B: minimum training time against width on MNIST, NP vs REINFORCE vs SGD.

    Epochs to a target test accuracy, optimised over learning rate.

    quick: widths 16 and 32, first 10,000 training / 2,000 test images,
    target 80%, seed 0, float32.
    full: all of MNIST, widths 100-1600, target 97.5% (the paper's), 3 seeds.
    """
    task = _mnist(quick)
    cfg = _mnist_time_config(quick)
    rules = mnist_rules()
    if quick:
        grids = {"np": [3e-4, 1e-3], "reinforce": [1e-3, 3e-3], "sgd": [0.01, 0.03]}
    else:
        grids = {"np": [1e-5, 3.2e-5, 1e-4, 3.2e-4], "reinforce": [1e-4, 3.2e-4, 1e-3], "sgd": [3.2e-3, 0.01, 0.032]}
    conditions = {label: (rules[label], grids[label], None) for label in ("np", "reinforce", "sgd")}
    times, best_lrs, settled = _time_scan(quick, out_dir, progress, "fig5b", task, _mnist_net, conditions, cfg["widths"],
                                          target=cfg["target"], record="test_accuracy", seeds=cfg["seeds"],
                                          max_epochs=cfg["max_epochs"], dtype="float32")
    fig, axes = _figure(1)
    _plot_times(axes[0], cfg["widths"], times, [RULE_LABELS[k] for k in conditions], [RULE_COLORS[k] for k in conditions])
    axes[0].set_title(f"MNIST: epochs to {100 * cfg['target']:g}% test accuracy")
    summary = {"widths": list(cfg["widths"]), "target_test_accuracy": cfg["target"]}
    summary.update(_time_summary(conditions, times, best_lrs, settled))
    config = {"task": _task_config(task), **cfg, "grids": grids, "dtype": "float32"}
    return _finish(out_dir, "fig5b", fig, quick, config,
                   {"widths": np.asarray(cfg["widths"]), "times": times, "best_learning_rates": best_lrs, "settled": settled},
                   summary)


@register("fig5c")
def fig5c(*, quick=False, out_dir="figures", progress=True):
    """Fig. 5C: weight-normalised NP on MNIST -- minimum training time with synaptic scaling.

    NP without scaling, with scaling of the first layer and of all layers,
    optimised over learning rate for each width.

    quick: widths 16 and 32, first 10,000 training / 2,000 test images,
    target 80%, seed 0, float32.
    full: all of MNIST, widths 100-1600, target 97.5%, 3 seeds.
    """
    task = _mnist(quick)
    cfg = _mnist_time_config(quick)
    rule = mnist_rules()["np"]
    grid = [1e-3, 3e-3] if quick else [1e-5, 3.2e-5, 1e-4, 3.2e-4]
    conditions = {"none": (rule, grid, None), "first": (rule, grid, SynapticScaling(layers=(0,))),
                  "all": (rule, grid, SynapticScaling(layers="all"))}
    times, best_lrs, settled = _time_scan(quick, out_dir, progress, "fig5c", task, _mnist_net, conditions, cfg["widths"],
                                          target=cfg["target"], record="test_accuracy", seeds=cfg["seeds"],
                                          max_epochs=cfg["max_epochs"], dtype="float32")
    fig, axes = _figure(1)
    names = ["NP", "NP + scaling (layer 1)", "NP + scaling (all layers)"]
    _plot_times(axes[0], cfg["widths"], times, names, ["C1", "C4", "C2"])
    axes[0].set_title(f"MNIST: epochs to {100 * cfg['target']:g}% test accuracy")
    summary = {"widths": list(cfg["widths"]), "target_test_accuracy": cfg["target"]}
    for i, label in enumerate(conditions):
        summary[f"{label}_time"] = times[i].tolist()
        summary[f"{label}_best_learning_rate"] = best_lrs[i].tolist()
    summary["all_settled"] = bool(settled.all())
    config = {"task": _task_config(task), **cfg, "grid": grid, "dtype": "float32",
              "scaling": {k: (v[2].describe() if v[2] is not None else None) for k, v in conditions.items()}}
    return _finish(out_dir, "fig5c", fig, quick, config,
                   {"widths": np.asarray(cfg["widths"]), "times": times, "best_learning_rates": best_lrs, "settled": settled},
                   summary)


# ======================================================================================
# participation ratio (Figs S3D, S4E)
# ======================================================================================


def _pr_study(name, quick, out_dir, progress, task, network, rules, *, np_lr, np_epochs, sgd_lr, sgd_max_epochs, seed, dtype,
              max_samples):
    """Train NP, then SGD until it matches NP's test error; compare hidden-layer participation ratios."""
    np_history = _train(out_dir, f"{name}_np", network, rules["np"], task, n_epochs=np_epochs, learning_rate=np_lr, seeds=[seed],
                        progress=progress, dtype=dtype)
    if np_history.diverged.any():
        raise RuntimeError(f"{name}: NP diverged at learning rate {np_lr}; choose a smaller one")
    np_error = float(np_history.final("test_error")[0])
    sgd_history = train_until(network, rules["sgd"], task, target=np_error, max_epochs=sgd_max_epochs, learning_rate=sgd_lr,
                              seeds=[seed], name="test_error", checkpoint=_checkpoint(out_dir, name, "sgd"), progress=progress,
                              dtype=dtype, first_epochs=1)
    sgd_history.save(Path(out_dir) / f"{name}_sgd")
    x_test = task.evaluation_sets()["test"][0]
    init_state = network.init_state(seeds=[seed], dtype=np.dtype(dtype))
    pr = {
        "init": hidden_participation_ratio(network, init_state, x_test, max_samples=max_samples)[0],
        "np": hidden_participation_ratio(network, np_history.final_state_, x_test, max_samples=max_samples)[0],
        "sgd": hidden_participation_ratio(network, sgd_history.final_state_, x_test, max_samples=max_samples)[0],
    }
    errors = {"init": float(np_history.records["test_error"][0, 0]), "np": np_error,
              "sgd": float(sgd_history.final("test_error")[0])}
    return np_history, sgd_history, pr, errors


def _plot_pr(fig_title, pr, errors, np_history, sgd_history):
    fig, axes = _figure(2)
    labels = ["init", "np", "sgd"]
    names = {"init": "initial", "np": "NP", "sgd": "SGD"}
    colors = {"init": "grey", "np": RULE_COLORS["np"], "sgd": RULE_COLORS["sgd"]}
    n_hidden = len(pr["np"])
    offsets = np.linspace(-0.25, 0.25, len(labels))
    for j, label in enumerate(labels):
        axes[0].bar(np.arange(n_hidden) + offsets[j], pr[label], width=0.25, color=colors[label],
                    label=f"{names[label]} (test error {errors[label]:.3g})")
    axes[0].set_xticks(np.arange(n_hidden), [f"hidden {k + 1}" for k in range(n_hidden)])
    axes[0].set_ylabel("participation ratio")
    axes[0].set_ylim(0, 1.5 * max(float(np.max(pr[label])) for label in labels))
    axes[0].legend(fontsize="small", loc="upper left")
    axes[0].set_title(fig_title)
    axes[1].plot(np_history.epochs, np_history.records["test_error"][0], color=colors["np"], label="NP")
    axes[1].plot(sgd_history.epochs, sgd_history.records["test_error"][0], color=colors["sgd"], label="SGD")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test error")
    axes[1].legend(fontsize="small")
    return fig


def _pr_summary(pr, errors, np_history, sgd_history):
    summary = {}
    for label in ("init", "np", "sgd"):
        summary[f"{label}_participation_ratio"] = [float(v) for v in pr[label]]
        summary[f"{label}_test_error"] = errors[label]
    summary["np_epochs"] = int(np_history.epochs[-1])
    summary["sgd_epochs"] = int(sgd_history.epochs[-1])
    summary["np_over_sgd_participation_ratio"] = [float(a / b) for a, b in zip(pr["np"], pr["sgd"], strict=True)]
    return summary


@register("figS3")
def figS3(*, quick=False, out_dir="figures", progress=True):  # noqa: N802 - the paper's panel name
    """Fig. S3D: participation ratio of SARCOS hidden-layer activity, NP vs SGD at a similar test error.

    NP trains for a fixed number of epochs; SGD trains until its test error
    first falls to NP's (:func:`~bioplastic.analysis.train_until`). The
    participation ratio of the hidden rates is measured on the held-out
    test inputs, also at initialisation.

    quick: 21-100-7, NP lr 1e-4 for 40 epochs, SGD lr 3e-4, seed 0,
    test-file-only split.
    full: 21-100-7, NP lr 3.2e-5 for 3,000 epochs, SGD lr 1e-4, paper split.
    """
    task = _sarcos(quick)
    np_lr, np_epochs, sgd_lr = (1e-4, 40, 3e-4) if quick else (3.2e-5, 3000, 1e-4)
    np_history, sgd_history, pr, errors = _pr_study(
        "figS3", quick, out_dir, progress, task, _sarcos_net(100), sarcos_rules(), np_lr=np_lr, np_epochs=np_epochs,
        sgd_lr=sgd_lr, sgd_max_epochs=1000, seed=0, dtype="float64", max_samples=None)
    fig = _plot_pr("SARCOS 21-100-7: hidden-layer dimensionality", pr, errors, np_history, sgd_history)
    summary = _pr_summary(pr, errors, np_history, sgd_history)
    config = {"task": _task_config(task), "np_learning_rate": np_lr, "np_epochs": np_epochs, "sgd_learning_rate": sgd_lr}
    return _finish(out_dir, "figS3", fig, quick, config, {f"pr_{k}": v for k, v in pr.items()}, summary)


@register("figS4")
def figS4(*, quick=False, out_dir="figures", progress=True):  # noqa: N802 - the paper's panel name
    """Fig. S4E: participation ratio of MNIST hidden-layer activity, NP vs SGD at a similar test error.

    quick: 784-100-10, first 10,000 training / 2,000 test images, NP lr 1e-3
    for 5 epochs, SGD lr 1e-3, seed 0, float32.
    full: all of MNIST, NP lr 1e-4 for 300 epochs, SGD lr 1e-3.
    """
    task = _mnist(quick)
    np_lr, np_epochs, sgd_lr = (1e-3, 5, 1e-3) if quick else (1e-4, 300, 1e-3)
    np_history, sgd_history, pr, errors = _pr_study(
        "figS4", quick, out_dir, progress, task, _mnist_net(100), mnist_rules(), np_lr=np_lr, np_epochs=np_epochs,
        sgd_lr=sgd_lr, sgd_max_epochs=500, seed=0, dtype="float32", max_samples=2000)
    fig = _plot_pr("MNIST 784-100-10: hidden-layer dimensionality", pr, errors, np_history, sgd_history)
    summary = _pr_summary(pr, errors, np_history, sgd_history)
    summary["np_test_accuracy"] = float(np_history.final("test_accuracy")[0])
    summary["sgd_test_accuracy"] = float(sgd_history.final("test_accuracy")[0])
    config = {"task": _task_config(task), "np_learning_rate": np_lr, "np_epochs": np_epochs, "sgd_learning_rate": sgd_lr}
    return _finish(out_dir, "figS4", fig, quick, config, {f"pr_{k}": v for k, v in pr.items()}, summary)

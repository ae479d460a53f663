r"""Dimensionality of hidden-layer representations learnt by NP and SGD (Figs S2B, S3D, S4E).

Planar dimensionality of the input weights of deep linear networks during
learning (Fig. S2B), and the participation ratio of hidden-layer activity of
SARCOS (Fig. S3D) and MNIST (Fig. S4E) networks trained by NP and by SGD to a
similar test error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...analysis import hidden_participation_ratio
from ...plotting import EPOCH_LABEL, legend, plot_member_curves
from ...training import train_until
from .. import register_figure
from .._drawing import STEP_LABEL, new_figure
from . import _style as style
from .linear_setup import ENGINE, PAPER_SIZES, linear_results, nanmean, trajectories
from .nonlinear_setup import (
    RULE_COLORS,
    checkpoint,
    mnist_net,
    mnist_rules,
    mnist_task,
    nonlinear_results,
    sarcos_net,
    sarcos_rules,
    sarcos_task,
    task_config,
    train_run,
)

__all__ = ["compute_figS2b", "compute_figS3", "compute_figS4", "draw_figS2b", "draw_figS3", "draw_figS4", "figS2b", "figS3", "figS4"]


# --------------------------------------------------------------------------
# Fig. S2B: planar dimensionality in deep linear networks
# --------------------------------------------------------------------------

#: rule key, colour and legend of the two runs of Fig. S2B
_FIGS2B_RUNS = (("np", "C3", "NP 0.5 $\\eta^*$"), ("sgd", "C0", "SGD $\\eta_{opt}$"))


def compute_figS2b(*, quick=False, progress=True, out_dir=None):  # noqa: N802 - the paper's panel name
    r"""Fig. S2B: planar dimensionality of the hidden layer during NP and SGD learning.

    Participation ratio ``(tr C)^2 / tr(C^2)`` of ``C = W1^T W1`` (how many
    input directions the hidden layer spans) for NP at ``0.5 eta*`` and SGD
    at its optimal rate, without teacher noise, with the Xavier-Glorot
    expectation at the start, ``~ Lx / (1 + (Lx + 1) / Lh)`` (dashed; the
    Wishart value for large sizes). SGD adds the teacher's
    ``Ly``-dimensional structure to ``W1``; NP's weight diffusion adds
    ``sum_t c_t^2 |xi_t|^2 x_t x_t^T``, a sum of rank-one terms with
    heavy-tailed weights, which makes ``C`` less isotropic (the isotropy
    ``W1^T W1 ~ alpha I`` the mean-field theory assumes). Full: paper sizes,
    10 seeds, ``10^5`` steps; quick: ``Lx=50, Lh=10^4, Ly=5``, 3 seeds.

    Summary: initial, minimum and final mean dimensionality of each rule.
    """
    lx, lh, ly = layer_sizes = (50, 10_000, 5) if quick else PAPER_SIZES
    n_seeds = 3 if quick else 10
    horizon = 12_000 if quick else 100_000
    np_hist, task, steps, np_rates = trajectories("figS2b", out_dir, quick, progress, (0.5,), n_seeds=n_seeds, horizon=horizon,
                                                  layer_sizes=layer_sizes, label="sim_np")
    sgd_hist, _, _, sgd_rates = trajectories("figS2b", out_dir, quick, progress, (1.0,), n_seeds=n_seeds, horizon=horizon,
                                             layer_sizes=layer_sizes, rule="sgd", label="sim_sgd")
    expected = lx / (1 + (lx + 1) / lh)
    summary, arrays = {"initial_expected": expected}, {"steps": steps}
    for key, hist in (("np", np_hist), ("sgd", sgd_hist)):
        dims = hist.records["dimensionality"]
        mean = nanmean(dims)
        summary[f"initial_{key}"] = float(mean[0])
        summary[f"minimum_{key}"] = float(np.nanmin(mean))
        summary[f"final_{key}"] = float(mean[np.nonzero(np.isfinite(mean))[0][-1]])
        arrays[f"dimensionality_{key}"] = mean
        arrays[f"dimensionality_runs_{key}"] = dims
        arrays[f"error_{key}"] = nanmean(hist.records["error"])
    settings = {"sizes": layer_sizes, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE, "np_rate": np_rates[0],
                "sgd_rate": sgd_rates[0]}
    return linear_results("figS2b", arrays, summary, settings)


def draw_figS2b(results):  # noqa: N802 - the paper's panel name
    """Fig. S2B: dimensionality of ``W1`` per run and mean (left, dashed: Xavier-Glorot expectation); mean error (right)."""
    arrays = results.arrays
    lx, lh, ly = results.metadata["settings"]["sizes"]
    steps = arrays["steps"]
    fig, (left, right) = new_figure(2, figsize=(11, 4.2))
    for key, color, label in _FIGS2B_RUNS:
        plot_member_curves(left, steps[1:], arrays[f"dimensionality_runs_{key}"][:, 1:], color=color, lw=0.4, alpha=0.35)
        left.plot(steps[1:], arrays[f"dimensionality_{key}"][1:], color=color, lw=2, label=label)
        plot_member_curves(right, steps[1:], arrays[f"error_{key}"][1:], color=color, lw=2, label=label)
    left.axhline(results.summary["initial_expected"], color="k", ls="--", label="Xavier-Glorot expectation")
    left.set(xscale="log", xlabel=STEP_LABEL, ylabel="planar dimensionality of $W_1$ (effective input dimensions)",
             title="dimensionality of the hidden layer's input weights")
    right.set(xscale="log", yscale="log", xlabel=STEP_LABEL, ylabel=style.ERROR, title="mean error")
    # SGD converges to rounding level (1e-30): show six decades below the start, where the learning is
    right.set_ylim(1e-6 * max(float(arrays[f"error_{key}"][0]) for key, _, _ in _FIGS2B_RUNS), None)
    for ax in (left, right):
        ax.title.set_fontsize(9)
    legend(left, fontsize="small")
    style.title(fig, "Fig. S2B", "planar dimensionality of the hidden layer during NP and SGD learning",
                f"Lx={lx}, Lh={lh:g}, Ly={ly}; thin: runs, thick: mean, x: a run diverged")
    return fig


figS2b = register_figure("figS2b", compute_figS2b, draw_figS2b)  # noqa: N816 - the paper's panel name


# --------------------------------------------------------------------------
# Figs S3D, S4E: participation ratio of hidden activity, NP against SGD at a similar test error
# --------------------------------------------------------------------------

_PR_LABELS = ("init", "np", "sgd")


def _pr_study(name, quick, out_dir, progress, task, network, rules, *, np_lr, np_epochs, sgd_lr, sgd_max_epochs, seed, dtype,
              max_samples):
    """Train NP, then SGD until it matches NP's test error; compare hidden-layer participation ratios."""
    np_history = train_run(out_dir, f"{name}_np", network, rules["np"], task, n_epochs=np_epochs, learning_rate=np_lr,
                           seeds=[seed], progress=progress, dtype=dtype)
    if np_history.diverged.any():
        raise RuntimeError(f"{name}: NP diverged at learning rate {np_lr}; choose a smaller one")
    np_error = float(np_history.final("test_error")[0])
    sgd_history = train_until(network, rules["sgd"], task, target=np_error, max_epochs=sgd_max_epochs, learning_rate=sgd_lr,
                              seeds=[seed], name="test_error", checkpoint=checkpoint(out_dir, name, "sgd"), progress=progress,
                              dtype=dtype, first_epochs=1)
    if out_dir is not None:
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
    summary = {}
    for label in _PR_LABELS:
        summary[f"{label}_participation_ratio"] = [float(v) for v in pr[label]]
        summary[f"{label}_test_error"] = errors[label]
    summary["np_epochs"] = int(np_history.epochs[-1])
    summary["sgd_epochs"] = int(sgd_history.epochs[-1])
    summary["np_over_sgd_participation_ratio"] = [float(a / b) for a, b in zip(pr["np"], pr["sgd"], strict=True)]
    arrays = {f"pr_{k}": v for k, v in pr.items()}
    for label, history in (("np", np_history), ("sgd", sgd_history)):
        arrays[f"epochs_{label}"] = np.asarray(history.epochs)
        arrays[f"test_error_{label}"] = np.asarray(history.records["test_error"][0])
    return np_history, sgd_history, arrays, summary


def _draw_pr(results, panel, title, error_label):
    arrays, summary = results.arrays, results.summary
    fig, axes = new_figure(2, width=5.2, height=4.0)
    names = {"init": "initial", "np": "NP", "sgd": "SGD"}
    line_colors = {"init": "grey", "np": RULE_COLORS["np"], "sgd": RULE_COLORS["sgd"]}
    n_hidden = len(arrays["pr_np"])
    offsets = np.linspace(-0.25, 0.25, len(_PR_LABELS))
    for j, label in enumerate(_PR_LABELS):
        axes[0].bar(np.arange(n_hidden) + offsets[j], arrays[f"pr_{label}"], width=0.25, color=line_colors[label],
                    label=f"{names[label]} (test error {summary[f'{label}_test_error']:.3g})")
    axes[0].set_xticks(np.arange(n_hidden), [f"hidden layer {k + 1}" for k in range(n_hidden)])
    axes[0].set_ylabel(style.PARTICIPATION)
    axes[0].set_ylim(0, 1.5 * max(float(np.max(arrays[f"pr_{label}"])) for label in _PR_LABELS))
    axes[0].legend(fontsize="small", loc="upper left")
    axes[0].set_title("participation ratio of hidden activity (test inputs)", fontsize=9)
    for label in ("np", "sgd"):
        plot_member_curves(axes[1], arrays[f"epochs_{label}"], arrays[f"test_error_{label}"], color=line_colors[label],
                           label=names[label])
    axes[1].set_yscale("log")
    axes[1].set_xlabel(EPOCH_LABEL)
    axes[1].set_ylabel(error_label)
    axes[1].set_title("the two runs: SGD trains until it matches NP", fontsize=9)
    legend(axes[1], fontsize="small")
    style.title(fig, panel, title, f"NP vs SGD at a similar test error; {'quick run' if results.metadata.get('quick') else 'paper sizes'}")
    return fig


def compute_figS3(*, quick=False, progress=True, out_dir=None):  # noqa: N802 - the paper's panel name
    """Fig. S3D: participation ratio of SARCOS hidden-layer activity, NP vs SGD at a similar test error.

    NP trains for a fixed number of epochs; SGD trains until its test error
    first falls to NP's (:func:`~bioplastic.training.train_until`). The
    participation ratio of the hidden rates is measured on the held-out
    test inputs, also at initialisation.

    quick: 21-100-7, NP lr 1e-4 for 40 epochs, SGD lr 3e-4, seed 0,
    test-file-only split.
    full: 21-100-7, NP lr 3.2e-5 for 3,000 epochs, SGD lr 1e-4, paper split.
    """
    task = sarcos_task(quick)
    np_lr, np_epochs, sgd_lr = (1e-4, 40, 3e-4) if quick else (3.2e-5, 3000, 1e-4)
    _, _, arrays, summary = _pr_study(
        "figS3", quick, out_dir, progress, task, sarcos_net(100), sarcos_rules(), np_lr=np_lr, np_epochs=np_epochs,
        sgd_lr=sgd_lr, sgd_max_epochs=1000, seed=0, dtype="float64", max_samples=None)
    config = {"task": task_config(task), "np_learning_rate": np_lr, "np_epochs": np_epochs, "sgd_learning_rate": sgd_lr}
    return nonlinear_results("figS3", quick, config, arrays, summary)


def draw_figS3(results):  # noqa: N802 - the paper's panel name
    """Fig. S3D: participation ratio per hidden layer (initial, NP, SGD) and the test errors of the two runs."""
    return _draw_pr(results, "Fig. S3D", "dimensionality of SARCOS hidden-layer activity, 21-100-7",
                    "test error (squared error, sum over 7 torques)")


figS3 = register_figure("figS3", compute_figS3, draw_figS3, paths_in_summary=True)  # noqa: N816 - the paper's panel name


def compute_figS4(*, quick=False, progress=True, out_dir=None):  # noqa: N802 - the paper's panel name
    """Fig. S4E: participation ratio of MNIST hidden-layer activity, NP vs SGD at a similar test error.

    quick: 784-100-10, first 10,000 training / 2,000 test images, NP lr 1e-3
    for 5 epochs, SGD lr 1e-3, seed 0, float32.
    full: all of MNIST, NP lr 1e-4 for 300 epochs, SGD lr 1e-3.
    """
    task = mnist_task(quick)
    np_lr, np_epochs, sgd_lr = (1e-3, 5, 1e-3) if quick else (1e-4, 300, 1e-3)
    np_history, sgd_history, arrays, summary = _pr_study(
        "figS4", quick, out_dir, progress, task, mnist_net(100), mnist_rules(), np_lr=np_lr, np_epochs=np_epochs,
        sgd_lr=sgd_lr, sgd_max_epochs=500, seed=0, dtype="float32", max_samples=2000)
    summary["np_test_accuracy"] = float(np_history.final("test_accuracy")[0])
    summary["sgd_test_accuracy"] = float(sgd_history.final("test_accuracy")[0])
    config = {"task": task_config(task), "np_learning_rate": np_lr, "np_epochs": np_epochs, "sgd_learning_rate": sgd_lr}
    return nonlinear_results("figS4", quick, config, arrays, summary)


def draw_figS4(results):  # noqa: N802 - the paper's panel name
    """Fig. S4E: participation ratio per hidden layer (initial, NP, SGD) and the test errors of the two runs."""
    return _draw_pr(results, "Fig. S4E", "dimensionality of MNIST hidden-layer activity, 784-100-10",
                    "test error (squared error, sum over 10 outputs)")


figS4 = register_figure("figS4", compute_figS4, draw_figS4, paths_in_summary=True)  # noqa: N816 - the paper's panel name

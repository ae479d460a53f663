"""Test accuracy and W-B^T angle of BP and every feedback rule at depths 2 and 6, on MNIST and on CIFAR-10.

Kunin et al. (2020), Fig. 2 and Table 1 (there on ImageNet with ResNets; here
ReLU MLPs of width 256): the rules with a learned feedback pathway that
aligns it with the forward one (KP, SA, AA, IA) come close to backprop;
those with a fixed or sign-only pathway (FA, DFA, sign symmetry) fall
behind as the network deepens. See :mod:`~bioplastic.figures.kunin2020.shared`
for the conventions.
"""

from __future__ import annotations

import numpy as np

from .. import register_figure
from .._drawing import new_figure, study_title
from .shared import RULE_COLORS, RULE_LABELS, STUDY, best_run, cifar_task, make_rule, mnist_task, network_for, study_results

__all__ = ["compute_kunin_cifar10", "compute_kunin_mnist", "draw_kunin_cifar10", "draw_kunin_mnist", "kunin_cifar10", "kunin_mnist"]

DEPTHS = (2, 6)


def _settings(quick, learning_rates=(0.03, 0.1)):
    if quick:
        return {"n_epochs": 2, "learning_rates": list(learning_rates), "seeds": [0]}
    return {"n_epochs": 20, "learning_rates": [0.003, 0.01, 0.03, 0.1], "seeds": [0, 1]}


def _compare(name, task, quick, progress, out_dir, cfg):
    arrays, summary = {"rules": np.array(list(RULE_LABELS)), "depths": np.array(DEPTHS)}, {}
    accuracy = np.full((len(DEPTHS), len(RULE_LABELS)), np.nan)
    angle = np.full_like(accuracy, np.nan)
    for i, depth in enumerate(DEPTHS):
        for j, rule_name in enumerate(RULE_LABELS):
            run = best_run(out_dir, f"{name}_{rule_name}_depth{depth}", network_for(task, depth), rule_name, make_rule(rule_name),
                           task, n_epochs=cfg["n_epochs"], learning_rates=cfg["learning_rates"], seeds=cfg["seeds"],
                           progress=progress)
            key = f"{rule_name}_depth{depth}"
            arrays[f"{key}_accuracy"] = run["accuracy"]
            arrays[f"{key}_angles"] = run["angles"]
            accuracy[i, j] = run["final_accuracy"]
            with np.errstate(invalid="ignore"):
                final = run["angles"][-1]
                angle[i, j] = float(np.mean(final[np.isfinite(final)])) if np.isfinite(final).any() else np.nan
            summary[f"{key}_test_accuracy"] = accuracy[i, j]
            summary[f"{key}_angle"] = angle[i, j]
            summary[f"{key}_learning_rate"] = run["learning_rate"]
    arrays["final_accuracy"], arrays["final_angle"] = accuracy, angle
    config = {"task": task.describe(), "depths": DEPTHS, "width": 256, "batch_size": 128, "momentum": 0.9, **cfg,
              "coefficients": {r: make_rule(r).describe() for r in RULE_LABELS}, "dtype": "float32"}
    return study_results(name, quick, config, arrays, summary)


def _draw(results, title):
    arrays = results.arrays
    rules = [str(r) for r in arrays["rules"]]
    depths = [int(d) for d in arrays["depths"]]
    fig, axes = new_figure(2, width=6.0, height=3.2)
    axes[0].set_ylim(0, 1)
    axes[1].set_ylim(0, 90)
    x = np.arange(len(rules))
    width = 0.8 / len(depths)
    for i, depth in enumerate(depths):
        offset = (i - (len(depths) - 1) / 2) * width
        shade = 0.45 + 0.55 * i / max(1, len(depths) - 1)
        for ax, values in zip(axes, (arrays["final_accuracy"][i], arrays["final_angle"][i]), strict=True):
            ax.bar(x + offset, np.nan_to_num(values), width, color=[RULE_COLORS[r] for r in rules], alpha=shade,
                   edgecolor="k", linewidth=0.3)
            for j in np.flatnonzero(~np.isfinite(values)):  # every learning rate diverged
                ax.text(x[j] + offset, 0.02 * ax.get_ylim()[1], "x", ha="center", va="bottom", fontsize="small")
        axes[0].bar([0], [0], 0, color="0.3", alpha=shade, label=f"{depth} hidden layers")
    for ax, ylabel in zip(axes, ("test accuracy", "angle W vs B$^T$ (degrees)"), strict=True):
        ax.set_xticks(x, [RULE_LABELS[r] for r in rules], rotation=45)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize="small", title="x: diverged", title_fontsize="small", loc="lower left")
    axes[0].set_title("test accuracy")
    axes[1].set_title("alignment (mean over layers)")
    return study_title(fig, STUDY, "Fig. 2 / Table 1", f"{title}, every rule at 2 and 6 hidden layers")


def compute_kunin_mnist(*, quick=False, progress=True, out_dir=None):
    """Kunin et al. Fig. 2 on MNIST: test accuracy and W-B^T angle of BP, FA, DFA, uSF, brSF, frSF, KP, SA, AA, WM, IA.

    784-256x{2,6}-10 ReLU networks, softmax readout, cross-entropy, SGD with
    momentum 0.9, batch 128, float32; the best learning rate of each rule.

    quick: first 2,000 training / 1,000 test images, 2 epochs, learning rates
    0.03 and 0.1, seed 0.
    full: all of MNIST, 20 epochs, learning rates 0.003, 0.01, 0.03, 0.1, seeds 0
    and 1.
    """
    return _compare("kunin_mnist", mnist_task(quick), quick, progress, out_dir, _settings(quick))


def draw_kunin_mnist(results):
    """Final test accuracy and W-B^T angle of each rule at depths 2 and 6 (MNIST)."""
    return _draw(results, "MNIST")


kunin_mnist = register_figure("kunin_mnist", compute_kunin_mnist, draw_kunin_mnist, paths_in_summary=True)


def compute_kunin_cifar10(*, quick=False, progress=True, out_dir=None):
    """Kunin et al. Fig. 2 on the offline CIFAR-10 subset: test accuracy and W-B^T angle of every rule.

    3072-256x{2,6}-10 ReLU networks on the flattened, centred images; the
    settings of :func:`compute_kunin_mnist`.

    quick: first 1,000 training / 500 test images, 2 epochs, learning rate
    0.03, seed 0.
    full: the whole subset (10,000 training / 2,000 test images), 20 epochs,
    learning rates 0.003, 0.01, 0.03, 0.1, seeds 0 and 1.
    """
    return _compare("kunin_cifar10", cifar_task(quick), quick, progress, out_dir, _settings(quick, learning_rates=(0.03,)))


def draw_kunin_cifar10(results):
    """Final test accuracy and W-B^T angle of each rule at depths 2 and 6 (CIFAR-10)."""
    return _draw(results, "CIFAR-10")


kunin_cifar10 = register_figure("kunin_cifar10", compute_kunin_cifar10, draw_kunin_cifar10, paths_in_summary=True)

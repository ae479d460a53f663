"""Robustness of the learned feedback pathways: coefficients transferred across depth, and noisy updates.

Kunin et al. (2020), Secs. 5-6: coefficients tuned for one architecture and
used unchanged for another leave WM far behind backprop and IA closer, SA
and AA at backprop's level; noise added to the updates of the feedback
pathway degrades KP more than SA and AA. Here on MNIST with ReLU MLPs of
width 256 (see :mod:`~bioplastic.figures.kunin2020.shared`).
"""

from __future__ import annotations

import numpy as np

from .. import register_figure
from .._drawing import new_figure, study_title
from .shared import DEFAULT_COEFFICIENTS, RULE_COLORS, RULE_LABELS, STUDY, best_run, make_rule, mnist_task, network_for, study_results

__all__ = ["compute_kunin_noise", "compute_kunin_transfer", "draw_kunin_noise", "draw_kunin_transfer", "kunin_noise", "kunin_transfer"]

#: the rules whose coefficients are searched
TUNED = ("kp", "sa", "aa", "wm", "ia")


def _candidates(name, n, rng):
    """The default coefficients, then ``n - 1`` random ones: each default times ``10**u``, ``u ~ U(-1, 1)``."""
    default = DEFAULT_COEFFICIENTS[name]
    out = [dict(default)]
    for _ in range(n - 1):
        out.append({key: float(value * 10 ** rng.uniform(-1.0, 1.0)) for key, value in default.items()})
    return out


def _transfer_settings(quick):
    if quick:
        return {"n_epochs": 2, "learning_rates": [0.03, 0.1], "seeds": [0], "n_candidates": 3}
    return {"n_epochs": 10, "learning_rates": [0.003, 0.01, 0.03, 0.1], "seeds": [0, 1], "n_candidates": 12}


def compute_kunin_transfer(*, quick=False, progress=True, out_dir=None):
    """Kunin et al. Sec. 5: coefficients tuned at depth 2 (random search, best test accuracy), used unchanged at depth 6.

    MNIST, 784-256x{2,6}-10 ReLU networks, momentum 0.9, batch 128; each
    candidate gets the best of the learning rates. The gap of a rule is
    BP's accuracy minus its own, at each depth.

    quick: first 2,000 training / 1,000 test images, 2 epochs, learning
    rates 0.03 and 0.1, seed 0, 3 candidates per rule (the defaults and 2
    random).
    full: all of MNIST, 10 epochs, learning rates 0.003, 0.01, 0.03, 0.1,
    seeds 0 and 1, 12 candidates per rule.
    """
    task = mnist_task(quick)
    cfg = _transfer_settings(quick)
    train_kwargs = {"n_epochs": cfg["n_epochs"], "learning_rates": cfg["learning_rates"], "seeds": cfg["seeds"], "progress": progress}
    rng = np.random.default_rng(2020)
    summary, chosen = {}, {}
    bp = {depth: best_run(out_dir, f"kunin_transfer_bp_depth{depth}", network_for(task, depth), "bp", make_rule("bp"), task,
                          **train_kwargs)["final_accuracy"] for depth in (2, 6)}
    summary["bp_depth2_test_accuracy"], summary["bp_depth6_test_accuracy"] = bp[2], bp[6]
    gaps = np.full((len(TUNED), 2), np.nan)
    for i, name in enumerate(TUNED):
        scores = []
        for j, coefficients in enumerate(_candidates(name, cfg["n_candidates"], rng)):
            run = best_run(out_dir, f"kunin_transfer_{name}_candidate{j}_depth2", network_for(task, 2), name,
                           make_rule(name, **coefficients), task, **train_kwargs)
            scores.append((np.nan_to_num(run["final_accuracy"], nan=-np.inf), j, coefficients))
        best_score, _, best = max(scores, key=lambda item: (item[0], -item[1]))
        deep = best_run(out_dir, f"kunin_transfer_{name}_depth6", network_for(task, 6), name, make_rule(name, **best), task,
                        **train_kwargs)["final_accuracy"]
        chosen[name] = best
        gaps[i] = bp[2] - best_score, bp[6] - deep
        summary[f"{name}_coefficients"] = best
        summary[f"{name}_depth2_test_accuracy"] = float(best_score)
        summary[f"{name}_depth6_test_accuracy"] = float(deep)
        summary[f"{name}_depth2_gap"], summary[f"{name}_depth6_gap"] = float(gaps[i, 0]), float(gaps[i, 1])
    arrays = {"rules": np.array(TUNED), "gaps": gaps}
    config = {"task": task.describe(), "depths": (2, 6), "width": 256, "batch_size": 128, "momentum": 0.9, **cfg,
              "search": "defaults, then each coefficient times 10**U(-1, 1), rng seed 2020", "chosen": chosen}
    return study_results("kunin_transfer", quick, config, arrays, summary)


def draw_kunin_transfer(results):
    """Gap to BP (test accuracy) at depth 2, where the coefficients were tuned, and at depth 6, where they were reused."""
    arrays = results.arrays
    rules = [str(r) for r in arrays["rules"]]
    fig, (ax,) = new_figure(1, width=5.5)
    x = np.arange(len(rules))
    for i, (label, alpha) in enumerate((("tuned at depth 2", 0.45), ("reused at depth 6", 1.0))):
        ax.bar(x + (i - 0.5) * 0.4, np.nan_to_num(arrays["gaps"][:, i]), 0.4, color=[RULE_COLORS[r] for r in rules], alpha=alpha,
               edgecolor="k", linewidth=0.3, label=label)
    ax.axhline(0, color="k", linewidth=0.5)
    ax.set_xticks(x, [RULE_LABELS[r] for r in rules])
    ax.set_ylabel("BP accuracy - rule accuracy")
    ax.legend(fontsize="small")
    return study_title(fig, STUDY, "Sec. 5", "MNIST, coefficients transferred from 2 to 6 hidden layers")


kunin_transfer = register_figure("kunin_transfer", compute_kunin_transfer, draw_kunin_transfer, paths_in_summary=True)

#: the rules compared under noisy updates
NOISY = ("bp", "kp", "sa", "aa")


def _noise_settings(quick):
    if quick:
        return {"n_epochs": 2, "learning_rates": [0.1], "seeds": [0], "variances": [0.0, 0.01, 1.0], "depth": 2}
    return {"n_epochs": 10, "learning_rates": [0.01, 0.03, 0.1], "seeds": [0, 1], "variances": [0.0, 1e-3, 1e-2, 0.1, 1.0], "depth": 2}


def compute_kunin_noise(*, quick=False, progress=True, out_dir=None):
    """Kunin et al. Sec. 6: test accuracy and W-B^T angle under noisy updates of the feedback pathway, KP vs SA vs AA.

    ``NoisyUpdates(variance, on="rule_state")``: after every step each
    feedback matrix gets ``eta sqrt(variance) z``; BP (no feedback state) is
    the noise-free reference. MNIST, 784-256-256-10 ReLU networks, momentum
    0.9, batch 128, the best learning rate at each variance.

    quick: first 2,000 training / 1,000 test images, 2 epochs, learning rate
    0.1, seed 0, variances 0, 0.01, 1.
    full: all of MNIST, 10 epochs, learning rates 0.01, 0.03 and 0.1, seeds 0
    and 1, variances 0, 1e-3, 1e-2, 0.1, 1.
    """
    from ...training import NoisyUpdates

    task = mnist_task(quick)
    cfg = _noise_settings(quick)
    variances = cfg["variances"]
    accuracy = np.full((len(NOISY), len(variances)), np.nan)
    angle = np.full_like(accuracy, np.nan)
    summary = {}
    for i, name in enumerate(NOISY):
        for j, variance in enumerate(variances):
            noise = NoisyUpdates(variance=variance, on="rule_state") if variance > 0 and name != "bp" else None
            if name == "bp" and j > 0:
                accuracy[i, j], angle[i, j] = accuracy[i, 0], angle[i, 0]
                continue
            run = best_run(out_dir, f"kunin_noise_{name}_var{variance:g}".replace(".", "p"), network_for(task, cfg["depth"]), name,
                           make_rule(name), task, n_epochs=cfg["n_epochs"], learning_rates=cfg["learning_rates"],
                           seeds=cfg["seeds"], progress=progress, update_noise=noise)
            accuracy[i, j] = run["final_accuracy"]
            final = run["angles"][-1]
            angle[i, j] = float(np.mean(final[np.isfinite(final)])) if np.isfinite(final).any() else np.nan
        summary[f"{name}_test_accuracy"] = accuracy[i].tolist()
        summary[f"{name}_angle"] = angle[i].tolist()
        summary[f"{name}_accuracy_drop"] = float(accuracy[i, 0] - accuracy[i, -1])
    summary["variances"] = list(variances)
    arrays = {"rules": np.array(NOISY), "variances": np.asarray(variances, dtype=float), "accuracy": accuracy, "angle": angle}
    config = {"task": task.describe(), "width": 256, "batch_size": 128, "momentum": 0.9, **cfg, "on": "rule_state"}
    return study_results("kunin_noise", quick, config, arrays, summary)


def draw_kunin_noise(results):
    """Test accuracy and W-B^T angle against the variance of the noise on the feedback updates."""
    arrays = results.arrays
    fig, axes = new_figure(2)
    variances = arrays["variances"]
    x = np.arange(len(variances))
    for i, name in enumerate(str(r) for r in arrays["rules"]):
        style = "--" if name == "bp" else "-o"
        axes[0].plot(x, arrays["accuracy"][i], style, color=RULE_COLORS[name], label=RULE_LABELS[name])
        if name != "bp":
            axes[1].plot(x, arrays["angle"][i], style, color=RULE_COLORS[name], label=RULE_LABELS[name])
    for ax, ylabel in zip(axes, ("test accuracy", "angle W vs B$^T$ (degrees)"), strict=True):
        ax.set_xticks(x, [f"{v:g}" for v in variances])
        ax.set_xlabel("update noise variance (feedback pathway)")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize="small")
    return study_title(fig, STUDY, "Sec. 6", "MNIST, 2 hidden layers, noisy feedback updates")


kunin_noise = register_figure("kunin_noise", compute_kunin_noise, draw_kunin_noise, paths_in_summary=True)

"""Dimensionality of the hidden layers of CIFAR-10 CNNs over training, naive against corrected, for every rule.

``recordings92_dimensionality``: each hidden layer's participation ratio
and power-law exponent of its PCA spectrum at a few epochs, measured on
held-out CIFAR-10 test images as one would measure neurons (a common number
of units drawn per layer, two noisy repeats at a stated split-half
reliability; :class:`~bioplastic.figures.recordings92.shared.LayerGeometry`),
and NP's dimensionality against SGD's at a similar test accuracy.
"""

from __future__ import annotations

import numpy as np

from .. import register_figure
from .._drawing import study_title
from .shared import (
    ALPHA_ESTIMATORS,
    PR_ESTIMATORS,
    RULES,
    STUDY,
    bracket_differences,
    bracketing_records,
    measured_members,
    run_config,
    run_details,
    seed_mean,
    study_results,
    study_runs,
)

__all__ = ["compute_recordings92_dimensionality", "draw_recordings92_dimensionality", "epoch_axis", "matched_record",
           "recordings92_dimensionality"]

_ACCURACY = "test accuracy (fraction correct)"
_EPOCHS = "training time (epochs)"
_PR = "participation ratio (effective dimensions)"
_ALPHA = "power-law exponent alpha (dimensionless)"


def checkpoint_arrays(rule, history, record_epochs):
    """The records of ``history`` at the recorded epochs: ``<rule>_epochs``, ``_test_accuracy``, ``_pr_<e>``, ``_alpha_<e>``."""
    positions = np.asarray(history.epochs)
    rows = np.flatnonzero(np.isin(positions, record_epochs))
    arrays = {f"{rule}_epochs": positions[rows], f"{rule}_test_accuracy": np.asarray(history.records["test_accuracy"])[:, rows]}
    for estimator in PR_ESTIMATORS:
        arrays[f"{rule}_pr_{estimator}"] = np.asarray(history.records[f"pr_{estimator}"])[:, rows]
    for estimator in ALPHA_ESTIMATORS:
        arrays[f"{rule}_alpha_{estimator}"] = np.asarray(history.records[f"alpha_{estimator}"])[:, rows]
    return arrays


def matched_record(reference_accuracy, target):
    """The record of ``reference_accuracy`` (members x records) whose mean over members is closest to ``target``."""
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.asarray(reference_accuracy, dtype=float), axis=0)
    return int(np.nanargmin(np.abs(mean - target)))


def compute_recordings92_dimensionality(*, quick=False, progress=True, out_dir=None):
    """Each hidden layer's participation ratio and power-law exponent over training, naive and corrected, for every rule.

    CNNs trained on CIFAR-10 by SGD (backprop), NP with synaptic scaling,
    FA, SA and DANP (see :mod:`.shared`), an ensemble over seeds each; at
    the recorded epochs, every hidden layer (both feature maps and the
    all-to-all hidden layer) is observed on held-out CIFAR-10 test images
    through ``n_units`` units (a common count, drawn per member and layer)
    and two noisy repeats at split-half reliability 0.8: the naive
    participation ratio of the trial-averaged responses, the
    noise-corrected one (two repeats, distinct stimuli and units:
    :func:`~bioplastic.recordings.noise_corrected_participation_ratio`) and
    the noise-free units' (the model's own), with the power-law exponent of
    the PCA spectrum, naive (trial-averaged) and cross-validated (Stringer
    et al. 2019). Summary: each rule's final test accuracy and final
    dimensionality per layer; for every rule against SGD, SGD's recorded
    epoch whose test accuracy is closest to the rule's final one and the
    difference of the corrected participation ratios there (paired by seed;
    a percentile bootstrap interval over seeds): a negative interval means
    a lower-dimensional layer than SGD's at a similar accuracy. As SGD's
    records are whole epochs, the same differences are also given against
    both of SGD's records whose accuracies bracket the rule's
    (``<rule>_bracketing_sgd_epochs``, ``_minus_sgd_pr_<e>_bracket`` and
    ``_bracket_ci``, one entry per record), and
    ``<rule>_lower_dimensional_than_sgd_bracket`` says where the interval
    is below 0 at both.

    quick: the first 1,000 training / 300 test images of the tarball in
    ``BIOPLASTIC_DATA_DIR`` (offline: the JPEG-lossy subset), the CNN
    3072-1176-200-32-10, SGD, NP, SA and DANP (FA in full mode only),
    batch 20, 3 epochs (recorded at epochs 0, 1 and 3), seeds 0 and 1,
    dimensionality on the first 200 test images, 32 units per layer,
    exponents fitted over ranks 2-16, 20 bootstrap samples.
    full: the first 5,000 training / 1,000 test images, the same CNN, all
    five rules, batch 20, SGD, FA, SA and DANP 10 epochs, NP 60 (15,000
    steps, at its best rate, 3e-4), seeds 0-4, recorded at epochs 0, 1, 2,
    5, 10, 20, 40 and 60, dimensionality on the first 1,000 test images, 32
    units per layer, ranks 2-16, 1,000 bootstrap samples (about half an
    hour on two cores; checkpointed).
    """
    context = study_runs(quick, out_dir, progress)
    cfg, runs = context["cfg"], context["runs"]
    arrays = {"layer_names": np.array(context["layer_names"]), "rules": np.array(list(runs))}
    summary = {"layers": context["layer_names"], "n_units": cfg["n_units"], "reliability": cfg["reliability"]}
    for rule, (_, history) in runs.items():
        arrays.update(checkpoint_arrays(rule, history, cfg["record_epochs"]))
        accuracy = arrays[f"{rule}_test_accuracy"]
        summary[f"{rule}_final_test_accuracy"] = float(seed_mean(accuracy[:, -1]))
        summary[f"{rule}_diverged_fraction"] = float(np.mean(history.diverged))
        # members whose layer is not silent at the end (the means below are over them)
        summary[f"{rule}_measured_members"] = measured_members(arrays[f"{rule}_pr_clean"][:, -1]).tolist()
        for estimator in PR_ESTIMATORS:
            summary[f"{rule}_final_pr_{estimator}"] = seed_mean(arrays[f"{rule}_pr_{estimator}"][:, -1]).tolist()
        for estimator in ALPHA_ESTIMATORS:
            summary[f"{rule}_final_alpha_{estimator}"] = seed_mean(arrays[f"{rule}_alpha_{estimator}"][:, -1]).tolist()
    if "sgd" in runs:
        for rule in runs:
            if rule == "sgd":
                continue
            k = matched_record(arrays["sgd_test_accuracy"], summary[f"{rule}_final_test_accuracy"])
            summary[f"{rule}_matched_sgd_epoch"] = int(arrays["sgd_epochs"][k])
            summary[f"{rule}_matched_sgd_test_accuracy"] = float(seed_mean(arrays["sgd_test_accuracy"][:, k]))
            # SGD's two records whose accuracies bracket the rule's final one: the matched accuracy lies between them
            bracket = bracketing_records(arrays["sgd_test_accuracy"], summary[f"{rule}_final_test_accuracy"])
            summary[f"{rule}_bracketing_sgd_epochs"] = [int(arrays["sgd_epochs"][b]) for b in bracket]
            for estimator in ("naive", "corrected"):  # paired by seed, against SGD's closest record and the two bracketing ones
                key = f"{rule}_minus_sgd_pr_{estimator}"
                means, intervals = bracket_differences(arrays[f"{rule}_pr_{estimator}"][:, -1], arrays[f"sgd_pr_{estimator}"], [k, *bracket],
                                                       n_bootstrap=cfg["n_bootstrap"], confidence=cfg["confidence"])
                summary[key], summary[f"{key}_ci"] = means[0], intervals[0]
                summary[f"{key}_bracket"], summary[f"{key}_bracket_ci"] = means[1:], intervals[1:]
            summary[f"{rule}_lower_dimensional_than_sgd"] = (np.asarray(summary[f"{rule}_minus_sgd_pr_corrected_ci"][1]) < 0).tolist()
            highs = np.array([high for _, high in summary[f"{rule}_minus_sgd_pr_corrected_bracket_ci"]])
            summary[f"{rule}_lower_dimensional_than_sgd_bracket"] = (highs < 0).all(axis=0).tolist()
    return study_results("recordings92_dimensionality", quick, run_config(context), arrays, summary)


def _curve(ax, epochs, values, color, linestyle, label):
    """Mean over members (finite values) with a min-max band, against the recorded epochs."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    keep = finite.any(axis=0)
    if not keep.any():
        return
    masked = np.where(finite, values, np.nan)[:, keep]
    ax.plot(epochs[keep], np.nanmean(masked, axis=0), color=color, linestyle=linestyle, label=label, marker="o", markersize=2.5)
    ax.fill_between(epochs[keep], np.nanmin(masked, axis=0), np.nanmax(masked, axis=0), color=color, alpha=0.12, linewidth=0)


def epoch_axis(ax, epochs):
    """A symmetric-log epoch axis (epoch 0 included) with a plain tick at every recorded epoch."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ticks = sorted({int(e) for values in epochs for e in np.asarray(values).ravel()})
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(_EPOCHS)


def draw_recordings92_dimensionality(results):
    """Per hidden layer (rows): participation ratio and exponent over training (solid: corrected, dashed: naive), and the final PR against accuracy."""
    from matplotlib.figure import Figure

    arrays, config, summary = results.arrays, results.metadata["config"], results.summary
    names = [str(n) for n in arrays["layer_names"]]
    rules = [str(r) for r in arrays["rules"]]
    fig = Figure(figsize=(13.5, 3.1 * len(names) + 0.8), layout="constrained")
    axes = fig.subplots(len(names), 3, squeeze=False)
    for j, name in enumerate(names):
        pr_ax, alpha_ax, final_ax = axes[j]
        for rule in rules:
            label, color = RULES[rule]
            epochs = np.asarray(arrays[f"{rule}_epochs"], dtype=float)
            _curve(pr_ax, epochs, arrays[f"{rule}_pr_corrected"][:, :, j], color, "-", f"{label}, corrected")
            _curve(pr_ax, epochs, arrays[f"{rule}_pr_naive"][:, :, j], color, "--", f"{label}, naive")
            _curve(alpha_ax, epochs, arrays[f"{rule}_alpha_cv"][:, :, j], color, "-", f"{label}, cross-validated")
            _curve(alpha_ax, epochs, arrays[f"{rule}_alpha_naive"][:, :, j], color, "--", f"{label}, naive")
            final_ax.scatter(arrays[f"{rule}_test_accuracy"][:, -1], arrays[f"{rule}_pr_corrected"][:, -1, j], color=color, s=18,
                             label=label)
        if "sgd" in rules:  # SGD's whole trajectory: where the other rules' accuracies meet it
            final_ax.plot(np.nanmean(arrays["sgd_test_accuracy"], axis=0), np.nanmean(arrays["sgd_pr_corrected"][:, :, j], axis=0),
                          color=RULES["sgd"][1], linewidth=0.8, linestyle=":", label="SGD during training")
        for ax in (pr_ax, alpha_ax):
            epoch_axis(ax, [arrays[f"{rule}_epochs"] for rule in rules])
        pr_ax.set_ylabel(_PR)
        alpha_ax.set_ylabel(_ALPHA)
        final_ax.set_xlabel(_ACCURACY)
        final_ax.set_ylabel("corrected PR (effective dimensions)")
        pr_ax.set_title(f"{name}: participation ratio ({summary['n_units']} units)", fontsize=9)
        alpha_ax.set_title(f"{name}: PCA spectrum exponent", fontsize=9)
        final_ax.set_title(f"{name}: after training, per seed", fontsize=9)
    axes[0, 0].legend(fontsize="xx-small", ncol=2)
    axes[0, 2].legend(fontsize="xx-small")
    study_title(fig, STUDY, "dimensionality", "hidden layers of CIFAR-10 CNNs over training, naive against noise-corrected",
                run_details(results, f"{config['n_dim_stimuli']} test images, {summary['n_units']} units per layer, two repeats at "
                                     f"reliability {summary['reliability']:g}; {len(config['seeds'])} seed(s), band: min-max"))
    return fig


recordings92_dimensionality = register_figure("recordings92_dimensionality", compute_recordings92_dimensionality,
                                              draw_recordings92_dimensionality, paths_in_summary=True)

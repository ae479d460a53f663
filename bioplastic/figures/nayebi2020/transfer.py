"""How far identification carries: to held-out architectures, to subsampled and noisy measurements, to partial trajectories.

The runs of all eight rule classes of the mode's data set
(:mod:`~bioplastic.figures.nayebi2020.shared`), classified by the linear
SVM; see :func:`compute_identify_transfer`.
"""

from __future__ import annotations

import numpy as np

from ...identify.classification import FEATURE_FAMILIES, by_condition, by_time_points, evaluate, held_out_architecture
from .. import register_figure
from .._drawing import new_figure, study_title
from .shared import (
    FAMILY_LABELS,
    STUDY,
    dataset,
    design_config,
    evaluation_options,
    mode_details,
    settings,
    split_accuracies,
    study_results,
)

__all__ = ["CLASSIFIER", "compute_identify_transfer", "draw_identify_transfer", "identify_transfer"]

#: the classifier of every protocol of the figure
CLASSIFIER = "svm"
#: the families compared under subsampling and noise
_FAMILIES = tuple(FEATURE_FAMILIES)
_FAMILY_COLORS = {"weights": "C3", "activities": "C0", "activity_changes": "C2"}


def compute_identify_transfer(*, quick=False, progress=True, out_dir=None, workers=None, scheduler=None):
    """Identification of the eight rule classes beyond the runs it was fitted to (the linear SVM; chance 1/8).

    All eight classes (SGD, Adam, FA, IA, NP, DANP, REINFORCE, WP): in the
    quick run the paper's four alone are told apart mostly by pair
    (:func:`~bioplastic.figures.nayebi2020.rules.compute_identify_rules`),
    which leaves too little to degrade.

    * Held-out architecture: fitted on the runs of every architecture but
      one, tested on the runs of that one (one split each; the features
      are those of the layer positions every architecture has), against the
      accuracy on random splits of all runs.
    * Subsampling and measurement noise: fitted and tested within each
      measurement condition (each run measured on a fraction of its units
      and synapses, or with Gaussian noise of a standard deviation added to
      every measured value: each synapse, each rate on each stimulus, each
      summed Jacobian; :data:`~bioplastic.figures.nayebi2020.shared.QUICK_CONDITIONS`,
      :data:`~bioplastic.figures.nayebi2020.shared.FULL_CONDITIONS`), from
      each observable family alone. The paper's claim: statistics of the
      activities are more robust than those of the weights. Per family the
      summary gives ``<family>_degraded_accuracy``, the mean accuracy over
      the degraded conditions, ``<family>_drop``, the accuracy without
      degradation minus it, and ``<family>_retained``, the fraction of the
      accuracy above chance that degradation leaves,
      ``(degraded - chance) / (full - chance)`` (0 for a family at or below
      chance without degradation); ``activities_more_robust`` is whether
      the activities retain more than the weights.
    * Partial trajectories: only the first 10%, 25%, 50% of the time points
      (at least one), against all of them.

    Summary: ``in_distribution_accuracy``, ``held_out_<architecture>_accuracy``,
    ``<family>_<condition>_accuracy``, ``<family>_degraded_accuracy``,
    ``<family>_drop``, ``<family>_retained``, ``activities_more_robust``,
    ``first_<fraction>_accuracy``, ``chance``, ``n_runs``, ``n_splits``.

    quick: the quick student-teacher data set (128 runs, architectures
    mlp-1x16 and mlp-2x32, 11 time points), conditions
    keep 1, 0.5, 0.1, 0.02 and noise 0.1, 1 (standard deviations, in the
    units of the measured weights and rates), 3 splits, ``C = 0.1`` (no
    inner search). full: the MNIST MLPs (384 runs, three architectures, 21
    time points), conditions keep 1, 0.5, 0.1, 0.02 and noise 0.1, 0.3, 1,
    10 splits, the inner search over ``C``.
    """
    cfg = settings(quick=quick)
    data, plan = dataset(quick=quick, out_dir=out_dir, progress=progress, workers=workers, scheduler=scheduler)
    full = data[data["condition"] == "full"]
    options = evaluation_options(cfg, classifier=CLASSIFIER)
    model = {k: options[k] for k in ("classifier", "inner_folds", "grid")}

    reference = evaluate(full, **options)
    architectures = list(plan.architectures)
    held_out = [held_out_architecture(full, test=a, seed=0, **model) for a in architectures]

    conditions = [c["label"] for c in plan.conditions]
    robustness = {f: by_condition(data, families=f, **options) for f in _FAMILIES}
    condition_accuracy = np.stack([split_accuracies(robustness[f][c] for c in conditions) for f in _FAMILIES])  # (families, conditions, splits)
    fractions = cfg["time_fractions"]
    partial = by_time_points(full, time_points={f"{f:g}": f for f in fractions}, **options)
    time_accuracy = split_accuracies(partial.values())
    n_time = [len(partial[f"{f:g}"].features["time_point"].unique()) for f in fractions]

    arrays = {
        "classes": np.array(reference.classes), "reference_accuracy": np.asarray(reference.accuracy, dtype=float),
        "architectures": np.array(architectures), "held_out_accuracy": np.array([float(r.accuracy[0]) for r in held_out]),
        "held_out_n_test": np.array([int(r.n_test[0]) for r in held_out]),
        "families": np.array(_FAMILIES), "conditions": np.array(conditions),
        "keep_fraction": np.array([c["keep_fraction"] for c in plan.conditions]),
        "measurement_noise": np.array([c["measurement_noise"] for c in plan.conditions]),
        "condition_accuracy": condition_accuracy,
        "time_fractions": np.array(fractions, dtype=float), "n_time_points": np.array(n_time), "time_accuracy": time_accuracy,
    }
    summary = {"in_distribution_accuracy": float(np.mean(reference.accuracy)), "chance": reference.chance, "classifier": CLASSIFIER,
               "n_runs": reference.n_runs, "n_splits": reference.n_splits}
    for a, r in zip(architectures, held_out, strict=True):
        summary[f"held_out_{a}_accuracy"] = float(r.accuracy[0])
    degraded = np.array([label != "full" for label in conditions])
    for i, f in enumerate(_FAMILIES):
        means = condition_accuracy[i].mean(axis=1)
        for c, value in zip(conditions, means, strict=True):
            summary[f"{f}_{c}_accuracy"] = float(value)
        undegraded, rest = float(means[~degraded].mean()), float(means[degraded].mean())
        above = undegraded - reference.chance
        summary[f"{f}_degraded_accuracy"] = rest
        summary[f"{f}_drop"] = undegraded - rest
        summary[f"{f}_retained"] = (rest - reference.chance) / above if above > 0 else 0.0
    summary["activities_more_robust"] = bool(summary["activities_retained"] > summary["weights_retained"])
    for f, values in zip(fractions, time_accuracy, strict=True):
        summary[f"first_{f:g}_accuracy"] = float(values.mean())
    config = design_config(plan, {**cfg, "classifier": CLASSIFIER, "rule_classes": list(plan.sweeps)})
    return study_results("identify_transfer", quick, config, arrays, summary)


def _mean_std(values):
    values = np.asarray(values, dtype=float)
    return values.mean(axis=-1), (values.std(axis=-1, ddof=1) if values.shape[-1] > 1 else np.zeros(values.shape[:-1]))


def draw_identify_transfer(results):
    """Held-out architectures; accuracy against the fraction of units kept and against the measurement noise per family; partial trajectories."""
    arrays, meta = results.arrays, results.metadata
    summary = meta["summary"]
    chance = summary["chance"]
    fig, (held, keep, noise, time) = new_figure(4, width=3.6, height=4.3)

    architectures = [str(a) for a in arrays["architectures"]]
    held.bar(range(len(architectures)), arrays["held_out_accuracy"], color="C1", edgecolor="k", linewidth=0.4, label="held out")
    mean, std = _mean_std(arrays["reference_accuracy"])
    held.axhspan(mean - std, mean + std, color="C0", alpha=0.15, linewidth=0)
    held.axhline(mean, color="C0", linewidth=1.0, label="random splits of all runs")
    held.axhline(chance, color="0.3", linestyle="--", linewidth=0.9, label="chance")
    held.set_xticks(range(len(architectures)), architectures)
    held.set_xlabel("test architecture (fitted on the others)")
    held.set_ylabel("test accuracy (fraction of runs)")
    held.set_title("held-out architecture", fontsize="medium")

    keep_fraction, noise_level = np.asarray(arrays["keep_fraction"]), np.asarray(arrays["measurement_noise"])
    subsampled = np.flatnonzero(noise_level == 0)
    subsampled = subsampled[np.argsort(keep_fraction[subsampled])]
    noisy = np.flatnonzero(keep_fraction == 1)
    noisy = noisy[np.argsort(noise_level[noisy])]
    accuracy = np.asarray(arrays["condition_accuracy"])
    for i, family in enumerate(str(f) for f in arrays["families"]):
        color = _FAMILY_COLORS.get(family, f"C{i}")
        for ax, index, x in ((keep, subsampled, keep_fraction), (noise, noisy, noise_level)):
            mean, std = _mean_std(accuracy[i, index])
            ax.errorbar(x[index], mean, yerr=std, color=color, marker="o", markersize=4, capsize=2, label=FAMILY_LABELS[family])
    keep.set_xscale("log")
    keep.set_xlabel("units and synapses kept (fraction)")
    keep.set_title("subsampling (no noise)", fontsize="medium")
    noise.set_xscale("symlog", linthresh=0.1)
    noise.set_xlim(left=0)
    noise.set_xlabel("noise std (units of weights, rates)")
    noise.set_title("measurement noise (every unit)", fontsize="medium")

    fractions = np.asarray(arrays["time_fractions"])
    mean, std = _mean_std(arrays["time_accuracy"])
    time.errorbar(fractions, mean, yerr=std, color="k", marker="o", markersize=4, capsize=2, label="all observables")
    for f, n, m in zip(fractions, arrays["n_time_points"], mean, strict=True):
        time.annotate(f"{int(n)}", (f, m), textcoords="offset points", xytext=(7, 4), ha="left", fontsize="x-small")
    time.set_xlabel("time points used, from the start (fraction)")
    time.set_title("partial trajectories (labels: time points)", fontsize="medium")

    for ax in (held, keep, noise, time):
        ax.set_ylim(0, 1.05)
        if ax is not held:
            ax.axhline(chance, color="0.3", linestyle="--", linewidth=0.9, label="chance")
            ax.set_ylabel("test accuracy (fraction of runs)")
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    verdict = "activities" if summary["activities_more_robust"] else "weights"
    details = (f"{mode_details(meta)}; linear SVM; under degradation the {verdict} keep more of their accuracy above chance "
               f"(weights {summary['weights_retained']:.0%}, activities {summary['activities_retained']:.0%})")
    return study_title(fig, STUDY, "identify_transfer", "eight rules identified across architectures, measurements and time", details)


identify_transfer = register_figure("identify_transfer", compute_identify_transfer, draw_identify_transfer, paths_in_summary=True)

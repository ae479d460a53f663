"""The extension: can the rules driven by a scalar reward signal be told from the gradient-based rules, and from each other?

All eight rule classes of the mode's data set
(:mod:`~bioplastic.figures.nayebi2020.shared`): SGD, Adam, FA and IA (the
paper's), NP, DANP, REINFORCE and weight perturbation (WP); see
:func:`compute_identify_neuromodulated`.
"""

from __future__ import annotations

import numpy as np

from ...identify.classification import evaluate
from .. import register_figure
from .._drawing import new_figure, study_title
from .shared import (
    CLASS_LABELS,
    CLASSIFIER_LABELS,
    CLASSIFIERS,
    NEUROMODULATED,
    PAPER_CLASSES,
    STUDY,
    dataset,
    design_config,
    evaluation_options,
    mode_details,
    plot_confusion,
    plot_grouped_bars,
    restrict,
    settings,
    split_accuracies,
    study_results,
)

__all__ = ["GROUPS", "TASKS", "compute_identify_neuromodulated", "draw_identify_neuromodulated", "identify_neuromodulated"]

#: the identification tasks of the figure, in the order they are drawn
TASKS = ("eight_rules", "neuromodulated_vs_gradient", "among_neuromodulated")
_TASK_LABELS = {"eight_rules": "all eight rules", "neuromodulated_vs_gradient": "neuromodulated\nvs gradient-based",
                "among_neuromodulated": "NP, DANP,\nREINFORCE, WP"}
#: the labels of the binary task
GROUPS = {"gradient_based": PAPER_CLASSES, "neuromodulated": NEUROMODULATED}


def _binary(data):
    """The runs relabelled by their group (``"neuromodulated"`` or ``"gradient_based"``)."""
    group = {c: g for g, classes in GROUPS.items() for c in classes}
    return data.assign(rule_class=data["rule_class"].map(group))


def compute_identify_neuromodulated(*, quick=False, progress=True, out_dir=None, workers=None, scheduler=None):
    """Identification among all eight rule classes, neuromodulated against gradient-based, and among the neuromodulated rules.

    Three tasks, each for the linear SVM, the random forest and the Conv1D
    MLP on all observables (measured on every unit), on class-stratified
    75/25 splits: the eight classes (chance 1/8); two groups,
    ``"neuromodulated"`` (NP, DANP, REINFORCE, WP: learning driven by a
    broadcast scalar reward signal) against ``"gradient_based"`` (SGD,
    Adam, FA, IA: an error vector per neuron; chance 1/2, the groups hold
    equally many runs); the four neuromodulated classes alone (chance 1/4).
    The best classifier of the eight-class task gives the confusion matrix;
    the linear SVM on shuffled labels of the eight classes is the control.
    Summary: ``<task>_<classifier>_accuracy`` (mean over splits) and
    ``_std``, ``<task>_chance``, ``best_classifier``, ``best_accuracy``,
    ``shuffled_accuracy``, ``confused_across_groups`` (the fraction of the
    eight-class test runs of the best classifier given a label of the
    other group), ``n_runs``, ``n_splits``, ``n_test`` (test runs per split).

    quick: the quick student-teacher data set (128 runs, tanh MLPs
    10-16-3 and 10-32-32-3, 11 time points), 3 splits, one candidate per
    classifier.
    full: the MNIST MLPs (384 runs, one to three hidden layers, 21 time
    points), 10 splits, the default grids.
    """
    cfg = settings(quick=quick)
    data, plan = dataset(quick=quick, out_dir=out_dir, progress=progress, workers=workers, scheduler=scheduler)
    data = data[data["condition"] == "full"]
    tasks = {"eight_rules": data, "neuromodulated_vs_gradient": _binary(data), "among_neuromodulated": restrict(data, NEUROMODULATED)}
    results = {(t, c): evaluate(tasks[t], **evaluation_options(cfg, classifier=c)) for t in TASKS for c in CLASSIFIERS}
    accuracy = split_accuracies(results.values()).reshape(len(TASKS), len(CLASSIFIERS), -1)
    best = CLASSIFIERS[int(np.argmax(accuracy[0].mean(axis=1)))]
    first = results[("eight_rules", best)]
    shuffled = evaluate(data, shuffle_labels=True, **evaluation_options(cfg, classifier="svm"))
    group_of = np.array([0 if c in PAPER_CLASSES else 1 for c in first.classes])
    across = float(first.confusion[group_of[:, None] != group_of[None, :]].sum() / first.confusion.sum())
    arrays = {"tasks": np.array(TASKS), "classifiers": np.array(CLASSIFIERS), "classes": np.array(first.classes), "accuracy": accuracy,
              "chance": np.array([results[(t, best)].chance for t in TASKS]), "confusion": first.confusion,
              "shuffled_accuracy": np.asarray(shuffled.accuracy, dtype=float)}
    summary = {}
    for i, t in enumerate(TASKS):
        summary[f"{t}_chance"] = results[(t, best)].chance
        for j, c in enumerate(CLASSIFIERS):
            summary[f"{t}_{c}_accuracy"] = float(accuracy[i, j].mean())
            summary[f"{t}_{c}_accuracy_std"] = float(np.std(accuracy[i, j], ddof=1))
    summary.update(best_classifier=best, best_accuracy=float(accuracy[0, CLASSIFIERS.index(best)].mean()),
                   shuffled_accuracy=float(np.mean(shuffled.accuracy)), confused_across_groups=across, n_runs=first.n_runs,
                   n_splits=first.n_splits, n_test=int(first.n_test[0]))
    config = design_config(plan, {**cfg, "rule_classes": list(plan.sweeps), "groups": {g: list(c) for g, c in GROUPS.items()}})
    return study_results("identify_neuromodulated", quick, config, arrays, summary)


def draw_identify_neuromodulated(results):
    """Test accuracy of the three tasks per classifier (error bars: std over splits; dashed: chance of each), and the eight-class confusion matrix."""
    arrays, meta = results.arrays, results.metadata
    summary = meta["summary"]
    fig, (bars, confusion) = new_figure(2, width=5.4, height=4.4)
    classifiers = [str(c) for c in arrays["classifiers"]]
    plot_grouped_bars(bars, arrays["accuracy"], groups=[_TASK_LABELS[str(t)] for t in arrays["tasks"]],
                      bars=[CLASSIFIER_LABELS[c] for c in classifiers], colors=["C0", "C2", "C4"], chance=arrays["chance"])
    bars.axhline(summary["shuffled_accuracy"], color="0.6", linestyle=":", linewidth=0.9, label="linear SVM, shuffled labels (8 rules)")
    bars.set_xlabel("identification task (classes)")
    bars.set_title("neuromodulated rules among gradient-based ones", fontsize="medium")
    bars.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    classes = [str(c) for c in arrays["classes"]]
    best = summary["best_classifier"]
    plot_confusion(confusion, arrays["confusion"], classes,
                   title=f"{CLASSIFIER_LABELS[best]}, eight rules (accuracy {summary['best_accuracy']:.2f})")
    n_gradient = sum(c in PAPER_CLASSES for c in classes)
    for edge in (n_gradient - 0.5,):
        confusion.axhline(edge, color="k", linewidth=1.2)
        confusion.axvline(edge, color="k", linewidth=1.2)
    names = ", ".join(CLASS_LABELS[c] for c in NEUROMODULATED)
    details = f"{mode_details(meta)}; across the groups: {summary['confused_across_groups']:.0%} of the test runs"
    return study_title(fig, STUDY, "identify_neuromodulated", f"telling {names} from SGD, Adam, FA, IA", details)


identify_neuromodulated = register_figure("identify_neuromodulated", compute_identify_neuromodulated, draw_identify_neuromodulated,
                                          paths_in_summary=True)

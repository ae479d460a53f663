"""Which of the paper's four rules trained a network: accuracy per classifier and observable family, and the confusion matrix.

The runs of SGD, Adam, feedback alignment and information alignment of the
mode's data set (:mod:`~bioplastic.figures.nayebi2020.shared`), measured
without subsampling or noise; see :func:`compute_identify_rules`.
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
    FAMILIES,
    FAMILY_LABELS,
    PAPER_CLASSES,
    STUDY,
    dataset,
    design_config,
    evaluation_options,
    family_option,
    mode_details,
    plot_confusion,
    plot_grouped_bars,
    restrict,
    settings,
    split_accuracies,
    study_results,
)

__all__ = ["compute_identify_rules", "draw_identify_rules", "identify_rules"]


def compute_identify_rules(*, quick=False, progress=True, out_dir=None, workers=None, scheduler=None):
    """Identification of SGD, Adam, FA and IA from observables: every classifier on every observable family.

    The linear SVM, the random forest and the Conv1D MLP, each on all
    observables and on each family alone (weights, activities, activity
    changes), on the same class-stratified 75/25 splits of the runs of the
    four classes (chance 0.25); the features are every observable at every
    layer position and time point, measured on every unit (condition
    ``"full"``). The best classifier on all observables gives the confusion
    matrix; the linear SVM on shuffled labels is the control. Summary:
    ``<classifier>_<family>_accuracy`` (mean over splits) and ``_std``,
    ``best_classifier``, ``best_accuracy``, ``chance``,
    ``shuffled_accuracy``, ``within_pairs`` (the fraction of the test runs
    of the best classifier labelled within their pair, SGD/Adam or FA/IA),
    ``n_runs``, ``n_splits``, ``n_test`` (test runs per split).

    quick: the quick student-teacher data set (tanh MLPs 10-16-3 and
    10-32-32-3, 11 time points), its 64 runs of the four classes, 3 splits,
    one candidate per classifier. In its 200 learning steps the pairs are
    told apart but not their members: IA's feedback weights learn at a rate
    ``alpha = 2e-3`` times the learning rate and stay close to FA's fixed
    ones, so an IA run is a near twin of the FA run with its seed and
    learning rate (and a twin among the training runs carries the other
    label), and Adam's statistics at these rates follow SGD's. full: MLPs of
    one to three hidden layers on MNIST (21 time points, 2,000 learning
    steps), 192 runs of the four classes, 10 splits, the default grids.
    """
    cfg = settings(quick=quick)
    data, plan = dataset(quick=quick, out_dir=out_dir, progress=progress, workers=workers, scheduler=scheduler)
    data = restrict(data[data["condition"] == "full"], PAPER_CLASSES)
    results = {(c, f): evaluate(data, families=family_option(f), **evaluation_options(cfg, classifier=c)) for c in CLASSIFIERS for f in FAMILIES}
    accuracy = split_accuracies(results.values()).reshape(len(CLASSIFIERS), len(FAMILIES), -1)
    best = CLASSIFIERS[int(np.argmax(accuracy[:, 0].mean(axis=1)))]
    shuffled = evaluate(data, shuffle_labels=True, **evaluation_options(cfg, classifier="svm"))
    first = results[(best, "all")]
    arrays = {"classifiers": np.array(CLASSIFIERS), "families": np.array(FAMILIES), "classes": np.array(first.classes),
              "accuracy": accuracy, "confusion": first.confusion, "shuffled_accuracy": np.asarray(shuffled.accuracy, dtype=float)}
    summary = {f"{c}_{f}_{stat}": float(fn(accuracy[i, j])) for i, c in enumerate(CLASSIFIERS) for j, f in enumerate(FAMILIES)
               for stat, fn in (("accuracy", np.mean), ("accuracy_std", lambda a: np.std(a, ddof=1)))}
    pair = np.array([c in ("sgd", "adam") for c in first.classes])
    within = float(first.confusion[pair[:, None] == pair[None, :]].sum() / first.confusion.sum())
    summary.update(within_pairs=within, best_classifier=best, best_accuracy=float(accuracy[CLASSIFIERS.index(best), 0].mean()), chance=first.chance,
                   shuffled_accuracy=float(np.mean(shuffled.accuracy)), n_runs=first.n_runs, n_splits=first.n_splits,
                   n_test=int(first.n_test[0]),
                   n_features=int(len(first.features)))
    return study_results("identify_rules", quick, design_config(plan, {**cfg, "rule_classes": list(PAPER_CLASSES)}), arrays, summary)


def draw_identify_rules(results):
    """Test accuracy per observable family and classifier (error bars: std over splits; dashed: chance), and the confusion matrix."""
    arrays, meta = results.arrays, results.metadata
    summary = meta["summary"]
    fig, (bars, confusion) = new_figure(2, width=5.2, height=4.0)
    classifiers = [str(c) for c in arrays["classifiers"]]
    families = [FAMILY_LABELS[str(f)] for f in arrays["families"]]
    accuracy = np.asarray(arrays["accuracy"]).transpose(1, 0, 2)  # (families, classifiers, splits)
    plot_grouped_bars(bars, accuracy, groups=families, bars=[CLASSIFIER_LABELS[c] for c in classifiers],
                      colors=["C0", "C2", "C4"], chance=summary["chance"])
    bars.axhline(summary["shuffled_accuracy"], color="0.6", linestyle=":", linewidth=0.9, label="linear SVM, shuffled labels")
    bars.set_xlabel("observables used (family)")
    bars.set_title("rule identification: SGD, Adam, FA, IA", fontsize="medium")
    bars.legend(fontsize="x-small", loc="upper right", ncol=2)
    best = summary["best_classifier"]
    plot_confusion(confusion, arrays["confusion"], [str(c) for c in arrays["classes"]],
                   title=f"{CLASSIFIER_LABELS[best]}, all observables (accuracy {summary['best_accuracy']:.2f})")
    names = ", ".join(CLASS_LABELS[str(c)] for c in arrays["classes"])
    return study_title(fig, STUDY, "identify_rules", f"which of {names} trained a network, from its observables", mode_details(meta))


identify_rules = register_figure("identify_rules", compute_identify_rules, draw_identify_rules, paths_in_summary=True)

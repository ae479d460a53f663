"""Settings and steps the Nayebi et al. (2020) figures share: the designs, the data sets, the classifiers, the drawing.

Conventions:

* rule classes: those of :data:`~bioplastic.identify.generation.RULE_CLASSES`;
  the paper's four (:data:`PAPER_CLASSES`: SGD with momentum, Adam, feedback
  alignment, information alignment) and the four this package adds
  (:data:`NEUROMODULATED`: NP, DANP, REINFORCE, weight perturbation, each
  driven by a broadcast scalar reward signal; REINFORCE's readout error is
  estimated from one and then carried back like backprop's);
* the quick data set (:func:`design`, ``quick=True``): the quick design of
  :func:`~bioplastic.identify.generation.quick_design` (tanh MLPs with
  hidden widths ``(16,)`` and ``(32, 32)`` on the student-teacher
  regression, the two learning rates of
  :data:`~bioplastic.identify.generation.QUICK_LEARNING_RATES` per class)
  with one batch size (10), four seeds and 10 epochs (11 time points): 128
  runs in 16 ensembles of 8, under the measurement conditions of
  :data:`QUICK_CONDITIONS`. One batch size: two runs that differ only in
  their batch size (the same seed, initial weights and learning rate) are
  near twins, and a twin among the training runs would identify its test
  twin, so the seeds vary instead;
* the full data set: MLPs on MNIST (the first 10,000 training and 1,000 test
  images; the probe set is the first 100 test images, the authors' count),
  ReLU hidden layers (He-normal initial weights), softmax readout,
  cross-entropy loss, float32, batch 100, 20 epochs (21 time points, the
  authors' count), eight seeds, the learning rates of
  :data:`FULL_LEARNING_RATES`, three architectures (hidden widths ``(256,)``,
  ``(256, 256)`` and ``(512, 512, 512)``: one to three hidden layers), 384
  runs, under :data:`FULL_CONDITIONS`. The paper trained convolutional
  networks (AlexNet, ResNets and others) on ImageNet, CIFAR-10 and a speech
  task; these MLPs are the same study at a size one machine trains: about
  four hours serially on two cores (estimated from one epoch of the largest
  ensemble, 16 members of 784-512-512-512-10: 50 s, measurements included);
* classifiers (:mod:`bioplastic.identify.classification`): the linear SVM,
  the random forest and the Conv1D-like windowed MLP, on class-stratified
  75/25 splits of the runs (10 in the full mode as in the paper, 3 in the
  quick mode), their hyperparameters picked by inner grid searches over the
  default grids in the full mode, one candidate each in the quick mode
  (:func:`settings`).

The data set of a mode is generated once (:func:`dataset`) into
``<out_dir>/nayebi2020_<mode>/`` and read back by every figure of that mode
(a rerun, or the next figure, trains nothing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ...identify.classification import FEATURE_FAMILIES
from ...identify.generation import IdentificationDesign, generate_dataset, quick_design
from ...io import to_jsonable
from ...sweeps import result_path
from .. import FigureResults

__all__ = [
    "CLASSIFIERS",
    "CLASSIFIER_LABELS",
    "CLASS_LABELS",
    "FAMILIES",
    "FAMILY_LABELS",
    "FULL_CONDITIONS",
    "FULL_LEARNING_RATES",
    "NEUROMODULATED",
    "PAPER_CLASSES",
    "QUICK_CONDITIONS",
    "STUDY",
    "dataset",
    "dataset_dir",
    "design",
    "design_config",
    "evaluation_options",
    "family_option",
    "mode_details",
    "plot_confusion",
    "plot_grouped_bars",
    "restrict",
    "settings",
    "split_accuracies",
    "study_results",
]

#: how the figures name the study
STUDY = "Nayebi et al. 2020"

#: the paper's four rule classes
PAPER_CLASSES = ("sgd", "adam", "feedback_alignment", "information_alignment")
#: the rule classes driven by a broadcast scalar reward signal
NEUROMODULATED = ("node_perturbation", "danp", "reinforce", "weight_perturbation")
#: short names of the rule classes in the figures
CLASS_LABELS = {"sgd": "SGD", "adam": "Adam", "feedback_alignment": "FA", "information_alignment": "IA", "node_perturbation": "NP",
                "danp": "DANP", "reinforce": "REINFORCE", "weight_perturbation": "WP"}
#: the classifiers, in the order they are drawn
CLASSIFIERS = ("svm", "forest", "conv1d")
CLASSIFIER_LABELS = {"svm": "linear SVM", "forest": "random forest", "conv1d": "Conv1D MLP"}
#: the observable families: all of them together, then each alone
FAMILIES = ("all", *FEATURE_FAMILIES)
FAMILY_LABELS = {"all": "all", "weights": "weights", "activities": "activities", "activity_changes": "activity changes"}

#: measurement conditions of the quick data set: unit and synapse subsampling without noise, then noise on every unit
QUICK_CONDITIONS = tuple([{"keep_fraction": k, "measurement_noise": 0.0} for k in (1.0, 0.5, 0.1, 0.02)]
                         + [{"keep_fraction": 1.0, "measurement_noise": s} for s in (0.1, 1.0)])
#: measurement conditions of the full data set
FULL_CONDITIONS = tuple([{"keep_fraction": k, "measurement_noise": 0.0} for k in (1.0, 0.5, 0.1, 0.02)]
                        + [{"keep_fraction": 1.0, "measurement_noise": s} for s in (0.1, 0.3, 1.0)])
#: learning rates of the full data set: in a probe of 60 steps on 2,000 MNIST images (784-256-256-10) every class learns with
#: them and none diverges (not tuned further)
FULL_LEARNING_RATES = {
    "sgd": (0.01, 0.03),
    "adam": (1e-4, 3e-4),
    "feedback_alignment": (0.01, 0.03),
    "information_alignment": (0.01, 0.03),
    "node_perturbation": (3e-3, 1e-2),
    "danp": (3e-4, 1e-3),
    "reinforce": (3e-3, 1e-2),
    "weight_perturbation": (3e-3, 1e-2),
}

#: the quick mode's classifiers: one candidate each (no inner grid search)
_QUICK_GRIDS = {"svm": {"C": (0.1,)}, "forest": {"n_estimators": (50,)}, "conv1d": {"hidden": (16,), "alpha": (1e-2,), "max_iter": (200,)}}
#: the data sets read in this process: {(folder, mode): (stamp of the stored results, table)}
_LOADED = {}


def design(*, quick):
    """The design of the mode's data set: all eight rule classes (see the module).

    Parameters
    ----------
    quick : bool
        The quick student-teacher design, or the full MNIST one (building
        it reads MNIST's size: ``BIOPLASTIC_DATA_DIR`` or a download).

    Returns
    -------
    IdentificationDesign
    """
    if quick:
        return quick_design(batch_sizes=[10], seeds=[0, 1, 2, 3], n_time_points=11, conditions=[dict(c) for c in QUICK_CONDITIONS])
    return IdentificationDesign(
        architectures=[(256,), (256, 256), (512, 512, 512)], batch_sizes=[100],
        learning_rates={name: list(rates) for name, rates in FULL_LEARNING_RATES.items()}, seeds=list(range(8)),
        task={"name": "mnist", "n_train": 10000, "n_test": 1000}, n_time_points=21,
        network={"hidden": "relu", "readout": "softmax", "init": "he_normal"}, training={"loss": "cross_entropy", "dtype": "float32"},
        observables={"n_probe": 100}, conditions=[dict(c) for c in FULL_CONDITIONS])


def settings(*, quick):
    """The classification settings of the mode.

    Parameters
    ----------
    quick : bool

    Returns
    -------
    dict
        ``n_splits``, ``inner_folds``, ``grids`` (per classifier; None: the
        default grid) and ``time_fractions`` (the partial trajectories).
    """
    if quick:
        return {"n_splits": 3, "inner_folds": 3, "grids": {k: {p: list(v) for p, v in g.items()} for k, g in _QUICK_GRIDS.items()},
                "time_fractions": [0.1, 0.25, 0.5, 1.0]}
    return {"n_splits": 10, "inner_folds": 5, "grids": {k: None for k in CLASSIFIERS}, "time_fractions": [0.1, 0.25, 0.5, 1.0]}


def evaluation_options(cfg, *, classifier):
    """The keyword arguments of :func:`~bioplastic.identify.classification.evaluate` for ``classifier`` under settings ``cfg``.

    Parameters
    ----------
    cfg : dict
        What :func:`settings` returns.
    classifier : {"svm", "forest", "conv1d"}

    Returns
    -------
    dict
        ``classifier``, ``n_splits``, ``inner_folds``, ``grid`` and ``seed`` (0).
    """
    return {"classifier": classifier, "n_splits": cfg["n_splits"], "inner_folds": cfg["inner_folds"], "grid": cfg["grids"][classifier],
            "seed": 0}


def family_option(family):
    """``families=`` of a family of :data:`FAMILIES` (None for ``"all"``)."""
    return None if family == "all" else family


def dataset_dir(out_dir, *, quick):
    """Where the data set of the mode is stored: ``<out_dir>/nayebi2020_<quick|full>`` (a :class:`pathlib.Path`)."""
    return Path(out_dir) / f"nayebi2020_{'quick' if quick else 'full'}"


def dataset(*, quick, out_dir=None, progress=True, workers=None, scheduler=None):
    """The data set of the mode (:func:`~bioplastic.identify.generation.generate_dataset`), and its design.

    With ``out_dir``, the runs are stored in :func:`dataset_dir` and a rerun
    (or another figure of the same mode) trains only the runs missing there;
    the table read is kept for the process and handed out again while the
    stored results are unchanged (the callers only select rows from it).
    Without ``out_dir``, the runs are trained in a temporary folder, removed
    afterwards.

    Parameters
    ----------
    quick : bool
    out_dir : path, optional
    progress : bool, default True
        A progress bar per rule class.
    workers, scheduler
        Passed to :func:`~bioplastic.identify.generation.generate_dataset`
        (a local Dask cluster of ``workers`` processes, or a running
        scheduler's address).

    Returns
    -------
    pandas.DataFrame
        The data set, its label columns (``rule_class``, ``architecture``,
        ``condition``, ``observable``, ...) categorical.
    IdentificationDesign
    """
    plan = design(quick=quick)
    if out_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return _categorical(generate_dataset(plan, tmp, workers=workers, scheduler=scheduler, progress=progress)), plan
    folder = dataset_dir(out_dir, quick=quick).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    key = (str(folder), bool(quick))
    stamp = _stamp(plan, folder)
    if stamp is not None and key in _LOADED and _LOADED[key][0] == stamp:  # read already, unchanged since: the figures of a mode share it
        return _LOADED[key][1], plan
    table = _categorical(generate_dataset(plan, folder, workers=workers, scheduler=scheduler, progress=progress))
    _LOADED[key] = (_stamp(plan, folder), table)
    return table, plan


def _categorical(table):
    """``table`` with its label columns (``observable``, ``condition``, ...) as categoricals: the classifiers' group-bys over
    them run twice as fast (measured on the quick data set: 0.14 s instead of 0.31 s per feature matrix)."""
    labels = ["rule", "sizes", "layer_position", "observable", "measure", "function", "statistic", "rule_class", "architecture", "condition"]
    return table.astype({column: "category" for column in labels if column in table.columns})


def _stamp(plan, folder):
    """Size and modification time of every stored result file of ``plan`` in ``folder`` (None if one is missing)."""
    stamp = []
    for task in plan.tasks:
        stem = result_path(folder, task)
        for path in (stem.with_suffix(".npz"), stem.with_suffix(".json")):
            try:
                info = path.stat()
            except FileNotFoundError:
                return None
            stamp.append((info.st_size, info.st_mtime_ns))
    return tuple(stamp)


def design_config(plan, cfg):
    """The settings of a figure's data set and classifiers, for its metadata."""
    return {"task": plan.task, "architectures": plan.architectures, "batch_sizes": plan.batch_sizes, "learning_rates": plan.learning_rates,
            "seeds": plan.seeds, "n_time_points": plan.n_time_points, "n_epochs": plan.n_epochs, "network": plan.network,
            "training": plan.training, "observables": plan.observables, "conditions": plan.conditions, "n_runs": plan.n_runs, **cfg}


def study_results(name, quick, config, arrays, summary):
    """The :class:`~bioplastic.figures.FigureResults` of a figure: metadata ``figure``, ``quick``, ``config``, ``summary``."""
    return FigureResults(arrays, {"figure": name, "quick": bool(quick), "config": to_jsonable(config), "summary": to_jsonable(summary)})


def split_accuracies(results):
    """The test accuracy of every split of each result, shape (n_results, n_splits)."""
    return np.array([np.asarray(r.accuracy, dtype=float) for r in results])


def restrict(data, classes):
    """The rows of the runs of ``classes``."""
    return data[data["rule_class"].isin(classes)]


# -- drawing ------------------------------------------------------------------------------------


def plot_grouped_bars(ax, accuracy, *, groups, bars, colors, chance, chance_label="chance"):
    """Grouped bars of the mean test accuracy over the splits, with their standard deviation as error bars.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    accuracy : array_like, shape (n_groups, n_bars, n_splits)
    groups, bars : sequence of str
        Labels of the groups (x ticks) and of the bars in each (legend).
    colors : sequence
        One colour per bar.
    chance : float or array_like of shape (n_groups,)
        The chance level, drawn dashed over each group.
    chance_label : str, default "chance"
    """
    accuracy = np.asarray(accuracy, dtype=float)
    n_groups, n_bars = accuracy.shape[:2]
    width = 0.8 / n_bars
    x = np.arange(n_groups)
    mean = accuracy.mean(axis=2)
    std = accuracy.std(axis=2, ddof=1) if accuracy.shape[2] > 1 else np.zeros_like(mean)
    for j in range(n_bars):
        ax.bar(x - 0.4 + width * (j + 0.5), mean[:, j], width, yerr=std[:, j], color=colors[j], edgecolor="k", linewidth=0.4,
               capsize=2, label=bars[j], error_kw={"elinewidth": 0.8})
    chance = np.broadcast_to(np.asarray(chance, dtype=float), (n_groups,))
    for i, level in enumerate(chance):
        ax.plot([i - 0.45, i + 0.45], [level, level], color="0.3", linestyle="--", linewidth=0.9,
                label=chance_label if i == 0 else "_nolegend_")
    ax.set_xticks(x, groups)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy (fraction of runs)")


def plot_confusion(ax, confusion, classes, *, title):
    """The confusion matrix, each row divided by its test runs (the fraction of each class's runs given each label), with the counts.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    confusion : array_like of int, shape (n_classes, n_classes)
        Test runs of each true class (rows) given each label (columns).
    classes : sequence of str
    title : str
    """
    confusion = np.asarray(confusion, dtype=float)
    totals = confusion.sum(axis=1, keepdims=True)
    fractions = np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)
    image = ax.imshow(fractions, vmin=0, vmax=1, cmap="Blues")
    labels = [CLASS_LABELS.get(c, c) for c in classes]
    n = len(classes)
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                ax.text(j, i, f"{int(confusion[i, j])}", ha="center", va="center", fontsize="x-small",
                        color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted rule (class)")
    ax.set_ylabel("true rule (class)")
    ax.set_title(title, fontsize="medium")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class's test runs (all splits)")


def mode_details(meta):
    """The second title line: data set, runs, splits, mode."""
    cfg = meta["config"]
    task = cfg["task"]["name"]
    task = "student-teacher regression" if task == "student_teacher" else task.upper() if task == "mnist" else task
    archs = ", ".join(cfg["architectures"])
    return (f"{task}, MLPs {archs}, {cfg['n_runs']} runs x {cfg['n_time_points']} time points; {cfg['n_splits']} 75/25 splits "
            f"(error bars: std over splits); {'quick run' if meta.get('quick') else 'full size'}")

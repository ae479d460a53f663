"""Settings and steps the Dalm et al. (2024) figures share: variants, networks, tasks, tracked training.

Conventions (the paper's):

* networks: ``mlp(sizes, hidden="leaky_relu", hidden_slope=0.2,
  init="he_normal", readout="softmax")``, cross-entropy loss, minibatches of
  1,000, Adam, float32;
* rules: backprop (BP), node perturbation (NP), iterative NP (INP) and
  activity-based NP (ANP) with ``sigma = 1e-3`` and Gaussian noise; their
  D-variants (DBP, DNP, DINP, DANP) are the same rules in a network with a
  :class:`~bioplastic.decorrelation.LateralDecorrelation` in front of every
  projection (``eta_R = 1e-3``), see :data:`VARIANTS`;
* learning rates: 1e-4 for BP and the NP family, 1e-3 for DBP
  (:func:`learning_rate`);
* tasks: MNIST (quick: its first 5,000 training and 1,000 test images) and
  CIFAR-10 from the local tarball, flattened and centred on the training
  mean (quick: the first 2,000 training and 500 test images of the offline
  subset, 2x2 average-pooled to 16x16x3 = 768 inputs).

:class:`InputCorrelation` records how correlated each projection's input is
during training (the presynaptic rates ``x*``, after ``R`` where there is
one), :func:`train_run` trains with a checkpoint so that a rerun resumes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ...decorrelation import LateralDecorrelation, mean_squared_correlation
from ...io import to_jsonable
from ...models import mlp
from ...ops import forward
from ...optimisers import Adam
from ...plasticity import ActivityNodePerturbation, Backprop, IterativeNodePerturbation, NodePerturbation
from ...training import train
from ...training.callbacks import Callback
from .. import FigureResults
from .._data import centred_cifar10, checkpoint_stem, mnist_subset

__all__ = [
    "BATCH_SIZE",
    "ETA_R",
    "InputCorrelation",
    "SIGMA",
    "STUDY",
    "VARIANTS",
    "VARIANT_LABELS",
    "checkpoint_stem",
    "cifar_task",
    "compare_variants",
    "curve_arrays",
    "final_mean",
    "is_decorrelated",
    "learning_rate",
    "make_network",
    "make_rule",
    "mnist_task",
    "plot_comparison",
    "plot_curve",
    "plot_epoch_axis",
    "rule_of",
    "run_config",
    "study_results",
    "train_run",
    "variant_color",
    "variant_run",
]

#: how the figures name the study
STUDY = "Dalm et al. 2024"

#: noise amplitude of every perturbation rule
SIGMA = 1e-3
#: learning rate of the decorrelation rule
ETA_R = 1e-3
#: slope of the negative part of the leaky-ReLU hidden units
SLOPE = 0.2
#: minibatch size of the paper's runs
BATCH_SIZE = 1000

#: the rules compared, in the order they are drawn: each plain rule, then its D-variant
VARIANTS = ("bp", "dbp", "np", "dnp", "inp", "dinp", "anp", "danp")
VARIANT_LABELS = {v: v.upper() for v in VARIANTS}
#: one colour per rule; the D-variant is drawn solid, the plain rule dashed
RULE_COLORS = {"bp": "k", "np": "C1", "inp": "C2", "anp": "C0"}

_RULES = {"bp": Backprop, "np": NodePerturbation, "inp": IterativeNodePerturbation, "anp": ActivityNodePerturbation}


def _check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return variant


def is_decorrelated(variant):
    """Whether ``variant`` (a key of :data:`VARIANTS`) runs in a decorrelated network (DBP, DNP, DINP, DANP)."""
    return _check_variant(variant) not in _RULES


def rule_of(variant):
    """The plain rule of ``variant``: ``"dnp"`` -> ``"np"``, ``"np"`` -> ``"np"``."""
    return variant[1:] if is_decorrelated(variant) else variant


def variant_color(variant):
    """The colour of ``variant``'s rule (:data:`RULE_COLORS`)."""
    return RULE_COLORS[rule_of(variant)]


def make_rule(variant, **options):
    """The plasticity rule of ``variant``: ``Backprop()`` or the perturbation rule with ``sigma = 1e-3``, Gaussian noise.

    ``options`` (``n_samples``, ``clean_pass``, ...) go to the perturbation
    rule's constructor.

    Raises
    ------
    ValueError
        ``variant`` is not a key of :data:`VARIANTS`, or options are given
        for backprop.
    """
    name = rule_of(variant)
    if name == "bp":
        if options:
            raise ValueError(f"backprop takes no perturbation options, got {sorted(options)}")
        return Backprop()
    return _RULES[name](sigma=SIGMA, noise="gaussian", **options)


def make_network(sizes, *, decorrelated):
    """The study's network ``sizes`` (leaky ReLU, slope 0.2, He-normal, softmax readout), decorrelated or not."""
    decorrelation = LateralDecorrelation(eta=ETA_R) if decorrelated else None
    return mlp(tuple(sizes), hidden="leaky_relu", hidden_slope=SLOPE, init="he_normal", readout="softmax", decorrelation=decorrelation)


def learning_rate(variant, quick):
    """Adam's learning rate for ``variant``: 1e-3 for DBP, 1e-4 for the others; quick mode: 1e-3 for all.

    The quick runs take about 1 % of the paper's steps; at the paper's 1e-4
    the NP family hardly leaves chance level in that time.
    """
    if quick or _check_variant(variant) == "dbp":
        return 1e-3
    return 1e-4


def mnist_task(quick):
    """MNIST: its first 5,000 training and 1,000 test images (quick), or all of it."""
    return mnist_subset(5000, 1000, eval_train_size=1000) if quick else mnist_subset(eval_train_size=10000)


def cifar_task(quick):
    """CIFAR-10 from the local tarball, flattened and centred: quick, the first 2,000 / 500 images 2x2-pooled (768 inputs); else all."""
    return centred_cifar10(2000, 500, pool=2, eval_train_size=500) if quick else centred_cifar10(eval_train_size=5000)


class InputCorrelation(Callback):
    """``"input_correlation"``: mean squared off-diagonal correlation of each projection's input, shape ``(n_members, n_layers)``.

    Measured on the first ``n_probe`` training samples: the presynaptic rates
    ``x*_k`` of projection ``k`` in the clean pass (``R_k x_k`` behind a
    lateral decorrelation, else ``x_k``), by
    :func:`~bioplastic.decorrelation.mean_squared_correlation` (units that do
    not vary on the probe are left out). Dimensionless, in ``[0, 1]``.

    Parameters
    ----------
    n_probe : int, default 1000
        Probe samples (at most the training set).
    """

    name = "input_correlation"

    def __init__(self, *, n_probe=1000):
        if isinstance(n_probe, bool) or not isinstance(n_probe, (int, np.integer)) or n_probe < 2:
            raise ValueError(f"n_probe should be an integer of at least 2, got {n_probe!r}")
        self.n_probe = int(n_probe)

    def measure(self, engine, task):
        x, _ = task.evaluation_sets()["train"]
        x = np.asarray(x[: self.n_probe], dtype=engine.dtype)
        n_members = engine.state_.n_members
        activity = forward(engine.network, engine.state_, x)
        return {"input_correlation": np.stack([np.broadcast_to(mean_squared_correlation(pre), (n_members,))
                                               for pre in activity.presynaptic], axis=1)}


def train_run(out_dir, key, network, rule, task, *, n_epochs, learning_rate, seeds, batch_size, progress, callbacks=None):
    """Train as the study does (cross-entropy, Adam, float32), checkpointed in ``out_dir/checkpoints/<key>``; save the History as ``out_dir/<key>``.

    A rerun with the same settings resumes from the checkpoint (a finished
    run is read back). Without ``out_dir`` nothing is written.

    Returns
    -------
    History
    """
    history = train(network, rule, task, n_epochs=n_epochs, learning_rate=learning_rate, seeds=seeds, batch_size=batch_size,
                    loss="cross_entropy", optimiser=Adam(), dtype="float32", progress=progress, callbacks=callbacks,
                    checkpoint=checkpoint_stem(out_dir, key), checkpoint_every=max(1, n_epochs // 20))
    if out_dir is not None:
        history.save(Path(out_dir) / key)
    return history


def variant_run(out_dir, dataset, variant, task, cfg, *, quick, progress, clean_pass=True, callbacks=None):
    """Train ``variant`` on ``task`` with the settings ``cfg`` (``sizes``, ``n_epochs``, ``batch_size``, ``seeds``).

    The History is kept as ``out_dir/dalm_<dataset>_<variant>`` (with
    ``_no_clean_pass`` for ``clean_pass=False`` and ``_quick`` in quick
    mode), so that the figures that share a run train it once.

    Returns
    -------
    History
    """
    options = {} if clean_pass else {"clean_pass": False}
    key = f"dalm_{dataset}_{variant}{'' if clean_pass else '_no_clean_pass'}{'_quick' if quick else ''}"
    return train_run(out_dir, key, make_network(cfg["sizes"], decorrelated=is_decorrelated(variant)), make_rule(variant, **options),
                     task, n_epochs=cfg["n_epochs"], learning_rate=learning_rate(variant, quick), seeds=cfg["seeds"],
                     batch_size=cfg["batch_size"], progress=progress, callbacks=callbacks)


def curve_arrays(prefix, history, record="test_accuracy"):
    """``{<prefix>_epochs, <prefix>_<record>}``: the epochs and the record (shape ``(n_members, n_records, ...)``) of ``history``."""
    return {f"{prefix}_epochs": np.asarray(history.epochs), f"{prefix}_{record}": np.asarray(history.records[record], dtype=float)}


def final_mean(values):
    """Mean over the members of the last record of ``values`` (shape ``(n_members, n_records, ...)``), NaN where every member diverged."""
    last = np.asarray(values, dtype=float)[:, -1]
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(last)
        return np.where(finite.any(axis=0), np.nansum(np.where(finite, last, 0.0), axis=0) / np.maximum(finite.sum(axis=0), 1), np.nan)


def compare_variants(name, dataset, task, cfg, *, quick, progress, out_dir, callbacks=None):
    """Train every variant of :data:`VARIANTS` (:func:`variant_run`); test-accuracy curves and final accuracies.

    Returns
    -------
    FigureResults
        Arrays ``variants``, ``<variant>_epochs``, ``<variant>_test_accuracy``
        (shape ``(n_seeds, n_epochs + 1)``); summary ``<variant>_test_accuracy``
        (final, mean over seeds) and ``<variant>_learning_rate``.
    """
    arrays, summary = {"variants": np.array(VARIANTS)}, {}
    for variant in VARIANTS:
        history = variant_run(out_dir, dataset, variant, task, cfg, quick=quick, progress=progress, callbacks=callbacks)
        arrays.update(curve_arrays(variant, history))
        summary[f"{variant}_test_accuracy"] = float(final_mean(arrays[f"{variant}_test_accuracy"]))
        summary[f"{variant}_learning_rate"] = learning_rate(variant, quick)
    return study_results(name, quick, run_config(task, cfg, quick, VARIANTS), arrays, summary)


def run_config(task, cfg, quick, variants):
    """The settings of a figure's training runs, for its metadata: the task, ``cfg`` and the study's fixed settings."""
    return {"task": task.describe(), **cfg, "sigma": SIGMA, "eta_R": ETA_R, "noise": "gaussian", "optimiser": "adam",
            "loss": "cross_entropy", "hidden": f"leaky_relu (slope {SLOPE})", "init": "he_normal", "dtype": "float32",
            "learning_rates": {v: learning_rate(v, quick) for v in variants}}


def study_results(name, quick, config, arrays, summary):
    """The :class:`~bioplastic.figures.FigureResults` of a figure: metadata ``figure``, ``quick``, ``config``, ``summary``."""
    return FigureResults(arrays, {"figure": name, "quick": bool(quick), "config": to_jsonable(config), "summary": summary})


# -- drawing ------------------------------------------------------------------------------------


def plot_curve(ax, epochs, values, *, label, color, linestyle="-"):
    """One learning curve: the mean over the members (rows of ``values``), with their min-max band when there are several."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (every member diverged)
        mean, low, high = np.nanmean(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    ax.plot(epochs, mean, color=color, linestyle=linestyle, label=label)
    if len(values) > 1:
        ax.fill_between(epochs, low, high, color=color, alpha=0.15, linewidth=0)


def plot_epoch_axis(ax):
    """Label ``ax``'s x axis as training time in epochs, with whole-epoch ticks."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training time (epochs)")


def plot_comparison(results, dataset):
    """Test-accuracy curves and final test accuracy of every variant (the figure of :func:`compare_variants`)."""
    from .._drawing import new_figure, study_title

    arrays, meta = results.arrays, results.metadata
    variants = [str(v) for v in arrays["variants"]]
    fig, (curves, bars) = new_figure(2, width=4.6, height=3.6)
    for variant in variants:
        plot_curve(curves, arrays[f"{variant}_epochs"], arrays[f"{variant}_test_accuracy"], label=VARIANT_LABELS[variant],
                   color=variant_color(variant), linestyle="-" if is_decorrelated(variant) else "--")
    curves.axhline(0.1, color="0.6", linewidth=0.7, linestyle=":", label="chance")
    curves.set_ylim(0, 1)
    plot_epoch_axis(curves)
    curves.set_ylabel("test accuracy (fraction correct)")
    curves.legend(fontsize="small", ncol=2, loc="best")
    curves.set_title("learning curves (dashed: plain, solid: decorrelated)", fontsize="medium")
    finals = [meta["summary"][f"{v}_test_accuracy"] for v in variants]
    x = np.arange(len(variants))
    bars.bar(x, np.nan_to_num(finals), color=[variant_color(v) for v in variants], edgecolor="k", linewidth=0.4, alpha=0.9)
    for i, variant in enumerate(variants):
        if not is_decorrelated(variant):
            bars.patches[i].set_alpha(0.45)
        if np.isfinite(finals[i]):
            bars.text(i, finals[i] + 0.01, f"{finals[i]:.2f}", ha="center", va="bottom", fontsize="x-small")
    bars.set_xticks(x, [VARIANT_LABELS[v] for v in variants])
    bars.set_ylim(0, 1)
    bars.set_xlabel("rule (pale: plain, full colour: decorrelated)")
    bars.set_ylabel("final test accuracy (fraction correct)")
    bars.set_title("after the last epoch, mean over seeds", fontsize="medium")
    cfg = meta["config"]
    sizes = "-".join(str(s) for s in cfg["sizes"])
    details = (f"{sizes} leaky-ReLU MLP, Adam, batch {cfg['batch_size']}, sigma = {SIGMA:g}, eta_R = {ETA_R:g}, "
               f"{len(cfg['seeds'])} seed(s); {'quick run' if meta.get('quick') else 'paper sizes'}")
    return study_title(fig, STUDY, dataset, "test accuracy of BP, NP, INP, ANP and their decorrelated variants", details)

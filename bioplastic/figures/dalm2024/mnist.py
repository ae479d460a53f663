"""MNIST: the test accuracy of every variant, the input correlations with and without decorrelation, DANP without a clean pass.

The three figures share their training runs (Histories
``dalm_mnist_<variant>``): run into the same folder, a run one of them made
is read back by the others. Every run records the input correlation of each
projection after every epoch (:class:`~bioplastic.figures.dalm2024.shared.InputCorrelation`).
See :mod:`~bioplastic.figures.dalm2024.shared` for the conventions.
"""

from __future__ import annotations

import numpy as np

from .. import register_figure
from .._drawing import new_figure, plain_log_ticks, study_title
from .shared import (
    ETA_R,
    STUDY,
    InputCorrelation,
    compare_variants,
    curve_arrays,
    final_mean,
    mnist_task,
    plot_comparison,
    plot_curve,
    plot_epoch_axis,
    run_config,
    study_results,
    variant_color,
    variant_run,
)

__all__ = [
    "compute_dalm_decorrelation",
    "compute_dalm_mnist",
    "compute_dalm_no_clean_pass",
    "dalm_decorrelation",
    "dalm_mnist",
    "dalm_no_clean_pass",
    "draw_dalm_decorrelation",
    "draw_dalm_mnist",
    "draw_dalm_no_clean_pass",
]


def _settings(quick):
    if quick:
        return {"sizes": (784, 64, 64, 10), "n_epochs": 3, "batch_size": 100, "seeds": [0], "n_probe": 500}
    return {"sizes": (784, 256, 256, 256, 10), "n_epochs": 100, "batch_size": 1000, "seeds": [0, 1, 2], "n_probe": 1000}


def _callbacks(cfg):
    return [InputCorrelation(n_probe=cfg["n_probe"])]


def compute_dalm_mnist(*, quick=False, progress=True, out_dir=None):
    """MNIST test accuracy of BP, DBP, NP, DNP, INP, DINP, ANP and DANP.

    Leaky-ReLU networks (slope 0.2, He-normal initial weights), softmax
    readout, cross-entropy, Adam, float32; ``sigma = 1e-3`` (Gaussian noise),
    ``eta_R = 1e-3``; learning rate 1e-4 for BP and the NP family, 1e-3 for
    DBP. The summary holds each variant's final test accuracy (mean over
    seeds), ``<variant>_test_accuracy``.

    quick: 784-64-64-10, the first 5,000 training / 1,000 test images,
    batch 100, 3 epochs (150 steps), learning rate 1e-3 for every variant,
    seed 0.
    full: 784-256-256-256-10, all of MNIST, batch 1,000, 100 epochs (6,000
    steps), seeds 0, 1, 2.
    """
    cfg = _settings(quick)
    return compare_variants("dalm_mnist", "mnist", mnist_task(quick), cfg, quick=quick, progress=progress, out_dir=out_dir,
                            callbacks=_callbacks(cfg))


def draw_dalm_mnist(results):
    """Test-accuracy curves (mean over seeds, min-max band) and final test accuracy of every variant (MNIST)."""
    return plot_comparison(results, "MNIST")


dalm_mnist = register_figure("dalm_mnist", compute_dalm_mnist, draw_dalm_mnist, paths_in_summary=True)

#: the runs of the decorrelation figure: the same rule without and with R
_PAIR = ("anp", "danp")


def compute_dalm_decorrelation(*, quick=False, progress=True, out_dir=None):
    """Input correlation over training with and without lateral decorrelation: ANP against DANP on MNIST.

    After every epoch, the mean squared off-diagonal correlation coefficient
    of each projection's input (the stimulus for projection 0, the hidden
    rates for the others; ``R_k x_k`` in DANP) on the first training images
    (:class:`~bioplastic.figures.dalm2024.shared.InputCorrelation`). The
    runs are those of :func:`compute_dalm_mnist`. Summary:
    ``<variant>_input_correlation`` (per projection, after the last epoch,
    mean over seeds), ``<variant>_initial_input_correlation``,
    ``correlation_ratio`` (DANP's over ANP's, per projection) and the final
    test accuracies.

    quick: 784-64-64-10, the first 5,000 training / 1,000 test images,
    batch 100, 3 epochs, learning rate 1e-3, seed 0, probe of 500 images.
    full: 784-256-256-256-10, all of MNIST, batch 1,000, 100 epochs,
    learning rate 1e-4, seeds 0, 1, 2, probe of 1,000 images.
    """
    cfg = _settings(quick)
    task = mnist_task(quick)
    arrays, summary = {"variants": np.array(_PAIR)}, {}
    for variant in _PAIR:
        history = variant_run(out_dir, "mnist", variant, task, cfg, quick=quick, progress=progress, callbacks=_callbacks(cfg))
        arrays.update(curve_arrays(variant, history, "input_correlation"))
        arrays.update(curve_arrays(variant, history, "test_accuracy"))
        correlation = arrays[f"{variant}_input_correlation"]  # (n_seeds, n_records, n_layers)
        summary[f"{variant}_input_correlation"] = final_mean(correlation).tolist()
        summary[f"{variant}_initial_input_correlation"] = np.nanmean(correlation[:, 0], axis=0).tolist()
        summary[f"{variant}_test_accuracy"] = float(final_mean(arrays[f"{variant}_test_accuracy"]))
    summary["correlation_ratio"] = (np.asarray(summary["danp_input_correlation"]) / np.asarray(summary["anp_input_correlation"])).tolist()
    return study_results("dalm_decorrelation", quick, run_config(task, cfg, quick, _PAIR), arrays, summary)


def draw_dalm_decorrelation(results):
    """Mean squared input correlation of every projection over training, ANP (dashed) against DANP (solid); their test accuracy."""
    arrays, meta = results.arrays, results.metadata
    fig, (left, right) = new_figure(2, width=4.6, height=3.6)
    n_layers = arrays["anp_input_correlation"].shape[-1]
    shades = [f"C{k}" for k in range(n_layers)]
    for variant, style in zip(_PAIR, ("--", "-"), strict=True):
        values = arrays[f"{variant}_input_correlation"]
        for k in range(n_layers):
            source = "stimulus" if k == 0 else f"hidden {k}"
            plot_curve(left, arrays[f"{variant}_epochs"], values[:, :, k], color=shades[k], linestyle=style,
                       label=f"{variant.upper()}, projection {k} ({source})")
        plot_curve(right, arrays[f"{variant}_epochs"], arrays[f"{variant}_test_accuracy"], color=variant_color(variant),
                   linestyle=style, label=variant.upper())
    left.set_yscale("log")
    plain_log_ticks(left)
    plot_epoch_axis(left)
    left.set_ylabel("mean squared correlation (dimensionless)")
    left.set_title("input correlation of each projection", fontsize="medium")
    left.legend(fontsize="x-small", ncol=1, loc="best")
    right.set_ylim(0, 1)
    plot_epoch_axis(right)
    right.set_ylabel("test accuracy (fraction correct)")
    right.set_title("test accuracy", fontsize="medium")
    right.legend(fontsize="small", loc="lower right")
    cfg = meta["config"]
    details = (f"{'-'.join(str(s) for s in cfg['sizes'])} network, eta_R = {ETA_R:g}; mean over {len(cfg['seeds'])} seed(s), "
               f"probe of {cfg['n_probe']} training images; {'quick run' if meta.get('quick') else 'paper sizes'}")
    return study_title(fig, STUDY, "input decorrelation", "MNIST, layer inputs without (ANP) and with (DANP) lateral decorrelation",
                       details)


dalm_decorrelation = register_figure("dalm_decorrelation", compute_dalm_decorrelation, draw_dalm_decorrelation, paths_in_summary=True)


def compute_dalm_no_clean_pass(*, quick=False, progress=True, out_dir=None):
    """DANP with and without a clean pass on MNIST: test accuracy.

    Without a clean pass (``clean_pass=False``) both passes are noisy, with
    independent noise: the loss and activity differences are those between
    the two, so the rule never needs a noise-free network. The run with a
    clean pass is that of :func:`compute_dalm_mnist`. Summary:
    ``clean_pass_test_accuracy``, ``no_clean_pass_test_accuracy`` (final,
    mean over seeds).

    quick: 784-64-64-10, the first 5,000 training / 1,000 test images,
    batch 100, 3 epochs, learning rate 1e-3, seed 0.
    full: 784-256-256-256-10, all of MNIST, batch 1,000, 100 epochs,
    learning rate 1e-4, seeds 0, 1, 2.
    """
    cfg = _settings(quick)
    task = mnist_task(quick)
    arrays, summary = {}, {}
    for prefix, clean_pass in (("clean_pass", True), ("no_clean_pass", False)):
        history = variant_run(out_dir, "mnist", "danp", task, cfg, quick=quick, progress=progress, clean_pass=clean_pass,
                              callbacks=_callbacks(cfg))
        arrays.update(curve_arrays(prefix, history))
        summary[f"{prefix}_test_accuracy"] = float(final_mean(arrays[f"{prefix}_test_accuracy"]))
    return study_results("dalm_no_clean_pass", quick, run_config(task, cfg, quick, ("danp",)), arrays, summary)


def draw_dalm_no_clean_pass(results):
    """Test-accuracy curves of DANP with a clean pass and with two noisy passes."""
    arrays, meta = results.arrays, results.metadata
    fig, (ax,) = new_figure(1, width=5.2, height=3.8)
    for prefix, label, style in (("clean_pass", "DANP, clean + noisy pass", "-"), ("no_clean_pass", "DANP, two noisy passes", "--")):
        plot_curve(ax, arrays[f"{prefix}_epochs"], arrays[f"{prefix}_test_accuracy"], color=variant_color("danp"), linestyle=style,
                   label=f"{label} ({meta['summary'][f'{prefix}_test_accuracy']:.3f})")
    ax.axhline(0.1, color="0.6", linewidth=0.7, linestyle=":", label="chance")
    ax.set_ylim(0, 1)
    plot_epoch_axis(ax)
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.legend(fontsize="small", loc="lower right", title="final test accuracy in brackets", title_fontsize="x-small")
    cfg = meta["config"]
    details = (f"{'-'.join(str(s) for s in cfg['sizes'])} network, batch {cfg['batch_size']}, mean over {len(cfg['seeds'])} seed(s); "
               f"{'quick run' if meta.get('quick') else 'paper sizes'}")
    return study_title(fig, STUDY, "no clean pass", "MNIST, DANP measured against a clean pass or a second noisy pass", details)


dalm_no_clean_pass = register_figure("dalm_no_clean_pass", compute_dalm_no_clean_pass, draw_dalm_no_clean_pass, paths_in_summary=True)

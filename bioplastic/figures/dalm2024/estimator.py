"""How well each variant's update estimates the gradient: its cosine with backprop's update as the noise samples ``K`` grow.

See :mod:`~bioplastic.figures.dalm2024.shared` for the conventions.
"""

from __future__ import annotations

import numpy as np

from ...decorrelation import mean_squared_correlation
from ...io import load_arrays_and_metadata, pair_exists, save_arrays_and_metadata, to_jsonable
from ...losses import get_loss
from ...ops import forward
from ...training.probes import cosine_similarity
from .. import register_figure
from .._drawing import new_figure, study_title
from .shared import (
    ETA_R,
    SIGMA,
    STUDY,
    VARIANT_LABELS,
    checkpoint_stem,
    is_decorrelated,
    make_network,
    make_rule,
    mnist_task,
    study_results,
    variant_color,
)

__all__ = ["compute_dalm_estimator", "dalm_estimator", "draw_dalm_estimator"]

#: the variants whose updates are compared with backprop's
ESTIMATORS = ("np", "dnp", "inp", "dinp", "anp", "danp")


def _settings(quick):
    common = {"sizes": (784, 20, 20, 10), "n_samples": [1, 5, 20, 50], "batch_size": 1000, "weight_seed": 0, "decorrelation_batch": 100}
    if quick:
        return {**common, "n_noise_seeds": 3, "decorrelation_steps": 100}
    return {**common, "n_noise_seeds": 10, "decorrelation_steps": 1000}


def _probe_correlations(network, state, x):
    """Mean squared correlation of each projection's input on ``x`` (member 0)."""
    return [float(np.ravel(mean_squared_correlation(pre))[0]) for pre in forward(network, state, x).presynaptic]


def _decorrelated_state(network, state, task, cfg, out_dir):
    """``state`` with the lateral matrices the decorrelation rule learns alone, the weights fixed, in ``decorrelation_steps`` steps.

    Minibatches of ``decorrelation_batch`` training images, epoch orders
    drawn from ``default_rng(0)``; float32, as in training. With ``out_dir``
    the matrices are kept in ``out_dir/checkpoints/dalm_estimator_R`` and
    read back by a rerun with the same settings.
    """
    settings = to_jsonable({key: cfg[key] for key in ("sizes", "weight_seed", "decorrelation_steps", "decorrelation_batch")})
    settings.update(eta_R=ETA_R, task=to_jsonable(task.describe()))
    stem = checkpoint_stem(out_dir, "dalm_estimator_R")
    n_layers = network.n_layers
    if stem is not None and pair_exists(stem):
        arrays, meta = load_arrays_and_metadata(stem)
        if meta.get("settings") == settings:
            return _with_lateral(state, [arrays[f"R{k}"] for k in range(n_layers)])
    work = state.copy()
    work.weights = [w.astype(np.float32) for w in work.weights]
    work.biases = [None if b is None else b.astype(np.float32) for b in work.biases]
    work.lateral = [r.astype(np.float32) for r in work.lateral]
    rng = np.random.default_rng(0)
    steps = 0
    while steps < cfg["decorrelation_steps"]:
        for x, _ in task.batches(cfg["decorrelation_batch"], rng):
            activity = forward(network, work, np.asarray(x, dtype=np.float32))
            network.decorrelation.update(work.lateral, activity.presynaptic)
            steps += 1
            if steps == cfg["decorrelation_steps"]:
                break
    if stem is not None:
        save_arrays_and_metadata(stem, {f"R{k}": r for k, r in enumerate(work.lateral)}, {"settings": settings})
    return _with_lateral(state, work.lateral)


def _with_lateral(state, lateral):
    out = state.copy()
    out.lateral = [np.asarray(r, dtype=state.dtype).copy() for r in lateral]
    return out


def _flat(weights, n_members):
    return np.concatenate([w.reshape(n_members, -1) for w in weights], axis=1)


def compute_dalm_estimator(*, quick=False, progress=True, out_dir=None):
    """Cosine similarity of the updates of NP, INP, ANP and their D-variants with backprop's, against the noise samples ``K``.

    A 784-20-20-10 leaky-ReLU network (He-normal weights of seed 0, softmax
    readout, cross-entropy) and one fixed minibatch of 1,000 MNIST training
    images; each rule averages ``K`` independent Gaussian noise draws per
    sample (``n_samples=K``, ``sigma = 1e-3``, clean pass; the same draws
    for every variant), float64. The
    reference is backprop's gradient in the same network (through ``R`` for
    the D-variants: DBP's). The D-variants use the lateral matrices ``R``
    the decorrelation rule (``eta_R = 1e-3``) learns alone from identity
    matrices, the weights held at their initial values, on minibatches of
    100 training images. The cosine is over all weights of the network
    together (per projection too, in the arrays); its spread comes from
    independent noise seeds. Summary: ``<variant>_cosine`` and
    ``<variant>_cosine_std`` (mean and standard deviation over the noise
    seeds, one per ``K``), ``n_samples``, and the input correlation of each
    projection with identity and with the learnt ``R``.

    quick: K = 1, 5, 20, 50; 3 noise seeds; ``R`` learnt in 100 steps; MNIST's
    first 5,000 training images.
    full: K = 1, 5, 20, 50; 10 noise seeds; ``R`` learnt in 1,000 steps; all
    of MNIST.
    """
    cfg = _settings(quick)
    task = mnist_task(quick)
    loss = get_loss("cross_entropy")
    x, target = next(iter(task.batches(cfg["batch_size"], np.random.default_rng(0))))
    x, target = np.asarray(x, dtype=np.float64), np.asarray(target, dtype=np.float64)
    networks = {flag: make_network(cfg["sizes"], decorrelated=flag) for flag in (False, True)}
    states = {flag: networks[flag].init_state([cfg["weight_seed"]], dtype=np.float64) for flag in (False, True)}
    identity = _probe_correlations(networks[True], states[True], x)
    states[True] = _decorrelated_state(networks[True], states[True], task, cfg, out_dir)
    learnt = _probe_correlations(networks[True], states[True], x)
    n_seeds, ks = cfg["n_noise_seeds"], cfg["n_samples"]
    n_layers = networks[False].n_layers
    states = {flag: state.take([0] * n_seeds) for flag, state in states.items()}  # one member per noise seed
    ones = np.ones(n_seeds)
    cosine = np.full((len(ESTIMATORS), len(ks), n_seeds), np.nan)
    layer_cosine = np.full((len(ESTIMATORS), len(ks), n_seeds, n_layers), np.nan)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(ESTIMATORS) * len(ks), disable=not progress, desc="dalm_estimator", leave=False)
    references = {flag: make_rule("bp").directions(networks[flag], states[flag], x, target, loss, scale=ones).weights
                  for flag in (False, True)}
    for j, k in enumerate(ks):
        # the same draws for every variant (common random numbers): the variants differ by their rule alone
        rng = np.random.default_rng([2024, k])
        noise = [rng.standard_normal((n_seeds, k * len(x), p.n_post)) for p in networks[False].projections]
        for i, variant in enumerate(ESTIMATORS):
            network, state = networks[is_decorrelated(variant)], states[is_decorrelated(variant)]
            reference = references[is_decorrelated(variant)]
            got = make_rule(variant, n_samples=k).directions(network, state, x, target, loss, noise=noise, scale=ones).weights
            cosine[i, j] = cosine_similarity(_flat(got, n_seeds), _flat(reference, n_seeds))
            for layer in range(n_layers):
                layer_cosine[i, j, :, layer] = cosine_similarity(got[layer], reference[layer])
            bar.update()
    bar.close()
    summary = {"n_samples": list(ks), "input_correlation_identity": identity, "input_correlation_learnt": learnt}
    for i, variant in enumerate(ESTIMATORS):
        summary[f"{variant}_cosine"] = cosine[i].mean(axis=1).tolist()
        summary[f"{variant}_cosine_std"] = cosine[i].std(axis=1).tolist()
    arrays = {"variants": np.array(ESTIMATORS), "n_samples": np.asarray(ks), "cosine": cosine, "layer_cosine": layer_cosine}
    config = {"task": task.describe(), **cfg, "sigma": SIGMA, "eta_R": ETA_R, "noise": "gaussian", "loss": "cross_entropy",
              "hidden": "leaky_relu (slope 0.2)", "init": "he_normal", "dtype": "float64",
              "noise_streams": "default_rng([2024, K]), one member per noise seed, the same draws for every variant"}
    return study_results("dalm_estimator", quick, config, arrays, summary)


def draw_dalm_estimator(results):
    """Cosine with backprop's update against ``K`` (mean and standard deviation over noise seeds); per projection at the largest ``K``."""
    arrays, meta = results.arrays, results.metadata
    variants = [str(v) for v in arrays["variants"]]
    ks = np.asarray(arrays["n_samples"])
    fig, (left, right) = new_figure(2, width=4.6, height=3.6)
    for i, variant in enumerate(variants):
        values = arrays["cosine"][i]
        left.errorbar(ks, values.mean(axis=1), yerr=values.std(axis=1), color=variant_color(variant), marker="o", markersize=4,
                      capsize=2, linestyle="-" if is_decorrelated(variant) else "--", label=VARIANT_LABELS[variant])
    left.set_xscale("log")
    left.set_xticks(ks, [str(k) for k in ks])
    left.set_ylim(0, 1)
    left.set_xlabel("noise samples K (draws per image)")
    left.set_ylabel("cosine with BP's update (dimensionless)")
    left.set_title("all weights (dashed: plain, solid: decorrelated)", fontsize="medium")
    left.legend(fontsize="small", ncol=2, loc="lower right")
    last = arrays["layer_cosine"][:, -1].mean(axis=1)  # (n_variants, n_layers)
    n_layers = last.shape[1]
    width = 0.8 / len(variants)
    for i, variant in enumerate(variants):
        right.bar(np.arange(n_layers) + (i - (len(variants) - 1) / 2) * width, last[i], width, color=variant_color(variant),
                  alpha=1.0 if is_decorrelated(variant) else 0.45, edgecolor="k", linewidth=0.3, label=VARIANT_LABELS[variant])
    right.set_xticks(np.arange(n_layers), [f"W{k}" for k in range(n_layers)])
    right.set_ylim(0, 1)
    right.set_xlabel("projection (weight matrix)")
    right.set_ylabel("cosine with BP's update (dimensionless)")
    right.set_title(f"per projection, K = {ks[-1]} (bars in the legend's order)", fontsize="medium")
    cfg = meta["config"]
    details = (f"{'-'.join(str(s) for s in cfg['sizes'])} network at its initial weights, one minibatch of {cfg['batch_size']} MNIST images, "
               f"{cfg['n_noise_seeds']} noise seeds, R learnt in {cfg['decorrelation_steps']} steps; "
               f"{'quick run' if meta.get('quick') else 'paper sizes'}")
    return study_title(fig, STUDY, "gradient estimates", "alignment of each rule's update with backprop's as the noise samples grow",
                       details)


dalm_estimator = register_figure("dalm_estimator", compute_dalm_estimator, draw_dalm_estimator, paths_in_summary=True)

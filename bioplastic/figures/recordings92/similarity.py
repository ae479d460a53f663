"""Representational geometry of the hidden layers of CIFAR-10 CNNs against monkey and human IT on the 92 images.

``recordings92_it``: each hidden layer's RDM of the 92 images of
Kriegeskorte et al. (2008) against the monkey-IT RDM (674 neurons, Kiani et
al. 2007) and the human-IT RDMs (4 subjects), before and after training by
every rule, with the human-IT noise ceiling and the data set's reference
model RDMs, bootstrap intervals over stimuli and over seeds and shuffled
baselines (Nili et al. 2014).
"""

from __future__ import annotations

import numpy as np

from ..._threads import blas_limit
from ...recordings import RDMRecording, bootstrap_score, compare_rdms, model_recording, noise_ceiling, shuffled_baseline
from .. import register_figure
from .._drawing import study_title
from .dimensionality import epoch_axis, matched_record
from .shared import (
    METHODS,
    RULES,
    STUDY,
    TARGETS,
    bracket_differences,
    bracketing_records,
    run_config,
    run_details,
    seed_interval,
    seed_mean,
    study_results,
    study_runs,
)

__all__ = ["compute_recordings92_it", "draw_recordings92_it", "layer_rdms", "recordings92_it"]

_METHOD_LABELS = {"spearman": "Spearman rho", "kendall_tau_a": "Kendall tau-a"}
_LAYER = "hidden layer (population)"


def layer_rdms(network, state, inputs, layers):
    """Correlation-distance RDMs (``1 - r``) of every member's layers on ``inputs``, ``ndarray of shape (n_members, n_layers, n_pairs)``.

    NaN for a member and layer with a constant pattern (the RDM is undefined).
    The passes run on one BLAS thread, so the RDMs are the same bits in any
    process (a team of BLAS threads rounds the products differently).
    """
    n = len(inputs)
    out = np.full((state.n_members, len(layers), n * (n - 1) // 2), np.nan)
    with np.errstate(all="ignore"), blas_limit(1):
        for j, layer in enumerate(layers):
            for e, recording in enumerate(model_recording(network, state, inputs, layer=layer)):
                rates = recording.mean_responses()
                if (np.ptp(rates, axis=1) > 0).all():
                    out[e, j] = recording.rdm().condensed
    return out


def _scores(rdms, monkey, human, method):
    """Per member and layer: the comparison with the monkey-IT RDM and the mean over the human subjects' (NaN where undefined)."""
    out = {target: np.full(rdms.shape[:2], np.nan) for target in TARGETS}
    for e, j in np.ndindex(rdms.shape[:2]):
        if np.isfinite(rdms[e, j]).all():
            out["mit"][e, j] = compare_rdms(rdms[e, j], monkey, method=method)
            out["hit"][e, j] = np.mean([compare_rdms(rdms[e, j], h, method=method) for h in human])
    return out


def _interval(values):
    return [float(v) for v in values]


def compute_recordings92_it(*, quick=False, progress=True, out_dir=None):
    """Each hidden layer's RDM of the 92 images against monkey and human IT, before and after training by every rule.

    The networks, rules and runs of :func:`compute_recordings92_dimensionality`
    (one set of runs, shared through ``out_dir``); the 92 images are resized
    to 32 x 32 by area averaging and standardised with the CIFAR-10 training
    statistics of the run (:func:`~bioplastic.recordings.images_to_inputs`).
    Each layer's RDM (``1 - Pearson r`` over all its units) is compared with
    the monkey-IT RDM and with each human subject's (the mean of its two
    sessions; the score is the mean over the 4 subjects, the score the
    between-subject noise ceiling bounds) by Spearman's rho and Kendall's
    tau-a. Summary, per rule, target and layer (Spearman unless named): the
    score before and after training, its percentile bootstrap intervals
    over stimuli (the 92 images resampled, pairs of an image with its copy
    left out) and over seeds (ensemble members), the change with training
    (the same stimulus resamples before and after: a paired interval; and
    over seeds), the shuffled-image baseline (mean, standard deviation,
    p-value), Kendall tau-a before and after, and for every rule against SGD
    at a similar test accuracy the difference of the scores (against SGD's
    closest record, and against both records whose accuracies bracket the
    rule's: ``_bracket``, ``_bracket_ci``); the human-IT
    noise ceiling (lower, upper) for both methods; the reference model RDMs
    of the data set and monkey IT scored the same way.

    quick: the runs of the dimensionality figure's quick mode (SGD, NP, SA
    and DANP, seeds 0 and 1, 3 epochs on 1,000 images of the offline
    JPEG-lossy subset), 20 bootstrap samples and 20 permutations.
    full: its full runs, 1,000 bootstrap samples and 1,000 permutations.
    """
    context = study_runs(quick, out_dir, progress)
    cfg, runs, dataset = context["cfg"], context["runs"], context["dataset"]
    layers, inputs = context["layers"], context["it_inputs"]
    monkey, human = dataset.monkey_it.condensed, context["human_rdms"]
    seconds = {"mit": dataset.monkey_it, "hit": [RDMRecording(h) for h in human]}
    n_bootstrap, n_permutations, confidence = cfg["n_bootstrap"], cfg["n_permutations"], cfg["confidence"]
    arrays = {"layer_names": np.array(context["layer_names"]), "rules": np.array(list(runs)), "monkey_rdm": monkey,
              "human_rdm": human.mean(axis=0), "reference_models": np.array(list(dataset.models))}  # the data set's order
    summary = {"layers": context["layer_names"], "subjects": context["subjects"]}
    for method in METHODS:
        summary[f"hit_noise_ceiling_{method}"] = list(noise_ceiling(human, method=method))
        summary[f"mit_vs_hit_{method}"] = float(np.mean([compare_rdms(monkey, h, method=method) for h in human]))
    summary["reference_models"] = {
        name: {f"{method}_{target}": float(compare_rdms(model, monkey, method=method)) if target == "mit"
               else float(np.mean([compare_rdms(model, h, method=method) for h in human]))
               for method in METHODS for target in TARGETS}
        for name, model in dataset.models.items()}
    for rule, (network, history) in runs.items():
        initial = layer_rdms(network, network.init_state(cfg["seeds"], dtype=np.float32), inputs, layers)
        final = layer_rdms(network, history.final_state_, inputs, layers)
        arrays[f"{rule}_initial_rdms"], arrays[f"{rule}_final_rdms"] = initial.astype(np.float32), final.astype(np.float32)
        for method in METHODS:
            before, after = _scores(initial, monkey, human, method), _scores(final, monkey, human, method)
            for target in TARGETS:
                arrays[f"{rule}_{method}_{target}"] = np.stack([before[target], after[target]])  # (before/after, members, layers)
                summary[f"{rule}_{target}_{method}_initial"] = seed_mean(before[target]).tolist()
                summary[f"{rule}_{target}_{method}_final"] = seed_mean(after[target]).tolist()
        # members whose layer has an RDM at the end (not silent on the 92 images): the means are over them
        summary[f"{rule}_measured_members"] = np.isfinite(final).all(axis=2).sum(axis=0).tolist()
        positions = np.asarray(history.epochs)
        rows = np.flatnonzero(np.isin(positions, cfg["record_epochs"]))
        arrays[f"{rule}_epochs"] = positions[rows]
        arrays[f"{rule}_test_accuracy"] = np.asarray(history.records["test_accuracy"])[:, rows]
        for target in TARGETS:  # the recorder's Spearman scores at the recorded epochs
            arrays[f"{rule}_spearman_{target}_training"] = np.asarray(history.records[f"spearman_{target}"])[:, rows]
        for target in TARGETS:
            _inference(summary, rule, target, initial, final, seconds[target], arrays[f"{rule}_spearman_{target}"],
                       n_bootstrap=n_bootstrap, n_permutations=n_permutations, confidence=confidence)
    if "sgd" in runs:
        for rule in runs:
            if rule == "sgd":
                continue
            final_accuracy = float(np.nanmean(arrays[f"{rule}_test_accuracy"][:, -1]))
            k = matched_record(arrays["sgd_test_accuracy"], final_accuracy)
            summary[f"{rule}_matched_sgd_epoch"] = int(arrays["sgd_epochs"][k])
            bracket = bracketing_records(arrays["sgd_test_accuracy"], final_accuracy)
            summary[f"{rule}_bracketing_sgd_epochs"] = [int(arrays["sgd_epochs"][b]) for b in bracket]
            for target in TARGETS:
                key = f"{rule}_minus_sgd_{target}_spearman"
                means, intervals = bracket_differences(arrays[f"{rule}_spearman_{target}_training"][:, -1],
                                                       arrays[f"sgd_spearman_{target}_training"], [k, *bracket], n_bootstrap=n_bootstrap,
                                                       confidence=confidence)
                summary[key], summary[f"{key}_ci"] = means[0], intervals[0]  # SGD's closest record
                summary[f"{key}_bracket"], summary[f"{key}_bracket_ci"] = means[1:], intervals[1:]
    return study_results("recordings92_it", quick, run_config(context), arrays, summary)


def _inference(summary, rule, target, initial, final, second, scores, *, n_bootstrap, n_permutations, confidence):
    """Bootstrap intervals (stimuli, seeds), paired changes and shuffled baselines of the Spearman scores of one rule and target."""
    keys = ("final_ci_stimuli", "final_ci_seeds", "change", "change_ci_stimuli", "change_ci_seeds", "null_mean", "null_std", "p_shuffled")
    values = {key: [] for key in keys}
    for j in range(final.shape[1]):
        members = [e for e in range(final.shape[0]) if np.isfinite(final[e, j]).all() and np.isfinite(initial[e, j]).all()]
        if not members:
            for key in keys:
                values[key].append(float("nan") if not key.endswith(("stimuli", "seeds")) else [float("nan")] * 2)
            continue
        after = [RDMRecording(final[e, j]) for e in members]
        before = [RDMRecording(initial[e, j]) for e in members]
        seed = 1000 * j + 1  # the same seed before and after training: the same resampled images, a paired difference
        boot_after = bootstrap_score(compare_rdms, after, second, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
        boot_before = bootstrap_score(compare_rdms, before, second, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
        change = boot_after.distribution - boot_before.distribution
        values["final_ci_stimuli"].append(_interval(boot_after.ci))
        values["change"].append(boot_after.estimate - boot_before.estimate)
        values["change_ci_stimuli"].append(_interval(np.quantile(change, [(1 - confidence) / 2, (1 + confidence) / 2])))
        per_seed = scores[:, members, j]  # (before/after, members)
        if len(members) > 1:
            values["final_ci_seeds"].append(_interval(bootstrap_score(compare_rdms, after, second, over="members", n_bootstrap=n_bootstrap,
                                                                      confidence=confidence, seed=seed).ci))
            values["change_ci_seeds"].append(_interval(seed_interval(per_seed[1] - per_seed[0], n_bootstrap=n_bootstrap,
                                                                     confidence=confidence, seed=seed)))
        else:
            values["final_ci_seeds"].append([float(per_seed[1, 0])] * 2)
            values["change_ci_seeds"].append([float(per_seed[1, 0] - per_seed[0, 0])] * 2)
        null = shuffled_baseline(compare_rdms, after, second, n_permutations=n_permutations, seed=seed + 1)
        values["null_mean"].append(null.mean)
        values["null_std"].append(null.std)
        values["p_shuffled"].append(null.p_value)
    for key, value in values.items():
        summary[f"{rule}_{target}_spearman_{key}"] = value


def _rank(vector):
    """An RDM as percentiles of its dissimilarities, square (for display)."""
    from scipy.spatial.distance import squareform
    from scipy.stats import rankdata

    return squareform(100.0 * rankdata(vector) / len(vector))


def _rdm_panel(ax, vector, title):
    ax.imshow(_rank(np.asarray(vector, dtype=float)), cmap="viridis", interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("image (1-92, faces, bodies, animals, objects)")
    ax.set_ylabel("image (1-92, same order)")
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax, results, target, method, *, ceiling=None, change=False):
    """Grouped bars: one group per layer, one bar per rule; error bars: CI over stimuli; dots: seeds; grey: shuffled 97.5th percentile."""
    arrays, summary = results.arrays, results.summary
    rules = [str(r) for r in arrays["rules"]]
    names = [str(n) for n in arrays["layer_names"]]
    width = 0.8 / len(rules)
    for i, rule in enumerate(rules):
        label, color = RULES[rule]
        x = np.arange(len(names)) + (i - (len(rules) - 1) / 2) * width
        scores = np.asarray(arrays[f"{rule}_{method}_{target}"], dtype=float)  # (before/after, members, layers)
        per_seed = scores[1] - scores[0] if change else scores[1]
        height = np.nanmean(per_seed, axis=0)
        ax.bar(x, np.nan_to_num(height), width=width, color=color, alpha=0.75, label=label, edgecolor="k", linewidth=0.3)
        ax.scatter(np.repeat(x[None], per_seed.shape[0], axis=0), per_seed, color="k", s=4, zorder=3)
        if method == "spearman":
            key = "change_ci_stimuli" if change else "final_ci_stimuli"
            intervals = np.asarray(summary[f"{rule}_{target}_spearman_{key}"], dtype=float)
            centre = np.asarray(summary[f"{rule}_{target}_spearman_{'change' if change else 'final'}"], dtype=float)
            ax.errorbar(x, centre, yerr=np.abs(intervals.T - centre), fmt="none", ecolor="k", elinewidth=0.8, capsize=1.5)
            if not change:
                null = np.asarray(summary[f"{rule}_{target}_spearman_null_mean"]) + 1.96 * np.asarray(summary[f"{rule}_{target}_spearman_null_std"])
                ax.scatter(x, null, marker="_", color="0.5", s=40, zorder=4, label="shuffled images, 97.5%" if i == 0 else None)
    if ceiling is not None:
        ax.axhspan(ceiling[0], ceiling[1], color="0.85", zorder=0, label="noise ceiling (human IT)")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_xlabel(_LAYER)
    what = "change with training" if change else "after training"
    ax.set_ylabel(f"{_METHOD_LABELS[method]} with {target.replace('mit', 'monkey').replace('hit', 'human')} IT ({what})")


def draw_recordings92_it(results):
    """RDMs (top), similarity with IT after training and its change (bars, CIs over images), reference models, over training."""
    from matplotlib.figure import Figure

    arrays, config, summary = results.arrays, results.metadata["config"], results.summary
    rules = [str(r) for r in arrays["rules"]]
    names = [str(n) for n in arrays["layer_names"]]
    fig = Figure(figsize=(17, 12), layout="constrained")
    axes = fig.subplots(3, 4)
    _rdm_panel(axes[0, 0], arrays["monkey_rdm"], "monkey IT (674 neurons)")
    _rdm_panel(axes[0, 1], arrays["human_rdm"], "human IT (mean of 4 subjects)")
    shown = ([r for r in ("sgd", "np") if r in rules] or rules)[:2]
    for ax, rule in zip(axes[0, 2:], shown, strict=False):
        _rdm_panel(ax, arrays[f"{rule}_final_rdms"][0, -1], f"{RULES[rule][0]}, {names[-1]}, seed {config['seeds'][0]}")
    for ax in axes[0, 2 + len(shown):]:
        ax.remove()
    _bars(axes[1, 0], results, "mit", "spearman")
    _bars(axes[1, 1], results, "hit", "spearman", ceiling=summary["hit_noise_ceiling_spearman"])
    _bars(axes[1, 3], results, "hit", "kendall_tau_a", ceiling=summary["hit_noise_ceiling_kendall_tau_a"])
    axes[1, 1].legend(fontsize="xx-small")
    references = [str(n) for n in arrays["reference_models"]]  # (the JSON summary's keys are sorted)
    y = np.arange(len(references))
    for offset, target, color in ((-0.2, "mit", "C3"), (0.2, "hit", "C9")):
        axes[1, 2].barh(y + offset, [summary["reference_models"][n][f"spearman_{target}"] for n in references], height=0.4, color=color,
                        label=TARGETS[target])
    axes[1, 2].set_yticks(y, references)
    axes[1, 2].invert_yaxis()
    axes[1, 2].axvspan(*summary["hit_noise_ceiling_spearman"], color="0.85", zorder=0)
    axes[1, 2].set_xlabel("Spearman rho with IT (reference model RDM)")
    axes[1, 2].set_ylabel("reference model (of the data set)")
    axes[1, 2].legend(fontsize="xx-small")
    _bars(axes[2, 0], results, "mit", "spearman", change=True)
    _bars(axes[2, 1], results, "hit", "spearman", change=True)
    for ax, target in ((axes[2, 2], "hit"), (axes[2, 3], "mit")):
        for rule in rules:
            label, color = RULES[rule]
            epochs = np.asarray(arrays[f"{rule}_epochs"], dtype=float)
            values = np.asarray(arrays[f"{rule}_spearman_{target}_training"], dtype=float)[:, :, -1]
            ax.plot(epochs, np.nanmean(values, axis=0), color=color, marker="o", markersize=2.5, label=label)
            ax.fill_between(epochs, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=color, alpha=0.12, linewidth=0)
        epoch_axis(ax, [arrays[f"{rule}_epochs"] for rule in rules])
        ax.set_ylabel(f"Spearman rho with {TARGETS[target].split(' (')[0]} ({names[-1]})")
    axes[2, 2].axhspan(*summary["hit_noise_ceiling_spearman"], color="0.85", zorder=0)
    axes[2, 2].legend(fontsize="xx-small")
    study_title(fig, STUDY, "IT similarity", "hidden-layer RDMs of CIFAR-10 CNNs against monkey and human IT",
                run_details(results, f"92 images at 32x32, standardised with the run's CIFAR-10 statistics; error bars: "
                                     f"{config['confidence']:.0%} bootstrap over images ({config['n_bootstrap']} samples), "
                                     f"dots: {len(config['seeds'])} seed(s)"))
    return fig


recordings92_it = register_figure("recordings92_it", compute_recordings92_it, draw_recordings92_it, paths_in_summary=True)

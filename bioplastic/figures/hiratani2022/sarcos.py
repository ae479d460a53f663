"""NP on a motor task, SARCOS inverse dynamics (Figs 4A-F).

Update alignment with SGD against width, learning curves, NP's instability
(the error falls, then blows up; the weight norm keeps expanding), minimum
training time against width, and synaptic scaling as the remedy. See
:mod:`~bioplastic.figures.hiratani2022.nonlinear_setup` for the conventions.
"""

from __future__ import annotations

import numpy as np

from ...analysis import mean_update_cosine_similarity, measured_instability_times, weight_norm_trajectories
from ...homeostasis import SynapticScaling
from ...plotting import DIVERGED_LABEL, EPOCH_LABEL, divergence_indices, legend, plot_member_curves
from .. import register_figure
from .._drawing import log_axes, new_figure, plain_log_ticks, plot_times, width_ticks
from . import _style as style
from .nonlinear_setup import (
    RULE_COLORS,
    RULE_LABELS,
    best_final,
    curve_arrays,
    loglog_slope,
    nonlinear_results,
    plot_curves,
    sarcos_net,
    sarcos_rules,
    sarcos_task,
    task_config,
    time_scan,
    time_summary,
    train_run,
)

__all__ = [
    "compute_fig4a",
    "compute_fig4b",
    "compute_fig4c",
    "compute_fig4d",
    "compute_fig4e",
    "compute_fig4f",
    "draw_fig4a",
    "draw_fig4b",
    "draw_fig4c",
    "draw_fig4d",
    "draw_fig4e",
    "draw_fig4f",
    "fig4a",
    "fig4b",
    "fig4c",
    "fig4d",
    "fig4e",
    "fig4f",
]


#: the axis label of SARCOS test errors
_TEST_ERROR = "test error (squared error, sum over 7 torques)"


def _mode(results):
    """How the figure's numbers were made, for its title."""
    return "quick run" if results.metadata.get("quick") else "paper sizes"


def _sarcos_curves(quick, out_dir, progress, name, runs, *, width=100, seeds, n_epochs, standardize=None, homeostasis=None):
    """Train each ``label -> (rule name, learning rates)`` run on SARCOS; return the Histories."""
    task = sarcos_task(quick, standardize=standardize)
    rules = sarcos_rules()
    histories = {}
    for label, (rule_name, lrs) in runs.items():
        hs = homeostasis.get(label) if isinstance(homeostasis, dict) else homeostasis
        histories[label] = train_run(out_dir, f"{name}_{label}", sarcos_net(width), rules[rule_name], task,
                                     n_epochs=n_epochs[label] if isinstance(n_epochs, dict) else n_epochs,
                                     learning_rate=lrs, seeds=seeds, progress=progress, homeostasis=hs)
    return task, histories


# --------------------------------------------------------------------------
# Fig. 4A: update alignment
# --------------------------------------------------------------------------


def compute_fig4a(*, quick=False, progress=True, out_dir=None):
    """Fig. 4A: per-layer cosine similarity of NP (and REINFORCE) with SGD against width (SARCOS).

    For 21-width-7 networks at initialisation, NP's and SGD's updates on the
    same minibatch are compared layer by layer, averaged over minibatches,
    noise draws and networks. NP's hidden-layer similarity falls like
    ``1/sqrt(width)``; its readout's stays roughly constant; REINFORCE's
    hidden-layer similarity does not fall with width. Raw SARCOS units.

    quick: widths 25-400, 4 networks x 4 minibatches x 2 noise draws.
    full: widths 25-3200, 10 networks x 20 minibatches x 5 noise draws.
    """
    widths = (25, 50, 100, 200, 400) if quick else (25, 50, 100, 200, 400, 800, 1600, 3200)
    n_nets, n_batches, n_noise = (4, 4, 2) if quick else (10, 20, 5)
    task = sarcos_task(quick)
    rules = sarcos_rules()
    rule_names = ("np", "reinforce")
    mean = np.full((len(rule_names), len(widths), 2), np.nan)
    sem = np.full_like(mean, np.nan)
    from tqdm.auto import tqdm

    for j, width in enumerate(tqdm(widths, disable=not progress, desc="fig4a widths", leave=False)):
        network = sarcos_net(width)
        state = network.init_state(seeds=list(range(n_nets)))
        for i, name in enumerate(rule_names):
            result = mean_update_cosine_similarity(network, state, task, rules[name], rules["sgd"], batch_size=100,
                                                   n_batches=n_batches, n_noise=n_noise, seed=j)
            values = result["values"].reshape(-1, network.n_layers)
            mean[i, j] = values.mean(axis=0)
            sem[i, j] = values.std(axis=0, ddof=1) / np.sqrt(len(values))
    slopes = {f"{name}_layer{k + 1}_slope": loglog_slope(widths, mean[i, :, k]) for i, name in enumerate(rule_names) for k in range(2)}
    summary = {"widths": list(widths), **slopes,
               "np_cosine_layer1": mean[0, :, 0].tolist(), "np_cosine_layer2": mean[0, :, 1].tolist(),
               "reinforce_cosine_layer1": mean[1, :, 0].tolist(), "reinforce_cosine_layer2": mean[1, :, 1].tolist()}
    config = {"task": task_config(task), "widths": widths, "n_networks": n_nets, "n_batches": n_batches, "n_noise": n_noise,
              "rules": {n: rules[n].describe() for n in (*rule_names, "sgd")}}
    arrays = {"widths": np.asarray(widths), "mean": mean, "sem": sem, "rules": np.asarray(rule_names)}
    return nonlinear_results("fig4a", quick, config, arrays, summary)


def draw_fig4a(results):
    """Fig. 4A: cosine similarity with SGD per layer against width, with a ``1/sqrt(width)`` reference."""
    arrays = results.arrays
    widths, mean, sem = arrays["widths"], arrays["mean"], arrays["sem"]
    fig, (ax,) = new_figure(1, width=5.5, height=4.2)
    for i, name in enumerate(str(n) for n in arrays["rules"]):
        for k, marker in ((0, "o"), (1, "s")):
            ax.errorbar(widths, mean[i, :, k], yerr=sem[i, :, k], marker=marker, color=RULE_COLORS[name],
                        linestyle="-" if k == 0 else "--", label=f"{RULE_LABELS[name]} layer {k + 1}")
    ref = mean[0, 0, 0] * np.sqrt(widths[0] / np.asarray(widths, dtype=float))
    ax.plot(widths, ref, color="grey", linestyle=":", label=r"$\propto 1/\sqrt{width}$")
    log_axes(ax, widths, mean)
    width_ticks(ax, widths)
    plain_log_ticks(ax)
    ax.set_xlabel(style.WIDTH)
    ax.set_ylabel("cosine similarity with SGD's update (-1 to 1)")
    ax.legend(fontsize="small")
    style.title(fig, "Fig. 4A", "update alignment with SGD against width",
                f"SARCOS 21-width-7 at initialisation, mean +- sem; {_mode(results)}")
    return fig


fig4a = register_figure("fig4a", compute_fig4a, draw_fig4a, paths_in_summary=True)


# --------------------------------------------------------------------------
# Fig. 4B: learning curves
# --------------------------------------------------------------------------

_FIG4B_RULES = ("np", "sgd", "reinforce")


def compute_fig4b(*, quick=False, progress=True, out_dir=None):
    """Fig. 4B: SARCOS learning curves (test error) of NP, SGD and REINFORCE for a 21-100-7 network.

    quick: 40 epochs, 2 seeds, test-file-only split.
    full: paper split, NP 3,000 / REINFORCE 1,000 / SGD 300 epochs, 5 seeds.
    """
    seeds = [0, 1] if quick else [0, 1, 2, 3, 4]
    if quick:
        runs = {"np": ("np", [3e-5, 1e-4, 3e-4]), "sgd": ("sgd", [3e-4, 1e-3]), "reinforce": ("reinforce", [3e-4, 1e-3])}
        n_epochs = 40
    else:
        runs = {"np": ("np", [1e-5, 3.2e-5, 1e-4]), "sgd": ("sgd", [1e-4, 3.2e-4, 1e-3]),
                "reinforce": ("reinforce", [3.2e-5, 1e-4, 3.2e-4])}
        n_epochs = {"np": 3000, "sgd": 300, "reinforce": 1000}
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4b", runs, seeds=seeds, n_epochs=n_epochs)
    summary = {"initial_test_error": float(np.mean(histories["np"].records["test_error"][:, 0]))}
    arrays = {"epochs_np": histories["np"].epochs}
    for label in _FIG4B_RULES:
        history = histories[label]
        best = best_final(history)
        summary[f"{label}_best_learning_rate"] = best[0]
        summary[f"{label}_best_final_test_error"] = best[1]
        summary[f"{label}_min_test_error"] = float(np.nanmin(history.records["test_error"]))
        arrays.update(curve_arrays(label, history, "test_error"))
    config = {"task": task_config(task), "runs": runs, "seeds": seeds, "n_epochs": n_epochs}
    return nonlinear_results("fig4b", quick, config, arrays, summary)


def draw_fig4b(results):
    """Fig. 4B: one panel per rule, test error per learning rate (mean over seeds, min-max band)."""
    fig, axes = new_figure(3, width=4.4, height=3.8)
    for ax, label in zip(axes, _FIG4B_RULES, strict=True):
        plot_curves(ax, results.arrays, label, "test_error", label=RULE_LABELS[label])
        ax.set_ylabel(_TEST_ERROR)
        ax.set_title(RULE_LABELS[label], fontsize=9)
    style.title(fig, "Fig. 4B", "SARCOS learning curves of NP, SGD and REINFORCE",
                f"21-100-7; mean over seeds, band: min-max; {_mode(results)}")
    return fig


fig4b = register_figure("fig4b", compute_fig4b, draw_fig4b, paths_in_summary=True)


# --------------------------------------------------------------------------
# Fig. 4C: instability
# --------------------------------------------------------------------------


def compute_fig4c(*, quick=False, progress=True, out_dir=None):
    """Fig. 4C: NP's instability on SARCOS -- epochs to the minimal test error and back to the initial one.

    For each learning rate, the epoch of the smallest test error and the
    first later epoch at which the error is back at its initial value (or
    the member diverged) are averaged over seeds. Both shrink as the
    learning rate grows: large rates learn fast, then blow up.

    quick: 21-100-7, 5 rates 1e-4 - 1e-3, 50 epochs, seed 0, test-file-only split.
    full: 21-800-7 (the paper's width), 8 rates 3.2e-6 - 1.8e-4, 3,000 epochs, 5 seeds.
    """
    if quick:
        width, lrs, n_epochs, seeds = 100, [1e-4, 1.8e-4, 3.2e-4, 5.6e-4, 1e-3], 50, [0]
    else:
        width, lrs, n_epochs, seeds = 800, [3.2e-6, 5.6e-6, 1e-5, 1.8e-5, 3.2e-5, 5.6e-5, 1e-4, 1.8e-4], 3000, [0, 1, 2, 3, 4]
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4c", {"np": ("np", lrs)}, width=width, seeds=seeds,
                                     n_epochs=n_epochs)
    history = histories["np"]
    times = measured_instability_times(history)
    rates = np.unique(history.learning_rates)
    with np.errstate(invalid="ignore"):
        t_min = np.array([np.mean(times["min_epoch"][history.learning_rates == lr]) for lr in rates])
        t_back = np.array([np.mean(times["return_epoch"][history.learning_rates == lr]) for lr in rates])
    summary = {"learning_rates": rates.tolist(), "epochs_to_min": t_min.tolist(), "epochs_back_to_initial": t_back.tolist(),
               "diverged_fraction": [float(np.mean(history.diverged[history.learning_rates == lr])) for lr in rates]}
    config = {"task": task_config(task), "width": width, "learning_rates": lrs, "n_epochs": n_epochs, "seeds": seeds}
    arrays = {"learning_rates": rates, "epochs_to_min": t_min, "epochs_back_to_initial": t_back,
              **{f"member_{k}": v for k, v in times.items()}, **curve_arrays("np", history, "test_error")}
    return nonlinear_results("fig4c", quick, config, arrays, summary)


def draw_fig4c(results):
    """Fig. 4C: epochs to the minimum and back to the initial error against the learning rate; the learning curves."""
    arrays = results.arrays
    rates, t_min, t_back = arrays["learning_rates"], arrays["epochs_to_min"], arrays["epochs_back_to_initial"]
    fig, axes = new_figure(2, width=5.2, height=4.0)
    axes[0].plot(rates, t_min, "o-", color="k", label="minimal test error")
    finite = np.isfinite(t_back)
    axes[0].plot(rates[finite], t_back[finite], "o-", color="grey", label="back at initial error")
    log_axes(axes[0], rates, np.r_[t_min, t_back[finite]])
    axes[0].set_xlabel(style.LEARNING_RATE)
    axes[0].set_ylabel("time to the event (epochs)")
    axes[0].legend(fontsize="small")
    axes[0].set_title("learning fast, then blowing up", fontsize=9)
    plot_curves(axes[1], arrays, "np", "test_error", label="NP", band=None)
    axes[1].set_ylabel(_TEST_ERROR)
    axes[1].set_title("test error per learning rate", fontsize=9)
    style.title(fig, "Fig. 4C", "NP's instability on SARCOS",
                f"21-{results.metadata['config']['width']}-7; mean over seeds; {_mode(results)}")
    return fig


fig4c = register_figure("fig4c", compute_fig4c, draw_fig4c, paths_in_summary=True)


# --------------------------------------------------------------------------
# Fig. 4D: weight norm against error
# --------------------------------------------------------------------------


def compute_fig4d(*, quick=False, progress=True, out_dir=None):
    """Fig. 4D: weight norm against test error along training (SARCOS, NP at two rates and SGD).

    At the larger rate NP's weight norm keeps expanding while the error
    first falls and then rises until the run diverges; SGD's norm settles.

    quick: 21-100-7, 60 epochs, seed 0, test-file-only split.
    full: 21-800-7, 3,000 epochs, 3 seeds.
    """
    if quick:
        width, n_epochs, seeds, np_lrs, sgd_lr = 100, 60, [0], [1e-4, 3e-4], [1e-3]
    else:
        width, n_epochs, seeds, np_lrs, sgd_lr = 800, 3000, [0, 1, 2], [1e-5, 5.6e-5], [3.2e-4]
    runs = {"np": ("np", np_lrs), "sgd": ("sgd", sgd_lr)}
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4d", runs, width=width, seeds=seeds, n_epochs=n_epochs)
    summary = {}
    arrays = {}
    members = {"members": [], "member_rules": [], "member_learning_rates": [], "member_seeds": []}
    for label, history in histories.items():
        traj = weight_norm_trajectories(history)
        for i, lr in enumerate(history.learning_rates):
            ok = np.isfinite(traj["norm"][i])
            key = f"{label}_lr{lr:.2g}_seed{history.seeds[i]}"
            summary[f"{key}_norm_growth"] = float(traj["norm"][i, ok][-1] / traj["norm"][i, 0])
            summary[f"{key}_diverged_epoch"] = int(history.diverged_epoch[i])
            arrays[f"{key}_norm"] = traj["norm"][i]
            arrays[f"{key}_error"] = traj["error"][i]
            for field, value in zip(members, (key, label, lr, history.seeds[i]), strict=True):
                members[field].append(value)
    arrays.update({field: np.asarray(values) for field, values in members.items()})
    config = {"task": task_config(task), "width": width, "runs": runs, "n_epochs": n_epochs, "seeds": seeds}
    return nonlinear_results("fig4d", quick, config, arrays, summary)


def draw_fig4d(results):
    """Fig. 4D: test error against the weight norm of every member (NP solid, SGD dashed); x: the last record before a divergence."""
    arrays = results.arrays
    fig, (ax,) = new_figure(1, width=5.5, height=4.2)
    for key, label, lr, seed in zip(arrays["members"], arrays["member_rules"], arrays["member_learning_rates"],
                                    arrays["member_seeds"], strict=True):
        norm, error = arrays[f"{key}_norm"], arrays[f"{key}_error"]
        (k,) = divergence_indices(error[None, :])
        ok = np.isfinite(norm) & np.isfinite(error) & (np.arange(len(norm)) < (k if k >= 0 else len(norm)))
        line = "-" if label == "np" else "--"
        (drawn,) = ax.plot(norm[ok], error[ok], line, marker=".", markersize=3,
                           label=f"{RULE_LABELS[str(label)]} lr={lr:.2g} seed {seed}")
        if k >= 0 and ok.any():
            last = np.flatnonzero(ok)[-1]
            ax.plot(norm[last], error[last], "x", color=drawn.get_color(), markersize=8, markeredgewidth=2,
                    label="_nolegend_" if any(h.get_label() == DIVERGED_LABEL for h in ax.get_lines()) else DIVERGED_LABEL)
    ax.set_yscale("log")
    ax.set_xlabel(style.WEIGHT_NORM)
    ax.set_ylabel(_TEST_ERROR)
    legend(ax, fontsize="x-small")
    style.title(fig, "Fig. 4D", "NP's weight norm keeps growing while its error falls, then rises",
                f"SARCOS 21-{results.metadata['config']['width']}-7, one point per epoch (x: last before divergence); "
                f"{_mode(results)}")
    return fig


fig4d = register_figure("fig4d", compute_fig4d, draw_fig4d, paths_in_summary=True)


# --------------------------------------------------------------------------
# Fig. 4E: minimum training time against width
# --------------------------------------------------------------------------

_TIME_RULES = ("np", "reinforce", "sgd")


def compute_fig4e(*, quick=False, progress=True, out_dir=None, workers=None, scheduler=None):
    """Fig. 4E: minimum training time against width on SARCOS, NP vs REINFORCE vs SGD.

    For each width the fewest epochs to reach the target test error,
    optimised over a learning-rate grid (extended when the optimum is at its
    edge) with seed ensembles (mean over seeds).

    quick: widths 25 and 100, 2 seeds, test-file-only split with *standardised
    inputs* and a target test error of 100 (summed over outputs, i.e. 14.3
    per output), so that NP gets there in tens of epochs.
    full: paper split, raw units, target 35 (the paper's 5.0 per output),
    widths 100-1600, 5 seeds.

    The searches (one per rule and width) distribute over Dask workers
    (``workers=``, ``scheduler=``; ``bioplastic figure fig4e --workers 2``).
    """
    if quick:
        task = sarcos_task(True, standardize="inputs")
        widths, seeds, target = (25, 100), [0, 1], 100.0
        max_epochs = {"np": 400, "reinforce": 100, "sgd": 100}
        grids = {"np": [1e-4, 3e-4, 1e-3], "reinforce": [1e-3, 3e-3, 1e-2], "sgd": [1e-3, 3e-3, 1e-2]}
    else:
        task = sarcos_task(False)
        widths, seeds, target = (100, 200, 400, 800, 1600), [0, 1, 2, 3, 4], task.error_target()
        max_epochs = {"np": 30000, "reinforce": 10000, "sgd": 1000}
        grids = {"np": [3.2e-6, 1e-5, 3.2e-5, 1e-4], "reinforce": [3.2e-5, 1e-4, 3.2e-4, 1e-3],
                 "sgd": [1e-4, 3.2e-4, 1e-3, 3.2e-3]}
    rules = sarcos_rules()
    conditions = {label: (rules[label], grids[label], None) for label in _TIME_RULES}
    times, best_lrs, settled = time_scan(quick, out_dir, progress, "fig4e", task, sarcos_net, conditions, widths,
                                         target=target, record="test_error", seeds=seeds, max_epochs=max_epochs, workers=workers,
                                         scheduler=scheduler)
    summary = {"widths": list(widths), "target_test_error": float(target)}
    summary.update(time_summary(conditions, times, best_lrs, settled))
    config = {"task": task_config(task), "widths": widths, "seeds": seeds, "target": target, "grids": grids,
              "max_epochs": max_epochs, "statistic": "mean"}
    arrays = {"widths": np.asarray(widths), "times": times, "best_learning_rates": best_lrs, "settled": settled,
              "rules": np.asarray(list(conditions))}
    return nonlinear_results("fig4e", quick, config, arrays, summary)


def draw_fig4e(results):
    """Fig. 4E: minimum training time (epochs to the target test error) against width, one line per rule."""
    arrays = results.arrays
    rules = [str(r) for r in arrays["rules"]]
    fig, axes = new_figure(1, width=5.5, height=4.2)
    plot_times(axes[0], arrays["widths"], arrays["times"], [RULE_LABELS[k] for k in rules], [RULE_COLORS[k] for k in rules])
    style.title(fig, "Fig. 4E", "minimum training time against width on SARCOS",
                f"epochs to test error {results.metadata['config']['target']:g} (sum over 7 torques), best learning rate; "
                f"{_mode(results)}")
    return fig


fig4e = register_figure("fig4e", compute_fig4e, draw_fig4e, paths_in_summary=True)


# --------------------------------------------------------------------------
# Fig. 4F: synaptic scaling
# --------------------------------------------------------------------------

#: label, legend and colour of the conditions of Fig. 4F
_FIG4F_CONDITIONS = (("none", "NP", "C1"), ("first", "NP + scaling (layer 1)", "C4"), ("all", "NP + scaling (all layers)", "C2"))


def compute_fig4f(*, quick=False, progress=True, out_dir=None):
    """Fig. 4F: synaptic scaling (weight normalisation) prevents NP's divergence on SARCOS.

    NP at a learning rate where plain NP diverges, with no scaling, scaling
    of the first layer's incoming weights, and scaling of every layer
    (each neuron's incoming RMS held at its initial value).

    quick: 21-100-7, learning rate 3e-4, 60 epochs, 2 seeds, test-file-only split.
    full: 21-800-7, learning rate 5.6e-5, 3,000 epochs, 5 seeds.
    """
    if quick:
        width, lr, n_epochs, seeds = 100, 3e-4, 60, [0, 1]
    else:
        width, lr, n_epochs, seeds = 800, 5.6e-5, 3000, [0, 1, 2, 3, 4]
    runs = {label: ("np", [lr]) for label, _, _ in _FIG4F_CONDITIONS}
    scaling = {"none": None, "first": SynapticScaling(layers=(0,)), "all": SynapticScaling(layers="all")}
    task, histories = _sarcos_curves(quick, out_dir, progress, "fig4f", runs, width=width, seeds=seeds, n_epochs=n_epochs,
                                     homeostasis=scaling)
    summary = {"learning_rate": lr}
    arrays = {"epochs": histories["none"].epochs}
    for label, history in histories.items():
        summary[f"{label}_diverged_fraction"] = float(np.mean(history.diverged))
        summary[f"{label}_final_test_error"] = float(np.mean(history.final())) if not history.diverged.any() else float("nan")
        summary[f"{label}_min_test_error"] = float(np.nanmin(history.records["test_error"]))
        arrays.update(curve_arrays(label, history, "test_error"))
        arrays[f"{label}_norm"] = weight_norm_trajectories(history)["norm"]
    config = {"task": task_config(task), "width": width, "learning_rate": lr, "n_epochs": n_epochs, "seeds": seeds,
              "scaling": {k: (v.describe() if v is not None else None) for k, v in scaling.items()}}
    return nonlinear_results("fig4f", quick, config, arrays, summary)


def draw_fig4f(results):
    """Fig. 4F: test error (left) and weight norm (right) of NP without and with synaptic scaling."""
    arrays = results.arrays
    config = results.metadata["config"]
    fig, axes = new_figure(2, width=5.2, height=4.0)
    for label, name, color in _FIG4F_CONDITIONS:
        plot_curves(axes[0], arrays, label, "test_error", label=name, colors=[color])
        plot_member_curves(axes[1], arrays[f"{label}_epochs"], arrays[f"{label}_norm"], color=color, label=name,
                           diverged_index=divergence_indices(arrays[f"{label}_test_error"]))
    axes[0].set_ylabel(_TEST_ERROR)
    axes[0].set_title("test error (mean over seeds, band: min-max)", fontsize=9)
    axes[1].set_xlabel(EPOCH_LABEL)
    axes[1].set_ylabel(style.WEIGHT_NORM)
    axes[1].set_title("weight norm of every run (x: diverged)", fontsize=9)
    legend(axes[1], fontsize="small")
    style.title(fig, "Fig. 4F", "synaptic scaling prevents NP's divergence on SARCOS",
                f"21-{config['width']}-7, NP lr={config['learning_rate']:g}; {_mode(results)}")
    return fig


fig4f = register_figure("fig4f", compute_fig4f, draw_fig4f, paths_in_summary=True)

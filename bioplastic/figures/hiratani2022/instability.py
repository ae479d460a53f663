r"""Instability of NP with teacher noise in deep linear networks, and synaptic scaling as its remedy (Figs 3A-D).

With teacher noise (``sigma_t^2 = 0.1``) the input-weight norm keeps
diffusing, every NP trajectory crosses the nullcline of Eq. 14 and the error
rises again, sooner at larger learning rates; SGD below its critical rate is
stable; synaptic scaling (neuron-wise weight normalisation) removes the rise
but leaves an error floor that grows with the hidden width.
"""

from __future__ import annotations

import math

import numpy as np

from ... import theory
from ...homeostasis import SynapticScaling
from ...online import log_spaced_steps, record_steps
from ...plasticity import NodePerturbation
from ...plotting import legend, plot_member_curves
from ...tasks.student_teacher import StudentTeacher
from .. import register_figure
from .._drawing import STEP_LABEL, colors, new_figure, width_ticks
from . import _style as style
from .linear_setup import (
    ENGINE,
    SIGMA,
    TEACHER_NOISE,
    groups,
    initial_order_parameters,
    linear_results,
    nanmean,
    simulate,
    sizes,
    slope,
    trajectories,
)

__all__ = [
    "compute_fig3a",
    "compute_fig3b",
    "compute_fig3c",
    "compute_fig3d",
    "draw_fig3a",
    "draw_fig3b",
    "draw_fig3c",
    "draw_fig3d",
    "fig3a",
    "fig3b",
    "fig3c",
    "fig3d",
]


def _noisy_ratios(quick):
    return (0.5, 1.0, 1.4) if quick else (0.2, 0.6, 1.0, 1.4)


def _noisy_horizon(lx, lh, ly, ratios, quick):
    eta = theory.np_critical_learning_rate(lx, lh, ly)
    times = theory.predicted_instability_times(lx, lh, ly, min(ratios) * eta, TEACHER_NOISE)
    cap = 4e4 if quick else 1e6
    return int(min(cap, 2.5 * times.turning_step))


# --------------------------------------------------------------------------
# Fig. 3A: phase plane and nullcline
# --------------------------------------------------------------------------


def compute_fig3a(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 3A: with teacher noise (``sigma_t^2 = 0.1``) NP trajectories cross the nullcline (Eq. 14) and the error turns up.

    Phase plane ``(a, epsilon)``: single runs (thin), their mean (thick),
    the Eq. 12 trajectory (dashed) and the nullcline
    ``epsilon = c a epsilon_t / (2 - c a)`` (dotted) for each learning rate.
    Full: paper sizes, ``eta/eta* = 0.2, 0.6, 1, 1.4``, 10 seeds, up to
    ``10^6`` steps; quick: ``Lx=50, Lh=10^6, Ly=5``, ``eta/eta* = 0.5, 1,
    1.4``, 3 seeds.

    Summary: per ratio, the simulated and predicted minimum error and the
    ``a`` at which it occurs.
    """
    ratios = _noisy_ratios(quick)
    lx, lh, ly = layer_sizes = sizes(quick)
    n_seeds = 3 if quick else 10
    horizon = _noisy_horizon(lx, lh, ly, ratios, quick)
    hist, task, steps, rates = trajectories("fig3a", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon,
                                            teacher_noise=TEACHER_NOISE, records=80)
    scale = np.cbrt(float(lh))
    arrays = {"steps": steps}
    summary = {}
    for ratio, rate, group in zip(ratios, rates, groups(len(ratios), n_seeds), strict=True):
        init = initial_order_parameters(hist, task, group)
        a_runs = hist.records["alpha"][group] / scale
        e_runs = hist.records["error"][group].copy()
        arrays[f"a_runs_{ratio:g}"], arrays[f"error_runs_{ratio:g}"] = a_runs, e_runs.copy()
        arrays[f"initial_error_{ratio:g}"] = np.asarray(init.epsilon)
        shown = e_runs <= 3 * init.epsilon  # the phase plane up to the divergence
        e_runs[~shown] = np.nan
        a_mean, e_mean = nanmean(np.where(shown, a_runs, np.nan)), nanmean(e_runs)
        two = theory.two_variable_dynamics(lx, lh, ly, rate, steps, teacher_noise=TEACHER_NOISE, initial=init)
        # the nullcline exists for a < 2/c, c = eta Lh^(1/3) Lx Ly (1 + beta_0)
        a_max = 2.0 / (rate * scale * lx * ly * (1.0 + init.beta))
        a_grid = np.geomspace(0.5 * init.alpha / scale, a_max, 200)[:-1]
        null = theory.instability_nullcline(a_grid, lx, lh, ly, rate, TEACHER_NOISE, initial=init)
        k = int(np.nanargmin(e_mean))
        kt = int(np.argmin(np.where(np.isfinite(two.epsilon), two.epsilon, np.inf)))
        summary[f"min_error_sim_{ratio:g}"] = float(e_mean[k])
        summary[f"min_error_theory_{ratio:g}"] = float(two.epsilon[kt])
        summary[f"a_at_min_sim_{ratio:g}"] = float(a_mean[k])
        summary[f"a_at_min_theory_{ratio:g}"] = float(two.a[kt])
        arrays[f"a_sim_{ratio:g}"], arrays[f"error_sim_{ratio:g}"] = a_mean, e_mean
        arrays[f"a_theory_{ratio:g}"], arrays[f"error_theory_{ratio:g}"] = two.a, two.epsilon
        arrays[f"nullcline_a_{ratio:g}"], arrays[f"nullcline_error_{ratio:g}"] = a_grid, null
    settings = {"sizes": layer_sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("fig3a", arrays, summary, settings)


def draw_fig3a(results):
    """Fig. 3A: the ``(a, epsilon)`` plane up to three times the initial error, with Eq. 12 and the nullcline."""
    arrays = results.arrays
    settings = results.metadata["settings"]
    lx, lh, ly = settings["sizes"]
    ratios = settings["ratios"]
    fig, (ax,) = new_figure(figsize=(6, 4.6))
    for ratio, color in zip(ratios, colors(len(ratios)), strict=True):
        limit = 3 * arrays[f"initial_error_{ratio:g}"]
        e_runs = arrays[f"error_runs_{ratio:g}"]
        for a_row, e_row in zip(arrays[f"a_runs_{ratio:g}"], e_runs, strict=True):
            keep = e_row <= limit
            ax.plot(a_row[keep], e_row[keep], color=color, lw=0.5, alpha=0.4)
        ax.plot(arrays[f"a_sim_{ratio:g}"], arrays[f"error_sim_{ratio:g}"], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
        a_theory, e_theory = arrays[f"a_theory_{ratio:g}"], arrays[f"error_theory_{ratio:g}"]
        keep = e_theory <= limit
        ax.plot(a_theory[keep], e_theory[keep], color=color, ls="--", lw=1.2)
        ax.plot(arrays[f"nullcline_a_{ratio:g}"], arrays[f"nullcline_error_{ratio:g}"], color=color, ls=":", lw=1.5)
    ax.set(xscale="log", yscale="log", xlabel=style.A_NORM, ylabel=style.ERROR)
    errors = np.concatenate([arrays[f"error_runs_{ratio:g}"] for ratio in ratios])
    ax.set_ylim(0.3 * np.nanmin(errors), 3 * np.max(errors[:, 0]))
    ax.legend(fontsize="small")
    style.title(fig, "Fig. 3A", "with teacher noise NP trajectories cross the nullcline",
                f"$\\sigma_t^2$=0.1, Lx={lx}, Lh={lh:g}, Ly={ly}; thin: runs (up to 3x the initial error), thick: mean,\n"
                "dashed: Eq. 12, dotted: nullcline (Eq. 14)")
    return fig


fig3a = register_figure("fig3a", compute_fig3a, draw_fig3a)


# --------------------------------------------------------------------------
# Fig. 3B: turning and return steps
# --------------------------------------------------------------------------


def compute_fig3b(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 3B: the error turns up sooner at larger learning rates, as the theory's turning points predict.

    For each learning rate (``sigma_t^2 = 0.1``): the step of the mean
    error's minimum (turning point) and the step at which it is back at its
    initial value, simulated (markers; return steps per run with their
    spread) and from the two-variable theory
    (:func:`bioplastic.theory.predicted_instability_times`; lines over a fine grid of
    rates). Full: paper sizes, ``eta/eta* = 0.6 ... 2``, 6 seeds; quick:
    ``Lx=50, Lh=10^6, Ly=5``, ``eta/eta* = 0.7, 1, 1.4, 2``, 3 seeds.

    Summary: per ratio, simulated and predicted turning and return steps.
    """
    ratios = (0.7, 1.0, 1.4, 2.0) if quick else (0.6, 0.8, 1.0, 1.4, 2.0)
    lx, lh, ly = layer_sizes = sizes(quick)
    n_seeds = 3 if quick else 6
    eta = theory.np_critical_learning_rate(lx, lh, ly)
    slowest = theory.predicted_instability_times(lx, lh, ly, min(ratios) * eta, TEACHER_NOISE)
    horizon = int(min(2e5 if quick else 3e6, 1.6 * slowest.return_step))
    hist, task, steps, rates = trajectories("fig3b", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon,
                                            teacher_noise=TEACHER_NOISE, records=120)
    summary = {}
    sim_turn, sim_return, sim_return_sd = [], [], []
    th_turn, th_return = [], []
    for ratio, rate, group in zip(ratios, rates, groups(len(ratios), n_seeds), strict=True):
        init = initial_order_parameters(hist, task, group)
        times = theory.predicted_instability_times(lx, lh, ly, rate, TEACHER_NOISE, initial=init)
        errors = hist.records["error"][group]
        turn = float(steps[int(np.nanargmin(nanmean(errors)))])
        returns = []
        for row in errors:
            k = int(np.nanargmin(row))
            later = np.nonzero((np.arange(len(row)) > k) & ~(row < row[0]))[0]
            returns.append(float(steps[later[0]]) if later.size else math.inf)
        returns = np.asarray(returns)
        sim_turn.append(turn)
        sim_return.append(float(np.mean(returns)))
        sim_return_sd.append(float(np.std(returns)))
        th_turn.append(times.turning_step)
        th_return.append(times.return_step)
        summary[f"turning_sim_{ratio:g}"] = turn
        summary[f"turning_theory_{ratio:g}"] = float(times.turning_step)
        summary[f"return_sim_{ratio:g}"] = float(np.mean(returns))
        summary[f"return_theory_{ratio:g}"] = float(times.return_step)
    grid = np.geomspace(min(ratios), max(ratios), 25)
    xavier = [theory.predicted_instability_times(lx, lh, ly, g * eta, TEACHER_NOISE) for g in grid]
    arrays = {"ratios": np.asarray(ratios), "turning_sim": np.asarray(sim_turn), "return_sim": np.asarray(sim_return),
              "return_sim_sd": np.asarray(sim_return_sd), "turning_theory": np.asarray(th_turn), "return_theory": np.asarray(th_return),
              "grid": grid, "turning_theory_grid": np.asarray([t.turning_step for t in xavier]),
              "return_theory_grid": np.asarray([t.return_step for t in xavier])}
    settings = {"sizes": layer_sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("fig3b", arrays, summary, settings)


def draw_fig3b(results):
    """Fig. 3B: turning and return steps against ``eta / eta*``; lines theory, markers simulation."""
    arrays = results.arrays
    lx, lh, ly = results.metadata["settings"]["sizes"]
    fig, (ax,) = new_figure(figsize=(6, 4.4))
    ax.plot(arrays["grid"], arrays["turning_theory_grid"], "C0-", label="turning point (theory)")
    ax.plot(arrays["grid"], arrays["return_theory_grid"], "C1-", label="back at initial error (theory)")
    ax.plot(arrays["ratios"], arrays["turning_sim"], "C0o", label="turning point (sim, mean error)")
    ax.errorbar(arrays["ratios"], arrays["return_sim"], yerr=arrays["return_sim_sd"], fmt="C1s",
                label="back at initial error (sim, mean +- sd)")
    ax.set(xscale="log", yscale="log", xlabel=style.ETA_RATIO, ylabel="time of the event (learning steps)")
    width_ticks(ax, [float(r) for r in arrays["ratios"]])
    ax.legend(fontsize="small")
    style.title(fig, "Fig. 3B", "the error turns up sooner at larger learning rates",
                f"$\\sigma_t^2$=0.1, Lx={lx}, Lh={lh:g}, Ly={ly}; theory: two-variable dynamics (Eqs. 12, 14)")
    return fig


fig3b = register_figure("fig3b", compute_fig3b, draw_fig3b)


# --------------------------------------------------------------------------
# Fig. 3C: NP against SGD
# --------------------------------------------------------------------------

#: (rule, ratio to its reference rate, colour) of each run group of Fig. 3C
_FIG3C_GROUPS = (("np", 1.0, "C3"), ("sgd", 0.5, "C0"), ("sgd", 1.0, "C9"))


def compute_fig3c(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 3C: with teacher noise NP's error rises again; SGD below its critical rate is stable.

    Error trajectories (``sigma_t^2 = 0.1``) of NP at ``eta*`` and of SGD at
    0.5 and 1 times its optimal rate ``1/(Lx (alpha_0 + beta_0))`` (critical
    rate about twice that), with the four-variable theory of each rule
    (dotted) over the same horizon. Full: paper sizes, 6 seeds; quick:
    ``Lx=50, Lh=10^6, Ly=5``, 3 seeds.

    Summary: for each run group, minimum and final mean error and their
    ratio (NP's rise; SGD's stays near 1).
    """
    lx, lh, ly = layer_sizes = sizes(quick)
    n_seeds = 3 if quick else 6
    eta = theory.np_critical_learning_rate(lx, lh, ly)
    times = theory.predicted_instability_times(lx, lh, ly, eta, TEACHER_NOISE)
    horizon = int(min(1e5 if quick else 2e6, 1.5 * times.return_step))
    np_hist, task, steps, np_rates = trajectories("fig3c", out_dir, quick, progress, (1.0,), n_seeds=n_seeds, horizon=horizon,
                                                  teacher_noise=TEACHER_NOISE, records=80, label="sim_np")
    sgd_ratios = tuple(ratio for rule, ratio, _ in _FIG3C_GROUPS if rule == "sgd")
    sgd_hist, _, _, sgd_rates = trajectories("fig3c", out_dir, quick, progress, sgd_ratios, n_seeds=n_seeds,
                                             horizon=horizon, teacher_noise=TEACHER_NOISE, rule="sgd", records=80,
                                             label="sim_sgd")
    summary = {"np_learning_rate": np_rates[0]}
    arrays = {"steps": steps}
    runs = [("np", 1.0, np_hist, slice(None), np_rates[0])]
    runs += [("sgd", r, sgd_hist, g, rate) for r, g, rate in zip(sgd_ratios, groups(2, n_seeds), sgd_rates, strict=True)]
    for rule, ratio, hist, group, rate in runs:
        init = initial_order_parameters(hist, task, group)
        errors = hist.records["error"][group]
        mean = nanmean(errors)
        mf = theory.mean_field_dynamics(lx, lh, ly, rate, steps, rule=rule, teacher_noise=TEACHER_NOISE, initial=init).epsilon
        key = f"{rule}_{ratio:g}"
        k = int(np.nanargmin(mean))
        last = np.nonzero(np.isfinite(mean))[0][-1]
        summary[f"min_error_{key}"] = float(mean[k])
        summary[f"final_error_{key}"] = float(mean[last])
        summary[f"rise_{key}"] = float(mean[last] / mean[k])
        summary[f"diverged_fraction_{key}"] = float(np.mean(hist.diverged_epoch[group] >= 0))
        arrays[f"sim_mean_{key}"], arrays[f"theory_{key}"] = mean, mf
        arrays[f"sim_runs_{key}"] = errors
    settings = {"sizes": layer_sizes, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("fig3c", arrays, summary, settings)


def draw_fig3c(results):
    """Fig. 3C: error trajectories of NP and SGD with teacher noise, single runs, means and the four-variable theory."""
    arrays = results.arrays
    lx, lh, ly = results.metadata["settings"]["sizes"]
    steps = arrays["steps"]
    fig, (ax,) = new_figure(figsize=(6, 4.6))
    for rule, ratio, color in _FIG3C_GROUPS:
        key = f"{rule}_{ratio:g}"
        label = f"NP {ratio:g} $\\eta^*$" if rule == "np" else f"SGD {ratio:g} $\\eta_{{opt}}$"
        plot_member_curves(ax, steps[1:], arrays[f"sim_runs_{key}"][:, 1:], color=color, lw=0.4, alpha=0.35)
        ax.plot(steps[1:], arrays[f"sim_mean_{key}"][1:], color=color, lw=2, label=label)
        ax.plot(steps[1:], arrays[f"theory_{key}"][1:], color=color, ls=":")
    ax.set(xscale="log", yscale="log", xlabel=STEP_LABEL, ylabel=style.ERROR)
    legend(ax, fontsize="small")
    style.title(fig, "Fig. 3C", "with teacher noise NP's error rises again, SGD's does not",
                f"$\\sigma_t^2$=0.1, Lx={lx}, Lh={lh:g}, Ly={ly}; thin: runs, thick: mean, dotted: four-variable theory, "
                "x: a run diverged")
    return fig


fig3c = register_figure("fig3c", compute_fig3c, draw_fig3c)


# --------------------------------------------------------------------------
# Fig. 3D: synaptic scaling
# --------------------------------------------------------------------------


def compute_fig3d(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 3D: synaptic scaling removes the rise but leaves a bias floor that grows with ``Lh``.

    NP with teacher noise (``sigma_t^2 = 0.1``) at one learning rate for all
    hidden sizes (``0.5 eta*`` of the middle size), without synaptic scaling
    (the error turns up and diverges; dashed: Eq. 12) and with it (every
    neuron's incoming weights, hidden and output, rescaled to their initial
    RMS after every step: :class:`~bioplastic.homeostasis.SynapticScaling`).
    Runs on the sample-path exact ``"blocked"`` engine (scaling acts on
    individual hidden neurons). The floor is the mean error over the last 5
    records. Full: ``Lx=100, Ly=10``, ``Lh = 10^3, 3 x 10^3, 10^4``, 3 seeds,
    ``3 x 10^5`` steps; quick: ``Lx=20, Ly=4``, ``Lh = 100, 400, 1600``, 2
    seeds, ``2 x 10^4`` steps.

    Summary: per ``Lh`` the floor with scaling, its largest rise over its
    minimum, the diverged fraction with and without scaling, and the
    log-log slope of the floor against ``Lh``.
    """
    lx, ly = (20, 4) if quick else (100, 10)
    hiddens = (100, 400, 1600) if quick else (1_000, 3_000, 10_000)
    n_seeds = 2 if quick else 3
    horizon = 20_000 if quick else 300_000
    eta = 0.5 * theory.np_critical_learning_rate(lx, hiddens[len(hiddens) // 2], ly)
    task = StudentTeacher(n_inputs=lx, n_outputs=ly, teacher_noise=TEACHER_NOISE, steps_per_epoch=1000, n_eval=1)
    summary, arrays = {"learning_rate": eta}, {}
    floors = []
    for lh in hiddens:
        times = theory.predicted_instability_times(lx, lh, ly, eta, TEACHER_NOISE)
        plain_horizon = int(min(horizon, 3 * times.return_step)) if np.isfinite(times.return_step) else horizon
        for scaled in (False, True):
            steps = log_spaced_steps(horizon if scaled else plain_horizon, 50)
            key = f"{'scaled' if scaled else 'plain'}_Lh{lh}"
            hist = simulate("fig3d", out_dir, task, (lx, lh, ly), NodePerturbation(sigma=SIGMA), [eta], range(n_seeds), steps,
                            progress=progress, method="blocked", homeostasis=SynapticScaling() if scaled else None,
                            label=f"sim_{key}", dimensionality=False)
            st = record_steps(hist)
            errors = hist.records["error"].copy()
            errors[errors > 1e3 * errors[:, :1]] = np.nan  # the record at which a run diverged
            mean = nanmean(errors)
            summary[f"diverged_fraction_{key}"] = float(np.mean(hist.diverged_epoch >= 0))
            arrays[f"steps_{key}"], arrays[f"sim_mean_{key}"] = st, mean
            if scaled:
                floor = float(np.mean(mean[-5:]))
                floors.append(floor)
                summary[f"floor_Lh{lh}"] = floor
                summary[f"rise_{key}"] = float(np.nanmax(mean[int(np.nanargmin(mean)) :]) / np.nanmin(mean))
            else:
                init = initial_order_parameters(hist, task)
                arrays[f"theory_{key}"] = theory.two_variable_dynamics(lx, lh, ly, eta, st, teacher_noise=TEACHER_NOISE,
                                                                       initial=init).epsilon
                summary[f"min_error_{key}"] = float(np.nanmin(mean))
    summary["floor_slope_vs_Lh"] = slope(hiddens, floors)
    settings = {"n_inputs": lx, "n_outputs": ly, "n_hidden": hiddens, "n_seeds": n_seeds, "horizon": horizon, "engine": "blocked"}
    return linear_results("fig3d", arrays, summary, settings)


def draw_fig3d(results):
    """Fig. 3D: mean error per hidden width without synaptic scaling (left, dashed: Eq. 12) and with it (right)."""
    arrays = results.arrays
    settings = results.metadata["settings"]
    lx, ly, hiddens = settings["n_inputs"], settings["n_outputs"], settings["n_hidden"]
    eta = results.summary["learning_rate"]
    fig, (left, right) = new_figure(2, figsize=(11, 4.2), sharey=True)
    for lh, color in zip(hiddens, colors(len(hiddens)), strict=True):
        for scaled, ax in ((False, left), (True, right)):
            key = f"{'scaled' if scaled else 'plain'}_Lh{lh}"
            st = arrays[f"steps_{key}"]
            plot_member_curves(ax, st[1:], arrays[f"sim_mean_{key}"][1:], color=color, lw=2, label=f"Lh = {lh}")
            if not scaled:
                ax.plot(st[1:], arrays[f"theory_{key}"][1:], color=color, ls="--")
    for ax, panel in ((left, "without synaptic scaling (dashed: Eq. 12)"), (right, "with synaptic scaling")):
        ax.set(xscale="log", yscale="log", xlabel=STEP_LABEL, title=panel)
        ax.title.set_fontsize(9)
        legend(ax, fontsize="small")
    left.set_ylabel(style.ERROR)
    left.set_ylim(top=10 * max(np.nanmax(v[:1]) for k, v in arrays.items() if k.startswith("sim_mean")))
    style.title(fig, "Fig. 3D", "synaptic scaling removes the rise, leaving a floor that grows with $L_h$",
                f"NP, $\\sigma_t^2$=0.1, $\\eta$ = {eta:.3g} for all Lh, Lx={lx}, Ly={ly}; mean over runs, x: the runs diverged")
    return fig


fig3d = register_figure("fig3d", compute_fig3d, draw_fig3d)

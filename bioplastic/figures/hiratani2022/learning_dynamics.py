r"""Learning dynamics of NP in deep linear networks without teacher noise (Figs 1A-C, S1).

Error trajectories and weight norms of NP at learning rates around the
critical one, ``eta*`` (paper Eq. 83), against the two-variable theory
(Eq. 12) and the four-variable mean field; how the initial weight scale moves
``eta*``. See :mod:`~bioplastic.figures.hiratani2022.linear_setup` for the
setting. Each figure writes ``<name>_sim.npz/.json`` (the simulated
:class:`~bioplastic.History`), ``<name>_results.npz/.json`` and ``<name>.png``.
"""

from __future__ import annotations

import math

import numpy as np

from ... import theory
from ...online import log_spaced_steps, record_steps
from ...plasticity import NodePerturbation
from ...plotting import legend, plot_member_curves
from ...tasks.student_teacher import StudentTeacher
from .. import register_figure
from .._drawing import STEP_LABEL, colors, new_figure, plain_log_ticks
from . import _style as style
from .linear_setup import (
    ENGINE,
    PAPER_SIZES,
    SIGMA,
    groups,
    initial_order_parameters,
    linear_results,
    mean,
    nanmean,
    simulate,
    sizes,
    trajectories,
    trajectory_deviation,
)

__all__ = [
    "compute_fig1a",
    "compute_fig1b",
    "compute_fig1c",
    "compute_figS1",
    "draw_fig1a",
    "draw_fig1b",
    "draw_fig1c",
    "draw_figS1",
    "fig1a",
    "fig1b",
    "fig1c",
    "figS1",
]


# --------------------------------------------------------------------------
# Fig. 1A: error trajectories
# --------------------------------------------------------------------------


def compute_fig1a(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 1A: NP error trajectories at several learning rates against the two-variable theory (Eq. 12).

    Full: ``Lx=100, Lh=10^4, Ly=10``, ``eta/eta* = 0.5, 0.8, 1, 1.2, 1.4, 2``,
    10 seeds, ``10^5`` steps. Quick: ``Lx=50, Lh=10^6, Ly=5``,
    ``eta/eta* = 0.5, 1, 2``, 3 seeds, ``1.2 x 10^4`` steps.

    Summary: ``eta_star``, and per ratio the largest ``|log(sim/theory)|``
    while the predicted error exceeds 1 % of its start (two-variable and
    four-variable theory) and the fraction of diverged runs.
    """
    ratios = (0.5, 1.0, 2.0) if quick else (0.5, 0.8, 1.0, 1.2, 1.4, 2.0)
    n_seeds = 3 if quick else 10
    horizon = 12_000 if quick else 100_000
    lx, lh, ly = layer_sizes = sizes(quick)
    hist, task, steps, rates = trajectories("fig1a", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon)
    arrays = {"steps": steps, "ratios": np.asarray(ratios), "learning_rates": np.asarray(rates)}
    summary = {"eta_star": rates[list(ratios).index(1.0)] if 1.0 in ratios else theory.np_critical_learning_rate(*layer_sizes)}
    for ratio, rate, group in zip(ratios, rates, groups(len(ratios), n_seeds), strict=True):
        init = initial_order_parameters(hist, task, group)
        two = theory.two_variable_dynamics(lx, lh, ly, rate, steps, initial=init).epsilon
        four = theory.mean_field_dynamics(lx, lh, ly, rate, steps, initial=init).epsilon
        errors = hist.records["error"][group]
        sim = mean(errors)
        arrays[f"theory_two_variable_{ratio:g}"] = two
        arrays[f"theory_mean_field_{ratio:g}"] = four
        arrays[f"sim_mean_{ratio:g}"] = sim
        arrays[f"sim_runs_{ratio:g}"] = errors
        summary[f"deviation_two_variable_{ratio:g}"] = trajectory_deviation(sim, two)
        summary[f"deviation_mean_field_{ratio:g}"] = trajectory_deviation(sim, four)
        summary[f"diverged_fraction_{ratio:g}"] = float(np.mean(hist.diverged_epoch[group] >= 0))
    arrays["initial_error"] = np.asarray(np.mean(hist.records["error"][:, 0]))
    settings = {"sizes": layer_sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("fig1a", arrays, summary, settings)


def draw_fig1a(results):
    """Fig. 1A: single runs (thin), their mean (thick), Eq. 12 (dashed) and the four-variable theory (dotted)."""
    arrays = results.arrays
    lx, lh, ly = results.metadata["settings"]["sizes"]
    steps, ratios = arrays["steps"], arrays["ratios"]
    fig, (ax,) = new_figure(figsize=(6, 4.6))
    for ratio, color in zip(ratios, colors(len(ratios)), strict=True):
        plot_member_curves(ax, steps[1:], arrays[f"sim_runs_{ratio:g}"][:, 1:], color=color, lw=0.4, alpha=0.35)
        ax.plot(steps[1:], arrays[f"sim_mean_{ratio:g}"][1:], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
        ax.plot(steps[1:], arrays[f"theory_two_variable_{ratio:g}"][1:], color=color, lw=1.5, ls="--")
        ax.plot(steps[1:], arrays[f"theory_mean_field_{ratio:g}"][1:], color=color, lw=1, ls=":")
    eps0 = float(arrays["initial_error"])
    ax.set(xscale="log", yscale="log", xlabel=STEP_LABEL, ylabel=style.ERROR, ylim=(1e-4 * eps0, 30 * eps0))
    legend(ax, fontsize="small")
    style.title(fig, "Fig. 1A", "NP error trajectories in a deep linear network",
                f"Lx={lx}, Lh={lh:g}, Ly={ly}; thin: runs, thick: mean, dashed: Eq. 12, dotted: four-variable theory, "
                "x: a run diverged")
    return fig


fig1a = register_figure("fig1a", compute_fig1a, draw_fig1a)


# --------------------------------------------------------------------------
# Fig. 1B: weight norms
# --------------------------------------------------------------------------


def compute_fig1b(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 1B: weight norms during NP learning — ``a = alpha / Lh^(1/3)`` grows by weight diffusion.

    Panels: ``a(t)`` against Eq. 12; output norm ``beta(t)`` against the
    four-variable theory; the trajectory in the ``(a, epsilon)`` plane.
    Settings as Fig. 1A with ``eta/eta* = 0.5, 1, 2`` (full: 10 seeds,
    ``10^5`` steps; quick: 3 seeds, ``1.2 x 10^4`` steps).

    Summary: per ratio, largest ``|log(a_sim / a_theory)|`` before the
    theory's error turns up, and the growth factor of ``a``.
    """
    ratios = (0.5, 1.0, 2.0)
    n_seeds = 3 if quick else 10
    horizon = 12_000 if quick else 100_000
    lx, lh, ly = layer_sizes = sizes(quick)
    hist, task, steps, rates = trajectories("fig1b", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon)
    scale = np.cbrt(float(lh))
    arrays = {"steps": steps}
    summary = {}
    for ratio, rate, group in zip(ratios, rates, groups(len(ratios), n_seeds), strict=True):
        init = initial_order_parameters(hist, task, group)
        two = theory.two_variable_dynamics(lx, lh, ly, rate, steps, initial=init)
        four = theory.mean_field_dynamics(lx, lh, ly, rate, steps, initial=init)
        a_sim = mean(hist.records["alpha"][group]) / scale
        arrays[f"a_sim_{ratio:g}"] = a_sim
        arrays[f"a_theory_{ratio:g}"] = two.a
        arrays[f"beta_sim_{ratio:g}"] = mean(hist.records["beta"][group])
        arrays[f"beta_theory_{ratio:g}"] = four.beta
        arrays[f"error_sim_{ratio:g}"] = mean(hist.records["error"][group])
        arrays[f"error_theory_{ratio:g}"] = two.epsilon
        turn = int(np.argmin(np.where(np.isfinite(two.epsilon), two.epsilon, np.inf)))
        ok = np.isfinite(a_sim) & np.isfinite(two.a) & (np.arange(len(steps)) <= turn)
        summary[f"deviation_a_{ratio:g}"] = float(np.max(np.abs(np.log(a_sim[ok] / two.a[ok])))) if ok.any() else math.nan
        last = np.nonzero(np.isfinite(a_sim))[0][-1]
        summary[f"a_growth_{ratio:g}"] = float(a_sim[last] / a_sim[0])
    settings = {"sizes": layer_sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("fig1b", arrays, summary, settings)


def draw_fig1b(results):
    """Fig. 1B: ``a(t)`` (dashed: Eq. 12), ``beta(t)`` (dotted: four-variable theory) and the ``(a, epsilon)`` plane."""
    arrays = results.arrays
    settings = results.metadata["settings"]
    lx, lh, ly = settings["sizes"]
    steps, ratios = arrays["steps"], settings["ratios"]
    fig, axes = new_figure(3, figsize=(14, 4.2))
    for ratio, color in zip(ratios, colors(len(ratios)), strict=True):
        a_sim = arrays[f"a_sim_{ratio:g}"]
        plot_member_curves(axes[0], steps[1:], a_sim[1:], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
        axes[0].plot(steps[1:], arrays[f"a_theory_{ratio:g}"][1:], color=color, ls="--")
        plot_member_curves(axes[1], steps[1:], arrays[f"beta_sim_{ratio:g}"][1:], color=color, lw=2)
        axes[1].plot(steps[1:], arrays[f"beta_theory_{ratio:g}"][1:], color=color, ls=":")
        axes[2].plot(a_sim, arrays[f"error_sim_{ratio:g}"], color=color, lw=2)
        axes[2].plot(arrays[f"a_theory_{ratio:g}"], arrays[f"error_theory_{ratio:g}"], color=color, ls="--")
    axes[0].set(xscale="log", yscale="log", xlabel=STEP_LABEL, ylabel=style.A_NORM, title="input-weight norm (dashed: Eq. 12)")
    axes[1].set(xscale="log", xlabel=STEP_LABEL, ylabel=style.BETA, title="output-weight norm (dotted: four-variable theory)")
    axes[2].set(xscale="log", yscale="log", xlabel=style.A_NORM, ylabel=style.ERROR, title="the $(a, \\epsilon)$ plane (dashed: Eq. 12)")
    for ax in axes:
        ax.title.set_fontsize(9)
    legend(axes[0], fontsize="small")
    style.title(fig, "Fig. 1B", "NP weight norms grow by weight diffusion",
                f"Lx={lx}, Lh={lh:g}, Ly={ly}; solid: simulation (mean over runs), x: the runs diverged")
    return fig


fig1b = register_figure("fig1b", compute_fig1b, draw_fig1b)


# --------------------------------------------------------------------------
# Fig. 1C: initial weight scale
# --------------------------------------------------------------------------


def compute_fig1c(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 1C: dependence on the initial weight scale.

    The input weights start with variance ``g`` times Xavier-Glorot
    (``g = 0.25, 1, 4``; the output weights and teacher are unchanged). Left:
    the critical learning rate of Eq. 83 as a function of ``g`` (larger
    initial weights, larger ``a_0``, smaller ``eta*``), with the learning
    rate used on the right marked. Right: error trajectories at
    ``eta = 0.8 eta*(g=1)`` against Eq. 12 started from each ``g``'s
    initial state.

    Full: paper sizes, 10 seeds, ``10^5`` steps; quick: ``Lx=50, Lh=10^4,
    Ly=5`` (a moderate ``Lh``, where ``a_0`` and so ``g`` matter), 3 seeds,
    ``1.2 x 10^4`` steps.

    Summary: per ``g``, ``eta*(g)/eta``, final mean error, diverged fraction,
    and whether the theory converges.
    """
    gains = (0.25, 1.0, 4.0)
    n_seeds = 3 if quick else 10
    horizon = 12_000 if quick else 100_000
    lx, lh, ly = layer_sizes = (50, 10_000, 5) if quick else PAPER_SIZES
    eta = 0.8 * theory.np_critical_learning_rate(lx, lh, ly)
    task = StudentTeacher(n_inputs=lx, n_outputs=ly, steps_per_epoch=1000, n_eval=1)
    steps = log_spaced_steps(horizon, 60)
    grid = np.geomspace(0.1, 10, 41)
    xavier = theory.xavier_order_parameters(lx, lh, ly)

    def scaled(g):
        student_part = -xavier.phi
        return xavier._replace(alpha=g * xavier.alpha, epsilon=g * student_part + xavier.teacher_norm, phi=-g * student_part)

    critical = np.array([theory.np_critical_learning_rate(lx, lh, ly, initial=scaled(g)) for g in grid])
    arrays = {"steps": steps, "gains": np.asarray(gains), "gain_grid": grid, "critical_rate": critical,
              "zero_student_error": np.asarray(task.expected_error(np.zeros_like(task.teacher)) / (lx * ly))}
    summary = {"learning_rate": eta}
    for g in gains:
        hist = simulate("fig1c", out_dir, task, layer_sizes, NodePerturbation(sigma=SIGMA), [eta], range(n_seeds), steps,
                        progress=progress, init_scale_in=math.sqrt(g), label=f"sim_g{g:g}")
        steps_h = record_steps(hist)
        init = initial_order_parameters(hist, task)
        arrays[f"record_steps_g{g:g}"] = steps_h
        arrays[f"sim_runs_g{g:g}"] = hist.records["error"]
        arrays[f"sim_mean_g{g:g}"] = mean(hist.records["error"])
        arrays[f"theory_g{g:g}"] = theory.two_variable_dynamics(lx, lh, ly, eta, steps_h, initial=init).epsilon
        eta_star_g = theory.np_critical_learning_rate(lx, lh, ly, initial=init)
        summary[f"critical_over_eta_g{g:g}"] = eta_star_g / eta
        summary[f"final_error_g{g:g}"] = float(nanmean(hist.records["error"][:, -1]))
        summary[f"diverged_fraction_g{g:g}"] = float(np.mean(hist.diverged_epoch >= 0))
        summary[f"theory_converges_g{g:g}"] = bool(eta < eta_star_g)
    settings = {"sizes": layer_sizes, "gains": gains, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("fig1c", arrays, summary, settings)


def draw_fig1c(results):
    """Fig. 1C: ``eta*`` against the initial weight scale (left); trajectories per scale with Eq. 12 (right)."""
    arrays = results.arrays
    lx, lh, ly = results.metadata["settings"]["sizes"]
    eta = results.summary["learning_rate"]
    gains = arrays["gains"]
    fig, (left, right) = new_figure(2, figsize=(11, 4.2))
    left.plot(arrays["gain_grid"], arrays["critical_rate"], color="k")
    left.axhline(eta, color="C3", ls="--", label=r"$\eta$ used (right)")
    left.set(xscale="log", yscale="log", xlabel="initial input-weight variance $g$ (multiple of Xavier-Glorot)",
             ylabel=r"critical learning rate $\eta^*$ (Eq. 83, per step)", title=r"$\eta^*$ against the initial weight scale")
    plain_log_ticks(left)
    left.legend(fontsize="small")
    for g, color in zip(gains, colors(len(gains)), strict=True):
        steps = arrays[f"record_steps_g{g:g}"]
        plot_member_curves(right, steps[1:], arrays[f"sim_runs_g{g:g}"][:, 1:], color=color, lw=0.4, alpha=0.35)
        right.plot(steps[1:], arrays[f"sim_mean_g{g:g}"][1:], color=color, lw=2, label=f"g = {g:g}")
        right.plot(steps[1:], arrays[f"theory_g{g:g}"][1:], color=color, ls="--")
    right.set(xscale="log", yscale="log", xlabel=STEP_LABEL, ylabel=style.ERROR,
              title=r"trajectories at $\eta = 0.8\,\eta^*(g=1)$ (dashed: Eq. 12)")
    right.set_ylim(1e-4 * float(arrays["zero_student_error"]), None)
    legend(right, fontsize="small")
    for ax in (left, right):
        ax.title.set_fontsize(9)
    style.title(fig, "Fig. 1C", "the initial weight scale moves the critical learning rate",
                f"Lx={lx}, Lh={lh:g}, Ly={ly}; thin: runs, thick: mean, x: a run diverged")
    return fig


fig1c = register_figure("fig1c", compute_fig1c, draw_fig1c)


# --------------------------------------------------------------------------
# Fig. S1: all order parameters
# --------------------------------------------------------------------------

_ORDER_PARAMETERS = ("alpha", "beta", "epsilon", "phi")


def compute_figS1(*, quick=False, progress=True, out_dir=None):  # noqa: N802 - the paper's panel name
    r"""Fig. S1: all four order parameters against the four-variable mean-field theory.

    ``alpha``, ``beta``, ``epsilon`` and ``phi`` of NP at ``eta/eta* = 0.5, 1``
    without teacher noise (solid: simulation mean; dotted:
    :func:`bioplastic.theory.mean_field_dynamics`; dashed: Eq. 12 for
    ``epsilon``). Full: paper sizes, 10 seeds, ``10^5`` steps; quick:
    ``Lx=50, Lh=10^6, Ly=5``, 3 seeds.

    Summary: per ratio and order parameter, the largest relative deviation
    of the simulated mean from the mean-field theory while the predicted
    error is above 1 % of its start.
    """
    ratios = (0.5, 1.0)
    n_seeds = 3 if quick else 10
    horizon = 12_000 if quick else 100_000
    lx, lh, ly = layer_sizes = sizes(quick)
    hist, task, steps, rates = trajectories("figS1", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon)
    summary, arrays = {}, {"steps": steps}
    for ratio, rate, group in zip(ratios, rates, groups(len(ratios), n_seeds), strict=True):
        init = initial_order_parameters(hist, task, group)
        mf = theory.mean_field_dynamics(lx, lh, ly, rate, steps, initial=init)
        window = (mf.epsilon >= 1e-2 * mf.epsilon[0]) & np.isfinite(mf.epsilon)
        window[0] = False
        for name in _ORDER_PARAMETERS:
            sim = mean(hist.records["error" if name == "epsilon" else name][group])
            pred = getattr(mf, name)
            ok = window & np.isfinite(sim)
            scale = np.max(np.abs(pred[ok])) if name == "phi" and ok.any() else None
            if ok.any():
                dev = np.abs(sim[ok] - pred[ok]) / (scale if scale else np.abs(pred[ok]))
                summary[f"deviation_{name}_{ratio:g}"] = float(np.max(dev))
            arrays[f"sim_{name}_{ratio:g}"], arrays[f"theory_{name}_{ratio:g}"] = sim, pred
        arrays[f"theory_two_variable_epsilon_{ratio:g}"] = theory.two_variable_dynamics(lx, lh, ly, rate, steps, initial=init).epsilon
    arrays["initial_error"] = np.asarray(np.mean(hist.records["error"][:, 0]))
    settings = {"sizes": layer_sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE}
    return linear_results("figS1", arrays, summary, settings)


def draw_figS1(results):  # noqa: N802 - the paper's panel name
    """Fig. S1: one panel per order parameter, simulation (solid), mean field (dotted), Eq. 12 (dashed, ``epsilon``)."""
    arrays = results.arrays
    settings = results.metadata["settings"]
    lx, lh, ly = settings["sizes"]
    steps, ratios = arrays["steps"], settings["ratios"]
    fig, axes = new_figure(4, figsize=(17, 4.2))
    labels = {"alpha": style.ALPHA, "beta": style.BETA, "epsilon": style.ERROR, "phi": style.PHI}
    for ratio, color in zip(ratios, colors(len(ratios)), strict=True):
        for ax, name in zip(axes, _ORDER_PARAMETERS, strict=True):
            plot_member_curves(ax, steps[1:], arrays[f"sim_{name}_{ratio:g}"][1:], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
            ax.plot(steps[1:], arrays[f"theory_{name}_{ratio:g}"][1:], color=color, ls=":")
            if name == "epsilon":
                ax.plot(steps[1:], arrays[f"theory_two_variable_epsilon_{ratio:g}"][1:], color=color, ls="--")
    for ax, name in zip(axes, _ORDER_PARAMETERS, strict=True):
        ax.set(xscale="log", xlabel=STEP_LABEL, ylabel=labels[name], title=f"$\\{name}$")
        if name in ("alpha", "epsilon"):
            ax.set_yscale("log")
        if name == "epsilon":
            ax.set_ylim(1e-4 * float(arrays["initial_error"]), None)
    legend(axes[0], fontsize="small")
    style.title(fig, "Fig. S1", "every order parameter of NP against the four-variable mean field",
                f"Lx={lx}, Lh={lh:g}, Ly={ly}; solid: simulation, dotted: four-variable theory, dashed: Eq. 12, "
                "x: the runs diverged")
    return fig


figS1 = register_figure("figS1", compute_figS1, draw_figS1)  # noqa: N816 - the paper's panel name

r"""Deep linear networks: student-teacher studies and mean-field theory of NP (Figs 1-3, S1, S2b).

Reproductions of the linear studies of Hiratani, Mehta, Lillicrap & Latham
(NeurIPS 2022): a student ``y = W2 W1 x`` (``Lx = 100``, ``Lh = 10^4``,
``Ly = 10`` in the paper) learns a linear teacher ``y* = A x + sigma_t zeta``
online (one Gaussian sample per step) from Xavier-Glorot initial weights,
with node perturbation (hidden and output layers perturbed together,
``sigma = 1e-6`` as in the paper's linear simulations) or SGD. One function per panel, each registered as a
figure (``bioplastic figure fig1a [--quick]``); each writes into ``out_dir``

* ``<name>_<run>.npz/.json``: the :class:`~bioplastic.History` of every
  simulated ensemble (order parameters per record, configuration, seeds),
* ``<name>_results.npz/.json``: the theory curves and the summary numbers,
* ``<name>.png``: simulation (mean over seeds, with single runs or a band)
  and theory overlaid,

and returns the summary numbers.

Simulations use :func:`bioplastic.online.train_online`. Everything except
synaptic scaling of hidden neurons (Fig. 3D) runs on its ``"reduced"``
engine, which samples the exact joint law of the order parameters at a cost
independent of ``Lh`` (:data:`ENGINE`); Fig. 3D runs the network itself
(``"blocked"``). Theory curves come from :mod:`bioplastic.theory`, started
from the simulations' mean initial order parameters and the actual teacher
norm (so that curves and simulations share their starting point; the
paper starts both from Xavier-Glorot expectations).

``quick=True`` runs CI-sized versions (smaller ``Lx``, ``Ly``, fewer seeds
and steps); the settings of every run are stored with its results.
Conventions: ``eta*`` is the two-variable critical learning rate
(:func:`bioplastic.theory.np_critical_learning_rate`, paper Eq. 83);
teacher noise ``sigma_t^2 = 0.1`` in Fig. 3; target error ``1e-2`` of the
initial error for training times (Fig. 2).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from .. import theory
from ..homeostasis import SynapticScaling
from ..io import load_arrays_and_metadata, save_arrays_and_metadata, to_jsonable
from ..network import Network
from ..neurons import Population
from ..online import log_spaced_steps, record_steps, train_online
from ..plasticity import Backprop, NodePerturbation
from ..plotting import save_figure
from ..synapses import Projection
from ..tasks.student_teacher import StudentTeacher
from . import register

__all__ = [
    "ENGINE",
    "SIGMA",
    "TEACHER_NOISE",
    "crossing_steps",
    "fig1a",
    "fig1b",
    "fig1c",
    "fig2a",
    "fig2b",
    "fig3a",
    "fig3b",
    "fig3c",
    "fig3d",
    "figS1",
    "figS2b",
    "initial_order_parameters",
    "scaling_study",
    "student",
    "trajectory_deviation",
]

#: NP perturbation amplitude (the paper's linear-network simulations use 1e-6; the
#: finite-sigma bias of the loss difference sets an error floor ~ sigma^2)
SIGMA = 1e-6
#: teacher noise of the instability studies: sigma_t^2 = 0.1
TEACHER_NOISE = math.sqrt(0.1)
#: engine of the simulations without hidden-layer synaptic scaling
ENGINE = "reduced"

PAPER_SIZES = (100, 10_000, 10)
QUICK_SIZES = (50, 10**6, 5)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def student(n_inputs, n_hidden, n_outputs, *, init_scale_in=1.0):
    """The linear student ``y = W2 W1 x``: Xavier-Glorot weights, no biases, Gaussian noise in hidden and output neurons.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
    init_scale_in : float, default 1.0
        Factor on the standard deviation of ``W1`` only (the paper's Fig. 1C
        varies the input weights' initial variance, ``init_scale_in^2``).
    """
    pops = [Population(n_inputs, noise=None, name="input"), Population(n_hidden, name="hidden"), Population(n_outputs, name="output")]
    projections = [Projection(n_inputs, n_hidden, init_scale=init_scale_in, bias=False), Projection(n_hidden, n_outputs, bias=False)]
    return Network(pops, projections=projections)


def initial_order_parameters(history, task, members=slice(None)):
    """Mean initial order parameters of ``members`` with the task's teacher norm, for the theory."""
    rec = history.records
    return theory.OrderParameters(
        alpha=float(np.mean(rec["alpha"][members, 0])),
        beta=float(np.mean(rec["beta"][members, 0])),
        epsilon=float(np.mean(rec["error"][members, 0])),
        phi=float(np.mean(rec["phi"][members, 0])),
        teacher_norm=float(np.sum(task.teacher**2) / (task.n_inputs * task.n_outputs)),
    )


def trajectory_deviation(simulated, predicted, *, floor=1e-2):
    """Largest ``|log(simulated / predicted)|`` while the prediction decreases and stays above ``floor`` times its start.

    Parameters
    ----------
    simulated, predicted : ndarray of shape (n_records,)
        Mean simulated error and theory at the same steps (record 0 is the start).
    floor : float, default 0.01

    Returns
    -------
    float
        NaN if no record qualifies.
    """
    predicted = np.asarray(predicted, dtype=float)
    simulated = np.asarray(simulated, dtype=float)
    finite = np.isfinite(predicted)
    turn = int(np.argmin(np.where(finite, predicted, np.inf)))
    ok = finite & np.isfinite(simulated) & (predicted >= floor * predicted[0]) & (np.arange(len(predicted)) <= turn)
    ok[0] = False
    ok &= simulated > 0
    if not ok.any():
        return math.nan
    return float(np.max(np.abs(np.log(simulated[ok] / predicted[ok]))))


def crossing_steps(steps, errors, target):
    """First step at which each run's error falls to ``target`` (log-linear interpolation between records).

    Parameters
    ----------
    steps : ndarray of shape (n_records,)
    errors : ndarray of shape (n_runs, n_records)
    target : float or ndarray of shape (n_runs,)

    Returns
    -------
    ndarray of shape (n_runs,)
        ``inf`` where the target is never reached.
    """
    errors = np.asarray(errors, dtype=float)
    target = np.broadcast_to(np.asarray(target, dtype=float), (errors.shape[0],))
    out = np.full(errors.shape[0], np.inf)
    for i, (row, goal) in enumerate(zip(errors, target, strict=True)):
        with np.errstate(invalid="ignore"):
            hit = np.nonzero(row <= goal)[0]
        if not hit.size:
            continue
        j = hit[0]
        if j == 0:
            out[i] = steps[0]
            continue
        lo, hi = np.log(row[j - 1]), np.log(max(row[j], 1e-300))
        frac = (lo - np.log(goal)) / (lo - hi) if lo > hi else 1.0
        out[i] = steps[j - 1] + frac * (steps[j] - steps[j - 1])
    return out


def _mean(values):
    """Mean over seeds, NaN where any seed diverged (its records are NaN)."""
    return np.mean(np.asarray(values, dtype=float), axis=0)


def _nanmean(values, axis=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _groups(n_groups, n_seeds):
    return [slice(g * n_seeds, (g + 1) * n_seeds) for g in range(n_groups)]


def _train(name, out_dir, task, sizes, rule, rates, seeds, steps, *, progress, method=ENGINE, homeostasis=None,
           init_scale_in=1.0, label="sim", dimensionality=True):
    lx, lh, ly = sizes
    hist = train_online(
        student(lx, lh, ly, init_scale_in=init_scale_in), rule, task, record_at=steps, learning_rate=list(rates),
        seeds=list(seeds), method=method, homeostasis=homeostasis, progress=progress, dimensionality=dimensionality,
    )
    hist.save(Path(out_dir) / f"{name}_{label}")
    return hist


def _save_results(name, out_dir, arrays, summary, settings):
    save_arrays_and_metadata(Path(out_dir) / f"{name}_results", arrays, {"figure": name, "summary": summary, "settings": settings})


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, name, out_dir):
    path = save_figure(fig, Path(out_dir) / f"{name}.png")
    _plt().close(fig)
    return path


def _colors(n):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap((0.5 + i) / n) for i in range(n)]


def _sizes(quick):
    return QUICK_SIZES if quick else PAPER_SIZES


# --------------------------------------------------------------------------
# Fig. 1: learning dynamics without teacher noise
# --------------------------------------------------------------------------


def _trajectories(name, out_dir, quick, progress, ratios, *, n_seeds, horizon, teacher_noise=0.0, rule="np",
                  init_scale_in=1.0, sizes=None, records=60, label="sim"):
    """Simulate NP (or SGD) at ``ratios`` times the reference rate; returns (history, task, steps, rates)."""
    lx, lh, ly = sizes or _sizes(quick)
    task = StudentTeacher(n_inputs=lx, n_outputs=ly, teacher_noise=teacher_noise, steps_per_epoch=1000, n_eval=1)
    if rule == "np":
        reference = theory.np_critical_learning_rate(lx, lh, ly)
        learning_rule = NodePerturbation(sigma=SIGMA)
    else:
        reference = theory.sgd_optimal_learning_rate(lx, lh, ly)
        learning_rule = Backprop()
    rates = [r * reference for r in ratios]
    steps = log_spaced_steps(int(horizon), records)
    hist = _train(name, out_dir, task, (lx, lh, ly), learning_rule, rates, range(n_seeds), steps, progress=progress,
                  init_scale_in=init_scale_in, label=label)
    return hist, task, record_steps(hist), rates


@register("fig1a")
def fig1a(*, quick=False, out_dir="figures", progress=True):
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
    lx, lh, ly = sizes = _sizes(quick)
    hist, task, steps, rates = _trajectories("fig1a", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    arrays = {"steps": steps, "ratios": np.asarray(ratios), "learning_rates": np.asarray(rates)}
    summary = {"eta_star": rates[list(ratios).index(1.0)] if 1.0 in ratios else theory.np_critical_learning_rate(*sizes)}
    for (ratio, rate, group, color) in zip(ratios, rates, _groups(len(ratios), n_seeds), _colors(len(ratios)), strict=True):
        init = initial_order_parameters(hist, task, group)
        two = theory.two_variable_dynamics(lx, lh, ly, rate, steps, initial=init).epsilon
        four = theory.mean_field_dynamics(lx, lh, ly, rate, steps, initial=init).epsilon
        errors = hist.records["error"][group]
        mean = _mean(errors)
        for row in errors:
            ax.plot(steps[1:], row[1:], color=color, lw=0.4, alpha=0.35)
        ax.plot(steps[1:], mean[1:], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
        ax.plot(steps[1:], two[1:], color=color, lw=1.5, ls="--")
        ax.plot(steps[1:], four[1:], color=color, lw=1, ls=":")
        arrays[f"theory_two_variable_{ratio:g}"] = two
        arrays[f"theory_mean_field_{ratio:g}"] = four
        arrays[f"sim_mean_{ratio:g}"] = mean
        summary[f"deviation_two_variable_{ratio:g}"] = trajectory_deviation(mean, two)
        summary[f"deviation_mean_field_{ratio:g}"] = trajectory_deviation(mean, four)
        summary[f"diverged_fraction_{ratio:g}"] = float(np.mean(hist.diverged_epoch[group] >= 0))
    eps0 = float(np.mean(hist.records["error"][:, 0]))
    ax.set(xscale="log", yscale="log", xlabel="learning step", ylabel=r"error $\epsilon$", ylim=(1e-4 * eps0, 30 * eps0),
           title=f"NP, Lx={lx}, Lh={lh:g}, Ly={ly} (solid: sim; dashed: Eq. 12; dotted: 4-var)")
    ax.title.set_fontsize(8)
    ax.legend(fontsize="small")
    _save_results("fig1a", out_dir, arrays, summary, {"sizes": sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "fig1a", out_dir)
    return summary


@register("fig1b")
def fig1b(*, quick=False, out_dir="figures", progress=True):
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
    lx, lh, ly = sizes = _sizes(quick)
    hist, task, steps, rates = _trajectories("fig1b", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon)
    scale = np.cbrt(float(lh))
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    arrays = {"steps": steps}
    summary = {}
    for ratio, rate, group, color in zip(ratios, rates, _groups(len(ratios), n_seeds), _colors(len(ratios)), strict=True):
        init = initial_order_parameters(hist, task, group)
        two = theory.two_variable_dynamics(lx, lh, ly, rate, steps, initial=init)
        four = theory.mean_field_dynamics(lx, lh, ly, rate, steps, initial=init)
        a_sim = _mean(hist.records["alpha"][group]) / scale
        beta_sim = _mean(hist.records["beta"][group])
        eps_sim = _mean(hist.records["error"][group])
        axes[0].plot(steps[1:], a_sim[1:], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
        axes[0].plot(steps[1:], two.a[1:], color=color, ls="--")
        axes[1].plot(steps[1:], beta_sim[1:], color=color, lw=2)
        axes[1].plot(steps[1:], four.beta[1:], color=color, ls=":")
        axes[2].plot(a_sim, eps_sim, color=color, lw=2)
        axes[2].plot(two.a, two.epsilon, color=color, ls="--")
        arrays[f"a_sim_{ratio:g}"] = a_sim
        arrays[f"a_theory_{ratio:g}"] = two.a
        arrays[f"beta_sim_{ratio:g}"] = beta_sim
        arrays[f"beta_theory_{ratio:g}"] = four.beta
        turn = int(np.argmin(np.where(np.isfinite(two.epsilon), two.epsilon, np.inf)))
        ok = np.isfinite(a_sim) & np.isfinite(two.a) & (np.arange(len(steps)) <= turn)
        summary[f"deviation_a_{ratio:g}"] = float(np.max(np.abs(np.log(a_sim[ok] / two.a[ok])))) if ok.any() else math.nan
        last = np.nonzero(np.isfinite(a_sim))[0][-1]
        summary[f"a_growth_{ratio:g}"] = float(a_sim[last] / a_sim[0])
    axes[0].set(xscale="log", yscale="log", xlabel="learning step", ylabel=r"$a = \alpha / L_h^{1/3}$")
    axes[1].set(xscale="log", xlabel="learning step", ylabel=r"$\beta = \|W_2\|^2 / L_y$")
    axes[2].set(xscale="log", yscale="log", xlabel="$a$", ylabel=r"$\epsilon$")
    axes[0].legend(fontsize="small")
    fig.suptitle(f"NP weight norms, Lx={lx}, Lh={lh:g}, Ly={ly} (solid: sim; dashed: Eq. 12; dotted: 4-var)", fontsize=9)
    _save_results("fig1b", out_dir, arrays, summary, {"sizes": sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "fig1b", out_dir)
    return summary


@register("fig1c")
def fig1c(*, quick=False, out_dir="figures", progress=True):
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
    lx, lh, ly = sizes = (50, 10_000, 5) if quick else PAPER_SIZES
    eta = 0.8 * theory.np_critical_learning_rate(lx, lh, ly)
    task = StudentTeacher(n_inputs=lx, n_outputs=ly, steps_per_epoch=1000, n_eval=1)
    steps = log_spaced_steps(horizon, 60)
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    grid = np.geomspace(0.1, 10, 41)
    xavier = theory.xavier_order_parameters(lx, lh, ly)

    def scaled(g):
        student_part = -xavier.phi
        return xavier._replace(alpha=g * xavier.alpha, epsilon=g * student_part + xavier.teacher_norm, phi=-g * student_part)

    critical = np.array([theory.np_critical_learning_rate(lx, lh, ly, initial=scaled(g)) for g in grid])
    left.plot(grid, critical, color="k")
    left.axhline(eta, color="C3", ls="--", label=r"$\eta$ used")
    left.set(xscale="log", yscale="log", xlabel="initial input-weight variance / Xavier", ylabel=r"$\eta^*$ (Eq. 83)")
    left.legend(fontsize="small")
    arrays = {"steps": steps, "gains": np.asarray(gains), "gain_grid": grid, "critical_rate": critical}
    summary = {"learning_rate": eta}
    for g, color in zip(gains, _colors(len(gains)), strict=True):
        hist = _train("fig1c", out_dir, task, sizes, NodePerturbation(sigma=SIGMA), [eta], range(n_seeds), steps,
                      progress=progress, init_scale_in=math.sqrt(g), label=f"sim_g{g:g}")
        steps_h = record_steps(hist)
        init = initial_order_parameters(hist, task)
        two = theory.two_variable_dynamics(lx, lh, ly, eta, steps_h, initial=init).epsilon
        mean = _mean(hist.records["error"])
        for row in hist.records["error"]:
            right.plot(steps_h[1:], row[1:], color=color, lw=0.4, alpha=0.35)
        right.plot(steps_h[1:], mean[1:], color=color, lw=2, label=f"g = {g:g}")
        right.plot(steps_h[1:], two[1:], color=color, ls="--")
        arrays[f"sim_mean_g{g:g}"] = mean
        arrays[f"theory_g{g:g}"] = two
        eta_star_g = theory.np_critical_learning_rate(lx, lh, ly, initial=init)
        summary[f"critical_over_eta_g{g:g}"] = eta_star_g / eta
        summary[f"final_error_g{g:g}"] = float(_nanmean(hist.records["error"][:, -1]))
        summary[f"diverged_fraction_g{g:g}"] = float(np.mean(hist.diverged_epoch >= 0))
        summary[f"theory_converges_g{g:g}"] = bool(eta < eta_star_g)
    right.set(xscale="log", yscale="log", xlabel="learning step", ylabel=r"error $\epsilon$")
    right.set_ylim(1e-4 * task.expected_error(np.zeros_like(task.teacher)) / (lx * ly), None)
    right.legend(fontsize="small")
    fig.suptitle(f"initial weight scale, Lx={lx}, Lh={lh:g}, Ly={ly}, eta = 0.8 eta*(g=1)", fontsize=9)
    _save_results("fig1c", out_dir, arrays, summary, {"sizes": sizes, "gains": gains, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "fig1c", out_dir)
    return summary


# --------------------------------------------------------------------------
# Fig. 2: scalability
# --------------------------------------------------------------------------


def scaling_study(*, quick=False, out_dir="figures", progress=True, target=1e-2):
    r"""Minimum NP training time and optimal learning rate over hidden sizes ``Lh`` and output sizes ``Ly``.

    For every ``(Lh, Ly)`` an ensemble sweeps learning rates; the training
    time of a run is the first step at which its error falls to ``target``
    times its initial error (interpolated between records), the time of a
    rate the median over seeds, the minimum training time the minimum over
    rates, refined with a parabola through the three best rates in log-log
    where the optimum is interior. The rates lie on one geometric grid per
    ``Ly`` (ratio 1.2, shared by all ``Lh``), restricted for each ``Lh`` to
    0.35-1.8 times the theory's optimum: the measured optima are not
    aligned with the theory's. Full: ``Lx = 100``, ``Ly = 5, 10, 20``,
    ``Lh = 10^3, 10^4, 10^5``, 4 seeds; quick: ``Lx = 20``, ``Ly = 2, 4, 8``,
    ``Lh = 10^3, 10^4, 10^5``, 3 seeds. Results are cached in
    ``out_dir/fig2_scaling.npz/.json`` (reused by the other panel when the
    settings match).

    Returns
    -------
    dict
        ``n_hidden``, ``n_outputs`` (lists), ``t_min``, ``eta_opt``,
        ``t_min_theory``, ``eta_opt_theory`` (arrays of shape
        ``(n_outputs, n_hidden)``), per combination the swept
        ``rates_Ly<ly>_Lh<lh>`` and median ``times_Ly<ly>_Lh<lh>``, and
        ``settings``.
    """
    lx = 20 if quick else 100
    n_outputs = (2, 4, 8) if quick else (5, 10, 20)
    n_hidden = (1_000, 10_000, 100_000)
    n_seeds = 3 if quick else 4
    spacing, window = 1.2, (0.35, 1.8)
    settings = {"n_inputs": lx, "n_outputs": list(n_outputs), "n_hidden": list(n_hidden), "n_seeds": n_seeds,
                "grid_ratio": spacing, "window": list(window), "target": target, "engine": ENGINE, "sigma": SIGMA}
    cache = Path(out_dir) / "fig2_scaling"
    if cache.with_suffix(".json").exists():
        arrays, meta = load_arrays_and_metadata(cache)
        if meta.get("settings") == json.loads(json.dumps(to_jsonable(settings))):
            return {**arrays, "n_hidden": list(n_hidden), "n_outputs": list(n_outputs), "settings": settings}
    shape = (len(n_outputs), len(n_hidden))
    t_min, eta_opt = np.full(shape, np.inf), np.full(shape, np.nan)
    t_theory, eta_theory = np.full(shape, np.nan), np.full(shape, np.nan)
    arrays = {}
    for i, ly in enumerate(n_outputs):
        task = StudentTeacher(n_inputs=lx, n_outputs=ly, steps_per_epoch=1000, n_eval=1)
        best = [theory.minimum_training_time(lx, lh, ly, target, model="mean_field") for lh in n_hidden]
        lo = window[0] * min(b.learning_rate for b in best)
        grid = lo * spacing ** np.arange(int(np.ceil(np.log(window[1] * max(b.learning_rate for b in best) / lo) / np.log(spacing))) + 1)
        for j, (lh, opt) in enumerate(zip(n_hidden, best, strict=True)):
            t_theory[i, j], eta_theory[i, j] = opt.steps, opt.learning_rate
            rates = grid[(grid >= window[0] * opt.learning_rate) & (grid <= window[1] * opt.learning_rate)]
            horizon = int(3 * opt.steps) + 10
            steps = np.unique(np.linspace(1, horizon, 150).astype(np.int64))
            hist = _train("fig2", out_dir, task, (lx, lh, ly), NodePerturbation(sigma=SIGMA), rates, range(n_seeds), steps,
                          progress=progress, label=f"sim_Ly{ly}_Lh{lh}", dimensionality=False)
            err = hist.records["error"]
            cross = crossing_steps(record_steps(hist), err, target * err[:, 0]).reshape(len(rates), n_seeds)
            times = np.median(cross, axis=1)
            arrays[f"rates_Ly{ly}_Lh{lh}"], arrays[f"times_Ly{ly}_Lh{lh}"] = rates, times
            k = int(np.argmin(times))
            if not np.isfinite(times[k]):
                continue
            t_min[i, j], eta_opt[i, j] = times[k], rates[k]
            if 0 < k < len(rates) - 1 and np.all(np.isfinite(times[k - 1 : k + 2])):
                x = np.log(rates[k - 1 : k + 2])
                curve = np.polyfit(x, np.log(times[k - 1 : k + 2]), 2)
                if curve[0] > 0:
                    vertex = -curve[1] / (2 * curve[0])
                    if x[0] <= vertex <= x[-1]:
                        eta_opt[i, j] = math.exp(vertex)
                        t_min[i, j] = math.exp(np.polyval(curve, vertex))
    arrays.update({"t_min": t_min, "eta_opt": eta_opt, "t_min_theory": t_theory, "eta_opt_theory": eta_theory})
    save_arrays_and_metadata(cache, arrays, {"settings": settings})
    return {**arrays, "n_hidden": list(n_hidden), "n_outputs": list(n_outputs), "settings": settings}


def _slope(x, y):
    x, y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def _scaling_summary(study):
    lh, ly = study["n_hidden"], study["n_outputs"]
    summary = {}
    for i, n_out in enumerate(ly):
        summary[f"slope_tmin_vs_Lh_Ly{n_out}"] = _slope(lh, study["t_min"][i])
        summary[f"slope_eta_vs_Lh_Ly{n_out}"] = _slope(lh, study["eta_opt"][i])
        summary[f"slope_eta_theory_vs_Lh_Ly{n_out}"] = _slope(lh, study["eta_opt_theory"][i])
    for j, n_hid in enumerate(lh):
        summary[f"slope_tmin_vs_Ly_Lh{n_hid}"] = _slope(ly, study["t_min"][:, j])
        summary[f"slope_tmin_theory_vs_Ly_Lh{n_hid}"] = _slope(ly, study["t_min_theory"][:, j])
    summary["slope_tmin_vs_Lh"] = float(np.nanmean([summary[f"slope_tmin_vs_Lh_Ly{n}"] for n in ly]))
    summary["slope_tmin_vs_Ly"] = float(np.nanmean([summary[f"slope_tmin_vs_Ly_Lh{n}"] for n in lh]))
    summary["slope_eta_vs_Lh"] = float(np.nanmean([summary[f"slope_eta_vs_Lh_Ly{n}"] for n in ly]))
    return summary


@register("fig2a")
def fig2a(*, quick=False, out_dir="figures", progress=True):
    r"""Fig. 2A: minimum NP training time is nearly flat in ``Lh`` and linear in ``Ly``.

    See :func:`scaling_study` for the protocol. Left: minimum training time
    (to 1 % of the initial error) against ``Lh`` for each ``Ly`` (markers:
    simulation; lines: four-variable theory, :func:`bioplastic.theory.minimum_training_time`).
    Right: against ``Ly`` for each ``Lh`` with a slope-1 reference.

    Summary: fitted log-log slopes of the simulated minimum time against
    ``Lh`` (expected ~0) and ``Ly`` (expected ~1), per size and averaged.
    """
    study = scaling_study(quick=quick, out_dir=out_dir, progress=progress)
    lh, ly = np.asarray(study["n_hidden"]), np.asarray(study["n_outputs"])
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (n_out, color) in enumerate(zip(ly, _colors(len(ly)), strict=True)):
        left.plot(lh, study["t_min"][i], "o", color=color, label=f"Ly = {n_out}")
        left.plot(lh, study["t_min_theory"][i], "-", color=color)
    for j, (n_hid, color) in enumerate(zip(lh, _colors(len(lh)), strict=True)):
        right.plot(ly, study["t_min"][:, j], "o", color=color, label=f"Lh = {n_hid:g}")
        right.plot(ly, study["t_min_theory"][:, j], "-", color=color)
    ref = study["t_min"][0, 0] * ly / ly[0]
    right.plot(ly, ref, "k:", label="slope 1")
    left.set(xscale="log", yscale="log", xlabel="hidden size $L_h$", ylabel="minimum training time (steps)")
    right.set(xscale="log", yscale="log", xlabel="output size $L_y$", ylabel="minimum training time (steps)")
    left.legend(fontsize="small")
    right.legend(fontsize="small")
    fig.suptitle(f"NP scalability, Lx={study['settings']['n_inputs']} (markers: sim; lines: mean-field theory)", fontsize=9)
    summary = _scaling_summary(study)
    _save_results("fig2a", out_dir, {k: study[k] for k in ("t_min", "eta_opt", "t_min_theory", "eta_opt_theory")}, summary, study["settings"])
    _finish(fig, "fig2a", out_dir)
    return summary


@register("fig2b")
def fig2b(*, quick=False, out_dir="figures", progress=True):
    r"""Fig. 2B: the optimal NP learning rate scales as ``Lh^(-1/3)``.

    Same study as Fig. 2A (:func:`scaling_study`, cached). Optimal learning
    rate against ``Lh`` for each ``Ly`` (markers: simulation; lines:
    theory) with a ``Lh^(-1/3)`` reference.

    Summary: fitted log-log slopes against ``Lh`` (expected ~ -1/3).
    """
    study = scaling_study(quick=quick, out_dir=out_dir, progress=progress)
    lh, ly = np.asarray(study["n_hidden"]), np.asarray(study["n_outputs"])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, (n_out, color) in enumerate(zip(ly, _colors(len(ly)), strict=True)):
        ax.plot(lh, study["eta_opt"][i], "o", color=color, label=f"Ly = {n_out}")
        ax.plot(lh, study["eta_opt_theory"][i], "-", color=color)
    ax.plot(lh, study["eta_opt_theory"][0, 0] * (lh / lh[0]) ** (-1 / 3), "k:", label=r"$L_h^{-1/3}$")
    ax.set(xscale="log", yscale="log", xlabel="hidden size $L_h$", ylabel="optimal learning rate")
    ax.legend(fontsize="small")
    ax.set_title(f"NP optimal learning rate, Lx={study['settings']['n_inputs']}", fontsize=9)
    summary = _scaling_summary(study)
    summary = {k: v for k, v in summary.items() if "eta" in k}
    _save_results("fig2b", out_dir, {k: study[k] for k in ("eta_opt", "eta_opt_theory")}, summary, study["settings"])
    _finish(fig, "fig2b", out_dir)
    return summary


# --------------------------------------------------------------------------
# Fig. 3: instability with teacher noise
# --------------------------------------------------------------------------


def _noisy_ratios(quick):
    return (0.5, 1.0, 1.4) if quick else (0.2, 0.6, 1.0, 1.4)


def _noisy_horizon(lx, lh, ly, ratios, quick):
    eta = theory.np_critical_learning_rate(lx, lh, ly)
    times = theory.instability_times(lx, lh, ly, min(ratios) * eta, TEACHER_NOISE)
    cap = 4e4 if quick else 1e6
    return int(min(cap, 2.5 * times.turning_step))


@register("fig3a")
def fig3a(*, quick=False, out_dir="figures", progress=True):
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
    lx, lh, ly = sizes = _sizes(quick)
    n_seeds = 3 if quick else 10
    horizon = _noisy_horizon(lx, lh, ly, ratios, quick)
    hist, task, steps, rates = _trajectories("fig3a", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon,
                                             teacher_noise=TEACHER_NOISE, records=80)
    scale = np.cbrt(float(lh))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    arrays = {"steps": steps}
    summary = {}
    for ratio, rate, group, color in zip(ratios, rates, _groups(len(ratios), n_seeds), _colors(len(ratios)), strict=True):
        init = initial_order_parameters(hist, task, group)
        a_runs = hist.records["alpha"][group] / scale
        e_runs = hist.records["error"][group].copy()
        shown = e_runs <= 3 * init.epsilon  # the phase plane up to the divergence
        for a_row, e_row, keep in zip(a_runs, e_runs, shown, strict=True):
            ax.plot(a_row[keep], e_row[keep], color=color, lw=0.5, alpha=0.4)
        e_runs[~shown] = np.nan
        a_mean, e_mean = _nanmean(np.where(shown, a_runs, np.nan)), _nanmean(e_runs)
        ax.plot(a_mean, e_mean, color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
        two = theory.two_variable_dynamics(lx, lh, ly, rate, steps, teacher_noise=TEACHER_NOISE, initial=init)
        keep = two.epsilon <= 3 * init.epsilon
        ax.plot(two.a[keep], two.epsilon[keep], color=color, ls="--", lw=1.2)
        # the nullcline exists for a < 2/c, c = eta Lh^(1/3) Lx Ly (1 + beta_0)
        a_max = 2.0 / (rate * scale * lx * ly * (1.0 + init.beta))
        a_grid = np.geomspace(0.5 * init.alpha / scale, a_max, 200)[:-1]
        null = theory.instability_nullcline(a_grid, lx, lh, ly, rate, TEACHER_NOISE, initial=init)
        ax.plot(a_grid, null, color=color, ls=":", lw=1.5)
        k = int(np.nanargmin(e_mean))
        kt = int(np.argmin(np.where(np.isfinite(two.epsilon), two.epsilon, np.inf)))
        summary[f"min_error_sim_{ratio:g}"] = float(e_mean[k])
        summary[f"min_error_theory_{ratio:g}"] = float(two.epsilon[kt])
        summary[f"a_at_min_sim_{ratio:g}"] = float(a_mean[k])
        summary[f"a_at_min_theory_{ratio:g}"] = float(two.a[kt])
        arrays[f"a_sim_{ratio:g}"], arrays[f"error_sim_{ratio:g}"] = a_mean, e_mean
        arrays[f"a_theory_{ratio:g}"], arrays[f"error_theory_{ratio:g}"] = two.a, two.epsilon
        arrays[f"nullcline_a_{ratio:g}"], arrays[f"nullcline_error_{ratio:g}"] = a_grid, null
    ax.set(xscale="log", yscale="log", xlabel=r"$a = \alpha / L_h^{1/3}$", ylabel=r"error $\epsilon$")
    errors = hist.records["error"]
    ax.set_ylim(0.3 * np.nanmin(errors), 3 * np.max(errors[:, 0]))
    ax.legend(fontsize="small")
    ax.set_title(f"NP with teacher noise $\\sigma_t^2$=0.1, Lx={lx}, Lh={lh:g}, Ly={ly}\n(dashed: Eq. 12; dotted: nullcline Eq. 14)", fontsize=8)
    _save_results("fig3a", out_dir, arrays, summary, {"sizes": sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "fig3a", out_dir)
    return summary


@register("fig3b")
def fig3b(*, quick=False, out_dir="figures", progress=True):
    r"""Fig. 3B: the error turns up sooner at larger learning rates, as the theory's turning points predict.

    For each learning rate (``sigma_t^2 = 0.1``): the step of the mean
    error's minimum (turning point) and the step at which it is back at its
    initial value, simulated (markers; return steps per run with their
    spread) and from the two-variable theory
    (:func:`bioplastic.theory.instability_times`; lines over a fine grid of
    rates). Full: paper sizes, ``eta/eta* = 0.6 ... 2``, 6 seeds; quick:
    ``Lx=50, Lh=10^6, Ly=5``, ``eta/eta* = 0.7, 1, 1.4, 2``, 3 seeds.

    Summary: per ratio, simulated and predicted turning and return steps.
    """
    ratios = (0.7, 1.0, 1.4, 2.0) if quick else (0.6, 0.8, 1.0, 1.4, 2.0)
    lx, lh, ly = sizes = _sizes(quick)
    n_seeds = 3 if quick else 6
    eta = theory.np_critical_learning_rate(lx, lh, ly)
    slowest = theory.instability_times(lx, lh, ly, min(ratios) * eta, TEACHER_NOISE)
    horizon = int(min(2e5 if quick else 3e6, 1.6 * slowest.return_step))
    hist, task, steps, rates = _trajectories("fig3b", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon,
                                             teacher_noise=TEACHER_NOISE, records=120)
    summary = {}
    sim_turn, sim_return, sim_return_sd = [], [], []
    th_turn, th_return = [], []
    for ratio, rate, group in zip(ratios, rates, _groups(len(ratios), n_seeds), strict=True):
        init = initial_order_parameters(hist, task, group)
        times = theory.instability_times(lx, lh, ly, rate, TEACHER_NOISE, initial=init)
        errors = hist.records["error"][group]
        mean = _nanmean(errors)
        turn = float(steps[int(np.nanargmin(mean))])
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
    xavier = [theory.instability_times(lx, lh, ly, g * eta, TEACHER_NOISE) for g in grid]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(grid, [t.turning_step for t in xavier], "C0-", label="turning point (theory)")
    ax.plot(grid, [t.return_step for t in xavier], "C1-", label="back at initial error (theory)")
    ax.plot(ratios, sim_turn, "C0o", label="turning point (sim, mean error)")
    ax.errorbar(ratios, sim_return, yerr=sim_return_sd, fmt="C1s", label="back at initial error (sim)")
    ax.set(xscale="log", yscale="log", xlabel=r"$\eta / \eta^*$", ylabel="learning step")
    ax.legend(fontsize="small")
    ax.set_title(f"NP instability times, $\\sigma_t^2$=0.1, Lx={lx}, Lh={lh:g}, Ly={ly}", fontsize=9)
    arrays = {"ratios": np.asarray(ratios), "turning_sim": np.asarray(sim_turn), "return_sim": np.asarray(sim_return),
              "return_sim_sd": np.asarray(sim_return_sd), "turning_theory": np.asarray(th_turn), "return_theory": np.asarray(th_return),
              "grid": grid, "turning_theory_grid": np.asarray([t.turning_step for t in xavier]),
              "return_theory_grid": np.asarray([t.return_step for t in xavier])}
    _save_results("fig3b", out_dir, arrays, summary, {"sizes": sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "fig3b", out_dir)
    return summary


@register("fig3c")
def fig3c(*, quick=False, out_dir="figures", progress=True):
    r"""Fig. 3C: with teacher noise NP's error rises again; SGD below its critical rate is stable.

    Error trajectories (``sigma_t^2 = 0.1``) of NP at ``eta*`` and of SGD at
    0.5 and 1 times its optimal rate ``1/(Lx (alpha_0 + beta_0))`` (critical
    rate about twice that), with the four-variable theory of each rule
    (dotted) over the same horizon. Full: paper sizes, 6 seeds; quick:
    ``Lx=50, Lh=10^6, Ly=5``, 3 seeds.

    Summary: for each run group, minimum and final mean error and their
    ratio (NP's rise; SGD's stays near 1).
    """
    lx, lh, ly = sizes = _sizes(quick)
    n_seeds = 3 if quick else 6
    eta = theory.np_critical_learning_rate(lx, lh, ly)
    times = theory.instability_times(lx, lh, ly, eta, TEACHER_NOISE)
    horizon = int(min(1e5 if quick else 2e6, 1.5 * times.return_step))
    np_hist, task, steps, np_rates = _trajectories("fig3c", out_dir, quick, progress, (1.0,), n_seeds=n_seeds, horizon=horizon,
                                                   teacher_noise=TEACHER_NOISE, records=80, label="sim_np")
    sgd_ratios = (0.5, 1.0)
    sgd_hist, _, sgd_steps, sgd_rates = _trajectories("fig3c", out_dir, quick, progress, sgd_ratios, n_seeds=n_seeds,
                                                      horizon=horizon, teacher_noise=TEACHER_NOISE, rule="sgd", records=80,
                                                      label="sim_sgd")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    summary = {"np_learning_rate": np_rates[0]}
    arrays = {"steps": steps}
    groups = [("np", 1.0, np_hist, slice(None), np_rates[0], "C3")]
    groups += [("sgd", r, sgd_hist, g, rate, c) for r, g, rate, c in zip(sgd_ratios, _groups(2, n_seeds), sgd_rates, ("C0", "C9"), strict=True)]
    for rule, ratio, hist, group, rate, color in groups:
        init = initial_order_parameters(hist, task, group)
        errors = hist.records["error"][group]
        mean = _nanmean(errors)
        label = f"NP {ratio:g} $\\eta^*$" if rule == "np" else f"SGD {ratio:g} $\\eta_{{opt}}$"
        for row in errors:
            ax.plot(steps[1:], row[1:], color=color, lw=0.4, alpha=0.35)
        ax.plot(steps[1:], mean[1:], color=color, lw=2, label=label)
        mf = theory.mean_field_dynamics(lx, lh, ly, rate, steps, rule=rule, teacher_noise=TEACHER_NOISE, initial=init).epsilon
        ax.plot(steps[1:], mf[1:], color=color, ls=":")
        key = f"{rule}_{ratio:g}"
        k = int(np.nanargmin(mean))
        last = np.nonzero(np.isfinite(mean))[0][-1]
        summary[f"min_error_{key}"] = float(mean[k])
        summary[f"final_error_{key}"] = float(mean[last])
        summary[f"rise_{key}"] = float(mean[last] / mean[k])
        summary[f"diverged_fraction_{key}"] = float(np.mean(hist.diverged_epoch[group] >= 0))
        arrays[f"sim_mean_{key}"], arrays[f"theory_{key}"] = mean, mf
    ax.set(xscale="log", yscale="log", xlabel="learning step", ylabel=r"error $\epsilon$")
    ax.legend(fontsize="small")
    ax.set_title(f"NP vs SGD, $\\sigma_t^2$=0.1, Lx={lx}, Lh={lh:g}, Ly={ly} (dotted: 4-var theory)", fontsize=8)
    _save_results("fig3c", out_dir, arrays, summary, {"sizes": sizes, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "fig3c", out_dir)
    return summary


@register("fig3d")
def fig3d(*, quick=False, out_dir="figures", progress=True):
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
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    summary, arrays = {"learning_rate": eta}, {}
    floors = []
    for lh, color in zip(hiddens, _colors(len(hiddens)), strict=True):
        times = theory.instability_times(lx, lh, ly, eta, TEACHER_NOISE)
        plain_horizon = int(min(horizon, 3 * times.return_step)) if np.isfinite(times.return_step) else horizon
        for scaled, ax in ((False, left), (True, right)):
            steps = log_spaced_steps(horizon if scaled else plain_horizon, 50)
            key = f"{'scaled' if scaled else 'plain'}_Lh{lh}"
            hist = _train("fig3d", out_dir, task, (lx, lh, ly), NodePerturbation(sigma=SIGMA), [eta], range(n_seeds), steps,
                          progress=progress, method="blocked", homeostasis=SynapticScaling() if scaled else None,
                          label=f"sim_{key}", dimensionality=False)
            st = record_steps(hist)
            errors = hist.records["error"].copy()
            errors[errors > 1e3 * errors[:, :1]] = np.nan  # the record at which a run diverged
            mean = _nanmean(errors)
            ax.plot(st[1:], mean[1:], color=color, lw=2, label=f"Lh = {lh}")
            summary[f"diverged_fraction_{key}"] = float(np.mean(hist.diverged_epoch >= 0))
            arrays[f"steps_{key}"], arrays[f"sim_mean_{key}"] = st, mean
            if scaled:
                floor = float(np.mean(mean[-5:]))
                floors.append(floor)
                summary[f"floor_Lh{lh}"] = floor
                summary[f"rise_{key}"] = float(np.nanmax(mean[int(np.nanargmin(mean)) :]) / np.nanmin(mean))
            else:
                init = initial_order_parameters(hist, task)
                two = theory.two_variable_dynamics(lx, lh, ly, eta, st, teacher_noise=TEACHER_NOISE, initial=init).epsilon
                ax.plot(st[1:], two[1:], color=color, ls="--")
                arrays[f"theory_{key}"] = two
                summary[f"min_error_{key}"] = float(np.nanmin(mean))
    summary["floor_slope_vs_Lh"] = _slope(hiddens, floors)
    for ax, title in ((left, "without synaptic scaling (dashed: Eq. 12)"), (right, "with synaptic scaling")):
        ax.set(xscale="log", yscale="log", xlabel="learning step", title=title)
        ax.title.set_fontsize(9)
        ax.legend(fontsize="small")
    left.set_ylabel(r"error $\epsilon$")
    left.set_ylim(top=10 * max(np.nanmax(v[:1]) for k, v in arrays.items() if k.startswith("sim_mean")))
    fig.suptitle(f"NP, $\\sigma_t^2$=0.1, eta = {eta:.3g} for all Lh, Lx={lx}, Ly={ly}", fontsize=9)
    _save_results("fig3d", out_dir, arrays, summary, {"n_inputs": lx, "n_outputs": ly, "n_hidden": hiddens, "n_seeds": n_seeds,
                                                      "horizon": horizon, "engine": "blocked"})
    _finish(fig, "fig3d", out_dir)
    return summary


# --------------------------------------------------------------------------
# supplementary figures
# --------------------------------------------------------------------------


@register("figS1")
def figS1(*, quick=False, out_dir="figures", progress=True):
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
    lx, lh, ly = sizes = _sizes(quick)
    hist, task, steps, rates = _trajectories("figS1", out_dir, quick, progress, ratios, n_seeds=n_seeds, horizon=horizon)
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    names = ("alpha", "beta", "epsilon", "phi")
    summary, arrays = {}, {"steps": steps}
    for ratio, rate, group, color in zip(ratios, rates, _groups(len(ratios), n_seeds), _colors(len(ratios)), strict=True):
        init = initial_order_parameters(hist, task, group)
        mf = theory.mean_field_dynamics(lx, lh, ly, rate, steps, initial=init)
        window = (mf.epsilon >= 1e-2 * mf.epsilon[0]) & np.isfinite(mf.epsilon)
        window[0] = False
        for ax, name in zip(axes, names, strict=True):
            sim = _mean(hist.records["error" if name == "epsilon" else name][group])
            pred = getattr(mf, name)
            ax.plot(steps[1:], sim[1:], color=color, lw=2, label=f"{ratio:g} $\\eta^*$")
            ax.plot(steps[1:], pred[1:], color=color, ls=":")
            if name == "epsilon":
                ax.plot(steps[1:], theory.two_variable_dynamics(lx, lh, ly, rate, steps, initial=init).epsilon[1:], color=color, ls="--")
            ok = window & np.isfinite(sim)
            scale = np.max(np.abs(pred[ok])) if name == "phi" and ok.any() else None
            if ok.any():
                dev = np.abs(sim[ok] - pred[ok]) / (scale if scale else np.abs(pred[ok]))
                summary[f"deviation_{name}_{ratio:g}"] = float(np.max(dev))
            arrays[f"sim_{name}_{ratio:g}"], arrays[f"theory_{name}_{ratio:g}"] = sim, pred
    for ax, name in zip(axes, names, strict=True):
        ax.set(xscale="log", xlabel="learning step", title=name)
        if name in ("alpha", "epsilon"):
            ax.set_yscale("log")
        if name == "epsilon":
            ax.set_ylim(1e-4 * float(np.mean(hist.records["error"][:, 0])), None)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"NP order parameters, Lx={lx}, Lh={lh:g}, Ly={ly} (solid: sim; dotted: 4-var theory; dashed: Eq. 12)", fontsize=9)
    _save_results("figS1", out_dir, arrays, summary, {"sizes": sizes, "ratios": ratios, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE})
    _finish(fig, "figS1", out_dir)
    return summary


@register("figS2b")
def figS2b(*, quick=False, out_dir="figures", progress=True):
    r"""Fig. S2B: planar dimensionality of the hidden layer during NP and SGD learning.

    Participation ratio ``(tr C)^2 / tr(C^2)`` of ``C = W1^T W1`` (how many
    input directions the hidden layer spans) for NP at ``0.5 eta*`` and SGD
    at its optimal rate, without teacher noise, with the Xavier-Glorot
    expectation at the start, ``~ Lx / (1 + (Lx + 1) / Lh)`` (dashed; the
    Wishart value for large sizes). SGD adds the teacher's
    ``Ly``-dimensional structure to ``W1``; NP's weight diffusion adds
    ``sum_t c_t^2 |xi_t|^2 x_t x_t^T``, a sum of rank-one terms with
    heavy-tailed weights, which makes ``C`` less isotropic (the isotropy
    ``W1^T W1 ~ alpha I`` the mean-field theory assumes). Full: paper sizes,
    10 seeds, ``10^5`` steps; quick: ``Lx=50, Lh=10^4, Ly=5``, 3 seeds.

    Summary: initial, minimum and final mean dimensionality of each rule.
    """
    lx, lh, ly = sizes = (50, 10_000, 5) if quick else PAPER_SIZES
    n_seeds = 3 if quick else 10
    horizon = 12_000 if quick else 100_000
    np_hist, task, steps, np_rates = _trajectories("figS2b", out_dir, quick, progress, (0.5,), n_seeds=n_seeds, horizon=horizon,
                                                   sizes=sizes, label="sim_np")
    sgd_hist, _, _, sgd_rates = _trajectories("figS2b", out_dir, quick, progress, (1.0,), n_seeds=n_seeds, horizon=horizon,
                                              sizes=sizes, rule="sgd", label="sim_sgd")
    expected = lx / (1 + (lx + 1) / lh)
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    summary, arrays = {"initial_expected": expected}, {"steps": steps}
    for key, hist, color in (("np", np_hist, "C3"), ("sgd", sgd_hist, "C0")):
        dims = hist.records["dimensionality"]
        mean = _nanmean(dims)
        for row in dims:
            left.plot(steps[1:], row[1:], color=color, lw=0.4, alpha=0.35)
        left.plot(steps[1:], mean[1:], color=color, lw=2, label="NP 0.5 $\\eta^*$" if key == "np" else "SGD $\\eta_{opt}$")
        right.plot(steps[1:], _nanmean(hist.records["error"])[1:], color=color, lw=2)
        summary[f"initial_{key}"] = float(mean[0])
        summary[f"minimum_{key}"] = float(np.nanmin(mean))
        summary[f"final_{key}"] = float(mean[np.nonzero(np.isfinite(mean))[0][-1]])
        arrays[f"dimensionality_{key}"] = mean
    left.axhline(expected, color="k", ls="--", label="Xavier-Glorot expectation")
    left.set(xscale="log", xlabel="learning step", ylabel="planar dimensionality of $W_1$")
    right.set(xscale="log", yscale="log", xlabel="learning step", ylabel=r"error $\epsilon$")
    left.legend(fontsize="small")
    fig.suptitle(f"hidden-layer dimensionality, Lx={lx}, Lh={lh:g}, Ly={ly}", fontsize=9)
    _save_results("figS2b", out_dir, arrays, summary, {"sizes": sizes, "n_seeds": n_seeds, "horizon": horizon, "engine": ENGINE,
                                                       "np_rate": np_rates[0], "sgd_rate": sgd_rates[0]})
    _finish(fig, "figS2b", out_dir)
    return summary

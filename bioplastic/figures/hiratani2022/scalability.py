r"""Scalability of NP in deep linear networks (Figs 2A-B): minimum training time and optimal learning rate against layer sizes.

The minimum training time is nearly flat in the hidden width ``Lh`` and
linear in the output size ``Ly``; the optimal learning rate scales as
``Lh^(-1/3)`` (paper Eq. 13). Both panels share one study
(:func:`scaling_study`), cached in ``out_dir/fig2_scaling.npz/.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ... import theory
from ...io import load_arrays_and_metadata, save_arrays_and_metadata, to_jsonable
from ...online import record_steps
from ...plasticity import NodePerturbation
from ...tasks.student_teacher import StudentTeacher
from .. import register_figure
from .._drawing import colors, new_figure, width_ticks
from . import _style as style
from .linear_setup import ENGINE, SIGMA, crossing_steps, linear_results, simulate, slope

__all__ = ["compute_fig2a", "compute_fig2b", "draw_fig2a", "draw_fig2b", "fig2a", "fig2b", "scaling_study"]


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
    settings match; ``out_dir=None`` neither reads nor writes it, nor the
    Histories ``fig2_sim_Ly<ly>_Lh<lh>``).

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
    cache = None if out_dir is None else Path(out_dir) / "fig2_scaling"
    if cache is not None and cache.with_suffix(".json").exists():
        arrays, meta = load_arrays_and_metadata(cache)
        if meta.get("settings") == json.loads(json.dumps(to_jsonable(settings))):
            return {**arrays, "n_hidden": list(n_hidden), "n_outputs": list(n_outputs), "settings": settings}
    shape = (len(n_outputs), len(n_hidden))
    t_min, eta_opt = np.full(shape, np.inf), np.full(shape, np.nan)
    t_theory, eta_theory = np.full(shape, np.nan), np.full(shape, np.nan)
    arrays = {}
    for i, ly in enumerate(n_outputs):
        task = StudentTeacher(n_inputs=lx, n_outputs=ly, steps_per_epoch=1000, n_eval=1)
        best = [theory.predicted_minimum_training_time(lx, lh, ly, target, model="mean_field") for lh in n_hidden]
        lo = window[0] * min(b.learning_rate for b in best)
        grid = lo * spacing ** np.arange(int(np.ceil(np.log(window[1] * max(b.learning_rate for b in best) / lo) / np.log(spacing))) + 1)
        for j, (lh, opt) in enumerate(zip(n_hidden, best, strict=True)):
            t_theory[i, j], eta_theory[i, j] = opt.steps, opt.learning_rate
            rates = grid[(grid >= window[0] * opt.learning_rate) & (grid <= window[1] * opt.learning_rate)]
            horizon = int(3 * opt.steps) + 10
            steps = np.unique(np.linspace(1, horizon, 150).astype(np.int64))
            hist = simulate("fig2", out_dir, task, (lx, lh, ly), NodePerturbation(sigma=SIGMA), rates, range(n_seeds), steps,
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
    if cache is not None:
        save_arrays_and_metadata(cache, arrays, {"settings": settings})
    return {**arrays, "n_hidden": list(n_hidden), "n_outputs": list(n_outputs), "settings": settings}


def _scaling_summary(study):
    lh, ly = study["n_hidden"], study["n_outputs"]
    summary = {}
    for i, n_out in enumerate(ly):
        summary[f"slope_tmin_vs_Lh_Ly{n_out}"] = slope(lh, study["t_min"][i])
        summary[f"slope_eta_vs_Lh_Ly{n_out}"] = slope(lh, study["eta_opt"][i])
        summary[f"slope_eta_theory_vs_Lh_Ly{n_out}"] = slope(lh, study["eta_opt_theory"][i])
    for j, n_hid in enumerate(lh):
        summary[f"slope_tmin_vs_Ly_Lh{n_hid}"] = slope(ly, study["t_min"][:, j])
        summary[f"slope_tmin_theory_vs_Ly_Lh{n_hid}"] = slope(ly, study["t_min_theory"][:, j])
    summary["slope_tmin_vs_Lh"] = float(np.nanmean([summary[f"slope_tmin_vs_Lh_Ly{n}"] for n in ly]))
    summary["slope_tmin_vs_Ly"] = float(np.nanmean([summary[f"slope_tmin_vs_Ly_Lh{n}"] for n in lh]))
    summary["slope_eta_vs_Lh"] = float(np.nanmean([summary[f"slope_eta_vs_Lh_Ly{n}"] for n in ly]))
    return summary


def _layer_sizes(results):
    settings = results.metadata["settings"]
    return np.asarray(settings["n_hidden"]), np.asarray(settings["n_outputs"]), settings["n_inputs"]


def compute_fig2a(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 2A: minimum NP training time is nearly flat in ``Lh`` and linear in ``Ly``.

    See :func:`scaling_study` for the protocol. Left: minimum training time
    (to 1 % of the initial error) against ``Lh`` for each ``Ly`` (markers:
    simulation; lines: four-variable theory, :func:`bioplastic.theory.predicted_minimum_training_time`).
    Right: against ``Ly`` for each ``Lh`` with a slope-1 reference.

    Summary: fitted log-log slopes of the simulated minimum time against
    ``Lh`` (expected ~0) and ``Ly`` (expected ~1), per size and averaged.
    """
    study = scaling_study(quick=quick, out_dir=out_dir, progress=progress)
    arrays = {k: study[k] for k in ("t_min", "eta_opt", "t_min_theory", "eta_opt_theory")}
    return linear_results("fig2a", arrays, _scaling_summary(study), study["settings"])


def draw_fig2a(results):
    """Fig. 2A: minimum training time against ``Lh`` (left) and ``Ly`` (right); markers simulation, lines theory."""
    arrays = results.arrays
    lh, ly, lx = _layer_sizes(results)
    fig, (left, right) = new_figure(2, figsize=(11, 4.2))
    for i, (n_out, color) in enumerate(zip(ly, colors(len(ly)), strict=True)):
        left.plot(lh, arrays["t_min"][i], "o", color=color, label=f"Ly = {n_out}")
        left.plot(lh, arrays["t_min_theory"][i], "-", color=color)
    for j, (n_hid, color) in enumerate(zip(lh, colors(len(lh)), strict=True)):
        right.plot(ly, arrays["t_min"][:, j], "o", color=color, label=f"Lh = {n_hid:g}")
        right.plot(ly, arrays["t_min_theory"][:, j], "-", color=color)
    right.plot(ly, arrays["t_min"][0, 0] * ly / ly[0], "k:", label="slope 1")
    left.set(xscale="log", yscale="log", xlabel=style.HIDDEN, ylabel="minimum training time (learning steps)",
             title="nearly flat in the hidden width")
    right.set(xscale="log", yscale="log", xlabel=style.OUTPUTS, ylabel="minimum training time (learning steps)",
              title="linear in the output size")
    width_ticks(right, ly)
    for ax in (left, right):
        ax.title.set_fontsize(9)
        ax.legend(fontsize="small")
    style.title(fig, "Fig. 2A", "minimum NP training time against layer sizes",
                f"Lx={lx}; to 1% of the initial error; markers: simulation, lines: four-variable theory (Eq. 13)")
    return fig


fig2a = register_figure("fig2a", compute_fig2a, draw_fig2a)


def compute_fig2b(*, quick=False, progress=True, out_dir=None):
    r"""Fig. 2B: the optimal NP learning rate scales as ``Lh^(-1/3)``.

    Same study as Fig. 2A (:func:`scaling_study`, cached). Optimal learning
    rate against ``Lh`` for each ``Ly`` (markers: simulation; lines:
    theory) with a ``Lh^(-1/3)`` reference.

    Summary: fitted log-log slopes against ``Lh`` (expected ~ -1/3).
    """
    study = scaling_study(quick=quick, out_dir=out_dir, progress=progress)
    summary = {k: v for k, v in _scaling_summary(study).items() if "eta" in k}
    return linear_results("fig2b", {k: study[k] for k in ("eta_opt", "eta_opt_theory")}, summary, study["settings"])


def draw_fig2b(results):
    """Fig. 2B: optimal learning rate against ``Lh`` (markers simulation, lines theory) with a ``Lh^(-1/3)`` reference."""
    arrays = results.arrays
    lh, ly, lx = _layer_sizes(results)
    fig, (ax,) = new_figure(figsize=(6, 4.4))
    for i, (n_out, color) in enumerate(zip(ly, colors(len(ly)), strict=True)):
        ax.plot(lh, arrays["eta_opt"][i], "o", color=color, label=f"Ly = {n_out}")
        ax.plot(lh, arrays["eta_opt_theory"][i], "-", color=color)
    ax.plot(lh, arrays["eta_opt_theory"][0, 0] * (lh / lh[0]) ** (-1 / 3), "k:", label=r"$L_h^{-1/3}$")
    ax.set(xscale="log", yscale="log", xlabel=style.HIDDEN, ylabel=r"optimal learning rate $\eta_{opt}$ (per step)")
    ax.legend(fontsize="small")
    style.title(fig, "Fig. 2B", r"the optimal NP learning rate scales as $L_h^{-1/3}$",
                f"Lx={lx}; markers: simulation, lines: four-variable theory (Eq. 13)")
    return fig


fig2b = register_figure("fig2b", compute_fig2b, draw_fig2b)

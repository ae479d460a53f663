r"""The deep linear student-teacher setting of Figs 1-3, S1 and S2b, and measures of simulations against the theory.

A student ``y = W2 W1 x`` (``Lx = 100``, ``Lh = 10^4``, ``Ly = 10`` in the
paper) learns a linear teacher ``y* = A x + sigma_t zeta`` online (one
Gaussian sample per step) from Xavier-Glorot initial weights, with node
perturbation (hidden and output layers perturbed together, ``sigma = 1e-6``
as in the paper's linear simulations) or SGD.

Simulations use :func:`bioplastic.online.train_online`. Everything except
synaptic scaling of hidden neurons (Fig. 3D) runs on its ``"reduced"``
engine, which samples the exact joint law of the order parameters at a cost
independent of ``Lh`` (:data:`ENGINE`); Fig. 3D runs the network itself
(``"blocked"``). Theory curves come from :mod:`bioplastic.theory`, started
from the simulations' mean initial order parameters and the actual teacher
norm (so that curves and simulations share their starting point; the paper
starts both from Xavier-Glorot expectations).

Conventions: ``eta*`` is the two-variable critical learning rate
(:func:`bioplastic.theory.np_critical_learning_rate`, paper Eq. 83); teacher
noise ``sigma_t^2 = 0.1`` in Fig. 3; target error ``1e-2`` of the initial
error for training times (Fig. 2).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ... import theory
from ...network import Network
from ...neurons import Population
from ...online import log_spaced_steps, record_steps, train_online
from ...plasticity import Backprop, NodePerturbation
from ...synapses import Projection
from ...tasks.student_teacher import StudentTeacher
from .. import FigureResults

__all__ = [
    "ENGINE",
    "PAPER_SIZES",
    "QUICK_SIZES",
    "SIGMA",
    "TEACHER_NOISE",
    "crossing_steps",
    "initial_order_parameters",
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
#: ``(Lx, Lh, Ly)`` of the paper and of the quick (CI-sized) runs
PAPER_SIZES = (100, 10_000, 10)
QUICK_SIZES = (50, 10**6, 5)


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


# --------------------------------------------------------------------------
# helpers of the figure modules
# --------------------------------------------------------------------------


def mean(values):
    """Mean over seeds, NaN where any seed diverged (its records are NaN)."""
    return np.mean(np.asarray(values, dtype=float), axis=0)


def nanmean(values, axis=0):
    """Mean over the seeds that have not diverged (quietly NaN where all have)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def groups(n_groups, n_seeds):
    """Member slices of each learning rate (the ensembles are learning-rate-major)."""
    return [slice(g * n_seeds, (g + 1) * n_seeds) for g in range(n_groups)]


def sizes(quick):
    """``(Lx, Lh, Ly)`` of a quick or full run."""
    return QUICK_SIZES if quick else PAPER_SIZES


def simulate(name, out_dir, task, layer_sizes, rule, rates, seeds, steps, *, progress, method=ENGINE, homeostasis=None,
             init_scale_in=1.0, label="sim", dimensionality=True):
    """Train an online ensemble; save its History as ``out_dir/<name>_<label>`` unless ``out_dir`` is None."""
    lx, lh, ly = layer_sizes
    hist = train_online(
        student(lx, lh, ly, init_scale_in=init_scale_in), rule, task, record_at=steps, learning_rate=list(rates),
        seeds=list(seeds), method=method, homeostasis=homeostasis, progress=progress, dimensionality=dimensionality,
    )
    if out_dir is not None:
        hist.save(Path(out_dir) / f"{name}_{label}")
    return hist


def trajectories(name, out_dir, quick, progress, ratios, *, n_seeds, horizon, teacher_noise=0.0, rule="np",
                 init_scale_in=1.0, layer_sizes=None, records=60, label="sim"):
    """Simulate NP (or SGD) at ``ratios`` times the reference rate; returns (history, task, steps, rates)."""
    lx, lh, ly = layer_sizes or sizes(quick)
    task = StudentTeacher(n_inputs=lx, n_outputs=ly, teacher_noise=teacher_noise, steps_per_epoch=1000, n_eval=1)
    if rule == "np":
        reference = theory.np_critical_learning_rate(lx, lh, ly)
        learning_rule = NodePerturbation(sigma=SIGMA)
    else:
        reference = theory.sgd_optimal_learning_rate(lx, lh, ly)
        learning_rule = Backprop()
    rates = [r * reference for r in ratios]
    steps = log_spaced_steps(int(horizon), records)
    hist = simulate(name, out_dir, task, (lx, lh, ly), learning_rule, rates, range(n_seeds), steps, progress=progress,
                    init_scale_in=init_scale_in, label=label)
    return hist, task, record_steps(hist), rates


def slope(x, y):
    """Log-log slope of ``y`` against ``x`` over the finite points (NaN with fewer than two)."""
    x, y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def linear_results(name, arrays, summary, settings):
    """The :class:`~bioplastic.figures.FigureResults` of a linear figure: metadata ``figure``, ``summary``, ``settings``."""
    return FigureResults(arrays, {"figure": name, "summary": summary, "settings": settings})

r"""Single-layer linear regression learnt online by SGD or NP (paper Eq. 9): exact for every size."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from bioplastic._validation import check_choice, check_fraction, check_nonnegative, check_positive, check_positive_int

from ._checks import RULES, check_steps
from .training_time import TrainingTime

__all__ = ["LearningRates", "linear_regression_decay_factor", "linear_regression_error", "linear_regression_learning_rates", "linear_regression_training_time"]


class LearningRates(NamedTuple):
    """Optimal learning rate (fastest mean error decay) and critical one (the mean error stops decaying)."""

    optimal: float
    critical: float



def _regression_coefficients(rule, n_inputs, n_outputs, learning_rate, teacher_noise, perturbation_std):
    """Return (lambda, q) of the exact recursion eps' = lambda eps + q."""
    lx, ly = n_inputs, n_outputs
    eta = learning_rate
    if rule == "sgd":
        lam = 1.0 - 2.0 * eta + eta**2 * (lx + 2)
        q = eta**2 * teacher_noise**2
    else:
        lam = 1.0 - 2.0 * eta + eta**2 * (lx + 2) * (ly + 2)
        q = eta**2 * (ly + 2) * (teacher_noise**2 + perturbation_std**2 * (ly + 4) / 4.0)
    return lam, q



def _regression_args(rule, n_inputs, n_outputs):
    rule = check_choice(rule, "rule", RULES)
    return rule, check_positive_int(n_inputs, "n_inputs"), check_positive_int(n_outputs, "n_outputs")


def _recursion(rule, lx, ly, eta, initial_error, teacher_noise, perturbation_std):
    """Checked ``epsilon_0`` (Xavier-Glorot expectation ``4/(Lx + Ly)`` if None) and ``(lambda, q)``."""
    eps0 = 4.0 / (lx + ly) if initial_error is None else check_positive(initial_error, "initial_error")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    sigma = check_nonnegative(perturbation_std, "perturbation_std")
    return (eps0, *_regression_coefficients(rule, lx, ly, eta, sigma_t, sigma))


def linear_regression_learning_rates(rule, n_inputs, n_outputs):
    r"""Optimal and critical learning rates for a single-layer linear student.

    For ``y = W x`` learning a teacher ``A`` online, the expected error obeys
    the exact recursion ``epsilon' = lambda(eta) epsilon + q`` (see
    :func:`linear_regression_decay_factor`). The optimal rate minimises
    ``lambda``; at the critical rate ``lambda = 1``.

    Parameters
    ----------
    rule : {"sgd", "np"}
        Learning rule; for NP only the output layer is perturbed.
    n_inputs, n_outputs : int
        ``Lx`` and ``Ly``.

    Returns
    -------
    LearningRates
        SGD: ``optimal = 1/(Lx+2)``, ``critical = 2/(Lx+2)``.
        NP: ``optimal = 1/((Lx+2)(Ly+2))``, ``critical = 2/((Lx+2)(Ly+2))``,
        i.e. about ``1/Lx`` and ``1/(Lx Ly)`` for large layers (cf. paper
        Eq. 9): NP needs a learning rate ``Ly`` times smaller.
    """
    rule, lx, ly = _regression_args(rule, n_inputs, n_outputs)
    curvature = (lx + 2.0) if rule == "sgd" else (lx + 2.0) * (ly + 2.0)
    return LearningRates(optimal=1.0 / curvature, critical=2.0 / curvature)


def linear_regression_decay_factor(rule, n_inputs, n_outputs, learning_rate):
    r"""Per-step factor by which the expected error of linear regression shrinks.

    Exact for Gaussian inputs and perturbations (``x ~ N(0, I)``,
    ``xi ~ N(0, I)``) and infinitesimal NP perturbations:

    * SGD: ``lambda = 1 - 2 eta + eta^2 (Lx + 2)``;
    * NP:  ``lambda = 1 - 2 eta + eta^2 (Lx + 2)(Ly + 2)``.

    The ``eta^2`` term is the update variance: NP's estimate of the gradient
    carries an extra factor ``Ly + 2`` (cf. paper Eq. 9).

    Parameters
    ----------
    rule : {"sgd", "np"}
        Learning rule.
    n_inputs, n_outputs : int
        ``Lx`` and ``Ly``.
    learning_rate : float
        ``eta > 0``.

    Returns
    -------
    float
        ``lambda``; the error decays iff ``lambda < 1``.
    """
    rule, lx, ly = _regression_args(rule, n_inputs, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    return _regression_coefficients(rule, lx, ly, eta, 0.0, 0.0)[0]


def linear_regression_error(
    rule,
    n_inputs,
    n_outputs,
    learning_rate,
    steps,
    *,
    initial_error=None,
    teacher_noise=0.0,
    perturbation_std=0.0,
):
    r"""Expected error trajectory of online linear regression.

    Solves the exact recursion ``epsilon_{t+1} = lambda epsilon_t + q`` with
    ``lambda`` from :func:`linear_regression_decay_factor` and

    * SGD: ``q = eta^2 sigma_t^2``;
    * NP:  ``q = eta^2 (Ly + 2) (sigma_t^2 + sigma^2 (Ly + 4) / 4)``, where
      the ``sigma^2`` term is the exact contribution of a finite perturbation
      ``sigma`` (the second-order part of ``L~ - L``).

    Parameters
    ----------
    rule : {"sgd", "np"}
        Learning rule.
    n_inputs, n_outputs : int
        ``Lx`` and ``Ly``.
    learning_rate : float
        ``eta > 0``.
    steps : int or array_like of shape (n_times,)
        Steps at which to report the error (an int ``n`` means ``0..n``).
    initial_error : float, optional
        ``epsilon_0``; defaults to the Xavier-Glorot expectation
        ``4/(Lx + Ly)`` (student and teacher both ``N(0, 2/(Lx+Ly))``).
    teacher_noise : float, default 0
        ``sigma_t``.
    perturbation_std : float, default 0
        NP perturbation ``sigma`` (ignored for SGD).

    Returns
    -------
    ndarray of shape (n_times,)
        Expected ``||W - A||_F^2 / (Lx Ly)``.
    """
    rule, lx, ly = _regression_args(rule, n_inputs, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    times = check_steps(steps, integer=False)
    eps0, lam, q = _recursion(rule, lx, ly, eta, initial_error, teacher_noise, perturbation_std)
    with np.errstate(over="ignore"):
        power = np.power(lam, times)
        if lam == 1.0:
            return eps0 + q * times
        return eps0 * power + q * (power - 1.0) / (lam - 1.0)


def linear_regression_training_time(
    rule,
    n_inputs,
    n_outputs,
    learning_rate=None,
    target_ratio=1e-2,
    *,
    teacher_noise=0.0,
    initial_error=None,
    perturbation_std=0.0,
):
    r"""Steps for online linear regression to shrink the error by ``target_ratio`` (paper Eq. 9).

    Without noise the expected error decays geometrically,
    ``epsilon_t = lambda^t epsilon_0``, so
    ``t = ln(target_ratio) / ln(lambda)``. At the optimal learning rate
    ``lambda = 1 - 1/C`` with ``C = Lx + 2`` (SGD) or ``(Lx + 2)(Ly + 2)``
    (NP), so ``t = ln(1/r) / (-ln(1 - 1/C)) ~ C ln(1/r)``: about
    ``Lx ln(1/r)`` for SGD and ``Lx Ly ln(1/r)`` for NP, which is ``Ly + 2``
    times slower. With noise the error
    relaxes to ``q/(1 - lambda)`` and the time solves
    ``epsilon_t = target_ratio * epsilon_0`` exactly.

    Parameters
    ----------
    rule : {"sgd", "np"}
        Learning rule.
    n_inputs, n_outputs : int
        ``Lx`` and ``Ly``.
    learning_rate : float, optional
        Defaults to the optimal rate of :func:`linear_regression_learning_rates`.
    target_ratio : float, default 0.01
        Target ``epsilon_t / epsilon_0`` in (0, 1).
    teacher_noise, initial_error, perturbation_std
        As in :func:`linear_regression_error`.

    Returns
    -------
    TrainingTime
        ``steps`` is real-valued (the first step at or below the target is
        ``ceil(steps)``); ``inf`` when the target is never reached.
    """
    rule, lx, ly = _regression_args(rule, n_inputs, n_outputs)
    if learning_rate is None:
        eta = linear_regression_learning_rates(rule, lx, ly).optimal
    else:
        eta = check_positive(learning_rate, "learning_rate")
    ratio = check_fraction(target_ratio, "target_ratio")
    eps0, lam, q = _recursion(rule, lx, ly, eta, initial_error, teacher_noise, perturbation_std)
    if not 0 < lam < 1:
        return TrainingTime(math.inf, eta)
    floor = q / (1.0 - lam)
    target = ratio * eps0
    if target <= floor or eps0 <= floor:
        return TrainingTime(math.inf, eta)
    return TrainingTime(math.log((target - floor) / (eps0 - floor)) / math.log(lam), eta)

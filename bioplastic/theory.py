r"""Mean-field theory of node perturbation in linear student-teacher networks.

Theory of Hiratani, Mehta, Lillicrap & Latham, *On the Stability and
Scalability of Node Perturbation Learning* (NeurIPS 2022), for online learning
(one sample per step) in a linear student-teacher setting.

Model
-----
* Inputs ``x ~ N(0, I_Lx)``; teacher ``y* = A x + sigma_t zeta`` with
  ``zeta ~ N(0, I_Ly)`` (``sigma_t`` is the teacher noise, ``teacher_noise``).
* Two-layer student ``y = W2 W1 x`` with ``W1`` of shape ``(Lh, Lx)`` and
  ``W2`` of shape ``(Ly, Lh)``; single-layer student ``y = W x``.
* Xavier-Glorot initialisation: ``W1 ~ N(0, 2/(Lx+Lh))``,
  ``W2 ~ N(0, 2/(Lh+Ly))`` and, for the teacher, ``A ~ N(0, 2/(Lx+Ly))``
  entry-wise.
* Loss ``L = ||y - y*||^2 / 2`` (squared error summed over outputs).
* Node perturbation (NP), hidden and output layer perturbed together:
  ``h~ = W1 x + sigma xi_h``, ``y~ = W2 h~ + sigma xi_y`` and
  ``dW_l = -(eta/sigma) (L~ - L) xi_l x_{l-1}^T`` with the presynaptic rate
  ``x_{l-1}`` from the clean pass. The theory takes ``sigma -> 0`` (except
  where ``perturbation_std`` is an argument).
* Stochastic gradient descent (SGD): ``dW = -eta grad_W L``.

Order parameters (the paper's normalisation)
--------------------------------------------
``alpha = ||W1||_F^2 / Lx`` (input-weight norm), ``beta = ||W2||_F^2 / Ly``
(output-weight norm), the error
``epsilon = ||W2 W1 - A||_F^2 / (Lx Ly)``, the overlap
``phi = <W2 W1, A - W2 W1>_F / (Lx Ly)`` and the (constant) teacher norm
``psi_A = ||A||_F^2 / (Lx Ly)``. Because ``E_x ||(M - A) x||^2 = ||M - A||_F^2``
the mean loss is ``E[L] = (Lx Ly epsilon + Ly sigma_t^2) / 2``. The two-variable
reduction uses ``a = alpha / Lh^(1/3)`` and ``eta_h = eta Lh^(1/3)``.

Equations
---------
All recursions below follow from the exact first and second moments of the
per-step updates for Gaussian ``x``, ``xi`` and ``zeta``, keeping leading
orders in ``1/Lx``, ``1/Ly``, ``1/Lh`` and approximating ``W2 W2^T`` by
``beta I`` and ``W1^T W1`` by ``alpha I`` (isotropy; valid for
``Lh >> Lx, Ly`` under Xavier-Glorot initialisation). They reproduce the
mean-field equations of the paper (its Eqs. 9, 12-14 and Appendix Eq. 83 are
referred to where the corresponding quantity is computed). The
single-layer linear-regression results are exact for every size.
Time is measured in learning steps (one sample per step); the ``"ode"``
method integrates the per-step mean increments as a continuous-time flow,
which differs from iterating them (``"map"``) by relative corrections of the
order of the per-step change.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy.integrate import quad, solve_ivp
from scipy.optimize import brentq, minimize_scalar

from bioplastic._validation import (
    check_choice,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
)

__all__ = [
    "DIVERGENCE_FACTOR",
    "OrderParameters",
    "LearningRates",
    "TwoVariableTrajectory",
    "MeanFieldTrajectory",
    "TrainingTime",
    "InstabilityTimes",
    "xavier_order_parameters",
    "order_parameters",
    "linear_regression_learning_rates",
    "linear_regression_decay_factor",
    "linear_regression_error",
    "linear_regression_training_time",
    "sgd_optimal_learning_rate",
    "np_critical_learning_rate",
    "two_variable_dynamics",
    "mean_field_dynamics",
    "np_training_time",
    "minimum_training_time",
    "instability_nullcline",
    "instability_times",
    "quasi_static_return_step",
]

#: A trajectory counts as diverged once its error exceeds this multiple of its
#: initial error; the remaining samples are reported as ``inf``.
DIVERGENCE_FACTOR = 1e6

_RULES = ("np", "sgd")
_MODELS = ("two_variable", "mean_field")
_METHODS = ("ode", "map")
_ODE_OPTIONS = {"method": "LSODA", "rtol": 1e-10}  # switches to BDF where the flow is stiff


# --------------------------------------------------------------------------
# result containers
# --------------------------------------------------------------------------


class OrderParameters(NamedTuple):
    """Order parameters of a one-hidden-layer linear student-teacher pair.

    Attributes
    ----------
    alpha : float
        Input-weight norm ``||W1||_F^2 / Lx``.
    beta : float
        Output-weight norm ``||W2||_F^2 / Ly``.
    epsilon : float
        Error ``||W2 W1 - A||_F^2 / (Lx Ly)``.
    phi : float
        Overlap ``<W2 W1, A - W2 W1>_F / (Lx Ly)``.
    teacher_norm : float
        ``psi_A = ||A||_F^2 / (Lx Ly)``; constant during learning.
    """

    alpha: float
    beta: float
    epsilon: float
    phi: float
    teacher_norm: float


class LearningRates(NamedTuple):
    """Optimal learning rate (fastest mean error decay) and critical one (the mean error stops decaying)."""

    optimal: float
    critical: float


class TwoVariableTrajectory(NamedTuple):
    """Solution of the two-variable NP dynamics (paper Eq. 12).

    Attributes
    ----------
    steps : ndarray of shape (n_times,)
        Learning steps at which the state is reported.
    a : ndarray of shape (n_times,)
        Rescaled input-weight norm ``a = alpha / Lh^(1/3)``.
    epsilon : ndarray of shape (n_times,)
        Error ``||W2 W1 - A||_F^2 / (Lx Ly)``; ``inf`` after divergence.
    """

    steps: np.ndarray
    a: np.ndarray
    epsilon: np.ndarray


class MeanFieldTrajectory(NamedTuple):
    """Solution of the four-variable mean-field dynamics.

    Attributes
    ----------
    steps : ndarray of shape (n_times,)
        Learning steps at which the state is reported.
    alpha, beta, epsilon, phi : ndarray of shape (n_times,)
        Order parameters (see :class:`OrderParameters`); ``inf`` after
        divergence.
    """

    steps: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    epsilon: np.ndarray
    phi: np.ndarray


class TrainingTime(NamedTuple):
    """Number of learning steps needed and the learning rate that achieves it."""

    steps: float
    learning_rate: float


class InstabilityTimes(NamedTuple):
    """Landmarks of the NP instability (paper Fig. 3B).

    Attributes
    ----------
    turning_step : float
        Step at which the error stops decreasing (its minimum); ``nan`` if it
        does not turn up within the horizon.
    minimum_error : float
        Error at ``turning_step`` (``nan`` if none).
    return_step : float
        Step at which the error is back at its initial value; ``nan`` if not
        within the horizon.
    """

    turning_step: float
    minimum_error: float
    return_step: float


# --------------------------------------------------------------------------
# argument helpers
# --------------------------------------------------------------------------


def _sizes(n_inputs, n_hidden, n_outputs):
    return (
        check_positive_int(n_inputs, "n_inputs"),
        check_positive_int(n_hidden, "n_hidden"),
        check_positive_int(n_outputs, "n_outputs"),
    )


def _check_steps(steps, *, integer):
    """Return the requested report times as a float array (scalar n -> 0..n)."""
    if np.ndim(steps) == 0:
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
            raise ValueError(f"steps should be a non-negative integer or a 1-D array of step times, got {steps!r}")
        if steps < 0:
            raise ValueError(f"steps should be >= 0, got {steps!r}")
        return np.arange(int(steps) + 1, dtype=float)
    try:
        times = np.asarray(steps, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"steps should be a 1-D array of step times, got {steps!r}") from None
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"steps should be a non-empty 1-D array of step times, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"steps should be finite and >= 0, got min {np.min(times)!r}")
    if np.any(np.diff(times) < 0):
        raise ValueError("steps should be non-decreasing")
    if integer and np.any(times != np.round(times)):
        raise ValueError("steps should be integers when method='map'")
    return times


def _check_model(model, finite_size):
    model = check_choice(model, "model", _MODELS)
    if not isinstance(finite_size, (bool, np.bool_)):
        raise ValueError(f"finite_size should be True or False, got {finite_size!r}")
    if finite_size and model == "two_variable":
        raise ValueError("finite_size=True applies only to model='mean_field', got model='two_variable'")
    return model, bool(finite_size)


def _check_initial(initial, n_inputs, n_hidden, n_outputs):
    if initial is None:
        return xavier_order_parameters(n_inputs, n_hidden, n_outputs)
    if not isinstance(initial, OrderParameters):
        raise ValueError(f"initial should be an OrderParameters or None, got {type(initial).__name__}")
    for name in ("alpha", "beta", "epsilon", "teacher_norm"):
        check_nonnegative(getattr(initial, name), f"initial.{name}")
    if not np.isfinite(initial.phi):
        raise ValueError(f"initial.phi should be finite, got {initial.phi!r}")
    if initial.epsilon <= 0:
        raise ValueError(f"initial.epsilon must be > 0, got {initial.epsilon!r}")
    return initial


# --------------------------------------------------------------------------
# order parameters
# --------------------------------------------------------------------------


def xavier_order_parameters(n_inputs, n_hidden, n_outputs):
    """Expected order parameters at Xavier-Glorot initialisation.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        Layer sizes ``Lx``, ``Lh``, ``Ly``.

    Returns
    -------
    OrderParameters
        ``alpha = 2 Lh/(Lx+Lh)``, ``beta = 2 Lh/(Lh+Ly)``,
        ``epsilon = 4 Lh/((Lx+Lh)(Lh+Ly)) + 2/(Lx+Ly)``,
        ``phi = -4 Lh/((Lx+Lh)(Lh+Ly))`` and ``teacher_norm = 2/(Lx+Ly)``
        (expectations over independent ``W1``, ``W2``, ``A``).
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    student = 4.0 * lh / ((lx + lh) * (lh + ly))
    teacher = 2.0 / (lx + ly)
    return OrderParameters(
        alpha=2.0 * lh / (lx + lh),
        beta=2.0 * lh / (lh + ly),
        epsilon=student + teacher,
        phi=-student,
        teacher_norm=teacher,
    )


def order_parameters(w_in, w_out, teacher):
    """Order parameters of given weights.

    Parameters
    ----------
    w_in : array_like of shape (..., n_hidden, n_inputs)
        Input weights ``W1`` (leading axes, e.g. an ensemble axis, broadcast).
    w_out : array_like of shape (..., n_outputs, n_hidden)
        Output weights ``W2``.
    teacher : array_like of shape (..., n_outputs, n_inputs)
        Teacher matrix ``A``.

    Returns
    -------
    OrderParameters
        Fields are floats, or arrays over the leading axes.
    """
    w_in = np.asarray(w_in, dtype=float)
    w_out = np.asarray(w_out, dtype=float)
    teacher = np.asarray(teacher, dtype=float)
    if w_in.ndim < 2 or w_out.ndim < 2 or teacher.ndim < 2:
        raise ValueError(f"w_in, w_out and teacher should be matrices, got shapes {w_in.shape}, {w_out.shape}, {teacher.shape}")
    lh, lx = w_in.shape[-2:]
    ly = w_out.shape[-2]
    if w_out.shape[-1] != lh or teacher.shape[-2:] != (ly, lx):
        raise ValueError(
            f"inconsistent shapes: w_in {w_in.shape}, w_out {w_out.shape}, teacher {teacher.shape}; expected (..., Lh, Lx), (..., Ly, Lh), (..., Ly, Lx)"
        )
    product = w_out @ w_in
    norm = float(lx * ly)

    def total(z):
        value = np.sum(z, axis=(-2, -1))
        return float(value) if np.ndim(value) == 0 else value

    return OrderParameters(
        alpha=total(w_in**2) / lx,
        beta=total(w_out**2) / ly,
        epsilon=total((product - teacher) ** 2) / norm,
        phi=total(product * (teacher - product)) / norm,
        teacher_norm=total(teacher**2) / norm,
    )


# --------------------------------------------------------------------------
# single-layer linear regression (paper Eq. 9)
# --------------------------------------------------------------------------


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
    rule = check_choice(rule, "rule", _RULES)
    return rule, check_positive_int(n_inputs, "n_inputs"), check_positive_int(n_outputs, "n_outputs")


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
    times = _check_steps(steps, integer=False)
    eps0 = 4.0 / (lx + ly) if initial_error is None else check_positive(initial_error, "initial_error")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    sigma = check_nonnegative(perturbation_std, "perturbation_std")
    lam, q = _regression_coefficients(rule, lx, ly, eta, sigma_t, sigma)
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
    eps0 = 4.0 / (lx + ly) if initial_error is None else check_positive(initial_error, "initial_error")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    sigma = check_nonnegative(perturbation_std, "perturbation_std")
    lam, q = _regression_coefficients(rule, lx, ly, eta, sigma_t, sigma)
    if not 0 < lam < 1:
        return TrainingTime(math.inf, eta)
    floor = q / (1.0 - lam)
    target = ratio * eps0
    if target <= floor or eps0 <= floor:
        return TrainingTime(math.inf, eta)
    return TrainingTime(math.log((target - floor) / (eps0 - floor)) / math.log(lam), eta)


# --------------------------------------------------------------------------
# two-layer network: learning rates
# --------------------------------------------------------------------------


def sgd_optimal_learning_rate(n_inputs, n_hidden, n_outputs, *, initial=None):
    r"""Optimal SGD learning rate of the two-layer linear network.

    To leading order the mean-field SGD error recursion is
    ``d epsilon = -2 eta (alpha + beta) epsilon + eta^2 (alpha + beta)^2 Lx epsilon``
    (see :func:`mean_field_dynamics`); the fastest initial decay is at
    ``eta = 1 / (Lx (alpha_0 + beta_0))``, about ``1/(4 Lx)`` under
    Xavier-Glorot initialisation with ``Lh >> Lx, Ly``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.

    Returns
    -------
    float
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    init = _check_initial(initial, lx, lh, ly)
    return 1.0 / (lx * (init.alpha + init.beta))


def _two_variable_constants(lx, lh, ly, learning_rate, teacher_noise, init):
    scale = np.cbrt(float(lh))
    eta_h = learning_rate * scale
    c_o = lx * ly * (1.0 + init.beta)
    return init.alpha / scale, eta_h, c_o, teacher_noise**2 / lx


def _critical_c(error_drop, a0):
    r"""Positive root of (error_drop - a0^3/3) c^3 + a0^2 c^2 - 4/3 = 0 below 2/a0 (Appendix Eq. 83)."""
    if a0 == 0.0:
        return (4.0 / (3.0 * error_drop)) ** (1.0 / 3.0)

    def cubic(c):
        return (error_drop - a0**3 / 3.0) * c**3 + a0**2 * c**2 - 4.0 / 3.0

    # cubic(0) = -4/3 < 0 and cubic(2/a0) = 8 error_drop / a0^3 > 0; the root is unique in between.
    return brentq(cubic, 0.0, 2.0 / a0, xtol=1e-15, rtol=1e-13, maxiter=500)


def np_critical_learning_rate(n_inputs, n_hidden, n_outputs, *, model="two_variable", finite_size=False, initial=None):
    r"""Largest NP learning rate for which the noise-free error converges to zero.

    ``model="two_variable"`` (paper Appendix Eq. 83): along the two-variable
    flow (:func:`two_variable_dynamics`, ``sigma_t = 0``) the error is a cubic
    function of the rescaled weight norm,
    ``epsilon(a) = epsilon_0 - (a^2 - a_0^2)/c + (a^3 - a_0^3)/3`` with
    ``c = eta_h c_o``, ``c_o = Lx Ly (1 + beta_0)``. It decreases while
    ``a < 2/c`` and increases beyond; learning converges iff ``epsilon``
    reaches zero before ``a = 2/c``. The critical ``c*`` is the root of

    ``(epsilon_0 - a_0^3/3) c^3 + a_0^2 c^2 - 4/3 = 0``

    in ``(0, 2/a_0)``, and ``eta* = c* / (c_o Lh^(1/3))``. For
    ``Lh >> Lx + Ly``, ``eta* ~ (4/(3 epsilon_0))^(1/3) / (3 Lx Ly Lh^(1/3))``.

    ``model="mean_field"``: the boundary between convergence and divergence
    of the four-variable dynamics (:func:`mean_field_dynamics`), found by
    bisection (relative precision 1e-6). It keeps the output-weight
    contribution ``beta`` to the error decay, which the two-variable reduction
    drops, and is the more accurate estimate at moderate ``Lh``; both agree as
    ``Lh -> infinity``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    model : {"two_variable", "mean_field"}
        Which reduced dynamics defines convergence.
    finite_size : bool, default False
        With ``model="mean_field"``, include the finite-size corrections of
        :func:`mean_field_dynamics`.
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.

    Returns
    -------
    float
        ``eta*``.
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    model, finite_size = _check_model(model, finite_size)
    init = _check_initial(initial, lx, lh, ly)
    a0, _, c_o, _ = _two_variable_constants(lx, lh, ly, 1.0, 0.0, init)
    eta_two = _critical_c(init.epsilon, a0) / (c_o * np.cbrt(float(lh)))
    if model == "two_variable":
        return float(eta_two)
    lo, hi = eta_two / 16.0, eta_two * 16.0
    if not _mean_field_converges(lx, lh, ly, lo, init, finite_size):
        raise ValueError("mean-field dynamics do not converge even at eta*/16; check the initial order parameters")
    if _mean_field_converges(lx, lh, ly, hi, init, finite_size):
        raise ValueError("mean-field dynamics converge even at 16 eta*; check the initial order parameters")
    while hi / lo > 1.0 + 1e-6:
        mid = math.sqrt(lo * hi)
        if _mean_field_converges(lx, lh, ly, mid, init, finite_size):
            lo = mid
        else:
            hi = mid
    return float(math.sqrt(lo * hi))


# --------------------------------------------------------------------------
# dynamics
# --------------------------------------------------------------------------


def _two_variable_rhs(eta_h, c_o, eps_t):
    def rhs(_t, y):
        a, eps = y
        drive = eta_h**2 * c_o * (eps + eps_t)
        return np.array([drive, -2.0 * eta_h * a * eps + a * a * drive])

    return rhs


def _mean_field_rhs(rule, lx, lh, ly, eta, sigma_t2, teacher_norm, finite_size=False):
    lxly = lx * ly
    factor = 2.0 if rule == "np" else 1.0  # E[s^2 xi_y xi_h^T] = 2 r g^T for NP
    lx_eff = lx + 2.0 if finite_size else float(lx)  # E[x x^T |x|^2] = (Lx + 2) I

    def rhs(_t, y):
        alpha, beta, eps, phi = y
        q = lx_eff * eps + sigma_t2  # E[|r|^2 |x|^2] / (Lx Ly)
        psi = teacher_norm - eps - 2.0 * phi  # ||W2 W1||^2 / (Lx Ly)
        if rule == "np" and finite_size:
            out_gain = ly * beta + ly + 2.0  # E[s^2 |xi_y|^2] / |r|^2
            hid_gain = (lh + 2.0) * beta + lh  # E[s^2 |xi_h|^2] / |r|^2
            noise = eta**2 * (beta * (ly * beta + 2.0 * beta + ly) + alpha**2 * out_gain + 4.0 * alpha * beta) * q
            d_alpha = 2.0 * eta * ly * phi + eta**2 * ly * hid_gain * q
            d_beta = 2.0 * eta * lx * phi + eta**2 * lx * alpha * out_gain * q
        elif rule == "np":
            noise = eta**2 * (ly * (1.0 + beta) * (alpha**2 + beta) + 4.0 * alpha * beta) * q
            d_alpha = 2.0 * eta * ly * phi + eta**2 * lh * ly * (1.0 + beta) * q
            d_beta = 2.0 * eta * lx * phi + eta**2 * lx * ly * alpha * (1.0 + beta) * q
        else:
            noise = eta**2 * (alpha + beta) ** 2 * q
            d_alpha = 2.0 * eta * ly * phi + eta**2 * ly * beta * q
            d_beta = 2.0 * eta * lx * phi + eta**2 * lx * alpha * q
        d_eps = -2.0 * eta * (alpha + beta) * eps - 2.0 * factor * eta**2 * phi * (lxly * eps + sigma_t2) + noise
        d_phi = eta * (alpha + beta) * (eps - phi) + factor * eta**2 * (lxly * phi * (eps - phi) + sigma_t2 * (phi - psi)) - noise
        return np.array([d_alpha, d_beta, d_eps, d_phi])

    return rhs


def _atol(y0, eps_index):
    """Absolute tolerances: relative to each initial value, and to the initial error for error-like variables."""
    y0 = np.abs(np.asarray(y0, dtype=float))
    scale = np.maximum(y0, y0[eps_index])
    return 1e-15 * scale


def _solve(rhs, y0, times, eps_index, threshold):
    """Integrate rhs on [0, times[-1]]; samples after divergence are inf."""
    y0 = np.asarray(y0, dtype=float)
    out = np.full((y0.size, times.size), np.inf)

    def diverged(_t, y):
        return y[eps_index] - threshold

    diverged.terminal = True
    diverged.direction = 1.0
    if times[-1] == 0:
        out[:, :] = y0[:, None]
        return out, None
    sol = solve_ivp(
        rhs,
        (0.0, times[-1]),
        y0,
        t_eval=times,
        events=(diverged,),
        atol=_atol(y0, eps_index),
        **_ODE_OPTIONS,
    )
    if sol.status == -1:
        raise RuntimeError(f"integration failed: {sol.message}")
    n = sol.t.size
    out[:, :n] = sol.y
    if sol.t_events[0].size:  # diverged: later samples (and a sample at the event time) stay inf
        out[:, n:] = np.inf
    return out, sol


def _iterate(rhs, y0, times, eps_index, threshold):
    """Iterate the per-step mean increments y_{t+1} = y_t + rhs(y_t)."""
    out = np.full((len(y0), times.size), np.inf)
    y = np.asarray(y0, dtype=float).copy()
    k = 0
    last = int(times[-1])
    for step in range(last + 1):
        while k < times.size and times[k] == step:
            out[:, k] = y
            k += 1
        if step == last:
            break
        y = y + rhs(step, y)
        if not y[eps_index] <= threshold:  # also catches nan
            break
    return out


def two_variable_dynamics(
    n_inputs,
    n_hidden,
    n_outputs,
    learning_rate,
    steps,
    *,
    teacher_noise=0.0,
    method="ode",
    initial=None,
):
    r"""Two-variable mean-field dynamics of NP learning (paper Eq. 12).

    With ``a = alpha / Lh^(1/3)``, ``eta_h = eta Lh^(1/3)``,
    ``c_o = Lx Ly (1 + beta_0)`` and ``epsilon_t = sigma_t^2 / Lx``, the mean
    change per step is

    ``Delta a = eta_h^2 c_o (epsilon + epsilon_t)``

    ``Delta epsilon = -2 eta_h a epsilon + eta_h^2 c_o a^2 (epsilon + epsilon_t)``.

    The first term of ``Delta epsilon`` is the gradient-following drift; the
    second, and ``Delta a``, come from the variance of the NP update
    (weight diffusion), which inflates the input weights. This is the limit
    ``Lh^(1/3) >> 1`` (so that ``alpha >> beta`` and the output weights stay
    near their initial norm ``beta_0``), ``Lh^(2/3) >> Ly`` and ``Lh >> Lx``
    of :func:`mean_field_dynamics`, with the learning rate on the scale
    ``eta ~ 1/(Lx Ly Lh^(1/3))``. At moderate ``Lh`` it underestimates the
    error decay (the output-weight term ``-2 eta beta epsilon`` is dropped).

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    learning_rate : float
        ``eta > 0``.
    steps : int or array_like of shape (n_times,)
        Non-decreasing report times in learning steps (an int ``n`` means
        ``0..n``).
    teacher_noise : float, default 0
        ``sigma_t``.
    method : {"ode", "map"}
        Integrate the increments as a continuous-time flow, or iterate them
        step by step (``steps`` must then be integers).
    initial : OrderParameters, optional
        Initial ``alpha``, ``beta``, ``epsilon``; Xavier-Glorot expectations
        by default.

    Returns
    -------
    TwoVariableTrajectory
        Values after the error exceeds ``DIVERGENCE_FACTOR`` times its initial
        value are ``inf``.
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    method = check_choice(method, "method", _METHODS)
    times = _check_steps(steps, integer=method == "map")
    init = _check_initial(initial, lx, lh, ly)
    a0, eta_h, c_o, eps_t = _two_variable_constants(lx, lh, ly, eta, sigma_t, init)
    rhs = _two_variable_rhs(eta_h, c_o, eps_t)
    threshold = DIVERGENCE_FACTOR * init.epsilon
    if method == "ode":
        values, _ = _solve(rhs, [a0, init.epsilon], times, 1, threshold)
    else:
        values = _iterate(rhs, [a0, init.epsilon], times, 1, threshold)
    return TwoVariableTrajectory(times, values[0], np.maximum(values[1], 0.0))


def mean_field_dynamics(
    n_inputs,
    n_hidden,
    n_outputs,
    learning_rate,
    steps,
    *,
    rule="np",
    teacher_noise=0.0,
    method="ode",
    finite_size=False,
    initial=None,
):
    r"""Four-variable mean-field dynamics of the order parameters.

    Mean change per step of ``alpha``, ``beta``, ``epsilon``, ``phi`` (see
    :class:`OrderParameters`), with ``q = Lx epsilon + sigma_t^2`` and
    ``psi = psi_A - epsilon - 2 phi = ||W2 W1||_F^2/(Lx Ly)``. For NP:

    * ``Delta alpha = 2 eta Ly phi + eta^2 Lh Ly (1 + beta) q``
    * ``Delta beta = 2 eta Lx phi + eta^2 Lx Ly alpha (1 + beta) q``
    * ``Delta epsilon = -2 eta (alpha + beta) epsilon
      - 4 eta^2 phi (Lx Ly epsilon + sigma_t^2) + N``
    * ``Delta phi = eta (alpha + beta)(epsilon - phi)
      + 2 eta^2 [Lx Ly phi (epsilon - phi) + sigma_t^2 (phi - psi)] - N``
    * ``N = eta^2 [Ly (1 + beta)(alpha^2 + beta) + 4 alpha beta] q``.

    For SGD (``rule="sgd"``) the variance terms become
    ``eta^2 Ly beta q`` (alpha), ``eta^2 Lx alpha q`` (beta),
    ``N = eta^2 (alpha + beta)^2 q``, and the ``eta^2 phi`` terms carry half
    the NP prefactor (``-2 eta^2 phi (...)`` and ``eta^2 [...]``).

    Derived from the exact moments of the per-step update for Gaussian
    ``x``, ``xi``, ``zeta`` and ``sigma -> 0``, keeping leading orders in
    ``1/Lx``, ``1/Ly``, ``1/Lh`` and replacing ``W1^T W1`` by ``alpha I`` and
    ``W2 W2^T`` by ``beta I`` (isotropy; ``Lh >> Lx, Ly``).
    :func:`two_variable_dynamics` is its large-``Lh`` reduction.

    With ``finite_size=True`` the variance terms keep the exact Gaussian
    moments instead of their leading orders: ``q`` becomes
    ``(Lx + 2) epsilon + sigma_t^2`` (from ``E[x x^T |x|^2] = (Lx + 2) I``)
    and, for NP, ``Ly (1 + beta)`` becomes ``Ly beta + Ly + 2`` in
    ``Delta beta`` and in the ``alpha^2`` part of ``N``, ``Lh (1 + beta)``
    becomes ``(Lh + 2) beta + Lh`` in ``Delta alpha`` and
    ``Ly beta (1 + beta)`` becomes ``beta (Ly beta + 2 beta + Ly)`` in ``N``.
    For SGD only ``q`` changes.
    These corrections are of relative order ``2/Lx``, ``2/Ly`` and
    ``2 beta/(Ly (1 + beta))``; they matter near the critical learning rate
    at moderate sizes.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    learning_rate : float
        ``eta > 0``.
    steps : int or array_like of shape (n_times,)
        Non-decreasing report times in learning steps (an int ``n`` means
        ``0..n``).
    rule : {"np", "sgd"}
        Learning rule.
    teacher_noise : float, default 0
        ``sigma_t``.
    method : {"ode", "map"}
        Continuous-time flow or step-by-step iteration.
    finite_size : bool, default False
        Include the leading finite-size corrections (see above).
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.

    Returns
    -------
    MeanFieldTrajectory
        Values after divergence (error above ``DIVERGENCE_FACTOR`` times its
        initial value) are ``inf``.
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    rule = check_choice(rule, "rule", _RULES)
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    method = check_choice(method, "method", _METHODS)
    times = _check_steps(steps, integer=method == "map")
    init = _check_initial(initial, lx, lh, ly)
    if not isinstance(finite_size, (bool, np.bool_)):
        raise ValueError(f"finite_size should be True or False, got {finite_size!r}")
    rhs = _mean_field_rhs(rule, lx, lh, ly, eta, sigma_t**2, init.teacher_norm, bool(finite_size))
    y0 = [init.alpha, init.beta, init.epsilon, init.phi]
    threshold = DIVERGENCE_FACTOR * init.epsilon
    if method == "ode":
        values, _ = _solve(rhs, y0, times, 2, threshold)
    else:
        values = _iterate(rhs, y0, times, 2, threshold)
    values[2] = np.maximum(values[2], 0.0)  # the error is a squared norm; remove solver round-off below zero
    return MeanFieldTrajectory(times, *values)


def _mean_field_converges(lx, lh, ly, eta, init, finite_size, tolerance=1e-10):
    """Whether the noise-free NP mean-field error reaches tolerance*eps0 before it turns up."""
    rhs = _mean_field_rhs("np", lx, lh, ly, eta, 0.0, init.teacher_norm, finite_size)

    def small(_t, y):
        return y[2] - tolerance * init.epsilon

    def turns_up(t, y):
        return rhs(t, y)[2]

    small.terminal = True
    turns_up.terminal = True
    turns_up.direction = 1.0
    y0 = np.array([init.alpha, init.beta, init.epsilon, init.phi])
    if rhs(0.0, y0)[2] >= 0:
        return False
    horizon = 1e4 / (eta * (init.alpha + init.beta))
    sol = solve_ivp(rhs, (0.0, horizon), y0, events=(small, turns_up), atol=_atol(y0, 2), **_ODE_OPTIONS)
    return sol.t_events[1].size == 0


# --------------------------------------------------------------------------
# training time (paper Eq. 13)
# --------------------------------------------------------------------------


def _flow(model, finite_size, lx, lh, ly, eta, sigma_t, init):
    """(rhs, y0, index of epsilon) of the chosen reduced model."""
    if model == "two_variable":
        a0, eta_h, c_o, eps_t = _two_variable_constants(lx, lh, ly, eta, sigma_t, init)
        return _two_variable_rhs(eta_h, c_o, eps_t), np.array([a0, init.epsilon]), 1
    rhs = _mean_field_rhs("np", lx, lh, ly, eta, sigma_t**2, init.teacher_norm, finite_size)
    return rhs, np.array([init.alpha, init.beta, init.epsilon, init.phi]), 2


def _time_to_target(model, finite_size, lx, lh, ly, eta, ratio, sigma_t, init, max_steps):
    target = ratio * init.epsilon
    if model == "two_variable" and sigma_t == 0.0:
        a0, eta_h, c_o, _ = _two_variable_constants(lx, lh, ly, eta, 0.0, init)
        c = eta_h * c_o
        a_turn = 2.0 / c
        if a0 >= a_turn:
            return math.inf

        def error(a):
            return init.epsilon - (a * a - a0 * a0) / c + (a**3 - a0**3) / 3.0

        if error(a_turn) > target:
            return math.inf
        a_target = brentq(lambda a: error(a) - target, a0, a_turn, xtol=1e-15, rtol=1e-13)
        integral, _ = quad(lambda a: 1.0 / error(a), a0, a_target, limit=200, epsabs=0.0, epsrel=1e-11)
        steps = integral / (eta_h**2 * c_o)
        return steps if steps <= max_steps else math.inf
    rhs, y0, k = _flow(model, finite_size, lx, lh, ly, eta, sigma_t, init)

    def reached(_t, y):
        return y[k] - target

    def turns_up(t, y):
        return rhs(t, y)[k]

    reached.terminal = True
    reached.direction = -1.0
    turns_up.terminal = True
    turns_up.direction = 1.0
    if rhs(0.0, y0)[k] >= 0:
        return math.inf
    sol = solve_ivp(rhs, (0.0, max_steps), y0, events=(reached, turns_up), atol=_atol(y0, k), **_ODE_OPTIONS)
    if sol.t_events[0].size:
        return float(sol.t_events[0][0])
    return math.inf


def _training_args(n_inputs, n_hidden, n_outputs, target_ratio, teacher_noise, model, finite_size, initial, max_steps):
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    ratio = check_fraction(target_ratio, "target_ratio")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    model, finite_size = _check_model(model, finite_size)
    init = _check_initial(initial, lx, lh, ly)
    max_steps = check_positive(max_steps, "max_steps")
    return lx, lh, ly, ratio, sigma_t, model, finite_size, init, max_steps


def np_training_time(
    n_inputs,
    n_hidden,
    n_outputs,
    learning_rate,
    target_ratio=1e-2,
    *,
    teacher_noise=0.0,
    model="two_variable",
    finite_size=False,
    initial=None,
    max_steps=1e12,
):
    r"""Steps for the NP error to fall to ``target_ratio`` times its initial value.

    For ``model="two_variable"`` without teacher noise this uses the exact
    trajectory of the two-variable flow,
    ``epsilon(a) = epsilon_0 - (a^2 - a_0^2)/c + (a^3 - a_0^3)/3``
    (``c = eta_h c_o``), and
    ``t = (eta_h^2 c_o)^-1 integral_{a_0}^{a_r} da / epsilon(a)`` where
    ``epsilon(a_r) = target_ratio epsilon_0``. Otherwise the chosen flow is
    integrated until the target is reached.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    learning_rate : float
        ``eta > 0``.
    target_ratio : float, default 0.01
        Target ``epsilon / epsilon_0`` in (0, 1).
    teacher_noise : float, default 0
        ``sigma_t``.
    model : {"two_variable", "mean_field"}
        Reduced dynamics used (:func:`two_variable_dynamics` or
        :func:`mean_field_dynamics`).
    finite_size : bool, default False
        With ``model="mean_field"``, include its finite-size corrections.
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.
    max_steps : float, default 1e12
        Horizon; beyond it the target counts as not reached.

    Returns
    -------
    float
        Real-valued number of steps; ``inf`` if the error turns up (or the
        horizon ends) before reaching the target.
    """
    lx, lh, ly, ratio, sigma_t, model, finite_size, init, max_steps = _training_args(
        n_inputs, n_hidden, n_outputs, target_ratio, teacher_noise, model, finite_size, initial, max_steps
    )
    eta = check_positive(learning_rate, "learning_rate")
    return _time_to_target(model, finite_size, lx, lh, ly, eta, ratio, sigma_t, init, max_steps)


def minimum_training_time(
    n_inputs,
    n_hidden,
    n_outputs,
    target_ratio=1e-2,
    *,
    teacher_noise=0.0,
    model="two_variable",
    finite_size=False,
    initial=None,
    max_steps=1e12,
):
    r"""Minimum NP training time over learning rates, and the optimal learning rate (paper Eq. 13).

    Minimises :func:`np_training_time` over ``eta``. In the two-variable
    description, time is ``t = tau c_o / c`` where ``tau`` is the time of the
    rescaled flow ``da/dtau = c epsilon``,
    ``d epsilon/dtau = -2 a epsilon + c a^2 epsilon``, which depends on
    ``Lh`` only through ``a_0 = alpha_0 / Lh^(1/3)``. As ``a_0 -> 0``
    (``Lh >> Lx + Ly``), rescaling ``a`` by ``epsilon_0^(1/3)`` removes
    ``epsilon_0`` as well, so

    ``t_min = F(target_ratio) Lx Ly (1 + beta_0) ~ 3 F(target_ratio) Lx Ly``,
    ``eta_opt = c_opt / (Lx Ly (1 + beta_0) Lh^(1/3))``

    with ``c_opt`` proportional to ``epsilon_0^(-1/3)`` and ``F`` a number.
    The minimum training time is thus nearly independent of the hidden-layer
    width and linear in the output size (as for single-layer NP, see
    :func:`linear_regression_training_time`), while the optimal learning rate
    scales as ``Lh^(-1/3)``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    target_ratio : float, default 0.01
        Target ``epsilon / epsilon_0`` in (0, 1).
    teacher_noise : float, default 0
        ``sigma_t``.
    model : {"two_variable", "mean_field"}
        Reduced dynamics used.
    finite_size : bool, default False
        With ``model="mean_field"``, include its finite-size corrections.
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.
    max_steps : float, default 1e12
        Horizon for each candidate learning rate.

    Returns
    -------
    TrainingTime
        ``steps`` (``inf`` if no learning rate reaches the target) and the
        minimising ``learning_rate`` (relative precision about 1e-5).
    """
    lx, lh, ly, ratio, sigma_t, model, finite_size, init, max_steps = _training_args(
        n_inputs, n_hidden, n_outputs, target_ratio, teacher_noise, model, finite_size, initial, max_steps
    )
    a0, _, c_o, _ = _two_variable_constants(lx, lh, ly, 1.0, 0.0, init)
    # Noise-free two-variable bound: the target is reachable iff the error minimum is below it.
    eta_hi = _critical_c((1.0 - ratio) * init.epsilon, a0) / (c_o * np.cbrt(float(lh)))
    if model == "mean_field" or sigma_t > 0:
        eta_hi *= 4.0

    def cost(log_eta):
        return _time_to_target(model, finite_size, lx, lh, ly, math.exp(log_eta), ratio, sigma_t, init, max_steps)

    grid = np.linspace(math.log(eta_hi) - math.log(1e3), math.log(eta_hi), 61)[:-1]
    values = np.array([cost(g) for g in grid])
    if not np.any(np.isfinite(values)):
        return TrainingTime(math.inf, math.nan)
    best = int(np.argmin(values))
    lo = grid[max(best - 1, 0)]
    hi = grid[best + 1] if best + 1 < grid.size else math.log(eta_hi)
    res = minimize_scalar(lambda g: min(cost(g), 1e300), bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    if res.fun <= values[best]:
        return TrainingTime(float(res.fun), math.exp(res.x))
    return TrainingTime(float(values[best]), math.exp(grid[best]))


# --------------------------------------------------------------------------
# instability with teacher noise (paper Eq. 14, Fig. 3B)
# --------------------------------------------------------------------------


def instability_nullcline(a, n_inputs, n_hidden, n_outputs, learning_rate, teacher_noise, *, initial=None):
    r"""Error on the nullcline ``Delta epsilon = 0`` of the two-variable dynamics (paper Eq. 14).

    Setting ``Delta epsilon = 0`` in :func:`two_variable_dynamics` gives

    ``epsilon_nc(a) = c a epsilon_t / (2 - c a)``, ``c = eta_h c_o``,
    ``epsilon_t = sigma_t^2 / Lx``,

    for ``a < 2/c`` (above the nullcline the error decreases, below it
    increases; for ``a >= 2/c`` it always increases). Since
    ``Delta a = eta_h^2 c_o (epsilon + epsilon_t) > 0`` whenever
    ``sigma_t > 0``, ``a`` grows without bound, the trajectory crosses the
    nullcline (the error turns up) and the error eventually diverges: with
    teacher noise NP is always unstable.

    Parameters
    ----------
    a : float or array_like
        Rescaled input-weight norm ``alpha / Lh^(1/3)``.
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    learning_rate : float
        ``eta > 0``.
    teacher_noise : float
        ``sigma_t >= 0``.
    initial : OrderParameters, optional
        Supplies ``beta_0`` for ``c_o``; Xavier-Glorot expectation by default.

    Returns
    -------
    float or ndarray
        ``epsilon_nc(a)``; ``inf`` for ``a >= 2/c``.
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    init = _check_initial(initial, lx, lh, ly)
    values = np.asarray(a, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"a should be finite and >= 0, got {a!r}")
    _, eta_h, c_o, eps_t = _two_variable_constants(lx, lh, ly, eta, sigma_t, init)
    c = eta_h * c_o
    gap = 2.0 - c * values
    safe = np.where(gap > 0, gap, 1.0)
    result = np.where(gap > 0, c * values * eps_t / safe, np.inf)
    return float(result) if result.ndim == 0 else result


def instability_times(
    n_inputs,
    n_hidden,
    n_outputs,
    learning_rate,
    teacher_noise,
    *,
    model="two_variable",
    finite_size=False,
    initial=None,
    max_steps=1e12,
):
    r"""Steps until the NP error turns up and until it is back at its initial value (paper Fig. 3B).

    Integrates the chosen flow from the initial state and records the first
    step where ``d epsilon/dt`` becomes positive (the two-variable trajectory
    crosses the nullcline of :func:`instability_nullcline`; the error is at
    its minimum) and the first later step where ``epsilon`` regains its
    initial value. With teacher noise both are finite for every learning
    rate. For small noise and ``eta < eta*`` the error first relaxes to a
    floor of order ``epsilon_t = sigma_t^2 / Lx`` (the turning step grows only
    logarithmically as ``sigma_t -> 0``), then rides the nullcline while the
    weight norm diffuses, so the return step grows like ``Lx / sigma_t^2``
    (see :func:`quasi_static_return_step`).

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    learning_rate : float
        ``eta > 0``.
    teacher_noise : float
        ``sigma_t >= 0``.
    model : {"two_variable", "mean_field"}
        Reduced dynamics used.
    finite_size : bool, default False
        With ``model="mean_field"``, include its finite-size corrections.
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.
    max_steps : float, default 1e12
        Horizon; landmarks beyond it are ``nan``.

    Returns
    -------
    InstabilityTimes
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    model, finite_size = _check_model(model, finite_size)
    init = _check_initial(initial, lx, lh, ly)
    max_steps = check_positive(max_steps, "max_steps")
    rhs, y0, k = _flow(model, finite_size, lx, lh, ly, eta, sigma_t, init)
    atol = _atol(y0, k)
    if rhs(0.0, y0)[k] >= 0:
        turning, minimum = 0.0, init.epsilon
    else:

        def turns_up(t, y):
            return rhs(t, y)[k]

        def converged(_t, y):  # noise-free learning that reached zero error never turns up
            return y[k] - 1e-12 * init.epsilon

        turns_up.terminal = True
        turns_up.direction = 1.0
        converged.terminal = sigma_t == 0.0
        sol = solve_ivp(rhs, (0.0, max_steps), y0, events=(turns_up, converged), atol=atol, **_ODE_OPTIONS)
        if not sol.t_events[0].size:
            return InstabilityTimes(math.nan, math.nan, math.nan)
        turning = float(sol.t_events[0][0])
        y0 = sol.y_events[0][0]
        minimum = float(y0[k])

    def back(_t, y):
        return y[k] - init.epsilon

    back.terminal = True
    back.direction = 1.0
    if y0[k] >= init.epsilon:
        return InstabilityTimes(turning, minimum, turning)
    sol = solve_ivp(rhs, (turning, max_steps), y0, events=(back,), atol=atol, **_ODE_OPTIONS)
    returned = float(sol.t_events[0][0]) if sol.t_events[0].size else math.nan
    return InstabilityTimes(turning, minimum, returned)


def quasi_static_return_step(n_inputs, n_hidden, n_outputs, learning_rate, teacher_noise, *, initial=None):
    r"""Small-noise estimate of the step at which the NP error regains its initial value.

    Derived from the two-variable dynamics (:func:`two_variable_dynamics`)
    for ``eta < eta*`` and ``epsilon_t = sigma_t^2 / Lx << epsilon_0``. The
    error first decays as without noise while ``a`` grows to ``a_f``, the
    root of ``epsilon_0 - (a^2 - a_0^2)/c + (a^3 - a_0^3)/3 = 0`` in
    ``(a_0, 2/c)`` (``c = eta_h c_o``); this takes a time that grows only
    logarithmically with ``1/epsilon_t``. The error then follows the
    nullcline ``epsilon = c a epsilon_t/(2 - c a)`` (paper Eq. 14, see
    :func:`instability_nullcline`) while ``a`` drifts at the rate
    ``da/dt = 2 eta_h^2 c_o epsilon_t / (2 - c a)``, and it regains
    ``epsilon_0`` when ``a`` approaches ``2/c``. Integrating the drift from
    ``a_f`` to ``2/c`` gives

    ``t_return ~ c (2/c - a_f)^2 / (4 eta_h^2 c_o epsilon_t)``,

    proportional to ``Lx / sigma_t^2``. The neglected initial decay makes the
    relative error of order ``epsilon_t ln(1/epsilon_t)``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    learning_rate : float
        ``eta``, with ``0 < eta < eta*`` (:func:`np_critical_learning_rate`).
    teacher_noise : float
        ``sigma_t > 0``.
    initial : OrderParameters, optional
        Initial order parameters; Xavier-Glorot expectations by default.

    Returns
    -------
    float
        Estimated return step.
    """
    lx, lh, ly = _sizes(n_inputs, n_hidden, n_outputs)
    eta = check_positive(learning_rate, "learning_rate")
    sigma_t = check_positive(teacher_noise, "teacher_noise")
    init = _check_initial(initial, lx, lh, ly)
    a0, eta_h, c_o, eps_t = _two_variable_constants(lx, lh, ly, eta, sigma_t, init)
    c = eta_h * c_o
    eta_star = _critical_c(init.epsilon, a0) / (c_o * np.cbrt(float(lh)))
    if eta >= eta_star:
        raise ValueError(f"learning_rate must be below eta* = {eta_star:.6g} for the quasi-static estimate, got {eta!r}")

    def error(a):
        return init.epsilon - (a * a - a0 * a0) / c + (a**3 - a0**3) / 3.0

    a_final = brentq(error, a0, 2.0 / c, xtol=1e-15, rtol=1e-13)
    return float(c * (2.0 / c - a_final) ** 2 / (4.0 * eta_h**2 * c_o * eps_t))

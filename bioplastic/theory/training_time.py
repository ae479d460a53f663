r"""Learning rates and training times of the two-layer linear network: critical and optimal rates, NP training time (paper Eqs. 13, 83)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq, minimize_scalar

from bioplastic._validation import check_fraction, check_positive

from ._checks import check_model
from ._solvers import atol, crossing, integrate, turning_up
from .mean_field import check_model_args, mean_field_converges, model_flow
from .order_parameters import check_network
from .two_variable import critical_rate, noise_free_error, two_variable_constants

__all__ = ["TrainingTime", "np_critical_learning_rate", "np_training_time", "predicted_minimum_training_time", "sgd_optimal_learning_rate"]


class TrainingTime(NamedTuple):
    """Number of learning steps needed and the learning rate that achieves it."""

    steps: float
    learning_rate: float



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
    lx, _, _, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    return 1.0 / (lx * (init.alpha + init.beta))


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
    lx, lh, ly, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    model, finite_size = check_model(model, finite_size)
    a0, _, c_o, _ = two_variable_constants(lx, lh, ly, 1.0, 0.0, init)
    eta_two = critical_rate(init.epsilon, lh, a0, c_o)
    if model == "two_variable":
        return float(eta_two)
    lo, hi = eta_two / 16.0, eta_two * 16.0
    if not mean_field_converges(lx, lh, ly, lo, init, finite_size):
        raise ValueError("mean-field dynamics do not converge even at eta*/16; check the initial order parameters")
    if mean_field_converges(lx, lh, ly, hi, init, finite_size):
        raise ValueError("mean-field dynamics converge even at 16 eta*; check the initial order parameters")
    while hi / lo > 1.0 + 1e-6:
        mid = math.sqrt(lo * hi)
        if mean_field_converges(lx, lh, ly, mid, init, finite_size):
            lo = mid
        else:
            hi = mid
    return float(math.sqrt(lo * hi))


def _time_to_target(model, finite_size, lx, lh, ly, eta, ratio, sigma_t, init, max_steps):
    target = ratio * init.epsilon
    if model == "two_variable" and sigma_t == 0.0:
        a0, eta_h, c_o, _ = two_variable_constants(lx, lh, ly, eta, 0.0, init)
        c = eta_h * c_o
        a_turn = 2.0 / c
        if a0 >= a_turn:
            return math.inf

        def error(a):
            return noise_free_error(a, init.epsilon, a0, c)

        if error(a_turn) > target:
            return math.inf
        a_target = brentq(lambda a: error(a) - target, a0, a_turn, xtol=1e-15, rtol=1e-13)
        integral, _ = quad(lambda a: 1.0 / error(a), a0, a_target, limit=200, epsabs=0.0, epsrel=1e-11)
        steps = integral / (eta_h**2 * c_o)
        return steps if steps <= max_steps else math.inf
    rhs, y0, k = model_flow(model, finite_size, lx, lh, ly, eta, sigma_t, init)
    if rhs(0.0, y0)[k] >= 0:
        return math.inf
    events = (crossing(target, k, direction=-1.0), turning_up(rhs, k))
    sol = integrate(rhs, (0.0, max_steps), y0, events, atol(y0, k))
    if sol.t_events[0].size:
        return float(sol.t_events[0][0])
    return math.inf


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
    lx, lh, ly, init, sigma_t, model, finite_size, max_steps = check_model_args(
        n_inputs, n_hidden, n_outputs, teacher_noise, model, finite_size, initial, max_steps
    )
    ratio = check_fraction(target_ratio, "target_ratio")
    eta = check_positive(learning_rate, "learning_rate")
    return _time_to_target(model, finite_size, lx, lh, ly, eta, ratio, sigma_t, init, max_steps)


def predicted_minimum_training_time(
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
        minimising ``learning_rate`` (relative precision about 1e-5), as the
        theory predicts them; :func:`bioplastic.analysis.measured_minimum_training_time`
        measures them in training runs.
    """
    lx, lh, ly, init, sigma_t, model, finite_size, max_steps = check_model_args(
        n_inputs, n_hidden, n_outputs, teacher_noise, model, finite_size, initial, max_steps
    )
    ratio = check_fraction(target_ratio, "target_ratio")
    a0, _, c_o, _ = two_variable_constants(lx, lh, ly, 1.0, 0.0, init)
    # Noise-free two-variable bound: the target is reachable iff the error minimum is below it.
    eta_hi = critical_rate((1.0 - ratio) * init.epsilon, lh, a0, c_o)
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

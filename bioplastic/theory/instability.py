r"""Instability of NP with teacher noise (paper Eq. 14, Fig. 3B): the nullcline, and when the error turns up and returns."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq

from bioplastic._validation import check_positive

from ._checks import check_rate_and_noise
from ._solvers import atol, crossing, integrate, turning_up
from .mean_field import check_model_args, model_flow
from .order_parameters import check_network
from .two_variable import critical_rate, noise_free_error, two_variable_constants

__all__ = ["InstabilityTimes", "instability_nullcline", "predicted_instability_times", "quasi_static_return_step"]


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
    lx, lh, ly, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    eta, sigma_t = check_rate_and_noise(learning_rate, teacher_noise)
    values = np.asarray(a, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"a should be finite and >= 0, got {a!r}")
    _, eta_h, c_o, eps_t = two_variable_constants(lx, lh, ly, eta, sigma_t, init)
    c = eta_h * c_o
    gap = 2.0 - c * values
    safe = np.where(gap > 0, gap, 1.0)
    result = np.where(gap > 0, c * values * eps_t / safe, np.inf)
    return float(result) if result.ndim == 0 else result


def predicted_instability_times(
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
        Landmarks predicted by the reduced dynamics;
        :func:`bioplastic.analysis.measured_instability_times` measures them in a
        training run.
    """
    lx, lh, ly, init, sigma_t, model, finite_size, max_steps = check_model_args(
        n_inputs, n_hidden, n_outputs, teacher_noise, model, finite_size, initial, max_steps
    )
    eta = check_positive(learning_rate, "learning_rate")
    rhs, y0, k = model_flow(model, finite_size, lx, lh, ly, eta, sigma_t, init)
    tolerance = atol(y0, k)
    if rhs(0.0, y0)[k] >= 0:
        turning, minimum = 0.0, init.epsilon
    else:
        # noise-free learning that reached zero error never turns up
        converged = crossing(1e-12 * init.epsilon, k, terminal=sigma_t == 0.0)
        sol = integrate(rhs, (0.0, max_steps), y0, (turning_up(rhs, k), converged), tolerance)
        if not sol.t_events[0].size:
            return InstabilityTimes(math.nan, math.nan, math.nan)
        turning = float(sol.t_events[0][0])
        y0 = sol.y_events[0][0]
        minimum = float(y0[k])
    if y0[k] >= init.epsilon:
        return InstabilityTimes(turning, minimum, turning)
    back = crossing(init.epsilon, k, direction=1.0)
    sol = integrate(rhs, (turning, max_steps), y0, (back,), tolerance)
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
    lx, lh, ly, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    eta = check_positive(learning_rate, "learning_rate")
    sigma_t = check_positive(teacher_noise, "teacher_noise")
    a0, eta_h, c_o, eps_t = two_variable_constants(lx, lh, ly, eta, sigma_t, init)
    c = eta_h * c_o
    eta_star = critical_rate(init.epsilon, lh, a0, c_o)
    if eta >= eta_star:
        raise ValueError(f"learning_rate must be below eta* = {eta_star:.6g} for the quasi-static estimate, got {eta!r}")
    a_final = brentq(noise_free_error, a0, 2.0 / c, args=(init.epsilon, a0, c), xtol=1e-15, rtol=1e-13)
    return float(c * (2.0 / c - a_final) ** 2 / (4.0 * eta_h**2 * c_o * eps_t))

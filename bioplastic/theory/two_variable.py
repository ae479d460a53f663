r"""Two-variable NP dynamics (paper Eq. 12): the rescaled input-weight norm ``a`` and the error ``epsilon``.

The large-``Lh`` reduction of the four-variable mean field
(:mod:`bioplastic.theory.mean_field`). Without teacher noise its flow has a
closed-form trajectory, ``epsilon(a) = epsilon_0 - (a^2 - a_0^2)/c + (a^3 - a_0^3)/3``
with ``c = eta_h c_o``, from which the critical learning rate (Appendix
Eq. 83) and training times follow.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq

from ._checks import check_method_and_steps, check_rate_and_noise
from ._solvers import trajectory
from .order_parameters import check_network

__all__ = ["TwoVariableTrajectory", "two_variable_dynamics"]


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




def two_variable_constants(lx, lh, ly, learning_rate, teacher_noise, init):
    """``(a_0, eta_h, c_o, epsilon_t)``: ``alpha_0 / Lh^(1/3)``, ``eta Lh^(1/3)``, ``Lx Ly (1 + beta_0)``, ``sigma_t^2 / Lx``."""
    scale = np.cbrt(float(lh))
    eta_h = learning_rate * scale
    c_o = lx * ly * (1.0 + init.beta)
    return init.alpha / scale, eta_h, c_o, teacher_noise**2 / lx


def two_variable_flow(lx, lh, ly, learning_rate, teacher_noise, init):
    """``(rhs, y0, 1)``: mean increments of ``(a, epsilon)``, initial state, index of the error."""
    a0, eta_h, c_o, eps_t = two_variable_constants(lx, lh, ly, learning_rate, teacher_noise, init)

    def rhs(_t, y):
        a, eps = y
        drive = eta_h**2 * c_o * (eps + eps_t)
        return np.array([drive, -2.0 * eta_h * a * eps + a * a * drive])

    return rhs, np.array([a0, init.epsilon]), 1


def noise_free_error(a, eps0, a0, c):
    """Error on the noise-free two-variable trajectory when the rescaled weight norm is ``a`` (``c = eta_h c_o``)."""
    return eps0 - (a * a - a0 * a0) / c + (a**3 - a0**3) / 3.0


def _critical_c(error_drop, a0):
    r"""Positive root of (error_drop - a0^3/3) c^3 + a0^2 c^2 - 4/3 = 0 below 2/a0 (Appendix Eq. 83)."""
    if a0 == 0.0:
        return (4.0 / (3.0 * error_drop)) ** (1.0 / 3.0)

    def cubic(c):
        return (error_drop - a0**3 / 3.0) * c**3 + a0**2 * c**2 - 4.0 / 3.0

    # cubic(0) = -4/3 < 0 and cubic(2/a0) = 8 error_drop / a0^3 > 0; the root is unique in between.
    return brentq(cubic, 0.0, 2.0 / a0, xtol=1e-15, rtol=1e-13, maxiter=500)


def critical_rate(error_drop, lh, a0, c_o):
    """Largest learning rate at which the noise-free two-variable error falls by ``error_drop`` before it turns up."""
    return _critical_c(error_drop, a0) / (c_o * np.cbrt(float(lh)))


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
    lx, lh, ly, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    eta, sigma_t = check_rate_and_noise(learning_rate, teacher_noise)
    method, times = check_method_and_steps(method, steps)
    rhs, y0, k = two_variable_flow(lx, lh, ly, eta, sigma_t, init)
    values = trajectory(rhs, y0, times, k, method)
    return TwoVariableTrajectory(times, values[0], np.maximum(values[1], 0.0))

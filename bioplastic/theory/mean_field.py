r"""Four-variable mean-field dynamics of the order parameters ``alpha``, ``beta``, ``epsilon``, ``phi`` under NP or SGD."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bioplastic._validation import check_choice, check_nonnegative, check_positive

from ._checks import RULES, check_finite_size, check_method_and_steps, check_model, check_rate_and_noise
from ._solvers import atol, crossing, integrate, trajectory, turning_up
from .order_parameters import check_network
from .two_variable import two_variable_flow

__all__ = ["MeanFieldTrajectory", "mean_field_dynamics"]


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



def mean_field_flow(rule, lx, lh, ly, learning_rate, teacher_noise, init, finite_size):
    """``(rhs, y0, 2)``: mean increments of ``(alpha, beta, epsilon, phi)``, initial state, index of the error."""
    rhs = _mean_field_rhs(rule, lx, lh, ly, learning_rate, teacher_noise**2, init.teacher_norm, finite_size)
    return rhs, np.array([init.alpha, init.beta, init.epsilon, init.phi]), 2


def check_model_args(n_inputs, n_hidden, n_outputs, teacher_noise, model, finite_size, initial, max_steps):
    """Checked ``(Lx, Lh, Ly, initial, sigma_t, model, finite_size, max_steps)`` for :func:`model_flow` up to a horizon."""
    lx, lh, ly, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    sigma_t = check_nonnegative(teacher_noise, "teacher_noise")
    model, finite_size = check_model(model, finite_size)
    return lx, lh, ly, init, sigma_t, model, finite_size, check_positive(max_steps, "max_steps")


def model_flow(model, finite_size, lx, lh, ly, learning_rate, teacher_noise, init):
    """``(rhs, y0, index of epsilon)`` of NP under the chosen reduced model (``"two_variable"`` or ``"mean_field"``)."""
    if model == "two_variable":
        return two_variable_flow(lx, lh, ly, learning_rate, teacher_noise, init)
    return mean_field_flow("np", lx, lh, ly, learning_rate, teacher_noise, init, finite_size)


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
    lx, lh, ly, init = check_network(n_inputs, n_hidden, n_outputs, initial)
    eta, sigma_t = check_rate_and_noise(learning_rate, teacher_noise)
    rule = check_choice(rule, "rule", RULES)
    method, times = check_method_and_steps(method, steps)
    rhs, y0, k = mean_field_flow(rule, lx, lh, ly, eta, sigma_t, init, check_finite_size(finite_size))
    values = trajectory(rhs, y0, times, k, method)
    values[k] = np.maximum(values[k], 0.0)  # the error is a squared norm; remove solver round-off below zero
    return MeanFieldTrajectory(times, *values)


def mean_field_converges(lx, lh, ly, eta, init, finite_size, tolerance=1e-10):
    """Whether the noise-free NP mean-field error reaches tolerance*eps0 before it turns up."""
    rhs, y0, k = mean_field_flow("np", lx, lh, ly, eta, 0.0, init, finite_size)
    if rhs(0.0, y0)[k] >= 0:
        return False
    horizon = 1e4 / (eta * (init.alpha + init.beta))
    events = (crossing(tolerance * init.epsilon, k), turning_up(rhs, k))
    sol = integrate(rhs, (0.0, horizon), y0, events, atol(y0, k))
    return sol.t_events[1].size == 0

"""Solvers shared by the reduced dynamics: integrate the mean increments as a flow, or iterate them step by step."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

#: A trajectory counts as diverged once its error exceeds this multiple of its
#: initial error; the remaining samples are reported as ``inf``.
DIVERGENCE_FACTOR = 1e6

ODE_OPTIONS = {"method": "LSODA", "rtol": 1e-10}  # switches to BDF where the flow is stiff

def atol(y0, eps_index):
    """Absolute tolerances: relative to each initial value, and to the initial error for error-like variables."""
    y0 = np.abs(np.asarray(y0, dtype=float))
    scale = np.maximum(y0, y0[eps_index])
    return 1e-15 * scale


def crossing(level, eps_index, *, direction=0.0, terminal=True):
    """Event of :func:`scipy.integrate.solve_ivp`: the error (state ``eps_index``) crosses ``level``."""

    def event(_t, y):
        return y[eps_index] - level

    event.terminal = terminal
    event.direction = direction
    return event


def turning_up(rhs, eps_index):
    """Terminal event: the error starts to increase (its rate of change crosses zero upwards)."""

    def event(t, y):
        return rhs(t, y)[eps_index]

    event.terminal = True
    event.direction = 1.0
    return event


def integrate(rhs, t_span, y0, events, tolerance):
    """``solve_ivp`` with the theory's options; ``tolerance`` is the absolute tolerance (see :func:`atol`)."""
    return solve_ivp(rhs, t_span, y0, events=events, atol=tolerance, **ODE_OPTIONS)


def _solve(rhs, y0, times, eps_index, threshold):
    """Integrate rhs on [0, times[-1]]; samples after divergence are inf."""
    out = np.full((y0.size, times.size), np.inf)
    if times[-1] == 0:
        out[:, :] = y0[:, None]
        return out
    diverged = crossing(threshold, eps_index, direction=1.0)
    sol = solve_ivp(rhs, (0.0, times[-1]), y0, t_eval=times, events=(diverged,), atol=atol(y0, eps_index), **ODE_OPTIONS)
    if sol.status == -1:
        raise RuntimeError(f"integration failed: {sol.message}")
    n = sol.t.size
    out[:, :n] = sol.y
    if sol.t_events[0].size:  # diverged: later samples (and a sample at the event time) stay inf
        out[:, n:] = np.inf
    return out


def _iterate(rhs, y0, times, eps_index, threshold):
    """Iterate the per-step mean increments y_{t+1} = y_t + rhs(y_t)."""
    out = np.full((y0.size, times.size), np.inf)
    y = y0.copy()
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


def trajectory(rhs, y0, times, eps_index, method):
    """States at ``times`` (shape ``(n_states, n_times)``) of the flow (``"ode"``) or of the iterated increments (``"map"``).

    Samples after the error exceeds ``DIVERGENCE_FACTOR`` times its initial
    value are ``inf``.
    """
    y0 = np.asarray(y0, dtype=float)
    threshold = DIVERGENCE_FACTOR * y0[eps_index]
    solver = _solve if method == "ode" else _iterate
    return solver(rhs, y0, times, eps_index, threshold)

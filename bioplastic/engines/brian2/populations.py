"""Populations: ``NeuronGroup``s of rate units, their intrinsic (white or Ornstein-Uhlenbeck) noise, the clamped input.

A non-input population ``k`` integrates ``tau du/dt = -u + I + b (+ n)`` with
the exponential update (exact for inputs held over a step) and reports the
rate ``r = f(v)``. Its noise variable ``n`` is advanced with the exact OU
update ``n <- a n + sigma sqrt(1 - a**2) z``, ``a = exp(-dt / tau_c)``, from
standard normals ``z`` drawn by the engine's own generator and handed to
Brian2 as a ``TimedArray`` per run (so every code-generation target sees the
same noise). With OU noise ``n`` is a current (``v = u``); with white noise
it is the membrane's response to a white current (``v = u + n``).
"""

from __future__ import annotations

import math

import numpy as np

from ._runtime import NAME

__all__ = ["ACTIVATION_CODE", "NOISE_KINDS", "STIMULUS", "feed_noise", "input_group", "noise_equations", "rate_equations", "start_noise",
           "trial_table"]

#: Kinds of intrinsic noise: an Ornstein-Uhlenbeck current, or a white current.
NOISE_KINDS = ("ou", "white")

#: Brian2 expressions of the supported activations (``{x}`` is the membrane potential).
ACTIVATION_CODE = {
    "linear": "{x}",
    "relu": "clip({x}, 0, inf)",
    "tanh": "tanh({x})",
    "sigmoid": "0.5*(1 + tanh(0.5*{x}))",
}

#: Name of the ``TimedArray`` of the input population's samples (one row per trial).
STIMULUS = f"{NAME}_stimulus"


def input_group(b2, n_inputs, *, clock, tick):
    """The input population: rates clamped to the trial's sample (``r = stimulus(t - t_stim, i)`` at every trial start)."""
    group = b2.NeuronGroup(n_inputs, "r : 1\nt_stim : second (shared)", clock=clock, order=0, name=f"{NAME}_pop0", namespace={})
    group.run_regularly(f"r = {STIMULUS}(t - t_stim, i)", order=-95, name=f"{NAME}_pop0_input", **tick)
    return group


def rate_equations(k, activation, *, noisy, noise, clean, dt, tau, sigma):
    """Equations and namespace of rate population ``k`` (membrane, rate, the clean copy, the noise variable).

    Parameters
    ----------
    k : int
        Population index (1 = first hidden population).
    activation : str
        A key of :data:`ACTIVATION_CODE`.
    noisy : bool
        Whether the population receives intrinsic noise.
    noise : {"ou", "white"}
    clean : bool
        Whether a noise-free copy (``uc``, ``rc``, its input ``Ic``) runs in the same neurons.
    dt, tau : float
        Time step and membrane time constant (seconds).
    sigma : float
        Stationary standard deviation of the noise.

    Returns
    -------
    lines : list of str
    namespace : dict
    """
    f = ACTIVATION_CODE[activation]
    namespace = {"am1": -math.expm1(-dt / tau), "sigma": sigma}
    current = "n" if (noisy and noise == "ou") else "0"
    v = "(u + n)" if (noisy and noise == "white") else "u"
    lines = [f"du/dt = (I + b + {current} - u)*am1/dt : 1", "r = " + f.format(x=v) + " : 1", "I : 1", "b : 1"]
    if clean:
        lines += [f"duc/dt = ({'I' if k == 1 else 'Ic'} + b - uc)*am1/dt : 1", "rc = " + f.format(x="uc") + " : 1"]
        if k > 1:
            lines.append("Ic : 1")
    return lines, namespace


def noise_equations(k, *, dt, sigma, correlation_time):
    """Equations and namespace of population ``k``'s noise variable ``n`` (the exact OU update per step)."""
    lines = [f"dn/dt = (n*(an - 1) + cn*{NAME}_noise{k}(t - t_noise, i))/dt : 1", "t_noise : second (shared)"]
    a = math.exp(-dt / correlation_time)
    return lines, {"an": a, "cn": sigma * math.sqrt(-math.expm1(-2 * dt / correlation_time))}


def start_noise(group, rng, sigma):
    """Draw ``group``'s noise variable from its stationary distribution ``N(0, sigma**2)``."""
    group.n = sigma * rng.standard_normal(group.N)


def feed_noise(b2, group, k, rng, *, n_steps, rows, dt, first_step):
    """Hand the standard normals of the next ``n_steps`` steps (from ``rng``) to population ``k``'s noise variable.

    The ``TimedArray`` has ``rows`` rows (a fixed shape, so compiled code is
    reused); those after ``n_steps`` are zero. ``first_step`` is the index of
    the run's first time step.
    """
    z = np.zeros((rows, group.N))
    z[:n_steps] = rng.standard_normal((n_steps, group.N))
    name = f"{NAME}_noise{k}"
    group.namespace[name] = b2.TimedArray(z, dt=dt * b2.second, name=name)
    group.t_noise = first_step * dt * b2.second


def trial_table(values, start, stop, rows):
    """Rows ``start:stop`` of ``values`` (one per trial), padded to ``rows + 1`` rows for a ``TimedArray``.

    Row ``stop - start`` holds the sample shown in the step that ends the run:
    the next one (``values[stop]``) or, at the end, the last one again.
    """
    table = np.zeros((rows + 1, values.shape[1]))
    n = stop - start
    table[:n] = values[start:stop]
    table[n] = values[stop if stop < len(values) else stop - 1]
    return table

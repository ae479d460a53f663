"""Argument checks shared by the theory functions (sizes, report times, model choices)."""

from __future__ import annotations

import numbers

import numpy as np

from bioplastic._validation import check_choice, check_nonnegative, check_positive, check_positive_int

RULES = ("np", "sgd")
MODELS = ("two_variable", "mean_field")
METHODS = ("ode", "map")


def check_sizes(n_inputs, n_hidden, n_outputs):
    """Return the layer sizes ``(Lx, Lh, Ly)`` as positive ints."""
    return (
        check_positive_int(n_inputs, "n_inputs"),
        check_positive_int(n_hidden, "n_hidden"),
        check_positive_int(n_outputs, "n_outputs"),
    )


def check_steps(steps, *, integer):
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


def check_finite_size(finite_size):
    """Return ``finite_size`` as a bool (it must be one)."""
    if not isinstance(finite_size, (bool, np.bool_)):
        raise ValueError(f"finite_size should be True or False, got {finite_size!r}")
    return bool(finite_size)


def check_model(model, finite_size):
    """Return ``(model, finite_size)``; finite-size corrections exist only for the mean field."""
    model = check_choice(model, "model", MODELS)
    finite_size = check_finite_size(finite_size)
    if finite_size and model == "two_variable":
        raise ValueError("finite_size=True applies only to model='mean_field', got model='two_variable'")
    return model, finite_size


def check_rate_and_noise(learning_rate, teacher_noise):
    """Return ``(eta, sigma_t)``: a positive learning rate and a non-negative teacher noise."""
    return check_positive(learning_rate, "learning_rate"), check_nonnegative(teacher_noise, "teacher_noise")


def check_method_and_steps(method, steps):
    """Return ``(method, times)``; ``method="map"`` iterates integer steps."""
    method = check_choice(method, "method", METHODS)
    return method, check_steps(steps, integer=method == "map")

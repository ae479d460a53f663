"""Coefficients that follow the progress of training (the alignment rules' ``alpha``, ``beta``, ``gamma``).

A coefficient of a rule is a number or a :class:`Schedule`. A rule with a
scheduled coefficient keeps a step counter in its own state (``"step"``,
one per member, checkpointed with the weights) and evaluates the schedule
at ``t = step / total_steps``, the fraction of training done.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._params import Parameterised
from .._validation import _check_real, check_choice, check_fraction, check_positive_int

__all__ = ["SCHEDULE_KINDS", "Schedule", "check_coefficient"]

#: How a scheduled coefficient changes between ``start`` and ``stop``.
SCHEDULE_KINDS = ("constant", "linear", "exponential")


class Schedule(Parameterised):
    """A coefficient as a function of the fraction of training done, ``t = step / total_steps``.

    Between ``start`` and ``stop`` (fractions of training)

    * ``"constant"``: ``c(t) = value``;
    * ``"linear"``: ``c(t) = value + rate (t - start)``;
    * ``"exponential"``: ``c(t) = value exp(rate (t - start))``;

    and ``c(t) = 0`` before ``start`` and after ``stop``. This is the
    coefficient schedule of Kunin et al., "Two routes to scalable credit
    assignment without weight symmetry" (ICML 2020; their code's
    ``build_alignment_coefficient_schedule`` without the triangular cycle),
    with time measured in fractions of training instead of epochs: their
    ``schedule_rate`` per epoch is ``rate / n_epochs`` here.

    Parameters
    ----------
    value : float >= 0
        The coefficient at ``start``.
    kind : {"constant", "linear", "exponential"}, default "constant"
    rate : float, default 0.0
        Change per unit of ``t`` (linear) or exponential rate per unit of
        ``t``. A linear schedule with a negative rate is clipped at zero.
    start, stop : float in [0, 1], default 0.0 and 1.0
        Fractions of training where the coefficient switches on and off.
    total_steps : int, optional
        Steps of the whole training (``n_epochs x`` steps per epoch); needed
        unless the schedule is constant over all of training.

    Examples
    --------
    >>> from bioplastic.plasticity import Schedule
    >>> beta = Schedule(value=2e-3, kind="linear", rate=-2e-3, total_steps=1000)
    >>> beta([0, 500, 1000]).tolist()
    [0.002, 0.001, 0.0]
    """

    def __init__(self, *, value, kind="constant", rate=0.0, start=0.0, stop=1.0, total_steps=None):
        self.value = check_nonnegative_coefficient(value, "Schedule value")
        self.kind = check_choice(kind, "Schedule kind", SCHEDULE_KINDS)
        self.rate = _check_real(rate, "Schedule rate")
        self.start = check_fraction(start, "Schedule start", inclusive=True)
        self.stop = check_fraction(stop, "Schedule stop", inclusive=True)
        if self.stop <= self.start:
            raise ValueError(f"Schedule stop should be larger than start ({self.start!r}), got {self.stop!r}")
        self.total_steps = None if total_steps is None else check_positive_int(total_steps, "Schedule total_steps")
        if self.total_steps is None and not self.is_constant:
            raise ValueError(f"a Schedule of kind {self.kind!r} from {self.start} to {self.stop} needs total_steps (the steps of the whole training)")

    @property
    def is_constant(self):
        """Whether the coefficient is ``value`` over all of training."""
        return (self.kind == "constant" or self.rate == 0.0) and self.start == 0.0 and self.stop == 1.0

    def __call__(self, step):
        """The coefficient after ``step`` steps (an array of steps gives an array of coefficients).

        Parameters
        ----------
        step : float or ndarray
            Steps done (0 before the first).

        Returns
        -------
        ndarray of float64, the shape of ``step``
        """
        step = np.asarray(step, dtype=np.float64)
        if self.is_constant:
            return np.full(step.shape, self.value)
        t = step / self.total_steps
        since = t - self.start
        if self.kind == "linear":
            c = np.maximum(self.value + self.rate * since, 0.0)
        elif self.kind == "exponential":
            c = self.value * np.exp(self.rate * since)
        else:
            c = np.full(step.shape, self.value)
        return np.where((t < self.start) | (t > self.stop), 0.0, c)


def check_nonnegative_coefficient(value, name):
    value = _check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_coefficient(value, name):
    """Validate a rule's coefficient: a number >= 0, a :class:`Schedule`, or a dict of a schedule's parameters.

    Returns the number as a float, or the :class:`Schedule` (built from the dict).
    """
    if isinstance(value, Schedule):
        return value
    if isinstance(value, dict):  # a description, e.g. from a configuration file
        unknown = sorted(set(value) - set(Schedule.param_names()))
        if unknown:
            raise ValueError(f"unknown {name} schedule key(s) {unknown}; expected some of {sorted(Schedule.param_names())}")
        try:
            return Schedule(**value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: {error}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a number >= 0 or a Schedule, got {value!r} of type {type(value).__name__}")
    return check_nonnegative_coefficient(value, name)

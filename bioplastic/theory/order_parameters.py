"""Order parameters of a linear student-teacher pair: their definition, their Xavier-Glorot expectations."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bioplastic._validation import check_nonnegative

from ._checks import check_sizes

__all__ = ["OrderParameters", "order_parameters", "xavier_order_parameters"]


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
    lx, lh, ly = check_sizes(n_inputs, n_hidden, n_outputs)
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



def check_network(n_inputs, n_hidden, n_outputs, initial):
    """Return ``(Lx, Lh, Ly, initial)``: checked sizes and initial order parameters (Xavier-Glorot expectations if None)."""
    lx, lh, ly = check_sizes(n_inputs, n_hidden, n_outputs)
    if initial is None:
        return lx, lh, ly, xavier_order_parameters(lx, lh, ly)
    if not isinstance(initial, OrderParameters):
        raise ValueError(f"initial should be an OrderParameters or None, got {type(initial).__name__}")
    for name in ("alpha", "beta", "epsilon", "teacher_norm"):
        check_nonnegative(getattr(initial, name), f"initial.{name}")
    if not np.isfinite(initial.phi):
        raise ValueError(f"initial.phi should be finite, got {initial.phi!r}")
    if initial.epsilon <= 0:
        raise ValueError(f"initial.epsilon must be > 0, got {initial.epsilon!r}")
    return lx, lh, ly, initial

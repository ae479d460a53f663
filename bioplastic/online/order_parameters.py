r"""Order parameters of one-hidden-layer linear students, from the weights or from hidden-space coordinates.

Paper normalisation (Hiratani et al. 2022): input- and output-weight norms
``alpha = ||W1||_F^2 / Lx`` and ``beta = ||W2||_F^2 / Ly``, error
``epsilon = ||W2 W1 - A||_F^2 / (Lx Ly)``, overlap
``phi = <W2 W1, A - W2 W1>_F / (Lx Ly)`` and the planar dimensionality of
the hidden layer, the participation ratio ``(tr C)^2 / tr(C^2)`` of
``C = W1^T W1`` (the hidden representation's covariance for white inputs).
"""

from __future__ import annotations

import numpy as np

from ..ops.statistics import covariance_participation_ratio

__all__ = ["ORDER_PARAMETERS", "gram_order_parameters", "linear_order_parameters", "planar_dimensionality"]

#: names of the per-record order parameters of :func:`~bioplastic.online.train_online` (besides ``weight_norms``)
ORDER_PARAMETERS = ("error", "test_error", "alpha", "beta", "phi", "dimensionality")


def planar_dimensionality(w_in):
    """Participation ratio ``(tr C)^2 / tr(C^2)`` of ``C = W1^T W1``.

    For white inputs ``C`` is the covariance of the hidden representation
    ``h = W1 x`` seen from the input side; the ratio counts how many input
    directions the hidden layer spans (1 to ``min(Lx, Lh)``).

    Parameters
    ----------
    w_in : ndarray of shape (..., n_hidden, n_inputs)

    Returns
    -------
    float or ndarray of shape (...)
    """
    w_in = np.asarray(w_in, dtype=float)
    c = np.matmul(np.swapaxes(w_in, -1, -2), w_in)
    return covariance_participation_ratio(c)


def linear_order_parameters(w_in, w_out, teacher, *, teacher_noise=0.0, dimensionality=True):
    """Order parameters of one-hidden-layer linear students (any leading ensemble axes).

    Parameters
    ----------
    w_in : ndarray of shape (..., n_hidden, n_inputs)
        ``W1``.
    w_out : ndarray of shape (..., n_outputs, n_hidden)
        ``W2``.
    teacher : ndarray of shape (n_outputs, n_inputs)
        ``A``.
    teacher_noise : float, default 0
        ``sigma_t``; enters ``test_error`` only.
    dimensionality : bool, default True
        Also compute the planar dimensionality (costs ``Lh Lx^2`` per member).

    Returns
    -------
    dict of str to ndarray of shape (...)
        ``alpha``, ``beta``, ``error`` (epsilon), ``phi``, ``test_error``
        (expected squared error summed over outputs,
        ``Lx Ly epsilon + Ly sigma_t^2``) and ``dimensionality`` (NaN if not
        computed).
    """
    w_in = np.asarray(w_in)
    w_out = np.asarray(w_out)
    teacher = np.asarray(teacher, dtype=float)
    lx, ly = w_in.shape[-1], w_out.shape[-2]
    if w_out.shape[-1] != w_in.shape[-2] or teacher.shape != (ly, lx):
        raise ValueError(
            f"inconsistent shapes: w_in {w_in.shape}, w_out {w_out.shape}, teacher {teacher.shape}; "
            "expected (..., Lh, Lx), (..., Ly, Lh) and (Ly, Lx)"
        )
    product = np.matmul(w_out, w_in)
    gram_in = np.matmul(np.swapaxes(w_in, -1, -2), w_in) if dimensionality else None
    return _order_from_blocks(
        np.einsum("...ij,...ij->...", w_in, w_in), np.einsum("...ij,...ij->...", w_out, w_out), product, teacher,
        teacher_noise, gram_in,
    )


def _order_from_blocks(norm_in, norm_out, product, teacher, teacher_noise, gram_in):
    ly, lx = teacher.shape
    diff = product - teacher
    error = np.einsum("...ij,...ij->...", diff, diff) / (lx * ly)
    out = {
        "alpha": norm_in / lx,
        "beta": norm_out / ly,
        "error": error,
        "phi": -np.einsum("...ij,...ij->...", product, diff) / (lx * ly),
        "test_error": lx * ly * error + ly * teacher_noise**2,
    }
    out["dimensionality"] = np.full(np.shape(error), np.nan) if gram_in is None else covariance_participation_ratio(gram_in)
    return out


def gram_order_parameters(coordinates, n_inputs, teacher, *, teacher_noise=0.0):
    """Order parameters from hidden-space coordinates (the state of ``method="reduced"``).

    Parameters
    ----------
    coordinates : ndarray of shape (..., m, n_inputs + n_outputs)
        Matrix ``Z`` with ``[W1 | W2^T] = B Z`` for some ``B`` with
        orthonormal columns: ``Z^T Z`` is the Gram matrix of the columns of
        ``W1`` and the rows of ``W2``.
    n_inputs : int
        ``Lx`` (the first ``Lx`` columns of ``Z`` belong to ``W1``).
    teacher : ndarray of shape (n_outputs, n_inputs)
    teacher_noise : float, default 0

    Returns
    -------
    dict of str to ndarray
        As :func:`linear_order_parameters`.
    """
    z = np.asarray(coordinates, dtype=float)
    z_in, z_out = z[..., :n_inputs], z[..., n_inputs:]
    gram_in = np.matmul(np.swapaxes(z_in, -1, -2), z_in)
    product = np.matmul(np.swapaxes(z_out, -1, -2), z_in)
    return _order_from_blocks(
        np.einsum("...ii->...", gram_in), np.einsum("...ij,...ij->...", z_out, z_out), product, np.asarray(teacher, dtype=float),
        teacher_noise, gram_in,
    )

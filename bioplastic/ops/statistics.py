"""Summary statistics of covariance matrices with leading (ensemble) axes."""

from __future__ import annotations

import numpy as np

__all__ = ["covariance_participation_ratio"]


def covariance_participation_ratio(covariance):
    """Participation ratio ``tr(C)^2 / ||C||_F^2 = (sum_i l_i)^2 / sum_i l_i^2`` of covariance matrices.

    Parameters
    ----------
    covariance : ndarray of shape (..., n, n)
        Symmetric positive semi-definite matrices (any leading axes).

    Returns
    -------
    float or ndarray of shape (...)
        0 where the matrix is zero.
    """
    c = np.asarray(covariance, dtype=float)
    trace = np.einsum("...ii->...", c)
    squares = np.einsum("...ij,...ij->...", c, c)  # sum of squared eigenvalues
    out = np.divide(trace**2, squares, out=np.zeros_like(trace), where=squares > 0)
    return float(out) if out.ndim == 0 else out

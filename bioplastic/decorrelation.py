r"""Lateral decorrelation: a lateral inhibitory circuit that decorrelates a population's output.

Before a population's rates reach the next projection they pass through a
square matrix ``R`` (one per member, the identity at the start), so
projection ``k`` sees the decorrelated rates

.. math:: x^*_{k} = R_k x_k, \qquad h_{k+1} = W_k x^*_k + b_k.

``R`` learns with an anti-Hebbian rule that removes the correlations between
the units of ``x*`` (Ahmad, Schrader & van Gerven, "Constrained parameter
inference as a principle for learning", TMLR 2023; Dalm, van Gerven & Ahmad,
"Effective learning by node perturbation in deep neural networks", arXiv
2310.00965):

.. math:: R \leftarrow R - \eta_R \, \mathrm{offdiag}\Big(\frac{1}{B} X^{*\top} X^*\Big) R,

with ``X*`` the decorrelated rates of the clean pass (shape ``(B, n)``, one
row per sample of the minibatch) and ``offdiag`` zeroing the diagonal. It is
applied after a step's update directions are computed (so they use the
``R`` of the pass that produced them) and before the optimiser changes the
weights. Decorrelation works with any plasticity rule: backprop carries its
errors through ``R^T`` (decorrelated backprop, DBP); node perturbation and its
variants take ``x*`` as the presynaptic rate of their updates (DNP, DINP,
DANP). The D-variants are the plain rules in a network with a
:class:`LateralDecorrelation`.

Variants (both documented in the class):

* ``centred=True``: the off-diagonal *covariances* (rates centred on their
  minibatch mean) instead of the uncentred second moments;
* ``rescale=True``: after each update the rows of ``R`` are rescaled so that
  every unit's mean square output on the minibatch is what it was before the
  update (the update decorrelates without changing the units' RMS).
"""

from __future__ import annotations

import numpy as np

from ._params import Parameterised
from ._validation import check_layers, check_positive, layer_mask

__all__ = ["LateralDecorrelation", "mean_squared_correlation", "offdiagonal_moments"]


def _second_moments(x, centred):
    """``X^T X / B`` of ``x`` (shape ``(..., B, n)``), centred on the minibatch mean when ``centred``."""
    if centred:
        x = x - x.mean(axis=-2, keepdims=True)
    moments = np.matmul(np.swapaxes(x, -1, -2), x)
    moments /= x.shape[-2]
    return moments


def offdiagonal_moments(presynaptic, *, centred=False):
    """Second moments of decorrelated rates with their diagonal set to zero, ``offdiag(X*^T X* / B)``.

    Parameters
    ----------
    presynaptic : ndarray of shape (n_members, batch, n) or (batch, n)
        Decorrelated rates ``x*`` of one projection's input (2-D: shared by
        all members).
    centred : bool, default False
        Subtract the minibatch mean of every unit first (covariances).

    Returns
    -------
    ndarray of shape (n_members, n, n) or (n, n)
    """
    moments = _second_moments(np.asarray(presynaptic), centred)
    np.einsum("...ii->...i", moments)[...] = 0.0
    return moments


def mean_squared_correlation(rates):
    """Mean squared off-diagonal correlation coefficient between the units of ``rates``.

    Parameters
    ----------
    rates : ndarray of shape (..., n_samples, n)
        Units whose variance is zero are left out.

    Returns
    -------
    ndarray of shape (...)
        ``mean_{i != j} rho_ij^2`` (NaN where fewer than two units vary).
    """
    x = np.asarray(rates, dtype=np.float64)
    x = x - x.mean(axis=-2, keepdims=True)
    cov = np.matmul(np.swapaxes(x, -1, -2), x) / x.shape[-2]
    std = np.sqrt(np.einsum("...ii->...i", cov))
    varies = std > 1e-12 * max(1.0, float(np.max(std, initial=0.0)))
    safe = np.where(varies, std, 1.0)
    rho = cov / safe[..., :, None] / safe[..., None, :]
    pair = varies[..., :, None] & varies[..., None, :]
    n = cov.shape[-1]
    pair = pair & ~np.eye(n, dtype=bool)
    count = pair.sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sum(np.where(pair, rho**2, 0.0), axis=(-1, -2)) / np.maximum(count, 1), np.nan)


class LateralDecorrelation(Parameterised):
    r"""Lateral decorrelating circuits in front of a network's projections (see the module documentation).

    Pass one to :class:`~bioplastic.network.Network` (or
    :func:`~bioplastic.models.mlp`) as ``decorrelation=``; the network's
    state then holds one matrix ``R_k`` of shape ``(n_members, n_pre, n_pre)``
    per decorrelated projection (``NetworkState.lateral``), saved with the
    weights in results and checkpoints (``R<k>``).

    Parameters
    ----------
    eta : float, default 1e-3
        Learning rate ``eta_R`` of the decorrelation rule (dimensionless; per
        step). Dalm et al. use 1e-3.
    layers : "all" or sequence of int, default "all"
        Projections (0 = the first, whose input is the stimulus) whose input
        is decorrelated.
    centred : bool, default False
        Use the off-diagonal covariances (rates centred on the minibatch
        mean) instead of the uncentred second moments.
    rescale : bool, default False
        After each update, rescale row ``i`` of ``R`` by
        ``sqrt(m_i / m'_i)``, where ``m_i`` is unit ``i``'s mean square
        ``x*_i`` on the minibatch before the update and ``m'_i`` after it
        (computed exactly from the moments, ``m' = diag((I - eta O) M (I - eta O)^T)``
        with ``M = X*^T X*/B`` and ``O`` its off-diagonal part): the update
        then leaves every unit's RMS output unchanged.

    Examples
    --------
    >>> from bioplastic import LateralDecorrelation, mlp
    >>> net = mlp((784, 256, 10), hidden="leaky_relu", readout="softmax", decorrelation=LateralDecorrelation(eta=1e-3))
    >>> net.decorrelated_layers()
    [True, True]
    """

    def __init__(self, *, eta=1e-3, layers="all", centred=False, rescale=False):
        self.eta = check_positive(eta, "LateralDecorrelation eta")
        self.layers = check_layers(layers)
        for name, value in (("centred", centred), ("rescale", rescale)):
            if not isinstance(value, bool):
                raise TypeError(f"LateralDecorrelation {name} should be True or False, got {value!r}")
        self.centred = centred
        self.rescale = rescale

    def layer_mask(self, network):
        """Which projections have a decorrelated input; a list of bool."""
        return layer_mask(self.layers, network)

    def initial_matrices(self, network, n_members, dtype):
        """Identity matrices ``R_k`` per decorrelated projection: list of (ndarray of shape (n_members, n_pre, n_pre) or None)."""
        out = []
        for k, on in enumerate(self.layer_mask(network)):
            if not on:
                out.append(None)
                continue
            n = network.projections[k].n_pre
            out.append(np.broadcast_to(np.eye(n, dtype=dtype), (n_members, n, n)).copy())
        return out

    def update(self, lateral, presynaptic, *, learning=None):
        """One step of the decorrelation rule, in place: ``R <- R - eta offdiag(X*^T X* / B) R``.

        Parameters
        ----------
        lateral : list of (ndarray of shape (n_members, n, n) or None)
            ``NetworkState.lateral`` (changed in place).
        presynaptic : list of ndarray
            Decorrelated rates ``x*_k`` of the clean pass, shape
            ``(n_members, batch, n)`` (``Activity.presynaptic``).
        learning : ndarray of bool, shape (n_members,), optional
            Members whose matrices change (default all); the engine leaves out
            members whose learning rate is 0 (frozen after diverging).
        """
        eta = self.eta if learning is None else np.where(np.asarray(learning), self.eta, 0.0)[:, None, None]
        for k, matrix in enumerate(lateral):
            if matrix is None:
                continue
            x = presynaptic[k]
            batch, n = x.shape[-2], matrix.shape[-1]
            if self.centred:
                x = x - x.mean(axis=-2, keepdims=True)
            if self.rescale or batch >= n:
                # offdiag(M) R with M = X*^T X* / B: B n^2 + n^3 multiply-adds per member
                moments = np.matmul(np.swapaxes(x, -1, -2), x)
                moments /= batch
                diagonal = np.einsum("...ii->...i", moments)
                before = diagonal.copy()
                diagonal[...] = 0.0  # moments is now offdiag(M)
                if self.rescale:
                    # diagonal of (I - eta O) M (I - eta O)^T: each unit's mean square after the update
                    step = -eta * moments
                    np.einsum("...ii->...i", step)[...] += 1.0
                    full = moments.copy()
                    np.einsum("...ii->...i", full)[...] = before
                    after = np.einsum("...ij,...ij->...i", np.matmul(step, full), step)
                    factor = np.sqrt(np.divide(before, after, out=np.ones_like(after), where=after > 0))
                change = np.matmul(moments, matrix)
            else:
                # small batches: offdiag(M) R = X*^T (X* R) / B - diag(M) R, 2 B n^2 multiply-adds (less than B n^2 + n^3)
                change = np.matmul(np.swapaxes(x, -1, -2), np.matmul(x, matrix))
                change /= batch
                diagonal = np.einsum("...bi,...bi->...i", x, x)
                diagonal /= batch
                change -= diagonal[..., :, None] * matrix
            change *= eta
            matrix -= change
            if self.rescale:
                if learning is not None:
                    factor[~np.asarray(learning)] = 1.0
                matrix *= factor[..., :, None]

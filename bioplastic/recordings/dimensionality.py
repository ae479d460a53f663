"""Dimensionality of responses to a set of stimuli, for neurons and model units alike.

* :func:`participation_ratio` -- the naive participation ratio
  ``PR = (sum_i l_i)^2 / sum_i l_i^2`` of the covariance eigenvalues
  ``l_i`` of the responses across stimuli.
* :func:`corrected_participation_ratio` -- its finite-sample bias
  correction (Chun et al. 2025).
* :func:`cross_validated_spectrum` and :func:`power_law_exponent` -- the
  cross-validated PCA spectrum of two repeats and its power-law exponent
  (Stringer et al. 2019).
* :func:`rdm_spectrum` and :func:`rdm_participation_ratio` -- the same
  quantities from a Euclidean RDM (classical multidimensional scaling).

All take arrays ``(n_stimuli, n_neurons)`` (or a :class:`Recording`, whose
mean responses over repeats are used), so the same estimator runs on neurons
and on model units (see :func:`bioplastic.recordings.recording_from_activity`).
Covariances are normalised by ``n_stimuli - 1``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_finite_array
from ..ops.statistics import covariance_participation_ratio
from .recording import RDMRecording, Recording

__all__ = [
    "corrected_participation_ratio",
    "cross_validated_spectrum",
    "participation_ratio",
    "power_law_exponent",
    "rdm_participation_ratio",
    "rdm_spectrum",
]


def _responses(responses, name="responses"):
    if isinstance(responses, Recording):
        responses = responses.mean_responses()
    responses = check_finite_array(responses, name, ndim=2, dtype=float)
    if responses.shape[0] < 2:
        raise ValueError(f"{name} should have at least 2 stimuli (rows), got shape {responses.shape}")
    return responses


def _second_moment(responses):
    """The smaller of the centred covariance and Gram matrices (same nonzero eigenvalues), over ``n - 1``."""
    centred = responses - responses.mean(axis=0)
    matrix = centred.T @ centred if responses.shape[1] <= responses.shape[0] else centred @ centred.T
    return matrix / (responses.shape[0] - 1)


def participation_ratio(responses):
    """Naive participation ratio of the responses' covariance across stimuli.

    ``PR = (sum_i l_i)^2 / sum_i l_i^2 = tr(C)^2 / ||C||_F^2`` of the
    eigenvalues ``l_i`` of the covariance ``C`` of the responses across
    stimuli (Gao et al., bioRxiv 214262, 2017; computed with
    :func:`bioplastic.ops.statistics.covariance_participation_ratio`, from
    the Gram matrix when there are more neurons than stimuli).

    Parameters
    ----------
    responses : array_like of shape (n_stimuli, n_neurons) or Recording

    Returns
    -------
    float
        Between 1 and ``min(n_stimuli - 1, n_neurons)``; 0 for responses that
        do not vary.  Biased low for finite samples (see
        :func:`corrected_participation_ratio`).
    """
    return covariance_participation_ratio(_second_moment(_responses(responses)))


def corrected_participation_ratio(responses, *, sampled="both"):
    """Participation ratio corrected for the finite numbers of stimuli and neurons.

    For ``P`` stimuli and ``Q`` neurons, each drawn at random from larger
    populations, the naive estimate (:func:`participation_ratio`) obeys to
    leading order (Chun, Canatar, Chung & Lee, "Estimating dimensionality of
    neural representations from finite samples", ICLR 2026, arXiv:2509.26560)

    ``E[1 / PR_naive] ~ 1 / P + 1 / Q + 1 / PR``,

    so that ``1 / PR_corrected = 1 / PR_naive - 1 / (P - 1) - 1 / Q``.  The
    responses are centred over stimuli, which uses up one of the ``P``
    degrees of freedom: ``P - 1`` replaces ``P`` (the two agree to the order
    of the formula).  This is the leading-order correction of the expected
    inverse; the paper's estimator ``gamma_both`` (sums over disjoint index
    sets, unbiased for the numerator and the denominator) is a different,
    more accurate estimator.

    Parameters
    ----------
    responses : array_like of shape (n_stimuli, n_neurons) or Recording
    sampled : {"both", "stimuli", "neurons"}, optional
        Which axes are samples of larger populations.  ``"stimuli"`` drops
        the ``1 / Q`` term (the units are the whole population, e.g. every
        unit of a model layer); ``"neurons"`` drops the ``1 / (P - 1)`` term
        (the stimuli are the whole set of interest).

    Returns
    -------
    float
        The corrected estimate; ``inf`` when the naive estimate is at or
        above the value the finite sample alone would give
        (``1 / PR_naive <= 1 / (P - 1) + 1 / Q``), i.e. when the sample cannot
        resolve the dimensionality.
    """
    sampled = check_choice(sampled, "sampled", ("both", "stimuli", "neurons"))
    responses = _responses(responses)
    naive = participation_ratio(responses)
    if naive == 0:
        raise ValueError("responses do not vary across stimuli; the participation ratio is undefined")
    n_stimuli, n_neurons = responses.shape
    inverse = 1.0 / naive
    if sampled in ("both", "stimuli"):
        inverse -= 1.0 / (n_stimuli - 1)
    if sampled in ("both", "neurons"):
        inverse -= 1.0 / n_neurons
    return float(1.0 / inverse) if inverse > 0 else float("inf")


def cross_validated_spectrum(responses, second=None, *, repeats=(0, 1)):
    """Cross-validated PCA spectrum of responses to two repeats of the stimuli.

    Stringer, Pachitariu, Steinmetz, Carandini & Harris, "High-dimensional
    geometry of population responses in visual cortex", Nature 571, 361-365
    (2019), Methods: the eigenvectors ``u_n`` of the covariance of repeat 1
    (centred over stimuli) are computed, both repeats are projected on them,
    and the ``n``-th eigenvalue is estimated by the covariance of the
    projections across repeats,

    ``l_n = (1 / (P - 1)) sum_s (x1_s . u_n) (x2_s . u_n)``.

    Trial-to-trial noise independent between repeats cancels in expectation,
    so ``l_n`` estimates the stimulus-related variance along ``u_n``
    (it may be negative where that variance is small).

    Parameters
    ----------
    responses : Recording, array_like of shape (n_repeats, n_stimuli, n_neurons), or of shape (n_stimuli, n_neurons)
        Either all repeats (``repeats`` selects two) or repeat 1 alone, with
        ``second`` repeat 2.
    second : array_like of shape (n_stimuli, n_neurons), optional
    repeats : tuple of two int, optional
        The repeats used from a recording or 3-d array (default the first
        two); ignored with ``second``.

    Returns
    -------
    ndarray of shape (min(n_stimuli - 1, n_neurons),)
        Estimates in the order of the repeat-1 eigenvalues (descending).
    """
    if second is None:
        if not isinstance(responses, Recording):
            responses = Recording(np.asarray(responses, dtype=float)) if np.ndim(responses) == 3 else None
            if responses is None:
                raise ValueError("without second, responses should be a Recording or an array "
                                 "(n_repeats, n_stimuli, n_neurons)")
        first, second = responses.repeat_pair(repeats=repeats)
    else:
        first = responses
    first = _responses(first, "first repeat")
    second = _responses(second, "second repeat")
    if first.shape != second.shape:
        raise ValueError(f"both repeats should have the same shape, got {first.shape} and {second.shape}")
    a = first - first.mean(axis=0)
    b = second - second.mean(axis=0)
    n_components = min(a.shape[0] - 1, a.shape[1])
    if a.shape[1] <= a.shape[0]:
        _, vectors = np.linalg.eigh(a.T @ a)
        vectors = vectors[:, ::-1][:, :n_components]
    else:  # principal axes from the SVD, cheaper with more neurons than stimuli
        vectors = np.linalg.svd(a, full_matrices=False)[2][:n_components].T
    return np.einsum("sk,sk->k", a @ vectors, b @ vectors) / (a.shape[0] - 1)


def power_law_exponent(spectrum, *, ranks=(11, 500)):
    """Exponent ``alpha`` of a power-law fit ``l_n ~ n^(-alpha)`` of a spectrum.

    A least-squares line through ``(log n, log l_n)`` for the ranks ``n``
    from ``ranks[0]`` to ``ranks[1]`` inclusive (1-based); Stringer et al.
    (Nature 2019) fit ranks 11 to 500 of the cross-validated spectrum of
    2,800 images.

    Parameters
    ----------
    spectrum : array_like of shape (n,)
        Eigenvalues in rank order (e.g. :func:`cross_validated_spectrum`).
    ranks : tuple of two int, optional
        First and last rank of the fit, ``1 <= ranks[0] < ranks[1] <= n``.

    Returns
    -------
    float
        ``alpha`` (minus the slope).

    Raises
    ------
    ValueError
        If the range is bad or a fitted eigenvalue is not positive.
    """
    spectrum = check_finite_array(spectrum, "spectrum", ndim=1, dtype=float)
    try:
        start, stop = (int(r) for r in ranks)
    except (TypeError, ValueError):
        raise ValueError(f"ranks should be two integers (first, last), got {ranks!r}") from None
    if not 1 <= start < stop <= spectrum.size:
        raise ValueError(f"ranks should satisfy 1 <= first < last <= {spectrum.size} (the spectrum's length), got {ranks!r}")
    values = spectrum[start - 1:stop]
    if (values <= 0).any():
        bad = start + int(np.argmax(values <= 0))
        raise ValueError(f"spectrum has a non-positive eigenvalue {spectrum[bad - 1]:g} at rank {bad}, inside the "
                         f"fitted ranks {ranks!r}; fit a range where the spectrum is positive")
    slope = np.polyfit(np.log(np.arange(start, stop + 1)), np.log(values), 1)[0]
    return float(-slope)


def _gram_from_rdm(rdm, squared):
    if not isinstance(rdm, RDMRecording):
        rdm = RDMRecording(rdm)
    d2 = rdm.matrix if squared else rdm.matrix**2
    n = rdm.n_stimuli
    centring = np.eye(n) - 1.0 / n
    return -0.5 * centring @ d2 @ centring / (n - 1)


def rdm_spectrum(rdm, *, squared=False):
    """Covariance spectrum of the responses behind a Euclidean RDM.

    Classical multidimensional scaling (Torgerson 1952; Gower 1966): for
    squared Euclidean distances ``D2_ij = ||x_i - x_j||^2`` between the
    response patterns ``x_i`` of ``P`` stimuli, the double-centred matrix
    ``G = -1/2 J D2 J`` with ``J = I - 11^T / P`` is the Gram matrix of the
    centred patterns, whose nonzero eigenvalues over ``P - 1`` are those of
    the patterns' covariance.

    A correlation-distance RDM (``1 - r``) is, up to a factor
    ``2 (n_neurons - 1)``, the squared Euclidean RDM of the z-scored
    patterns: pass it with ``squared=True`` to get the spectrum of the
    z-scored patterns (up to that factor).

    Parameters
    ----------
    rdm : RDMRecording or array_like (square or condensed)
    squared : bool, optional
        Whether the entries are already squared distances.

    Returns
    -------
    ndarray of shape (n_stimuli,)
        Eigenvalues of ``G / (P - 1)`` in descending order (the last is 0; a
        non-Euclidean RDM gives negative ones).
    """
    return np.linalg.eigvalsh(_gram_from_rdm(rdm, squared))[::-1]


def rdm_participation_ratio(rdm, *, squared=False):
    """Participation ratio ``tr(G)^2 / ||G||_F^2`` of the double-centred RDM (see :func:`rdm_spectrum`).

    Equals :func:`participation_ratio` of the responses that made a
    Euclidean RDM.  For a non-Euclidean RDM the negative eigenvalues of
    ``G`` count in ``||G||_F^2``.

    Parameters
    ----------
    rdm : RDMRecording or array_like (square or condensed)
    squared : bool, optional
        Whether the entries are already squared distances.

    Returns
    -------
    float
    """
    return covariance_participation_ratio(_gram_from_rdm(rdm, squared))

"""Representational geometry: RDMs, their comparison, CKA and Procrustes shape distance.

* :func:`rdm` -- representational dissimilarity matrix of response patterns
  (Kriegeskorte, Mur & Bandettini, Front. Syst. Neurosci. 2, 4, 2008);
* :func:`compare_rdms` -- Spearman, Pearson or Kendall tau-a correlation of
  two RDMs (Nili et al., PLoS Comput. Biol. 10, e1003553, 2014);
* :func:`linear_cka` -- linear centred kernel alignment, biased or debiased
  with the unbiased HSIC estimator (Song et al. 2012);
* :func:`procrustes_distance` -- the angular (or Euclidean) Procrustes shape
  distance (Williams, Kunz, Kornblith & Linderman, NeurIPS 2021).

Response arrays are ``(n_stimuli, n_neurons)``; a :class:`Recording` stands
for its mean responses over repeats and an :class:`RDMRecording` for its
dissimilarities.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import kendalltau, pearsonr, spearmanr

from .._validation import check_choice, check_finite_array
from .recording import RDMRecording, Recording

__all__ = ["compare_rdms", "linear_cka", "procrustes_distance", "rdm"]

_METRICS = ("correlation", "euclidean", "sqeuclidean")


def _responses(responses, name):
    if isinstance(responses, Recording):
        responses = responses.mean_responses()
    responses = check_finite_array(responses, name, ndim=2, dtype=float)
    if responses.shape[0] < 2:
        raise ValueError(f"{name} should have at least 2 stimuli (rows), got shape {responses.shape}")
    return responses


def rdm(responses, *, metric="correlation"):
    """Representational dissimilarity matrix of the response patterns, condensed.

    Parameters
    ----------
    responses : array_like of shape (n_stimuli, n_neurons) or Recording
    metric : {"correlation", "euclidean", "sqeuclidean"}, optional
        ``"correlation"``: ``1 - r_ij``, with ``r_ij`` the Pearson
        correlation of the patterns of stimuli ``i`` and ``j`` across neurons
        (Kriegeskorte et al. 2008); ``"euclidean"``: ``||x_i - x_j||``;
        ``"sqeuclidean"``: ``||x_i - x_j||^2``.  (rsatoolbox's
        ``"euclidean"`` is ``"sqeuclidean"`` divided by ``n_neurons``.)

    Returns
    -------
    ndarray of shape (n_stimuli * (n_stimuli - 1) / 2,)
        Upper triangle, row-major (:func:`scipy.spatial.distance.squareform`
        makes it square).

    Raises
    ------
    ValueError
        For ``"correlation"``, if a pattern is constant across neurons.
    """
    metric = check_choice(metric, "metric", _METRICS)
    responses = _responses(responses, "responses")
    if metric == "correlation":
        spread = responses.std(axis=1)
        if (spread == 0).any():
            raise ValueError(f"stimulus {int(np.argmax(spread == 0))} has a constant pattern across neurons; "
                             "its correlation distance is undefined")
    return pdist(responses, metric=metric)


def _vector(value, name):
    if isinstance(value, RDMRecording):
        return value.condensed
    value = np.asarray(value, dtype=float)
    if value.ndim == 2:
        return RDMRecording(value).condensed
    return check_finite_array(value, name, ndim=1)


def _tau_a(a, b):
    """Kendall tau-a: ``(n_concordant - n_discordant) / (n (n - 1) / 2)``, from scipy's tau-b."""
    n0 = a.size * (a.size - 1) / 2

    def tied_pairs(x):
        counts = np.unique(x, return_counts=True)[1].astype(float)
        return float((counts * (counts - 1) / 2).sum())

    n1, n2 = tied_pairs(a), tied_pairs(b)
    if n1 == n0 or n2 == n0:
        return 0.0
    tau_b = kendalltau(a, b, variant="b").statistic
    return float(tau_b * np.sqrt((n0 - n1) * (n0 - n2)) / n0)


def compare_rdms(first, second, *, method="spearman"):
    """Correlation between two RDMs over their stimulus pairs.

    Parameters
    ----------
    first, second : RDMRecording or array_like (square or condensed)
        RDMs of the same stimuli, in the same order.
    method : {"spearman", "kendall_tau_a", "pearson"}, optional
        ``"kendall_tau_a"``: ``tau_a = (n_c - n_d) / (n (n - 1) / 2)`` for
        ``n`` pairs of dissimilarities, ``n_c`` concordant and ``n_d``
        discordant pairs of pairs; recommended by Nili et al. (2014) to compare
        a data RDM with model RDMs that predict tied dissimilarities (ties
        count neither way, and are not corrected for as in tau-b).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the RDMs have different numbers of stimuli, or (for two
        :class:`RDMRecording`) different stimulus identifiers.
    """
    method = check_choice(method, "method", ("spearman", "kendall_tau_a", "pearson"))
    if isinstance(first, RDMRecording) and isinstance(second, RDMRecording):
        if first.n_stimuli == second.n_stimuli and not np.array_equal(first.stimulus_ids, second.stimulus_ids):
            raise ValueError("the RDMs should be of the same stimuli in the same order, got different stimulus_ids")
    a, b = _vector(first, "first"), _vector(second, "second")
    if a.shape != b.shape:
        raise ValueError(f"the RDMs should have the same number of stimulus pairs, got {a.size} and {b.size}")
    if method == "kendall_tau_a":
        return _tau_a(a, b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError(f"{method} correlation is undefined for a constant RDM")
    test = spearmanr if method == "spearman" else pearsonr
    return float(test(a, b).statistic)


def _hsic(k, m, debiased):
    """HSIC of kernel matrices ``k`` and ``m`` (biased ``HSIC_0`` or unbiased ``HSIC_1``)."""
    n = k.shape[0]
    if not debiased:
        centring = np.eye(n) - 1.0 / n
        return float(np.sum((centring @ k @ centring) * m)) / (n - 1) ** 2
    k, m = k.copy(), m.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(m, 0.0)
    k_sum, m_sum = k.sum(axis=0), m.sum(axis=0)
    value = (np.sum(k * m) + k_sum.sum() * m_sum.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * k_sum @ m_sum)
    return float(value / (n * (n - 3)))


def linear_cka(first, second, *, debiased=True):
    """Linear centred kernel alignment of two sets of responses to the same stimuli.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear kernels
    ``K = X X^T``, ``L = Y Y^T`` (Kornblith, Norouzi, Lee & Hinton, ICML
    2019).  The biased estimator uses ``HSIC_0 = tr(K H L H) / (n - 1)^2``
    with ``H = I - 11^T / n``; it is near 1 for independent responses with
    many more neurons than stimuli.  The debiased one uses the unbiased
    estimator of Song, Smola, Gretton, Bedo & Borgwardt (JMLR 13, 1393,
    2012, eq. 5)

    ``HSIC_1 = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n - 1)(n - 2))
    - 2 / (n - 2) 1^T K~ L~ 1] / (n (n - 3))``,

    ``K~``, ``L~`` being ``K``, ``L`` with zeroed diagonals; it is near 0 for
    independent responses.

    Parameters
    ----------
    first : array_like of shape (n_stimuli, n_neurons_1) or Recording
    second : array_like of shape (n_stimuli, n_neurons_2) or Recording
    debiased : bool, optional
        Use ``HSIC_1`` (needs ``n_stimuli >= 4``) instead of ``HSIC_0``.

    Returns
    -------
    float
        1 for responses equal up to rotation, reflection and isotropic
        scaling; the debiased value can be slightly negative.
    """
    x, y = _responses(first, "first"), _responses(second, "second")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"both should have the same number of stimuli, got {x.shape[0]} and {y.shape[0]}")
    if debiased and x.shape[0] < 4:
        raise ValueError(f"debiased CKA needs at least 4 stimuli, got {x.shape[0]}")
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    kx, ky = x @ x.T, y @ y.T
    denominator = _hsic(kx, kx, debiased) * _hsic(ky, ky, debiased)
    if denominator <= 0:
        raise ValueError("CKA is undefined: an estimated HSIC(K, K) is not positive (responses that do not vary)")
    return _hsic(kx, ky, debiased) / float(np.sqrt(denominator))


def procrustes_distance(first, second, *, kind="angular"):
    """Procrustes shape distance between two sets of responses to the same stimuli.

    After centring over stimuli, the angular distance of Williams et al.
    ("Generalized shape metrics on neural representations", NeurIPS 2021,
    eq. 4, with ``alpha = 1``) is

    ``theta = arccos(||X^T Y||_* / (||X||_F ||Y||_F))``,

    the angle between the patterns after the best orthogonal alignment
    (rotations and reflections; ``||.||_*`` is the nuclear norm); the
    Euclidean one is ``min_Q ||X - Y Q||_F = sqrt(||X||_F^2 + ||Y||_F^2 -
    2 ||X^T Y||_*)`` without rescaling.  Different numbers of neurons are
    handled as zero-padding the smaller set.

    Parameters
    ----------
    first : array_like of shape (n_stimuli, n_neurons_1) or Recording
    second : array_like of shape (n_stimuli, n_neurons_2) or Recording
    kind : {"angular", "euclidean"}, optional

    Returns
    -------
    float
        0 for responses equal up to translation and orthogonal transform
        (and, for ``"angular"``, isotropic scaling); ``"angular"`` is a
        metric in ``[0, pi / 2]``.
    """
    kind = check_choice(kind, "kind", ("angular", "euclidean"))
    x, y = _responses(first, "first"), _responses(second, "second")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"both should have the same number of stimuli, got {x.shape[0]} and {y.shape[0]}")
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    nuclear = float(np.linalg.svd(x.T @ y, compute_uv=False).sum())
    norm_x, norm_y = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if kind == "euclidean":
        return float(np.sqrt(max(norm_x**2 + norm_y**2 - 2 * nuclear, 0.0)))
    if norm_x == 0 or norm_y == 0:
        raise ValueError("the angular shape distance is undefined for responses that do not vary")
    return float(np.arccos(np.clip(nuclear / (norm_x * norm_y), -1.0, 1.0)))

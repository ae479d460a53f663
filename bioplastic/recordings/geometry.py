"""Representational geometry: RDMs, their comparison, CKA and Procrustes shape distance.

* :func:`rdm` -- representational dissimilarity matrix of response patterns
  (Kriegeskorte, Mur & Bandettini, Front. Syst. Neurosci. 2, 4, 2008);
* :func:`crossnobis_rdm` -- cross-validated squared Euclidean or Mahalanobis
  distances from repeated presentations (unbiased by trial noise);
* :func:`compare_rdms` -- Spearman, Pearson or Kendall tau-a correlation or
  cosine similarity of two RDMs (Nili et al., PLoS Comput. Biol. 10,
  e1003553, 2014);
* :func:`noise_ceiling` -- lower and upper bounds on the score of the true
  model given the RDMs of several subjects or sessions (Nili et al. 2014);
* :func:`linear_cka` -- linear centred kernel alignment, biased or debiased
  with the unbiased HSIC estimator (Song et al. 2012);
* :func:`procrustes_distance` -- the angular (or Euclidean) Procrustes shape
  distance (Williams, Kunz, Kornblith & Linderman, NeurIPS 2021).

Response arrays are ``(n_stimuli, n_neurons)``; a :class:`Recording` stands
for its mean responses over repeats and an :class:`RDMRecording` for its
dissimilarities.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import kendalltau, pearsonr

from .._validation import check_choice, check_finite_array
from .recording import RDMRecording, Recording
from .recording import _response_matrix as _responses

__all__ = ["NoiseCeiling", "compare_rdms", "crossnobis_rdm", "linear_cka", "noise_ceiling", "procrustes_distance", "rdm"]

_METRICS = ("correlation", "euclidean", "sqeuclidean")
_COMPARISONS = ("spearman", "kendall_tau_a", "pearson", "cosine")


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


def _import_rsatoolbox(what):
    try:
        import rsatoolbox  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError(
            f"{what} needs the 'rsatoolbox' package: install it with `pip install rsatoolbox` "
            "or `pip install \"bioplastic[recordings]\"`."
        ) from exc


_NOISE_ESTIMATES = ("diag", "shrinkage_diag", "shrinkage_eye")


def crossnobis_rdm(responses, *, noise=None):
    """Cross-validated squared distances between the stimuli's mean patterns, from repeats.

    With ``R`` repeats, leaving out one repeat ``k`` at a time, the patterns
    ``a_i`` of stimulus ``i`` averaged over the other repeats and the
    patterns ``b_i`` of repeat ``k`` give

    ``d_ij = (1 / R) sum_k (a_i - a_j)^T Lambda (b_i - b_j)``,

    the crossnobis estimator (Walther et al., "Reliability of dissimilarity
    measures for multi-voxel pattern analysis", NeuroImage 137, 188-200,
    2016; Nili et al. 2014) with noise precision ``Lambda`` (the identity:
    the cross-validated squared Euclidean distance).  Trial noise independent
    across repeats enters only one factor of each product, so ``E[d_ij] =
    (mu_i - mu_j)^T Lambda (mu_i - mu_j)`` for the true mean patterns
    ``mu``: 0 for identical conditions, whereas the plain squared distance
    of the mean patterns (``rdm(..., metric="sqeuclidean")``) adds
    ``2 tr(Sigma_noise) / R`` (for ``Lambda = I``).  Estimates can be
    negative.

    Computed with ``rsatoolbox.rdm.calc_rdm(..., method="crossnobis")``
    (repeats as the cross-validation folds) times ``n_neurons``: rsatoolbox
    divides by the number of channels, this function keeps the scale of
    :func:`rdm`'s ``"sqeuclidean"``.

    Parameters
    ----------
    responses : Recording or array_like of shape (n_repeats, n_stimuli, n_neurons)
        At least 2 repeats, every stimulus observed on every repeat.
    noise : None, {"diag", "shrinkage_diag", "shrinkage_eye"} or array_like of shape (n_neurons, n_neurons), optional
        ``None``: the identity (cross-validated Euclidean); a precision
        matrix; or the name of rsatoolbox's estimate of it from the
        deviations of the repeats around their stimulus means
        (``rsatoolbox.data.noise.prec_from_measurements``: ``"diag"``
        univariate noise normalisation, ``"shrinkage_diag"`` and
        ``"shrinkage_eye"`` Ledoit-Wolf-type shrinkage towards the diagonal or
        a multiple of the identity).

    Returns
    -------
    ndarray of shape (n_stimuli * (n_stimuli - 1) / 2,)
        Condensed, in the order of :func:`rdm`.

    Raises
    ------
    ValueError
        If there are fewer than 2 repeats, missing entries, or a precision of
        the wrong shape or with non-finite entries.
    ImportError
        If rsatoolbox is not installed.
    """
    if isinstance(responses, Recording):
        if not responses.complete:
            missing = int((~responses.mask).sum())
            raise ValueError(f"crossnobis_rdm needs every stimulus observed on every repeat; the recording has {missing} "
                             "missing entries (select complete repeats or stimuli first)")
        responses = responses.responses
    responses = check_finite_array(responses, "responses", ndim=3, dtype=float)
    n_repeats, n_stimuli, n_neurons = responses.shape
    if n_repeats < 2:
        raise ValueError(f"crossnobis_rdm needs at least 2 repeats to cross-validate, got {n_repeats}")
    if n_stimuli < 2:
        raise ValueError(f"crossnobis_rdm needs at least 2 stimuli, got {n_stimuli}")
    if noise is not None and not isinstance(noise, str):
        noise = check_finite_array(noise, "noise", ndim=2, dtype=float)
        if noise.shape != (n_neurons, n_neurons):
            raise ValueError(f"noise should be a precision matrix of shape ({n_neurons}, {n_neurons}) (neurons x neurons), "
                             f"got {noise.shape}")
    elif isinstance(noise, str):
        noise = check_choice(noise, "noise", _NOISE_ESTIMATES)
    _import_rsatoolbox("crossnobis_rdm")
    from rsatoolbox.data import Dataset
    from rsatoolbox.data.noise import prec_from_measurements
    from rsatoolbox.rdm import calc_rdm

    # float descriptors: rsatoolbox fills its per-pattern descriptors with NaN first, which an int array cannot hold
    dataset = Dataset(responses.reshape(n_repeats * n_stimuli, n_neurons),
                      obs_descriptors={"stimulus": np.tile(np.arange(n_stimuli, dtype=float), n_repeats),
                                       "repeat": np.repeat(np.arange(n_repeats, dtype=float), n_stimuli)})
    if isinstance(noise, str):
        noise = prec_from_measurements(dataset, obs_desc="stimulus", method=noise)
    result = calc_rdm(dataset, method="crossnobis", descriptor="stimulus", cv_descriptor="repeat", noise=noise)
    return result.get_vectors()[0] * n_neurons


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
    """Similarity of two RDMs over their stimulus pairs: a correlation or the cosine.

    Parameters
    ----------
    first, second : RDMRecording or array_like (square or condensed)
        RDMs of the same stimuli, in the same order.
    method : {"spearman", "kendall_tau_a", "pearson", "cosine"}, optional
        ``"kendall_tau_a"``: ``tau_a = (n_c - n_d) / (n (n - 1) / 2)`` for
        ``n`` pairs of dissimilarities, ``n_c`` concordant and ``n_d``
        discordant pairs of pairs; recommended by Nili et al. (2014) to compare
        a data RDM with model RDMs that predict tied dissimilarities (ties
        count neither way, and are not corrected for as in tau-b).
        ``"cosine"``: ``d1 . d2 / (||d1|| ||d2||)`` of the dissimilarity
        vectors, without centring, which suits distances with a meaningful
        zero such as :func:`crossnobis_rdm` (Diedrichsen et al.,
        "Comparing representational geometries using whitened unbiased-distance-matrix
        similarity", Neurons, Behavior, Data analysis, and Theory 5, 2021;
        rsatoolbox's ``"cosine"``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the RDMs have different numbers of stimuli, or (for two
        :class:`RDMRecording`) different stimulus identifiers.
    """
    method = check_choice(method, "method", _COMPARISONS)
    if isinstance(first, RDMRecording) and isinstance(second, RDMRecording):
        if first.n_stimuli == second.n_stimuli and not np.array_equal(first.stimulus_ids, second.stimulus_ids):
            raise ValueError("the RDMs should be of the same stimuli in the same order, got different stimulus_ids")
    a, b = _vector(first, "first"), _vector(second, "second")
    if a.shape != b.shape:
        raise ValueError(f"the RDMs should have the same number of stimulus pairs, got {a.size} and {b.size}")
    if method == "kendall_tau_a":
        return _tau_a(a, b)
    if method == "cosine":
        norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
        if norms == 0:
            raise ValueError("cosine similarity is undefined for an RDM whose dissimilarities are all zero")
        return float(a @ b) / norms
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError(f"{method} correlation is undefined for a constant RDM")
    if method == "spearman":  # Pearson's r of the average ranks (scipy's spearmanr), without its per-call overhead
        a, b = _average_ranks(a), _average_ranks(b)
        a, b = a - a.mean(), b - b.mean()
        return float(np.clip(a @ b / np.sqrt((a @ a) * (b @ b)), -1.0, 1.0))
    return float(pearsonr(a, b).statistic)


def _average_ranks(x):
    """Ranks 1..n of ``x``, ties given the mean of the ranks they span (``scipy.stats.rankdata(x, method="average")``)."""
    order = np.argsort(x)  # the order among equal values does not matter: they share one rank
    ordered = x[order]
    first = np.empty(x.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    ranks = np.empty(x.size)
    if first.all():  # no ties
        ranks[order] = np.arange(1.0, x.size + 1.0)
        return ranks
    group = np.cumsum(first) - 1  # the tie group of each sorted entry
    starts = np.concatenate([np.flatnonzero(first), [x.size]])
    ranks[order] = 0.5 * (starts[group] + starts[group + 1] + 1)  # the mean of ranks starts + 1 .. next start
    return ranks


class NoiseCeiling(NamedTuple):
    """Lower and upper bounds of the noise ceiling (see :func:`noise_ceiling`)."""

    lower: float
    upper: float


def noise_ceiling(rdms, *, method="spearman"):
    """Noise ceiling of RDM comparison from the RDMs of several subjects or sessions.

    Nili, Wingfield, Walther, Su, Marslen-Wilson & Kriegeskorte, "A toolbox
    for representational similarity analysis", PLoS Comput. Biol. 10,
    e1003553 (2014): the score the true model can reach given the
    variability between subjects lies between

    * the lower bound, the mean over subjects ``s`` of the similarity of
      ``s``'s RDM with the pooled RDM of the other subjects (leave one out),
      and
    * the upper bound, the mean similarity of each subject's RDM with the
      pooled RDM of all subjects (the subject included, an overfit).

    The pooled RDM is the one the method scores best: the mean of the
    rank-transformed RDMs for ``"spearman"`` and ``"kendall_tau_a"``, of the
    z-scored RDMs for ``"pearson"`` and of the RDMs scaled to unit root mean
    square for ``"cosine"``.  Computed as
    ``rsatoolbox.inference.boot_noise_ceiling`` computes it (the same numbers,
    tested), without importing rsatoolbox, which imports matplotlib: figure
    compute steps stay free of it.

    Parameters
    ----------
    rdms : sequence of RDMRecording or array_like (square or condensed)
        At least 2 RDMs of the same stimuli, in the same order (an array of
        shape ``(n_subjects, n_pairs)`` is a sequence of condensed RDMs).
    method : {"spearman", "kendall_tau_a", "pearson", "cosine"}, optional
        As for :func:`compare_rdms`.

    Returns
    -------
    NoiseCeiling
        ``(lower, upper)``, both 1 for identical RDMs.

    Raises
    ------
    ValueError
        If there are fewer than 2 RDMs, they have different numbers of stimulus
        pairs or (for :class:`RDMRecording`) different stimulus identifiers.
    """
    method = check_choice(method, "method", _COMPARISONS)
    rdms = list(rdms)  # the rows of a 2-d array, the matrices of a 3-d one
    if len(rdms) < 2:
        raise ValueError(f"a noise ceiling needs the RDMs of at least 2 subjects or sessions, got {len(rdms)}")
    recorded = [r for r in rdms if isinstance(r, RDMRecording)]
    if any(not np.array_equal(r.stimulus_ids, recorded[0].stimulus_ids) for r in recorded[1:]):
        raise ValueError("the RDMs should be of the same stimuli in the same order, got different stimulus_ids")
    vectors = []
    for i, r in enumerate(rdms):
        try:
            vectors.append(r.condensed if isinstance(r, RDMRecording) else RDMRecording(r).condensed)
        except ValueError as error:
            raise ValueError(f"rdms[{i}]: {error}") from None
    sizes = sorted({v.size for v in vectors})
    if len(sizes) > 1:
        raise ValueError(f"the RDMs should have the same number of stimulus pairs, got sizes {sizes}")
    vectors = np.stack(vectors)
    if method in ("spearman", "kendall_tau_a"):
        scaled = np.stack([_average_ranks(v) for v in vectors])
    elif method == "pearson":
        scaled = (vectors - vectors.mean(axis=1, keepdims=True)) / vectors.std(axis=1, keepdims=True)
    else:
        scaled = vectors / np.sqrt(np.mean(vectors**2, axis=1, keepdims=True))
    everyone = scaled.mean(axis=0)
    n = len(vectors)
    lower = np.mean([compare_rdms((everyone * n - scaled[i]) / (n - 1), vectors[i], method=method) for i in range(n)])
    upper = np.mean([compare_rdms(everyone, vectors[i], method=method) for i in range(n)])
    return NoiseCeiling(float(lower), float(upper))


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
